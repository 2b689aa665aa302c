"""The dense network with ONNX Runtime's GridSample against the same weights with its sampling
rewritten (``models.gather_sampling``): milliseconds and peak memory of a forward pass, each in a
process of its own, and the largest difference of their features on real photos.

    python -m eval.sampling [--before <git revision>] [--no-write]

The original file is taken from git: by default the latest revision whose ucn.onnx is the one the
manifest says the shipped file was rewritten from.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import resource
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import onnx

from eval import machine
from eval.results import write_section
from eval.weights import from_git
from models.data import photos

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "models" / "weights" / "ucn.onnx"
SIZES = [(480, 640, 1), (480, 640, 2), (1024, 1024, 1)]  # (height, width, batch): the last DENSE_MAX_SIDE square
THREADS = [1, 2]
REPEATS = 5
PHOTOS = ["astronaut", "coffee", "chelsea", "rocket"]


def original() -> str:
    """The latest revision whose ucn.onnx has the sha256 the manifest's rewrite started from."""
    entry = next(e for e in json.loads((SHIPPED.parent / "manifest.json").read_text())["models"]
                 if e.get("file") == SHIPPED.name)
    want = entry["graph_rewrite"]["from_sha256"]
    path = SHIPPED.relative_to(ROOT).as_posix()
    revs = subprocess.run(["git", "log", "--format=%H", "--", path], cwd=ROOT, check=True, capture_output=True,
                          text=True).stdout.split()
    for rev in revs:
        blob = subprocess.run(["git", "show", f"{rev}:{path}"], cwd=ROOT, capture_output=True).stdout
        if hashlib.sha256(blob).hexdigest() == want:
            return rev
    raise SystemExit(f"no revision in git's history has the ucn.onnx the shipped one was rewritten from ({want[:12]})")


def timed(path: str, height: int, width: int, batch: int, threads: int) -> dict:
    """In this process: the median ms of REPEATS forward passes after one to warm up, and the
    peak resident memory they added (MiB)."""
    import onnxruntime as ort
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.log_severity_level = 3
    sess = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).random((batch, 1, height, width), np.float32)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    sess.run(None, {"image": x})
    times = []
    for _ in range(REPEATS):
        t = time.perf_counter()
        sess.run(None, {"image": x})
        times.append(time.perf_counter() - t)
    return {"ms": 1000 * statistics.median(times),
            "peak_mib": (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024}


def in_child(path: Path, height: int, width: int, batch: int, threads: int) -> dict:
    """``timed`` in a fresh interpreter, so that each figure's peak memory is its own."""
    code = f"import json; from eval.sampling import timed; print(json.dumps(timed({str(path)!r}, " \
           f"{height}, {width}, {batch}, {threads})))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, capture_output=True, text=True).stdout
    return json.loads(out.splitlines()[-1])


def difference(before: Path, after: Path) -> float:
    """Largest |after - before| of the features of PHOTOS (grey, at 640 wide)."""
    import onnxruntime as ort
    runs = [ort.InferenceSession(str(p), providers=["CPUExecutionProvider"]) for p in (before, after)]
    worst = 0.0
    for name in PHOTOS:
        img = photos.load(name)
        img = cv2.resize(img, (640, round(640 * img.shape[0] / img.shape[1])), interpolation=cv2.INTER_AREA)
        x = {"image": img[None, None].astype(np.float32) / 255}
        worst = max(worst, float(np.abs(runs[0].run(None, x)[0] - runs[1].run(None, x)[0]).max()))
    return worst


def table(before: Path, after: Path) -> tuple[list[str], float]:
    rows = ["| image, batch | ORT threads | GridSample ms | rewritten ms | speed-up | GridSample peak MiB | "
            "rewritten peak MiB |", "|---|---|---|---|---|---|---|"]
    for height, width, batch in SIZES:
        for threads in THREADS:
            old, new = (in_child(p, height, width, batch, threads) for p in (before, after))
            rows.append(f"| {width}x{height}, {batch} | {threads} | {old['ms']:.0f} | {new['ms']:.0f} | "
                        f"{old['ms'] / new['ms']:.2f}x | {old['peak_mib']:.0f} | {new['peak_mib']:.0f} |")
            print(rows[-1], flush=True)
    return rows, difference(before, after)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--before", help="a git revision whose models/weights/ucn.onnx is the original "
                    "(default: the one the manifest names)")
    ap.add_argument("--no-write", action="store_true")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        before = from_git(a.before or original(), Path(tmp)) / SHIPPED.name
        if "GridSample" not in {n.op_type for n in onnx.load(str(before)).graph.node}:
            raise SystemExit(f"{a.before}'s ucn.onnx has no GridSample to compare with")
        rows, worst = table(before, SHIPPED)
    body = "\n".join([
        "## Dense features: the spatial transformer's sampling rewritten", "",
        f"`python -m eval.sampling {shlex.join(sys.argv[1:])}` {machine.describe()}", "",
        "UCN's forward pass in ONNX Runtime alone (CPUExecutionProvider), the file it was rewritten from, "
        "out of git (its spatial transformer a GridSample and a stride-3 convolution) against the shipped "
        "one (the same weights, the sampling and the grid's tiny products rewritten by "
        f"`models.gather_sampling`), each figure in a fresh process: median of {REPEATS} passes after one "
        "to warm up, and the peak resident memory "
        f"the passes added. Largest difference of the two files' features on {len(PHOTOS)} photos at 640 "
        f"wide: {worst:.1e} (features are unit vectors).", "", *rows])
    if a.no_write:
        print(body)
    else:
        write_section("sampling", body)


if __name__ == "__main__":
    main()
