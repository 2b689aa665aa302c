"""The guide of a keypoint transfer (``matching.fit_guide``): how many of a homography's inliers
RANSAC's fundamental matrix keeps, counted as the guide counts them (in the coarser image's
pixels), where the pair is a plane or a turning camera and where it is a scene with depth.

    python -m eval.guide

A scene's own epipolar geometry holds on each of its planes and keeps their matches; a fundamental
matrix that RANSAC turned to thread look-alikes onto its lines leaves them out, and a fundamental
matrix that leaves out more than a tenth of the homography's inliers does not outvote it
(``matching.leaves_out``). Planes: the validation pairs with a homography (``eval.robustness``'s
cases, objects in clutter and among other photos). Depth: the Aloe stereo pair whole and in
windows (``pairs.CROPS``), the cube moved by hand. Each pair's mutual sparse matches, as the
service first fits its guide to them; features in process, with the service's defaults.
"""
from __future__ import annotations

import argparse
import asyncio
import shlex
import sys

import cv2
import numpy as np

from eval import machine
from eval.agreement import features, homography_cases, hopeless, images_of
from eval.depth import windows
from eval.results import published
from models.data import pairs
from service import matching, sparse
from service.config import Settings
from service.correspond import GUIDE_INLIERS

DEPTH = "scenes with depth"


def depth_cases() -> list[tuple[str, pairs.Pair]]:
    aloe = pairs.load("aloe")
    return ([("aloe", aloe)] + [(f"aloe window {box}", p) for box, p, _ in windows(aloe)]
            + [(f"cube moved by hand, frame 0 -> {f}", pairs.load(n)) for n, f in pairs.MBT_FRAMES.items()])


def ransac_found(m: matching.Matches, threshold: float) -> bool:
    """Whether RANSAC alone (OpenCV's FM_RANSAC, as ``matching.verify`` runs it) finds a
    fundamental matrix among the matches ``m`` (``matching.found``)."""
    if len(m.score) < 8:
        return False
    f, mask = cv2.findFundamentalMat(m.xy_a, m.xy_b, cv2.FM_RANSAC, threshold, 0.999)
    return f is not None and matching.found("fundamental", mask.ravel().astype(bool), m)


def kept(m: matching.Matches, threshold: float) -> tuple[int, int, int] | None:
    """(the homography's inliers, the fundamental matrix's, how many of the first the second keeps),
    counted as ``matching.flat`` counts them; None where RANSAC fits either to too few."""
    h, inl_h = matching.verify(m, "homography", threshold)
    f, inl_f = matching.verify(m, "fundamental", threshold)
    if h is None or f is None or inl_h.sum() < GUIDE_INLIERS or inl_f.sum() < GUIDE_INLIERS:
        return None
    inl_h, inl_f = matching.counted(m, h, inl_h, inl_f, threshold)
    return int(inl_h.sum()), int(inl_f.sum()), int((inl_h & inl_f).sum())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    threshold = Settings().ransac_threshold_px
    groups = {"planes and turning cameras": homography_cases(), DEPTH: depth_cases()}
    f = asyncio.run(features(images_of([c for cases in groups.values() for c in cases])))
    rows, low, spared = [], [], {group: [] for group in groups}
    for group, cases in groups.items():
        shares, chosen = [], {"homography": 0, "fundamental": 0, None: 0}
        for name, _ in cases:
            m = sparse.match(f[f"{name}/a"], f[f"{name}/b"], None, True)
            if ransac_found(m, threshold):  # RANSAC's own fit, as the service runs it where not spared
                spared[group] += [hopeless(m, threshold, "fundamental")]
            guide = matching.fit_guide(m, threshold, GUIDE_INLIERS)
            chosen[guide and guide.kind] += 1
            counts = kept(m, threshold)
            if counts is None:
                continue
            shares.append(counts[2] / counts[0])
            if shares[-1] < matching.PLANE_KEPT or group == DEPTH:
                low.append(f"| {name} | {counts[0]} | {counts[1]} | {counts[2]} | {guide and guide.kind} |")
        rows.append(f"| {group} | {len(cases)} | {len(shares)} | {100 * min(shares):.0f} % | "
                    f"{100 * np.median(shares):.0f} % | {sum(s < matching.PLANE_KEPT for s in shares)} | "
                    f"{chosen['homography']} / {chosen['fundamental']} / {chosen[None]} |")
    command = "python -m eval.guide " + shlex.join(sys.argv[1:])
    text = ("## Keypoint transfer's guide: the homography's inliers a fundamental matrix keeps\n\n"
            f"`{command.strip()}` {machine.describe()}\n\n"
            f"Each pair's mutual sparse matches, RANSAC at {threshold:g} px as the service fits them (GC-RANSAC's fit "
            "where RANSAC is spared: a fundamental matrix with too few inliers to be found, which no guide "
            "takes); counted in the coarser image's pixels "
            "as the guide counts them (`matching.flat`). Pairs with both fitted: where RANSAC fits each to "
            f"{GUIDE_INLIERS} or more. A fundamental matrix that keeps under {100 * matching.PLANE_KEPT:.0f} % of "
            "the homography's inliers does not outvote it. RANSAC's fundamental matrix is spared where "
            "GC-RANSAC's holds fewer inliers than one needs (`matching.hopeless`): of those RANSAC finds, "
            + ", ".join(f"{sum(got)} of {len(got)} {group}" for group, got in spared.items()) + " would be spared."
            "\n\n"
            "| pairs | all | both fitted | share kept, least | median | under "
            f"{100 * matching.PLANE_KEPT:.0f} % | guide: homography / fundamental / none |\n"
            "|---|---|---|---|---|---|---|\n"
            + "\n".join(rows) + "\n\nThe scenes with depth, and the planes under it:\n\n"
            "| pair | homography inliers | fundamental inliers | kept | guide |\n|---|---|---|---|---|\n"
            + "\n".join(low) + "\n")
    published("guide-plane-kept", text, not args.no_write)


if __name__ == "__main__":
    main()
