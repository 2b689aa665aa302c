"""How closely right matches meet each real pair's truth: the judge of every "within N px" figure.

OpenCV SIFT's matches of each pair (Lowe's ratio 0.6: nearly all right, and independent of our
networks) whose truth is known; those within ``RIGHT_PX`` of it are taken as right, and their
distance from it is what a perfect method would be charged on that pair. It holds the truth's own
error (a homography fitted to a scene that is not quite one plane, a disparity map's rounding) and
the detector's placing of its keypoints; keypoints under ``SMALL_PX`` across are placed to a
fraction of a pixel on an undistorted view, so their column is mostly the truth's.

    python -m eval.truth
"""
from __future__ import annotations

import argparse
import shlex
import sys

import numpy as np

from eval import machine
from eval.results import published
from models.data import pairs

RATIO = 0.6
RIGHT_PX = 8.0
SMALL_PX = 4.0
VALIDATION = pairs.VALIDATION + ("suzanne", "cube-object-100", "cube-object", "castle-20", "castle-29")
TRUTH = {"aloe": "disparity map", "motorcycle": "disparity map",
         "graf": "homography shipped with it (none below a ledge)",
         "cube-object-100": "the cube's poses", "cube-object": "the cube's poses",
         "castle-20": "depth and the castle's motion", "castle-29": "depth and the castle's motion"}


def matches(pair: pairs.Pair) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """SIFT's ratio-tested matches of a pair: positions in a and b (M, 2) and a's keypoint sizes (M,)."""
    return pairs.sift_keypoint_matches(pair.a, pair.b, RATIO)


def misses(pair: pairs.Pair, xy_a: np.ndarray, xy_b: np.ndarray) -> np.ndarray:
    """Each match's distance (px in b) from where the truth puts its point of a; NaN where unknown."""
    t, ok = pair.truth(xy_a)
    ok &= np.isfinite(t).all(1)
    return np.where(ok, np.linalg.norm(np.nan_to_num(t) - xy_b, axis=1), np.nan)


def cells(err: np.ndarray, size: np.ndarray) -> list[str]:
    """The row's figures: known, right, median, 90th percentile, within 1 and 3 px; small keypoints'."""
    known = np.isfinite(err)
    right = known & (np.nan_to_num(err, nan=np.inf) < RIGHT_PX)
    e, small = err[right], err[right & (size < SMALL_PX)]
    if not len(e):
        return [str(known.sum()), "0", "-", "-", "-", "-", "-"]
    return [str(known.sum()), str(len(e)), f"{np.median(e):.2f}", f"{np.percentile(e, 90):.2f}",
            f"{100 * (e < 1).mean():.0f} %", f"{100 * (e < 3).mean():.0f} %",
            f"{len(small)}: {np.median(small):.2f} px, {100 * (small < 3).mean():.0f} %" if len(small) else "-"]


def table(names: tuple[str, ...]) -> str:
    rows = []
    for name in names:
        pair = pairs.load(name)
        xy_a, xy_b, size = matches(pair)
        rows.append(f"| {name} | {TRUTH.get(name, 'homography we established')} | "
                    + " | ".join(cells(misses(pair, xy_a, xy_b), size)) + " |")
        print(rows[-1], flush=True)
    return (f"| pair | truth | SIFT matches whose truth is known | right (within {RIGHT_PX:g} px) | median px | 90th "
            f"percentile px | within 1 px | within 3 px | right matches of keypoints under {SMALL_PX:g} px: how many, "
            "median, within 3 px |\n"
            "|---|---|---|---|---|---|---|---|---|\n" + "\n".join(rows) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--no-write", action="store_true")
    a = ap.parse_args()
    command = "python -m eval.truth " + shlex.join(sys.argv[1:])
    body = (f"OpenCV SIFT's matches of each real pair, Lowe's ratio {RATIO} (nearly all right, and independent "
            f"of our networks), where the pair's truth is known; those within {RIGHT_PX:g} px of it are taken as "
            "right, and their distance from it is what a perfect method would be charged there. It holds the "
            "truth's own error and the detector's placing of its keypoints: keypoints under "
            f"{SMALL_PX:g} px across are placed to a fraction of a pixel on an undistorted view, so the last "
            "column is mostly the truth's. A pair whose right matches miss by a pixel or more caps what any "
            "method can show \"within 3 px\" there.\n\nValidation pairs:\n\n" + table(VALIDATION)
            + "\nHeld-back pairs:\n\n" + table(pairs.HELD_BACK))
    published("truth", "## The real pairs' truth: how closely right matches meet it\n\n"
              f"`{command}` {machine.describe()}\n\n" + body, not a.no_write)


if __name__ == "__main__":
    main()
