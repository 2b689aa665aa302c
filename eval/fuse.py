"""Fit a fused patch scorer: a shipped patch network's score and OpenCV SIFT's descriptor distance
of the same two patches, combined by a logistic regression (``service.fusion``), and add it to the
manifest as a patch model of its own that runs the network's file (as ``eval.calibrate`` fits
the calibration curves the manifest keeps).

    python -m eval.fuse [--network 2ch-2stream-views8] [--set data/patches_fusion.npz] [--pairs 6000]
                        [--weights models/weights]

Fitted on ``fusion`` (new warps of the training photos with random and nearby negatives, built as
``val`` is), not on ``train``: its SIFT-alike hard negatives are chosen for being close in SIFT's
space, which teaches the regression that a small SIFT distance means a non-match.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import shlex
import sys
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression

from eval.patches import run, session
from models.data.synth import PatchSet
from models.export_patch import MANIFEST, WEIGHTS, update_manifest
from service.fusion import SIFT_SCALE, Fusion, sift_distances


def fit(scores: np.ndarray, distances: np.ndarray, label: np.ndarray) -> Fusion:
    """The regression of ``label`` (1: a match) on the scores and distances of the same pairs."""
    lr = LogisticRegression(C=1.0, max_iter=1000).fit(np.c_[scores, distances / SIFT_SCALE], label)
    (a, b), c = lr.coef_[0], lr.intercept_[0]
    return Fusion(score_weight=round(float(a), 6), sift_weight=round(float(b), 6), bias=round(float(c), 6))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--network", default="2ch-2stream-views8", help="a patch network of the manifest")
    ap.add_argument("--set", type=Path, default=Path("data/patches_fusion.npz"))
    ap.add_argument("--pairs", type=int, default=6000, help="positive pairs drawn, and as many negatives")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--weights", type=Path, default=WEIGHTS, help="the folder of the manifest and its files "
                    "(another one: a candidate exported with export_patch --out)")
    a = ap.parse_args()
    manifest = a.weights / MANIFEST.name
    entries = {e["name"]: e for e in json.loads(manifest.read_text())["models"]}
    net = entries[a.network]
    if net["kind"] != "patch" or net.get("fusion"):
        sys.exit(f"{a.network} is not a patch network")
    ps = PatchSet.load(str(a.set))
    rng = np.random.default_rng(a.seed)
    pos = ps.pos[rng.choice(len(ps.pos), min(a.pairs, len(ps.pos)), replace=False)]
    neg = ps.neg[rng.choice(len(ps.neg), min(a.pairs, len(ps.neg)), replace=False)]
    pairs = ps.patches[np.r_[pos, neg]]
    label = np.r_[np.ones(len(pos)), np.zeros(len(neg))]
    scores = run(session(a.weights / net["file"]), {"pairs": pairs.astype(np.float32) / 255.0})
    fusion = fit(scores, sift_distances(pairs), label)
    print(f"{a.network} + SIFT: {fusion}")
    entry = {k: v for k, v in net.items() if k not in ("metrics", "calibration")}
    entry |= {"name": f"{a.network}-sift", "fusion": fusion.model_dump(),
              "fusion_command": "python -m eval.fuse " + shlex.join(sys.argv[1:]),
              "fitted_on": f"{len(pos)} positive and {len(neg)} negative pairs of {a.set.name}",
              "version": f"{net['version']}-sift{hashlib.sha256(fusion.model_dump_json().encode()).hexdigest()[:6]}"}
    update_manifest([entry], manifest)


if __name__ == "__main__":
    main()
