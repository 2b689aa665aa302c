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
from eval.depth import mean, per_point
from eval.latency import serving
from eval.results import published
from eval.robustness import case_rng, clutter_cases, png, visible_points
from models.data import pairs

POINTS = 100
MODES = {"defaults": {}, "method=align": {"method": "align"}}


def cases(heldback: bool) -> list[tuple[str, pairs.Pair]]:
    """The objects at half and 0.71x scale (``eval.robustness --clutter``'s), and on validation the
    cube moved by hand between frames 0 and 100 (a crop of it in the whole frame)."""
    found = [(label, p) for label, p in clutter_cases(("graf",) if heldback else ("cube-40", "cube-79", "leuven"))
             if "0.5x" in label or "0.71x" in label]
    return found if heldback else found + [("cube moved by hand, frame 0 -> 100", pairs.load("cube-object-100"))]


def row(client: httpx.Client, label: str, pair: pairs.Pair) -> list[str]:
    pts, truth = visible_points(pair, POINTS, case_rng(label))
    sent = {"image_a": ("a.png", png(pair.a)), "image_b": ("b.png", png(pair.b))}
    out = []
    for mode, extra in MODES.items():
        r = client.post("/v1/keypoints/transfer", files=sent, data={"keypoints": json.dumps(pts.tolist()), **extra})
        r.raise_for_status()
        k = r.json()["keypoints"]
        err = np.linalg.norm(np.array([[x["x"], x["y"]] for x in k]) - truth, axis=1)
        miss = np.median(per_point(k, "cycle_error"))
        out.append(f"| {label} | {mode} ({r.json()['guidance']}) | {100 * (err < 3).mean():.0f} % | "
                   f"{100 * (err < 5).mean():.0f} % | {mean(per_point(k, 'confidence'))} | {miss:.1f} px |")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--heldback", action="store_true", help="graf's object instead of the validation scenes'")
    ap.add_argument("--no-write", action="store_true")
    a = ap.parse_args()
    rows = []
    with serving({"defaults": {"PATH": os.environ.get("PATH", "")}}, timeout=300) as clients:
        for label, pair in cases(a.heldback):
            rows += row(clients["defaults"], label, pair)
            print("\n".join(rows[-len(MODES):]), flush=True)
    which = "held-back" if a.heldback else "validation"
    command = "python -m eval.objects " + shlex.join(sys.argv[1:])
    published(f"objects-{which}", f"## Keypoint transfer of an object into a larger scene ({which})\n\n"
              f"`{command}` {machine.describe()}\n\n"
              f"Image a is an object, image b the scene it lies in (`eval.robustness --clutter`'s objects at "
              f"0.71x and half scale, turned, among other photos{'' if a.heldback else ', and the cube moved by hand'}"
              f"). {POINTS} points of a whose truth lies in b, sent together. Mean confidence: the answer's, "
              "calibrated on the validation transfers (`eval.calibrate`), to set beside the share within 3 px; "
              "round trip: the median of how far each point's came back from it (`cycle_error`).\n\n"
              "| case | request (guidance) | within 3 px | within 5 px | mean confidence | round trip |\n"
              "|---|---|---|---|---|---|\n" + "\n".join(rows) + "\n", not a.no_write)


if __name__ == "__main__":
    main()
