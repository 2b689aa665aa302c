"""Which answers hold when the keypoints move by a fraction of a pixel: ``eval.robustness``'s cases
answered again with every DoG keypoint of every image moved by a small random offset, as another
run of the detector on a slightly different photo would place it (its localisation noise is a
few tenths of a pixel). An answer that changes under such a nudge rests on a knife edge: one
draw of the noise decided it, and its figure in the tables is one sample, not a property.

    python -m eval.jitter                      # the validation cases, 4 draws of 0.1 px
    python -m eval.jitter --heldback           # the held-back ones
    python -m eval.jitter --clutter            # objects in clutter
    python -m eval.jitter --shift -0.25        # every keypoint moved by the same offset besides

For each case: method=sparse and method=dense with geometry as the case asks (the homography
correct: median error over a grid of a's points under 5 px) and keypoint transfer (its defaults:
the share of 100 points within 5 px), as detected and in each draw; over all cases, the Brier
score of the transferred points' confidence (whether each lies within 3 px). In process (the
service's app, the detector wrapped); the images' features are computed afresh for every draw.
"""
from __future__ import annotations

import argparse
import shlex
import sys
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
from fastapi.testclient import TestClient
from sklearn.metrics import brier_score_loss

from eval import machine, robustness
from eval.results import published
from service import sparse
from service.calibration import WITHIN_PX
from service.config import Settings
from service.main import create_app

SIGMA = 0.1  # px: each coordinate's offset, a Gaussian's standard deviation
DRAWS = 4
SPREAD = 20  # percentage points of transfer between the least and the most a case gives, as detected and in its draws


@contextmanager
def nudged(sigma: float, draw: int, shift: float) -> Iterator[None]:
    """``sparse.detect`` with each keypoint moved by ``shift`` px on both axes and a Gaussian offset
    of ``sigma`` px per coordinate, drawn for each image from ``draw`` and its pixels (the same
    image gets the same offsets in every request of a draw)."""
    detect = sparse.detect

    def moved(img: np.ndarray, *args, **kwargs) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        xy, size, angle = detect(img, *args, **kwargs)
        rng = np.random.default_rng([draw, zlib.crc32(np.ascontiguousarray(img).data)])
        noise = rng.normal(0.0, sigma, xy.shape) if draw else np.zeros_like(xy)
        return (xy + shift + noise).astype(np.float32), size, angle

    sparse.detect = moved
    try:
        yield
    finally:
        sparse.detect = detect


METHODS = ("sparse", "dense")


@dataclass
class Answer:
    """A case's answers in one run."""
    said: dict[str, bool | None]  # each method's homography right (None: the pair has none)
    share: float  # transfer's share of points within robustness.TOL, in %
    confidence: np.ndarray  # (K,) each transferred point's, NaN where it carries none
    near: np.ndarray  # (K,) bool: the point within WITHIN_PX of its truth (what confidence means)


def answers(cases: list, draw: int, sigma: float, shift: float) -> list[Answer]:
    """Each case's answers with the keypoints nudged (``nudged``)."""
    out = []
    with nudged(sigma, draw, shift), TestClient(create_app(Settings())) as client:
        for label, pair in cases:
            sent = robustness.uploads(pair)
            said = {m: robustness.api(client, pair, sent, m).homography_ok for m in METHODS}
            err, conf = robustness.transferred(client, pair, sent, robustness.case_rng(label))
            out.append(Answer(said, 100 * float((err < robustness.TOL).mean()), conf, err < WITHIN_PX))
            print(f"draw {draw} {label}: homography {said}, transfer {out[-1].share:.0f} %", flush=True)
    return out


def brier(run: list[Answer]) -> float:
    """The Brier score of a run's transfer confidences against their points lying within WITHIN_PX."""
    conf = np.concatenate([got.confidence for got in run])
    near = np.concatenate([got.near for got in run])
    told = np.isfinite(conf)
    return float(brier_score_loss(near[told], conf[told]))


def verdicts(said: list[bool | None]) -> str:
    """A method's homography over the runs: as detected, and right in how many draws."""
    return "-" if said[0] is None else f"{'yes' if said[0] else 'no'}, {sum(said[1:])} of {len(said) - 1}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--heldback", action="store_true")
    ap.add_argument("--clutter", action="store_true")
    ap.add_argument("--draws", type=int, default=DRAWS)
    ap.add_argument("--sigma", type=float, default=SIGMA, help="px, each coordinate's random offset")
    ap.add_argument("--shift", type=float, default=0.0, help="px, one offset of every keypoint besides")
    ap.add_argument("--only", default="", help="comma-separated words: keep the cases whose name has one")
    ap.add_argument("--no-write", action="store_true")
    a = ap.parse_args()
    if a.clutter:
        cases = robustness.clutter_cases(("graf",) if a.heldback else ("cube-40", "cube-79", "leuven"))
    else:
        cases = robustness.heldback_cases() if a.heldback else robustness.validation_cases()
    if a.only:
        cases = [(label, p) for label, p in cases if any(w in label for w in a.only.split(","))]
    runs = [answers(cases, d, a.sigma, a.shift) for d in range(a.draws + 1)]
    rows, flips, wide = [], dict.fromkeys(METHODS, 0), 0
    for i, (label, _) in enumerate(cases):
        said = {m: [r[i].said[m] for r in runs] for m in METHODS}
        shares = np.array([r[i].share for r in runs])
        for m in METHODS:
            flips[m] += said[m][0] is not None and len(set(said[m])) > 1
        wide += shares.max() - shares.min() > SPREAD
        rows.append(f"| {label} | " + " | ".join(verdicts(said[m]) for m in METHODS)
                    + f" | {shares[0]:.0f} % | {shares[1:].min():.0f}-{shares[1:].max():.0f} % |")
    asked = sum(got.said["sparse"] is not None for got in runs[0])
    right = {m: [sum(bool(got.said[m]) for got in r) for r in runs] for m in METHODS}
    means = [np.mean([got.share for got in r]) for r in runs]
    scores = [brier(r) for r in runs]
    command = "python -m eval.jitter " + shlex.join(sys.argv[1:])
    which = "held-back" if a.heldback else "validation"
    shifted = f", every keypoint moved {a.shift:+g} px besides" if a.shift else ""
    text = (f"## Localisation noise: {which} answers with the keypoints moved by {a.sigma:g} px"
            f"{' (objects in clutter)' if a.clutter else ''}{shifted}\n\n"
            f"`{command.strip()}` {machine.describe()}\n\n"
            f"`eval.robustness`'s {which} cases answered as detected and in {a.draws} draws that move every DoG "
            f"keypoint by a Gaussian offset of {a.sigma:g} px on each axis{shifted}: the homography of "
            "method=sparse and of method=dense correct (as detected; in how many draws), and keypoint "
            f"transfer's share of 100 points within {robustness.TOL:g} px (as detected; the least and the most "
            "over the draws). In process, the service's defaults.\n\n"
            "| case | sparse homography correct: as detected, draws | dense | transfer: as detected | draws |\n"
            "|---|---|---|---|---|\n" + "\n".join(rows) + "\n\n"
            f"Homographies whose correctness changes between draws, of {asked}: sparse {flips['sparse']}, dense "
            f"{flips['dense']}. Correct homographies as detected and in each draw: "
            + "; ".join(f"{m} {r[0]}, then " + ", ".join(map(str, r[1:])) for m, r in right.items())
            + ". Cases whose transfer "
            f"spans more than {SPREAD} points (as detected and in the draws): {wide} of {len(cases)}. Mean "
            f"transfer within {robustness.TOL:g} px: {means[0]:.1f} % as detected, "
            + ", ".join(f"{m:.1f}" for m in means[1:]) + " % in the draws. The transferred points' confidence "
            f"(the chance of lying within {WITHIN_PX:g} px), its Brier score: {scores[0]:.3f} as detected, "
            + ", ".join(f"{b:.3f}" for b in scores[1:]) + " in the draws.\n")
    name = f"jitter-{which}" + ("-clutter" if a.clutter else "") + (f"-shift{a.shift:g}" if a.shift else "")
    published(name, text, not a.no_write and not a.only)


if __name__ == "__main__":
    main()
