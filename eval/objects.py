"""Keypoint transfer of an object into a larger scene: image a is the object (``pairs.in_clutter``'s
crop, or the cube moved by hand), image b the whole scene it lies in, at a smaller scale, turned, or
pasted among other photos. For the defaults and for ``method=align``: the share of a's points that
land within 3 and 5 px of the truth, the mean confidence the answer gives them (calibrated: it
should be near the share within 3 px), and how far their round trips missed (median).

    python -m eval.objects              # the validation scenes (writes docs/RESULTS.md)
    python -m eval.objects --heldback   # graf's object, judged once a design is chosen
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import sys

import httpx
import numpy as np

from eval import machine
from eval.depth import per_point
from eval.latency import serving
from eval.moving import cells
from eval.results import published
from eval.robustness import case_rng, clutter_cases, png, visible_points
from models.data import moving, pairs

POINTS = 100
MODES = {"defaults": {}, "method=align": {"method": "align"}}


def cases(heldback: bool) -> list[tuple[str, pairs.Pair]]:
    """The objects at their own scale in the whole of b, at half and 0.71x (``eval.robustness
    --clutter``'s), and on validation the cube moved by hand between frames 0 and 100 (a crop of
    it in the whole frame)."""
    names = ("graf",) if heldback else ("cube-40", "cube-79", "leuven")
    found = [(f"{name} object at 1x in clutter", pairs.in_clutter(pairs.load(name), scale=1.0)) for name in names]
    found += [(label, p) for label, p in clutter_cases(names) if "0.5x" in label or "0.71x" in label]
    return found if heldback else found + [("cube moved by hand, frame 0 -> 100", pairs.load("cube-object-100"))]


def frame_crops() -> list[tuple[str, np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """The middle of a video's frame (half its sides) found in the whole next frame, the camera
    still (``models.data.moving``: the same scale, a shift, the people moved): (label, a, b,
    POINTS points of a where the truth is known, their truth in b)."""
    out = []
    for name in moving.FILES:
        a, b = moving.load(name)
        fwd, known = moving.flow(a, b)
        h, w = a.shape
        y0, x0 = h // 4, w // 4
        inner = np.zeros_like(known)
        inner[y0 + 4:y0 + h // 2 - 4, x0 + 4:x0 + w // 2 - 4] = True
        ys, xs = np.nonzero(known & inner)
        pick = np.random.default_rng(0).choice(len(xs), min(POINTS, len(xs)), replace=False)
        ys, xs = ys[pick], xs[pick]
        out.append((f"{name}: the middle of frame 1 in the whole of frame 2",
                    np.ascontiguousarray(a[y0:y0 + h // 2, x0:x0 + w // 2]), b,
                    np.c_[xs - x0, ys - y0].astype(np.float64), np.c_[xs, ys] + fwd[ys, xs]))
    return out


def row(client: httpx.Client, label: str, a: np.ndarray, b: np.ndarray, pts: np.ndarray,
        truth: np.ndarray) -> list[str]:
    sent = {"image_a": ("a.png", png(a)), "image_b": ("b.png", png(b))}
    out = []
    for mode, extra in MODES.items():
        r = client.post("/v1/keypoints/transfer", files=sent, data={"keypoints": json.dumps(pts.tolist()), **extra})
        r.raise_for_status()
        k = r.json()["keypoints"]
        err = np.linalg.norm(np.array([[x["x"], x["y"]] for x in k]) - truth, axis=1)
        miss = np.median(per_point(k, "cycle_error"))
        out.append(f"| {label} | {mode} ({r.json()['guidance']}) | {cells(err, per_point(k, 'confidence'))} | "
                   f"{miss:.1f} px |")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--heldback", action="store_true", help="graf's object instead of the validation scenes'")
    ap.add_argument("--no-write", action="store_true")
    a = ap.parse_args()
    rows = []
    with serving({"defaults": {"PATH": os.environ.get("PATH", "")}}, timeout=300) as clients:
        todo = [(label, p.a, p.b, *visible_points(p, POINTS, case_rng(label))) for label, p in cases(a.heldback)]
        for case in todo + ([] if a.heldback else frame_crops()):
            rows += row(clients["defaults"], *case)
            print("\n".join(rows[-len(MODES):]), flush=True)
    which = "held-back" if a.heldback else "validation"
    command = "python -m eval.objects " + shlex.join(sys.argv[1:])
    published(f"objects-{which}", f"## Keypoint transfer of an object into a larger scene ({which})\n\n"
              f"`{command}` {machine.describe()}\n\n"
              "Image a is an object, image b the scene it lies in (at the object's own scale, and "
              "`eval.robustness --clutter`'s objects at 0.71x and half scale, turned, among other photos"
              + ("" if a.heldback else ", the cube moved by hand, and the middle of a still camera's "
                                       "frame in the whole next frame: `models.data.moving`")
              + f"). {POINTS} points of a whose truth lies in b, sent together. Mean confidence: the answer's, "
              "calibrated on the validation transfers (`eval.calibrate`), to set beside the share within 3 px; "
              "round trip: the median of how far each point's came back from it (`cycle_error`).\n\n"
              "| case | request (guidance) | within 3 px | within 5 px | mean confidence | round trip |\n"
              "|---|---|---|---|---|---|\n" + "\n".join(rows) + "\n", not a.no_write)


if __name__ == "__main__":
    main()
