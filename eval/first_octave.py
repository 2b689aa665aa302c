"""method=sparse's speed against its quality as the DoG pyramid starts coarser
(SPARSE_FIRST_OCTAVE): for each first octave, the cold latency of the 640x480 pair of
``eval.latency`` raced round by round with OpenCV SIFT's (``eval.latency.race``), and what the validation pairs of
``eval.robustness`` (scale, rotation, clutter) keep through the HTTP API.

    python -m eval.first_octave [--octaves -1,-0.75,-0.5,-0.25,0] [--repeats 15] [--setting NAME=VALUE ...]

``--setting`` gives every row's server another setting too (a descriptor model, say); each set of
settings writes its own section beside the defaults'. A descriptor answers alone here (the default
one unless a setting names another): the fast descriptor's first try (SPARSE_FAST_MODEL) is off
unless a setting turns it on.

The validation pairs only: the held-back ones judge a chosen setting (``eval.robustness
--heldback --setting SPARSE_FIRST_OCTAVE=...``).
"""
from __future__ import annotations

import argparse
import shlex
import sys
from dataclasses import dataclass

import numpy as np

from eval import machine, robustness
from eval.latency import FIRST_TRY_OFF, cold_race, served_settings, serving, sift_latency, test_pair
from eval.results import with_settings, write_section
from models.data import pairs
from service import sparse

SPEED = 1.5  # the cold ratio to SIFT a fast setting has to meet


@dataclass
class Row:
    octave: float
    keypoints: int  # of the latency pair's image a
    cold_ms: float
    ratio: float  # cold against SIFT's time, the median of the rounds' ratios (raced: eval.latency.race)
    homographies: int
    correct: int  # verified matches within 5 px, summed over the cases
    clutter: list[robustness.Outcome]


def measure(octave: float, a: np.ndarray, b: np.ndarray, todo: list, repeats: int, env: dict | None = None) -> Row:
    """One first octave's cold time on the latency pair (a, b) and its outcome on the cases ``todo``,
    the server given the settings ``env`` too."""
    with serving({"row": {**(env or {}), "SPARSE_FIRST_OCTAVE": str(octave)}}, timeout=300) as clients:
        cold, ratio = cold_race(clients, a, b, repeats, "sparse")["row"]
        client = clients["row"]
        got = [(label, robustness.api(client, pair, robustness.uploads(pair), "sparse")) for label, pair in todo]
    keypoints = len(sparse.detect(a, served_settings(env or {}).sparse_keypoints, octave)[0])  # as the server does
    return Row(octave, keypoints, cold, ratio, sum(o.homography_ok for _, o in got), sum(o.correct for _, o in got),
               [o for label, o in got if "clutter" in label])


def planar_cases() -> list[tuple[str, pairs.Pair]]:
    """``eval.robustness``'s validation cases whose homography judges each answer (the cube moved by
    hand has none, and no count of correct homographies)."""
    return [(label, pair) for label, pair in robustness.validation_cases() if pair.homography is not None]


def finest_fast(rows: list[Row]) -> float | None:
    """The finest first octave (the most keypoints) whose cold time is within SPEED x SIFT's."""
    fast = [r.octave for r in rows if r.ratio <= SPEED]
    return min(fast) if fast else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--octaves", default="-1,-0.75,-0.5,-0.25,0")
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("--setting", action="append", default=[], metavar="NAME=VALUE",
                    help="another setting of the server for every row, e.g. DEFAULT_DESCRIPTOR_MODEL=...")
    a = ap.parse_args()
    env = FIRST_TRY_OFF | dict(kv.split("=", 1) for kv in a.setting)
    todo = planar_cases()
    first, second = test_pair()
    before = sift_latency(first, second, a.repeats)["worker thread"]
    rows = [measure(float(o), first, second, todo, a.repeats, env) for o in a.octaves.split(",")]
    sift = min(before, sift_latency(first, second, a.repeats)["worker thread"])
    baseline = [robustness.sift(pair) for _, pair in todo]
    clutter = [o for (label, _), o in zip(todo, baseline, strict=True) if "clutter" in label]
    names = [label.split(" object")[0] for label, _ in todo if "clutter" in label]
    head = ("| first octave | keypoints, 640x480 image | cold ms | vs SIFT | correct homographies | correct matches | "
            + " | ".join(f"{n} in clutter: correct, MMA" for n in names) + " |")
    lines = [head, "|---" * (6 + len(names)) + "|"]
    for r in rows:
        lines.append(f"| {r.octave:g} | {r.keypoints} | {r.cold_ms:.0f} | {r.ratio:.2f} | "
                     f"{r.homographies} of {len(todo)} | {r.correct} | "
                     + " | ".join(f"{o.correct}, {100 * o.mma:.0f} %" for o in r.clutter) + " |")
    lines.append(f"| OpenCV SIFT | | {sift:.0f} | 1.00 | {sum(o.homography_ok for o in baseline)} of {len(todo)} | "
                 f"{sum(o.correct for o in baseline)} | "
                 + " | ".join(f"{o.correct}, {100 * o.mma:.0f} %" for o in clutter) + " |")
    table = "\n".join(lines)
    print(table)
    fast = finest_fast(rows)
    verdict = (f"The finest first octave within {SPEED:g}x SIFT's cold time in this run: {fast:g}."
               if fast is not None else f"No first octave measured here is within {SPEED:g}x SIFT's cold time.")
    if not a.no_write:
        command = "python -m eval.first_octave " + shlex.join(sys.argv[1:])
        name, title = with_settings("first-octave", "## method=sparse: speed against quality by the pyramid's "
                                    "first octave", a.setting)
        write_section(name, f"{title}\n\n"
                      f"`{command}` {machine.describe()}\n\n"
                      "SPARSE_FIRST_OCTAVE -1 (the default) starts the DoG pyramid from the image doubled, as "
                      "SIFT does; 0 from the image itself; values between from the image scaled in between. Cold: "
                      "the median ms of a 640x480 pair through the API with both images new, and against OpenCV "
                      "SIFT's detect + describe + match of the pair, the two raced round by round (as "
                      "`eval.latency`: the median of the rounds' ratios; SIFT's row, runs before and after). "
                      "Quality: the "
                      f"{len(todo)} validation cases of `eval.robustness` (scale 0.25x-4x, rotation, clutter) "
                      "through the API: homographies correct, verified matches within 5 px summed over the cases, "
                      f"and the two objects in clutter.\n\n{table}\n\n{verdict}\n")


if __name__ == "__main__":
    main()
