"""A bounded load test on loopback: an async client with --concurrency workers for --seconds,
mixing patch similarity (one pair per request, the case dynamic batching is for), keypoint
transfer by image id, correspondences by upload, MRF alignment by image id and keypoint-model
prediction, against a real uvicorn server.

    python -m eval.load_test [--concurrency 32] [--seconds 30] [--redis-fault]

Reports throughput, p50/p95/p99 per endpoint, failures, the batch-size distribution read from
/metrics and the server's peak resident memory; then single-pair patch load against two servers,
dynamic batching and MAX_BATCH=1, in alternating rounds, for the batching ratio. With
--redis-fault, the server uses Redis and Redis is killed a third of the way in and restarted at
two thirds: no request may fail.
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import json
import re
import shlex
import sys
import time
from collections import defaultdict
from pathlib import Path
from statistics import median

import cv2
import httpx
import numpy as np

from eval import machine
from eval.latency import serve, test_pair
from eval.results import write_section
from service.config import Settings
from tests.redis_server import RedisServer


def peak_rss_mb(pid: int) -> float:
    text = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+)", text).group(1)) / 1024


def batch_histogram(metrics: str, model: str) -> dict[str, float]:
    pat = re.compile(rf'corr_batch_size_bucket{{le="([^"]+)",model="{re.escape(model)}"}} ([0-9.e+]+)')
    return {le: float(v) for le, v in pat.findall(metrics)}


async def run_load(url: str, concurrency: int, seconds: float, mix: bool,
                   fault: RedisServer | None = None) -> dict:
    a, b = test_pair()
    pa, pb = cv2.imencode(".png", a)[1].tobytes(), cv2.imencode(".png", b)[1].tobytes()
    patch = base64.b64encode(cv2.imencode(".png", a[100:164, 200:264])[1].tobytes()).decode()
    other = base64.b64encode(cv2.imencode(".png", a[300:364, 400:464])[1].tobytes()).decode()
    lat: dict[str, list[float]] = defaultdict(list)
    fails: dict[str, int] = defaultdict(int)
    statuses: dict[int, int] = defaultdict(int)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=httpx.Limits(max_connections=concurrency)) as c:
        ids = [(await c.post("/v1/images", files={"image": ("x.png", d)})).json()["image_id"] for d in (pa, pb)]
        kps = json.dumps(np.random.default_rng(0).uniform(50, 400, (32, 2)).tolist())
        named = {"p1": [100.0, 100.0], "p2": [300.0, 200.0], "p3": [450.0, 350.0]}
        exemplars = [{"image_id": i, "keypoints": named} for i in ids]
        made = await c.post("/v1/keypoint-models", json={"exemplars": exemplars})
        model_id = made.json()["id"]
        end = time.monotonic() + seconds
        kinds = ["similarity", "similarity", "similarity", "transfer", "correspondences", "align", "predict"]

        async def one(k: int) -> tuple[str, httpx.Response]:
            kind = kinds[k % len(kinds)] if mix else "similarity"
            if kind == "align":
                return kind, await c.post("/v1/align", data={"image_a_id": ids[0], "image_b_id": ids[1]})
            if kind == "predict":
                return kind, await c.post(f"/v1/keypoint-models/{model_id}/predict", data={"image_id": ids[1]})
            if kind == "similarity":
                return kind, await c.post("/v1/patches/similarity", json={"pairs": [{"a": patch, "b": other}]})
            if kind == "transfer":
                return kind, await c.post("/v1/keypoints/transfer", data={"image_a_id": ids[0], "image_b_id": ids[1],
                                                                           "keypoints": kps})
            return kind, await c.post("/v1/correspondences", files={"image_a": ("a.png", pa), "image_b": ("b.png", pb)},
                                      data={"max_matches": "200"})

        async def worker(w: int) -> None:
            k = w
            while time.monotonic() < end:
                t = time.perf_counter()
                try:
                    kind, r = await one(k)
                    statuses[r.status_code] += 1
                    if r.status_code != 200:
                        fails[kind] += 1
                except httpx.HTTPError:
                    kind = "error"
                    fails[kind] += 1
                lat[kind].append(time.perf_counter() - t)
                k += concurrency

        async def saboteur() -> None:
            await asyncio.sleep(seconds / 3)
            fault.stop()
            await asyncio.sleep(seconds / 3)
            fault.start()

        tasks = [worker(w) for w in range(concurrency)] + ([saboteur()] if fault else [])
        t0 = time.monotonic()
        await asyncio.gather(*tasks)
        wall = time.monotonic() - t0
        metrics = (await c.get("/metrics")).text
    return {"wall": wall, "lat": lat, "fails": dict(fails), "statuses": dict(statuses), "metrics": metrics}


ROUNDS = 3


def batching_rates(concurrency: int, seconds: float) -> dict[str, list[float]]:
    """Single-pair similarity throughput (pairs/s) of a server with dynamic batching and one with
    MAX_BATCH=1, both running, measured in alternating rounds so that the host's noise hits both."""
    configs = {"dynamic batching (MAX_BATCH=256, MAX_WAIT_MS=2)": {}, "batch size 1": {"MAX_BATCH": "1"}}
    servers = {label: serve(env) for label, env in configs.items()}
    rates: dict[str, list[float]] = {label: [] for label in configs}
    try:
        for _ in range(ROUNDS):
            for label, (_, url) in servers.items():
                r = asyncio.run(run_load(url, concurrency, seconds / 2 / ROUNDS, False))
                rates[label].append(len(r["lat"]["similarity"]) / r["wall"])
    finally:
        for proc, _ in servers.values():
            proc.terminate()
            proc.wait(20)
    return rates


def summarise(res: dict) -> list[str]:
    rows = []
    for kind, xs in sorted(res["lat"].items()):
        q = np.percentile(np.array(xs) * 1e3, [50, 95, 99])
        rows.append(f"| {kind} | {len(xs)} | {len(xs) / res['wall']:.1f} | {q[0]:.0f} | {q[1]:.0f} | {q[2]:.0f} | "
                    f"{res['fails'].get(kind, 0)} |")
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--redis-fault", action="store_true")
    ap.add_argument("--no-write", action="store_true")
    a = ap.parse_args()
    redis = RedisServer("--maxmemory", "256mb", "--maxmemory-policy", "allkeys-lru").start() if a.redis_fault else None
    env = {"REDIS_URL": redis.url, "REDIS_RETRY_S": "0.5"} if redis else {}
    try:
        proc, url = serve(env)
        try:
            mixed = asyncio.run(run_load(url, a.concurrency, a.seconds, True, redis))
            rss = peak_rss_mb(proc.pid)
        finally:
            proc.terminate()
            proc.wait(20)
    finally:
        if redis:
            redis.stop()
    rates = batching_rates(a.concurrency, a.seconds)
    scorer = Settings().default_patch_model  # what requests without a model name get
    hist = batch_histogram(mixed["metrics"], scorer)
    failed = sum(mixed["fails"].values())
    command = "python -m eval.load_test " + shlex.join(sys.argv[1:])
    dyn, one = (median(v) for v in rates.values())
    text = "\n".join([
        f"## Load test: {a.concurrency} concurrent clients for {a.seconds:g} s on loopback",
        "", f"`{command}` {machine.describe()}", "",
        "Mixed load, in turn: three single-pair patch similarity requests, then keypoint transfer by image id, "
        "correspondences by upload of a 640x480 pair, /v1/align by image id and a keypoint model's prediction"
        f"{' (the model and the features live in Redis, killed at 1/3 and restarted empty at 2/3)' if redis else ''}: "
        f"**{failed} failed requests** (status counts {mixed['statuses']}); the server's peak resident memory "
        f"{rss:.0f} MB.", "",
        "| endpoint | requests | per second | p50 ms | p95 ms | p99 ms | failed |", "|---|---|---|---|---|---|---|",
        *summarise(mixed), "",
        f"Batch sizes of the {scorer} worker (cumulative, last 1000 forward passes): "
        + ", ".join(f"<= {k}: {v:.0f}" for k, v in hist.items()), "",
        f"Single-pair similarity requests only, the two servers side by side, in {ROUNDS} alternating rounds of "
        f"{a.seconds / 2 / ROUNDS:.1f} s (the host is shared and noisy): the median of each, and its ratio.", "",
        "| single-pair similarity requests, same load | pairs per second, each round | median | ratio |",
        "|---|---|---|---|",
        *(f"| {k} | {', '.join(f'{x:.0f}' for x in v)} | {median(v):.0f} | {median(v) / one:.2f} |"
          for k, v in rates.items()),
        "", f"Single-pair throughput with dynamic batching is {dyn / one:.2f}x that of batch-size-1 serving on this "
        "host.",
    ])
    print(text)
    if not a.no_write:
        write_section("load-test" + ("-redis-fault" if redis else ""), text)
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
