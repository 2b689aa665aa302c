"""The keypoint pairs a verified sparse homography explains besides its RANSAC inliers
(``sparse.explained``, which ``/v1/correspondences`` adds as inliers): how many are right, by how
near b's keypoint must lie to where the homography puts a's and how alike the two must be.

    python -m eval.explained

The validation pairs with a homography (``eval.robustness``'s cases, objects in clutter and among
other photos included), each pair's mutual sparse matches fitted by RANSAC as the service fits them;
where the homography is right, its inliers and the pairs each rule adds are judged against the
truth (right: within 5 px; matches where the truth is unknown count neither way). Features in
process, with the service's defaults (the same code as ``/v1/correspondences``).
"""
from __future__ import annotations

import argparse
import asyncio
import shlex
import sys

import numpy as np

from eval import machine
from eval.agreement import features, homography_cases, images_of
from eval.results import published
from eval.robustness import TOL, homography_right, judge
from service import matching, sparse
from service.config import Settings

# (label, radius as a share of RANSAC's threshold, the bar: None, a percentile of the inliers'
# similarity, or "least": the least alike inlier's, the service's rule)
RULES = (("within the threshold, any similarity", 1.0, None), ("within half the threshold, any similarity", 0.5, None),
         ("within the threshold, as alike as the inliers' 5th percentile", 1.0, 5),
         ("within the threshold, as alike as the least alike inlier (the service's)", 1.0, "least"))


def judged(pair, m: matching.Matches) -> tuple[int, int]:
    """(right, wrong) among the matches ``m`` of ``pair``, as ``eval.robustness.judge`` counts them."""
    outcome = judge(pair, m.xy_a, m.xy_b, None, None)
    return outcome.correct, outcome.verified - outcome.correct


def bar(held: matching.Matches, rule) -> float:
    if rule is None:
        return -1.0
    return float(held.score.min() if rule == "least" else np.percentile(held.score, rule))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    cases = homography_cases()
    f = asyncio.run(features(images_of(cases)))
    threshold = Settings().ransac_threshold_px
    fits, inliers, added = 0, np.zeros(2, int), np.zeros((len(RULES), 2), int)
    for n, pair in cases:
        fa, fb = f[f"{n}/a"], f[f"{n}/b"]
        m = sparse.match(fa, fb, None, True)
        h, inl = matching.verify(m, "homography", threshold)
        if h is None or not matching.found("homography", inl, m) or not homography_right(h, pair.truth, pair.a.shape):
            continue
        held = matching.rows(m, inl)
        fits, inliers = fits + 1, inliers + judged(pair, held)
        for k, (_, share, rule) in enumerate(RULES):
            added[k] += judged(pair, sparse.explained(fa, fb, h, share * threshold, bar(held, rule), held))
    command = "python -m eval.explained " + shlex.join(sys.argv[1:])
    lines = ["## method=sparse: the keypoint pairs a verified homography explains besides its inliers\n",
             f"`{command.strip()}` {machine.describe()}\n",
             f"RANSAC's ({threshold:g} px) right homographies on the mutual sparse matches of {fits} of "
             f"{len(cases)} validation pairs (objects in clutter and among other photos included): their inliers, "
             f"and the pairs each rule adds (b's keypoint near where the homography puts a's, sizes and "
             f"orientations agreeing with it, each keypoint in one pair, the mutually most alike, none on a "
             f"keypoint an inlier holds), judged within {TOL:g} px of the truth.\n",
             "| matches | right | wrong |", "|---|---|---|",
             f"| RANSAC's inliers | {inliers[0]:,} | {inliers[1]:,} |",
             *(f"| added: {label} | {right:,} | {wrong:,} |" for (label, _, _), (right, wrong) in zip(RULES, added,
                                                                                                   strict=True))]
    published("sparse-explained", "\n".join(lines) + "\n", not args.no_write)


if __name__ == "__main__":
    main()
