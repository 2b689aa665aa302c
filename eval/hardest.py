"""The pairs a patch scorer gets most wrong on one of our sets, drawn: the negatives it scores
highest (the false positives that set its FPR95) and the positives of the tightest offset bin it
scores lowest, each pair side by side. Whether a bin's FPR95 is the network's fault or the
patches' (two views of a repeated motif are alike to any scorer) is read off the picture, and off
a table of how alike the two patches of a pair are, part by part (``alike_parts``): the negatives
the scorer lets through at 95 % recall of the tightest bin against the positives it loses there.

    python -m eval.hardest --set valstereo    # docs/images/hardest-valstereo.png
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np

from eval.patches import OFFSET_BINS, correlation, lookalike, onnx_scores, pair_scores
from models.data.synth import PatchSet
from models.export_patch import MANIFEST
from models.metrics import recall_threshold
from service.config import Settings

IMAGES = Path(__file__).resolve().parents[1] / "docs" / "images"
GAP = 4  # pixels between the pairs of a sheet


def hardest(pos: np.ndarray, neg: np.ndarray, tight: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the ``n`` highest-scored negatives (best first) and of the ``n`` lowest-scored
    positives among those in ``tight`` (P,) bool (worst first)."""
    inside = np.flatnonzero(tight)
    return np.argsort(-neg, kind="stable")[:n], inside[np.argsort(pos[inside], kind="stable")[:n]]


HALVES = (np.s_[:, :, :32], np.s_[:, :, 32:], np.s_[:, :32, :], np.s_[:, 32:, :])
QUARTERS = (np.s_[:, :32, :32], np.s_[:, :32, 32:], np.s_[:, 32:, :32], np.s_[:, 32:, 32:])


def alike_parts(patches: np.ndarray, pairs: np.ndarray) -> dict[str, np.ndarray]:
    """How alike the two 64x64 patches of each pair (K, 2) are, part by part: the correlation of
    the whole patches, of their centres (32x32), of their most and least alike halves, and of
    their most alike quarters, (K,) each. A pair a scorer should reject but cannot is one alike
    in every part; a positive with an occluder over part of one view is unlike in some part."""
    a, b = patches[pairs[:, 0]], patches[pairs[:, 1]]
    halves = np.stack([correlation(a[s], b[s]) for s in HALVES], 1)
    quarters = np.stack([correlation(a[s], b[s]) for s in QUARTERS], 1)
    return {"whole patch": correlation(a, b), "centre 32x32": correlation(a[:, 16:48, 16:48], b[:, 16:48, 16:48]),
            "most alike half": halves.max(1), "least alike half": halves.min(1), "most alike quarter": quarters.max(1)}


def alike_lines(ps: PatchSet, pos: np.ndarray, neg: np.ndarray, tight: np.ndarray) -> list[str]:
    """A table: the median of each ``alike_parts`` measure over the negatives a scorer (``pos``,
    ``neg``: its scores) lets through at its threshold for 95 % recall of the ``tight`` positives,
    and over those positives it loses there."""
    threshold = recall_threshold(pos[tight])
    passed, lost = ps.neg[neg >= threshold], ps.pos[tight & (pos < threshold)]
    through, missed = alike_parts(ps.patches, passed), alike_parts(ps.patches, lost)
    return [f"| patch correlation, median | negatives let through ({len(passed)}) | positives lost ({len(lost)}) |",
            "|---|---|---|", *(f"| {part} | {np.median(through[part]):.2f} | {np.median(missed[part]):.2f} |"
                               for part in through)]


def sheet(patches: np.ndarray, pairs: np.ndarray, labels: list[str], columns: int = 6) -> np.ndarray:
    """Pairs (K, 2) of patches (N, 64, 64) uint8 drawn side by side, ``columns`` pairs a row, each
    with its label under it: (H, W) uint8."""
    side = patches.shape[1]
    cell_w, cell_h = 2 * side + 2 + GAP, side + 14 + GAP
    rows = -(-len(pairs) // columns)
    out = np.full((rows * cell_h, columns * cell_w - GAP), 255, np.uint8)
    for k, ((i, j), label) in enumerate(zip(pairs, labels, strict=True)):
        y, x = (k // columns) * cell_h, (k % columns) * cell_w
        out[y:y + side, x:x + side] = patches[i]
        out[y:y + side, x + side + 2:x + 2 * side + 2] = patches[j]
        cv2.putText(out, label, (x, y + side + 11), cv2.FONT_HERSHEY_PLAIN, 0.8, 0, 1, cv2.LINE_AA)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--set", default="valstereo", help="data/patches_<set>.npz")
    ap.add_argument("--model", default=Settings().default_patch_model)
    ap.add_argument("-n", type=int, default=12)
    ap.add_argument("--out", type=Path)
    a = ap.parse_args()
    ps = PatchSet.load(f"data/patches_{a.set}.npz")
    entry = next(m for m in json.loads(MANIFEST.read_text())["models"] if m["name"] == a.model)
    pos, neg = pair_scores(lambda p: onnx_scores(entry, MANIFEST.parent, ps, p), ps)
    _, lo, hi = OFFSET_BINS[0]
    tight = (ps.offset >= lo) & (ps.offset < hi)
    worst_neg, worst_pos = hardest(pos, neg, tight, a.n)
    alike = lookalike(ps)
    top = sheet(ps.patches, ps.neg[worst_neg],
                [f"{neg[k]:.2f}{' alike' if alike[k] else ''}" for k in worst_neg])
    bottom = sheet(ps.patches, ps.pos[worst_pos], [f"{pos[k]:.2f} off {ps.offset[k]:.2f}" for k in worst_pos])
    bar = np.zeros((6, top.shape[1]), np.uint8)
    out = a.out or IMAGES / f"hardest-{a.set}.png"
    cv2.imwrite(str(out), np.vstack([top, bar, bottom]))
    print(f"{out}: {a.model} on {a.set}; above, the {len(worst_neg)} highest-scored negatives ('alike': patch "
          f"correlation 0.5 or more); below, the {len(worst_pos)} lowest-scored positives {lo}-{hi} of the "
          "region apart")
    print(f"\nHow alike the two patches are, part by part, at {a.model}'s threshold for 95 % recall of the "
          f"positives {lo}-{hi} of the region apart:\n")
    print("\n".join(alike_lines(ps, pos, neg, tight)))


if __name__ == "__main__":
    main()
