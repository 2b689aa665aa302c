"""Evaluate the shipped patch networks (the ONNX files, through ONNX Runtime) by FPR95 beside
OpenCV SIFT on the same pairs, record the figures in the manifest and in docs/RESULTS.md.

    python -m models.eval_patch                       # held-back photos + motorcycle stereo pair
    python -m models.eval_patch --phototour DIR --pairs m50_100000_100000_0.txt   # a Brown set

SIFT is computed on the same normalised patches, its descriptor window covering the patch.
"""
from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort

from bench.results import write_section
from models.data import phototour
from models.data.synth import PatchSet, sift_describe
from models.export_patch import MANIFEST
from models.metrics import fpr_at_recall

BATCH = 256


def run(sess: ort.InferenceSession, feed: dict[str, np.ndarray]) -> np.ndarray:
    n = len(next(iter(feed.values())))
    return np.concatenate([sess.run(None, {k: v[i:i + BATCH] for k, v in feed.items()})[0]
                           for i in range(0, n, BATCH)])


def onnx_scores(entry: dict, folder: Path, ps: PatchSet, pairs: np.ndarray) -> np.ndarray:
    """Scores (P,) of index pairs (P, 2) by one manifest entry's ONNX files."""
    opts = ["CPUExecutionProvider"]
    sess = ort.InferenceSession(str(folder / entry["file"]), providers=opts)
    if entry["kind"] == "patch":
        return run(sess, {"pairs": ps.patches[pairs].astype(np.float32) / 255.0})
    used = np.unique(pairs)
    desc = np.zeros((len(ps.patches), entry["descriptor_dim"]), np.float32)
    desc[used] = run(sess, {"patches": ps.patches[used, None].astype(np.float32) / 255.0})
    decide = ort.InferenceSession(str(folder / entry["decision_file"]), providers=opts)
    return run(decide, {"a": desc[pairs[:, 0]], "b": desc[pairs[:, 1]]})


def fpr95_of(score_fn, ps: PatchSet) -> float:
    scores = np.r_[score_fn(ps.pos), score_fn(ps.neg)]
    return fpr_at_recall(scores, np.r_[np.ones(len(ps.pos)), np.zeros(len(ps.neg))])


def sift_fpr95(ps: PatchSet) -> float:
    d = sift_describe(ps.patches)
    return fpr95_of(lambda p: -np.linalg.norm(d[p[:, 0]] - d[p[:, 1]], axis=1), ps)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--manifest", type=Path, default=MANIFEST)
    ap.add_argument("--phototour", type=Path, help="a UBC/Brown dataset folder instead of ours")
    ap.add_argument("--pairs", default="m50_100000_100000_0.txt")
    ap.add_argument("--no-write", action="store_true", help="print only")
    a = ap.parse_args()
    manifest = json.loads(a.manifest.read_text())
    entries = [m for m in manifest["models"] if m["kind"] in ("patch", "descriptor")]
    if a.phototour:
        sets = {a.phototour.name: phototour.load(a.phototour, a.pairs)}
    else:
        sets = {k: PatchSet.load(f"data/patches_{k}.npz") for k in ("heldout", "stereo")}
    sift = {k: sift_fpr95(ps) for k, ps in sets.items()}
    rows = []
    for e in entries:
        fpr = {k: fpr95_of(lambda p, e=e, ps=ps: onnx_scores(e, a.manifest.parent, ps, p), ps)
               for k, ps in sets.items()}
        rows.append((e["name"], fpr))
        if not a.phototour:
            e["metrics"] = {f"fpr95_{k}": round(v, 5) for k, v in fpr.items()} | \
                {f"sift_fpr95_{k}": round(v, 5) for k, v in sift.items()}
    rows.sort(key=lambda r: np.mean(list(r[1].values())))
    command = "python -m models.eval_patch " + shlex.join(sys.argv[1:])
    cols = list(sets)
    lines = ["| network | " + " | ".join(f"FPR95 {c}" for c in cols) + " | " +
             " | ".join(f"SIFT / net, {c}" for c in cols) + " |", "|" + "---|" * (1 + 2 * len(cols))]
    lines.append("| OpenCV SIFT | " + " | ".join(f"{100 * sift[c]:.2f} %" for c in cols) + " |" + " |" * len(cols))
    for name, fpr in rows:
        lines.append(f"| {name} | " + " | ".join(f"{100 * fpr[c]:.2f} %" for c in cols) + " | " +
                     " | ".join(f"{sift[c] / max(fpr[c], 1e-9):.1f}x" for c in cols) + " |")
    counts = ", ".join(f"{c}: {len(ps.pos)} positive / {len(ps.neg)} negative pairs" for c, ps in sets.items())
    table = "\n".join(lines)
    print(table)
    if not a.no_write:
        if not a.phototour:
            a.manifest.write_text(json.dumps(manifest, indent=2) + "\n")
        write_section(f"patch-fpr95{'-' + a.phototour.name if a.phototour else ''}",
                      f"## Patch matching: FPR95 (lower is better)\n\n`{command}`\n\n{counts}.\n\n{table}\n")


if __name__ == "__main__":
    main()
