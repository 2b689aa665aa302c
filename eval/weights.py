"""The shipped weights beside the ones they replaced, read off the files themselves: subnormal
values, the most-dead layer on real inputs, FPR95 on the real validation pairs, and ONNX Runtime's
speed on the file as it is (no denormal flushing, the way a plain session runs it).

    python -m eval.weights [--before <git revision>] [--no-write]

The replaced files are taken from git at ``--before``; both sets are measured in the same run.
"""
from __future__ import annotations

import argparse
import json
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from eval import machine
from eval.patches import onnx_scores, pair_scores, session
from eval.results import write_section
from models import health
from models.data import photos
from models.data.synth import PatchSet
from models.metrics import fpr95

ROOT = Path(__file__).resolve().parents[1]
WEIGHTS = ROOT / "models" / "weights"
BATCH = 256
THREADS = 2


def from_git(rev: str, folder: Path) -> Path:
    """The manifest and .onnx files of models/weights at ``rev``, written into ``folder``."""
    names = subprocess.run(["git", "ls-tree", "--name-only", rev, "models/weights/"], cwd=ROOT, check=True,
                           capture_output=True, text=True).stdout.split()
    for name in names:
        blob = subprocess.run(["git", "show", f"{rev}:{name}"], cwd=ROOT, check=True, capture_output=True).stdout
        (folder / Path(name).name).write_bytes(blob)
    return folder


def feed(entry: dict, n: int) -> dict[str, np.ndarray]:
    """Real inputs: patch pairs cut from photos; for the dense network the photos the export gate
    probes with (noise leaves a fifth of UCN's head channels dark that photos all light)."""
    if entry["kind"] == "dense":
        return {"image": health.probe_images()}
    pairs = health.probe_pairs(n)
    return {"pairs": pairs} if entry["kind"] == "patch" else {"patches": np.ascontiguousarray(pairs[:, :1])}


def speed_feed(entry: dict) -> dict[str, np.ndarray]:
    """What ``speed`` times: a batch of BATCH pairs or patches; one 640x480 photo (dense)."""
    if entry["kind"] == "dense":
        return {"image": cv2.resize(photos.load("camera"), (640, 480), interpolation=cv2.INTER_AREA)[None, None]
                .astype(np.float32) / 255.0}
    return feed(entry, BATCH)


def speed(entry: dict, folder: Path, repeats: int = 3) -> str:
    """Items a second (pairs, patches) or milliseconds an image (dense), median of ``repeats``."""
    sess, x = session(folder / entry["file"], flush=False, threads=THREADS), speed_feed(entry)
    sess.run(None, x)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        sess.run(None, x)
        times.append(time.perf_counter() - t)
    t = statistics.median(times)
    return f"{1e3 * t:.0f} ms an image" if entry["kind"] == "dense" else f"{BATCH / t:,.0f} a second"


def row(entry: dict, folder: Path, ps: PatchSet | None) -> list[str]:
    report = health.onnx_report(folder / entry["file"], feed(entry, 512))
    layer, dead = max(report["dead"].items(), key=lambda kv: kv[1]) if report["dead"] else ("-", 0.0)
    quality = (f"{100 * fpr95(*pair_scores(lambda p: onnx_scores(entry, folder, ps, p), ps)):.2f} %"
               if ps is not None and entry["kind"] in ("patch", "descriptor") else "-")
    most = f"{100 * dead:.0f} % (`{layer}`)" if dead else "none dead"
    return [f"{report['subnormal']:,}", most, quality, speed(entry, folder)]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--before", default="HEAD", help="the git revision whose weights were replaced (default HEAD: "
                    "after `make weights` wrote new ones, the committed ones)")
    ap.add_argument("--no-write", action="store_true")
    a = ap.parse_args(argv)
    valpairs = Path("data/patches_valpairs.npz")
    ps = PatchSet.load(str(valpairs)) if valpairs.exists() else None
    now = json.loads((WEIGHTS / "manifest.json").read_text())["models"]
    with tempfile.TemporaryDirectory() as tmp:
        old_dir = from_git(a.before, Path(tmp))
        old = {e["name"]: e for e in json.loads((old_dir / "manifest.json").read_text())["models"]}
        lines = []
        for e in now:
            for label, entry, folder in (("replaced", old.get(e["name"]), old_dir), ("shipped", e, WEIGHTS)):
                if entry is not None:
                    cells = row(entry, folder, ps)
                    lines.append(f"| {e['name']} | {label} `{entry['sha256'][:12]}` | " + " | ".join(cells) + " |")
                    print(lines[-1], flush=True)
    command = "python -m eval.weights " + shlex.join(sys.argv[1:] if argv is None else argv)
    text = (f"## Shipped weights against the ones they replaced\n\n`{command}` {machine.describe()}\n\n"
            "Read off the `.onnx` files: subnormal values (they make CPUs that do not flush them up to 70x "
            "slower); the layer with the largest share of output channels that never activate on real "
            f"inputs (the export gate refuses more than {100 * health.MAX_DEAD:.0f} %); FPR95 on the real "
            "validation pairs (valpairs); ONNX Runtime on the file as it is, batch "
            f"{BATCH} ({THREADS} threads; UCN: one 640x480 image), medians of three.\n\n"
            "| network | weights | subnormal values | most-dead layer | FPR95 valpairs | ONNX Runtime |\n"
            "|---|---|---|---|---|---|\n" + "\n".join(lines) + "\n")
    print(text)
    if not a.no_write:
        write_section("weights-then-now", text)


if __name__ == "__main__":
    main()
