"""Latency of /v1/correspondences for a 640x480 pair through a real uvicorn server on loopback:
cold (both feature maps computed) and warm (both cached), with the in-process cache (numpy's BLAS
held to one thread, the default, and left on every core) and with Redis, beside OpenCV SIFT
detect + describe + ratio-matched on the same pair (cold: every server and SIFT taking turns round
by round, ``cold_race``); a warm request between unrelated photos, where
RANSAC looks for a geometry in vain, without one asked for and with a homography asked for (a's
copies seen from the side tried too); the bytes one cached 640x480 feature map takes; and where a
cold sparse request's time goes, step by step.

    python -m eval.latency [--repeats 15]
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import cv2
import httpx
import numpy as np
import onnxruntime as ort

from eval import machine
from eval.results import write_section
from eval.throughput import ROOT
from models.data import photos
from service import dense, registry, sparse
from service.config import Settings
from service.correspond import fast_name
from service.feature_map import FeatureMap
from tests.redis_server import RedisServer, free_port


def test_pair() -> tuple[np.ndarray, np.ndarray]:
    a = cv2.resize(photos.load("rocket"), (640, 480), interpolation=cv2.INTER_AREA)
    h = np.array([[0.95, 0.1, 20], [-0.08, 0.97, 15], [1e-5, 2e-5, 1]])
    return a, cv2.warpPerspective(a, h, (640, 480))


FIRST_TRY_OFF = {"SPARSE_FAST_MODEL": ""}  # a server's settings with no fast descriptor answering first


def alone(env: dict[str, str]) -> dict[str, str]:
    """``env``, where it names a DEFAULT_DESCRIPTOR_MODEL to measure and no SPARSE_FAST_MODEL, with
    the fast descriptor's first try turned off: a descriptor named is measured answering alone."""
    return env | (FIRST_TRY_OFF if "DEFAULT_DESCRIPTOR_MODEL" in env and "SPARSE_FAST_MODEL" not in env else {})


def served_settings(env: dict[str, str]) -> Settings:
    """The settings a server started by ``serve(env)`` runs with: ``env``'s over the environment's."""
    return Settings(**{k.lower(): v for k, v in alone(env).items()})


def serve(env: dict) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "service.main:create_app", "--factory", "--port",
                             str(port), "--log-level", "warning"], cwd=ROOT, env={**os.environ, **alone(env)})
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if httpx.get(url + "/readyz").status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError("server did not start")


@contextmanager
def serving(envs: dict[str, dict[str, str]], timeout: float = 60) -> Iterator[dict[str, httpx.Client]]:
    """One server per label of ``envs`` (``serve``), a kept-alive client each (``timeout`` s a
    request); all stopped after."""
    servers = {label: serve(env) for label, env in envs.items()}
    clients = {label: httpx.Client(base_url=url, timeout=timeout) for label, (_, url) in servers.items()}
    try:
        yield clients
    finally:
        for client in clients.values():
            client.close()
        for proc, _ in servers.values():
            proc.terminate()
            proc.wait(10)


def post_pair(client: httpx.Client, pa: bytes, pb: bytes, method: str = "sparse") -> None:
    """A pair of PNG bytes to /v1/correspondences; an error answer raises."""
    client.post("/v1/correspondences", files={"image_a": ("a.png", pa), "image_b": ("b.png", pb)},
                data={"method": method}).raise_for_status()


def timed(fn, repeats: int) -> float:
    return timed_cpu(fn, repeats)[0]


def timed_cpu(fn, repeats: int) -> tuple[float, float]:
    """Median ms of ``fn(k)``: wall clock, and CPU time of the whole process (every thread, the
    ones OpenCV and ONNX Runtime run inside a call included)."""
    times, cpu = [], []
    for k in range(repeats):
        t, c = time.perf_counter(), time.process_time()
        fn(k)
        times.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    return 1e3 * statistics.median(times), 1e3 * statistics.median(cpu)


def fresh_pngs(a: np.ndarray, b: np.ndarray, k: int) -> tuple[bytes, bytes]:
    """The pair as PNG bytes no earlier request sent (one pixel each changed by ``k``)."""
    a2, b2 = a.copy(), b.copy()
    a2[0, 0], b2[0, 0] = (k * 7 + 1) % 256, (k * 11 + 3) % 256
    return cv2.imencode(".png", a2)[1].tobytes(), cv2.imencode(".png", b2)[1].tobytes()


def api_latency(client: httpx.Client, a: np.ndarray, b: np.ndarray, repeats: int, method: str) -> tuple[float, float]:
    """Median ms of (warm re-sending the bytes, warm by image id), on ``client``'s kept-alive
    connection, as a calling service holds one (a new client a request adds ~20 ms of its own)."""
    def post(pa: bytes, pb: bytes) -> None:
        client.post("/v1/correspondences", files={"image_a": ("a.png", pa), "image_b": ("b.png", pb)},
                    data={"method": method}).raise_for_status()

    def by_id(ids: dict) -> None:
        client.post("/v1/correspondences", data={**ids, "method": method}).raise_for_status()

    pa, pb = cv2.imencode(".png", a)[1].tobytes(), cv2.imencode(".png", b)[1].tobytes()
    post(pa, pb)  # warms the cache and the server
    ids = {f"image_{k}_id": client.post("/v1/images", files={"image": ("i.png", p)},
                                        data={"method": method}).json()["image_id"]
           for k, p in (("a", pa), ("b", pb))}
    return timed(lambda _: post(pa, pb), repeats), timed(lambda _: by_id(ids), repeats)


# cold_race's pairs: fresh_pngs(k) from here, two a server a round, sparse's first and dense's after
# them (fresh_pngs repeats every 256: none of them is a pair another run sends these servers)
RACE_FIRST = {"sparse": 160, "dense": 192}


SIFT = "OpenCV SIFT"  # race's key for SIFT's times


def race(clients: dict[str, httpx.Client], a: np.ndarray, b: np.ndarray, rounds: int, method: str = "sparse",
         first: int | None = None) -> dict[str, list[float]]:
    """Seconds of each round's cold request (both images new) to each server of ``clients``, and
    under ``SIFT`` of OpenCV SIFT on the same pair in a worker thread (``sift_pair``): all take turns
    round by round, so that the host's swings between minutes fall on all of them alike. Each server
    is sent a new pair, untimed, just before its timed one: it is as busy as under back-to-back
    requests (one that has fallen idle gives pages back: ``paused_latency``). The pairs are
    ``fresh_pngs(k)`` from ``first`` (default ``RACE_FIRST[method]``), two a round."""
    first = RACE_FIRST[method] if first is None else first
    times: dict[str, list[float]] = {label: [] for label in [*clients, SIFT]}
    sift = sift_pair(a, b)
    with ThreadPoolExecutor(1) as worker:
        for k in range(rounds):
            wake, pair = (fresh_pngs(a, b, first + 2 * k + j) for j in range(2))
            for label, client in clients.items():
                post_pair(client, *wake, method)
                t = time.perf_counter()
                post_pair(client, *pair, method)
                times[label].append(time.perf_counter() - t)
            t = time.perf_counter()
            worker.submit(sift).result()
            times[SIFT].append(time.perf_counter() - t)
    return times


def raced(times: dict[str, list[float]], with_sift: bool = True) -> dict[str, tuple[float, float]]:
    """``race``'s times -> {label: (median ms, median of the rounds' ratios to SIFT's time)}, SIFT's
    own row among them unless ``with_sift`` is false."""
    return {label: (1e3 * statistics.median(ts), statistics.median(t / s for t, s in zip(ts, times[SIFT], strict=True)))
            for label, ts in times.items() if with_sift or label != SIFT}


def cold_race(clients: dict[str, httpx.Client], a: np.ndarray, b: np.ndarray, repeats: int,
              method: str) -> dict[str, tuple[float, float]]:
    """{label: (median ms, ratio)} of ``repeats`` rounds of ``race`` (SIFT's own row left out)."""
    return raced(race(clients, a, b, repeats, method), with_sift=False)


PAUSE_S = 1.0  # longer than the service's idle time before it trims its heaps (service.memory.IDLE_S)
PAUSED_FIRST = 5_000  # paused_latency's pairs are fresh_pngs(k) from here on


def paused_latency(envs: dict[str, dict[str, str]], a: np.ndarray, b: np.ndarray,
                   repeats: int) -> dict[str, tuple[float, float]]:
    """{label: (median ms, median of the rounds' ratios to SIFT's time)} of a cold sparse pair
    sent PAUSE_S after the previous answer, as a caller with occasional requests sends it (the
    service has fallen idle in between: ``service.memory``), to one server per label of ``envs``
    in turn, and OpenCV SIFT on the pair in a worker thread after the same pause: round by round,
    so the host's swings (and whatever an idle host costs the next piece of work) fall on every
    label and on SIFT alike."""
    times: dict[str, list[float]] = {label: [] for label in [*envs, SIFT]}
    sift = sift_pair(a, b)
    with serving(envs) as clients, ThreadPoolExecutor(1) as worker:
        for k in range(-1, repeats):  # round -1: each server's first request
            pa, pb = fresh_pngs(a, b, PAUSED_FIRST + k)
            for label, client in clients.items():
                time.sleep(PAUSE_S)
                t = time.perf_counter()
                post_pair(client, pa, pb)
                if k >= 0:
                    times[label].append(time.perf_counter() - t)
            time.sleep(PAUSE_S)
            t = time.perf_counter()
            worker.submit(sift).result()
            if k >= 0:
                times[SIFT].append(time.perf_counter() - t)
    return raced(times, with_sift=False)


STARTS = 8  # fresh servers a setting of first_latency's (3 swung by 100 ms)
STARTED_FIRST = 7_000  # first_latency's pairs are fresh_pngs(k) from here on


def first_latency(envs: dict[str, dict[str, str]], a: np.ndarray, b: np.ndarray
                  ) -> dict[str, tuple[float, float, float, float]]:
    """{label: (median ms of a fresh server's first cold sparse pair, of its second, the medians of
    their ratios to OpenCV SIFT's first and second run in a Python process just started)} over
    STARTS starts of a server per label of ``envs``, the labels taking turns, and one such SIFT
    process a start (``sift_started``): SIFT pays for its own first run too."""
    times: dict[str, list[tuple[float, float, float, float]]] = {label: [] for label in envs}
    for start in range(STARTS):
        sift_first, sift_second = sift_started()
        for label, env in envs.items():
            with serving({label: env}) as clients:
                got = []
                for k in range(2):
                    pa, pb = fresh_pngs(a, b, STARTED_FIRST + 2 * start + k)
                    t = time.perf_counter()
                    post_pair(clients[label], pa, pb)
                    got.append(1e3 * (time.perf_counter() - t))
            times[label].append((got[0], got[1], got[0] / sift_first, got[1] / sift_second))
    return {label: tuple(statistics.median(row[i] for row in ts) for i in range(4))
            for label, ts in times.items()}


def sift_started() -> tuple[float, float]:
    """ms of OpenCV SIFT's first and second run on the pair (``sift_pair``, in a worker thread as
    the baseline runs) in a Python process just started, its imports done before the clock starts."""
    code = "from eval.latency import sift_first_runs; print(*sift_first_runs())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT,
                         env=os.environ | {"PYTHONPATH": str(ROOT)})
    first, second = map(float, out.stdout.split()[-2:])
    return first, second


def sift_first_runs() -> tuple[float, float]:
    """ms of this process's first two runs of OpenCV SIFT on the pair (``sift_started``)."""
    pair = sift_pair(*test_pair())

    def once() -> float:
        t = time.perf_counter()
        pair()
        return 1e3 * (time.perf_counter() - t)
    with ThreadPoolExecutor(1) as worker:
        return worker.submit(once).result(), worker.submit(once).result()


LOAD_FIRST = 10_000  # cold_load's pairs are fresh_pngs(k) from here on: none of them sent by the runs before
TRANSFER_FIRST = LOAD_FIRST + 100  # and transfer_latency's from here on (fresh_pngs repeats every 256)
TRANSFER_POINTS = 10


def transfer_latency(client: httpx.Client, a: np.ndarray, b: np.ndarray, repeats: int) -> float:
    """Median ms of a cold keypoint transfer with its defaults: TRANSFER_POINTS points of a grid
    over image a, both images new (the sparse guide and both dense feature maps computed)."""
    fresh = [fresh_pngs(a, b, TRANSFER_FIRST + k) for k in range(repeats)]
    h, w = a.shape
    grid = np.stack(np.meshgrid(np.linspace(0.2, 0.8, 5) * w, np.linspace(0.3, 0.7, 2) * h), -1).reshape(-1, 2)
    points = json.dumps(grid[:TRANSFER_POINTS].round(1).tolist())

    def cold(k: int) -> None:
        client.post("/v1/keypoints/transfer", files={"image_a": ("a.png", fresh[k][0]),
                                                     "image_b": ("b.png", fresh[k][1])},
                    data={"keypoints": points}).raise_for_status()
    return timed(cold, repeats)


def cold_load(url: str, a: np.ndarray, b: np.ndarray, clients: int = 8, each: int = 6) -> tuple[float, float, float]:
    """Cold sparse pairs from ``clients`` callers at once, ``each`` pairs apiece, every pair new:
    (pairs a second, median ms, 95th percentile ms)."""
    fresh = [fresh_pngs(a, b, LOAD_FIRST + k) for k in range(clients * each)]

    def caller(c: int) -> list[float]:
        times = []
        with httpx.Client(base_url=url, timeout=120) as client:
            for pa, pb in fresh[c * each:(c + 1) * each]:
                t = time.perf_counter()
                client.post("/v1/correspondences", files={"image_a": ("a.png", pa), "image_b": ("b.png", pb)},
                            data={"method": "sparse"}).raise_for_status()
                times.append(1e3 * (time.perf_counter() - t))
        return times

    t0 = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        times = [t for got in pool.map(caller, range(clients)) for t in got]
    return len(times) / (time.perf_counter() - t0), statistics.median(times), float(np.percentile(times, 95))


def unrelated_latency(client: httpx.Client, a: np.ndarray, repeats: int, method: str, geometry: str = "none") -> float:
    """Median ms of a warm request (features cached) between ``a`` and a photo of something else:
    RANSAC finds no geometry among the matches and runs each fit to its limit (``one_scene``);
    with a ``geometry`` asked for, it is verified in vain, a's copies seen from the side too."""
    other = cv2.resize(photos.load("coffee"), a.shape[::-1], interpolation=cv2.INTER_AREA)
    files = {"image_a": ("a.png", cv2.imencode(".png", a)[1].tobytes()),
             "image_b": ("b.png", cv2.imencode(".png", other)[1].tobytes())}

    def post(_: int) -> None:
        r = client.post("/v1/correspondences", files=files, data={"method": method, "geometry": geometry})
        r.raise_for_status()
        if r.json().get("one_scene" if geometry == "none" else "geometry") not in (False, None):
            raise RuntimeError("the unrelated pair fitted a geometry")
    post(0)  # caches both images' features
    return timed(post, repeats)


def sift_pair(a: np.ndarray, b: np.ndarray) -> Callable[[], None]:
    """The baseline's work on a pair: OpenCV SIFT detects and describes both, ratio-matched."""
    sift, bf = cv2.SIFT_create(), cv2.BFMatcher(cv2.NORM_L2)

    def run() -> None:
        _, da = sift.detectAndCompute(a, None)
        _, db = sift.detectAndCompute(b, None)
        [m for m, n in bf.knnMatch(da, db, k=2) if m.distance < 0.8 * n.distance]
    return run


def sift_latency(a: np.ndarray, b: np.ndarray, repeats: int) -> dict[str, float]:
    """Median ms of OpenCV SIFT on the pair (``sift_pair``), run in the main thread and in a
    worker thread: glibc's main heap gives pages back and faults them in again on every call,
    which makes the same work about twice as slow there. The faster is the baseline."""
    pair = sift_pair(a, b)

    def run(_: int) -> None:
        pair()
    with ThreadPoolExecutor(1) as worker:
        return {"main thread": timed(run, repeats), "worker thread": worker.submit(timed, run, repeats).result()}


def stages(img: np.ndarray, repeats: int) -> dict[str, tuple[float, float]]:
    """Median ms (wall, CPU of every thread) of each step of one image's sparse features, in
    process, each step in a worker thread of its own (the service's settings and session options),
    beside OpenCV SIFT's detect + describe of it."""
    settings = Settings()
    first = fast_name(settings) or settings.default_descriptor_model  # what a cold request runs first
    path = settings.models_dir / f"{first}.onnx"
    net = ort.InferenceSession(str(path), registry.session_options(settings), providers=["CPUExecutionProvider"])
    patches, (xy, size, angle) = dense.sparse_input(img, settings)
    sift = cv2.SIFT_create()
    n = settings.sparse_keypoints
    steps = {f"DoG keypoints (OpenCV's SIFT detector; {len(xy)})": lambda _: sparse.detect(img, n),
             "their normalised 64x64 patches": lambda _: sparse.patches(img, xy, size, angle, settings.sparse_blur),
             f"the descriptor network ({first}, batch {len(xy)})":
                 lambda _: net.run(None, {"patches": patches}),
             "OpenCV SIFT detect + describe, for comparison": lambda _: sift.detectAndCompute(img, None)}
    times = {}
    # each step on a thread of its own: with glibc's heaps as this process has them, OpenCV's detector on a
    # thread that had run an ONNX Runtime session faulted pages in and took half as long again (operations.md)
    for k, f in steps.items():
        with ThreadPoolExecutor(1) as worker:
            times[k] = worker.submit(timed_cpu, f, repeats).result()
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=15)  # the host is noisy: 7 swung cold by 30 %
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    if not 1 <= args.repeats <= 16:
        ap.error("--repeats must be 1 to 16 (each race sends 2 new pairs a round from RACE_FIRST)")
    a, b = test_pair()
    first = sift_latency(a, b, args.repeats)  # and again after the API's runs: the host drifts
    rows, cold_rows, unrelated, loaded, transfers = {}, {}, {}, {}, {}
    redis = RedisServer("--maxmemory", "256mb", "--maxmemory-policy", "allkeys-lru").start()
    # BLAS_THREADS=0: numpy's BLAS on every core, its idle threads spinning (the setting's trade-off)
    envs = {"in-process cache": {}, "in-process cache, BLAS_THREADS=0": {"BLAS_THREADS": "0"},
            "in-process cache, OPENCV_THREADS=0": {"OPENCV_THREADS": "0"}, "Redis cache": {"REDIS_URL": redis.url}}
    try:
        with serving(envs) as clients:
            for method in ("sparse", "dense"):
                for label, got in cold_race(clients, a, b, args.repeats, method).items():
                    cold_rows[f"method={method}, {label}"] = got
            for label, client in clients.items():
                env = envs[label]
                for method in ("sparse", "dense"):
                    rows[f"method={method}, {label}"] = api_latency(client, a, b, args.repeats, method)
                    if not env:
                        unrelated[f"method={method}, {label}"] = {
                            geometry: unrelated_latency(client, a, args.repeats, method, geometry)
                            for geometry in ("none", "homography")}
                if not env:
                    transfers[label] = transfer_latency(client, a, b, args.repeats)
                if not env or "OPENCV_THREADS" in env:  # the load table compares the defaults with OpenCV's pool
                    loaded[label] = cold_load(str(client.base_url).rstrip("/"), a, b)  # its own async clients
    finally:
        redis.stop()
    # MEMORY_KEEP_MB=0: the heaps trimmed whenever the service falls idle
    paused = paused_latency({"in-process cache": {}, "in-process cache, MEMORY_KEEP_MB=0": {"MEMORY_KEEP_MB": "0"}},
                            a, b, args.repeats)
    started = first_latency({"WARM_UP=true": {}, "WARM_UP=false": {"WARM_UP": "false"}}, a, b)
    sifts = {where: min(ms, first[where]) for where, ms in sift_latency(a, b, args.repeats).items()}
    sift = min(sifts.values())
    fm_bytes = len(FeatureMap(np.zeros((32, 120, 160), np.float16), 640, 480, 1.0, 4).encode())
    command = "python -m eval.latency " + shlex.join(sys.argv[1:])
    lines = [f"| path, 640x480 pair | median ms (of {args.repeats}) | vs SIFT |", "|---|---|---|",
             *(f"| OpenCV SIFT detect + describe + ratio match (in process, no HTTP; {where}) | {ms:.0f} | "
               f"{ms / sift:.2f} |" for where, ms in sifts.items())]
    for label, (warm, ids) in rows.items():
        cold, ratio = cold_rows[label]
        lines.append(f"| API cold, features computed ({label}; raced) | {cold:.0f} | {ratio:.2f} |")
        lines.append(f"| API warm, the same bytes sent again, features cached ({label}) | {warm:.0f} | "
                     f"{warm / sift:.2f} |")
        lines.append(f"| API warm, by image ids from /v1/images ({label}) | {ids:.0f} | {ids / sift:.2f} |")
        if label in unrelated:
            ms = unrelated[label]["none"]
            lines.append(f"| API warm, a's features against an unrelated photo's, no geometry among the matches "
                         f"(`one_scene` false; {label}) | {ms:.0f} | {ms / sift:.2f} |")
            ms = unrelated[label]["homography"]
            lines.append(f"| API warm, a's features against an unrelated photo's, geometry=homography: none "
                         f"verified, a's copies seen from the side tried too ({label}) | {ms:.0f} | "
                         f"{ms / sift:.2f} |")
    for label, (ms, ratio) in paused.items():
        lines.append(f"| API cold, method=sparse, each pair sent {PAUSE_S:g} s after the last answer ({label}; "
                     f"raced) | {ms:.0f} | {ratio:.2f} |")
    for label, (first_ms, second_ms, first_ratio, second_ratio) in started.items():
        lines.append(f"| API cold, method=sparse, the first request of a server just started ({label}; median of "
                     f"{STARTS} starts; against SIFT's first run in a process just started) | {first_ms:.0f} | "
                     f"{first_ratio:.2f} |")
        lines.append(f"| API cold, method=sparse, that server's second request ({label}; against SIFT's second run) "
                     f"| {second_ms:.0f} | {second_ratio:.2f} |")
    for label, ms in transfers.items():
        lines.append(f"| API cold keypoint transfer, {TRANSFER_POINTS} points, its defaults (sparse guide, dense "
                     f"features; {label}) | {ms:.0f} | {ms / sift:.2f} |")
    table = "\n".join(lines)
    load = "\n".join(["| 8 callers at once, 6 new 640x480 pairs each (method=sparse) | pairs a second | median ms "
                      "| 95th percentile ms |", "|---|---|---|---|",
                      *(f"| {label} | {rate:.2f} | {mid:.0f} | {p95:.0f} |"
                        for label, (rate, mid, p95) in loaded.items())])
    steps = stages(a, args.repeats)
    *ours, (_, sift_cpu) = steps.values()
    ours_cpu = sum(c for _, c in ours)
    breakdown = "\n".join(["| step, one 640x480 image, in process | median ms | CPU ms, all threads |",
                            "|---|---|---|", *(f"| {k} | {w:.1f} | {c:.1f} |" for k, (w, c) in steps.items()),
                            f"| the three steps against SIFT's, CPU | | {ours_cpu / sift_cpu:.2f}x |"])
    cores = os.cpu_count() or 1
    least = 2 * ours_cpu / cores
    # against SIFT's CPU in these same runs: the API's rows ran minutes earlier, and this host's speed drifts
    floor = (f"CPU time counts the work on every core. Both images' three steps need 2 x {ours_cpu:.0f} ms of it, "
             f"{ours_cpu / sift_cpu:.2f}x what SIFT's detect and describe of them takes (2 x {sift_cpu:.0f} ms), so "
             f"on {cores} cores no schedule finishes a cold pair's features in under {least:.0f} ms, before upload, "
             "decoding and matching.")
    print(table, load, breakdown, floor, sep="\n\n")
    print(f"one cached 640x480 feature map: {fm_bytes} bytes ({fm_bytes / 2**20:.2f} MiB)")
    if not args.no_write:
        write_section("dense-latency", f"## Correspondence latency against SIFT\n\n`{command}` {machine.describe()}"
                      "\n\nThrough a uvicorn server on loopback, each method with its defaults (method=sparse: "
                      "SPARSE_FAST_MODEL's network, its answer kept, as no geometry is asked for); PNG upload, "
                      "decoding, features and matching included, on one kept-alive connection. The cold rows marked"
                      " *raced* ran round by round: in each round every server (all four up at once) got a new "
                      "pair, untimed, then the timed one, and OpenCV SIFT ran on the pair in a worker thread; their"
                      " ratio is the median of the rounds' ratios, so the host's swings between minutes fall on "
                      "SIFT and the servers alike. The other rows' baseline is the faster of SIFT's two ways, each "
                      "the faster of a run before the API's and one after. Compare ratios. The rows with "
                      "BLAS_THREADS=0 leave numpy's BLAS on every core, as numpy does: its idle threads spin after "
                      "each matrix product and take the cores the next request's detector and networks need; the "
                      "default holds it to one thread. The rows with OPENCV_THREADS=0 leave OpenCV's parallel loops"
                      " their pool, one thread a core, which a cold pair's two detectors then share; the default "
                      "holds each to one thread, so the two run side by side, one a core. The rows with a pause "
                      "send each pair after the service has fallen idle, to two servers in turn, and are raced "
                      "with OpenCV SIFT run after the same pause: with "
                      "MEMORY_KEEP_MB=0 one gives its free heap back every time, and the next pair faults it in "
                      "again. The rows of a server just started send its first two pairs; with WARM_UP=false it "
                      "does not warm up before taking requests. Their baseline is OpenCV SIFT's first and second "
                      "run on the pair in a Python process just started (one a start), for the first run pays for "
                      "what happens once in a process for SIFT as well."
                      f"\n\n{table}\n\nUnder load, every pair new:\n\n{load}\n\nOne cached "
                      f"640x480 dense feature map takes {fm_bytes} bytes ({fm_bytes / 2**20:.2f} MiB: 32 float16 "
                      "channels at stride 4, plus a small header).\n\nWhere a cold sparse request's time goes, "
                      "step by step for image a (the API computes both images at once on the cores):"
                      f"\n\n{breakdown}\n\n{floor}\n")


if __name__ == "__main__":
    main()
