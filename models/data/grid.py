"""A repeated pattern: ViSP's four hand-held views of a calibration grid, 6 x 6 black dots printed
on paper (visp-images-data's ``calibration/grid36-0N.pgm``, 640 x 480), paired each with each
(``grid-12`` ... ``grid-34``): validation pairs where every dot looks like every other, so a match
one period off is as alike as the right one, for SIFT and for the networks. The paper is a plane:
truth is the homography through the 36 dot centres OpenCV's ``findCirclesGrid`` finds in both
views (0.2-0.4 px from it, median; the lens bends it beyond the dots), known within half a period
of the outer dots. ``python -m models.data.grid`` writes an overlay of each pair (a checkerboard of
b and a warped by the truth) to check by eye.
"""
from __future__ import annotations

import argparse
import itertools
from pathlib import Path

import cv2
import numpy as np

from models.data.pairs import PAIRS_DIR, Pair, grey
from models.data.synth import homography_map

GRID_DIR = PAIRS_DIR / "grid"  # unpacked by prep_data
VIEWS = 4
DOTS = (6, 6)
MARGIN = 0.5  # periods of the grid beyond the outer dots' centres where the truth is known
NAMES = tuple(f"grid-{i}{j}" for i, j in itertools.combinations(range(1, VIEWS + 1), 2))


def view(i: int) -> np.ndarray:
    return grey(GRID_DIR / f"grid36-{i:02d}.pgm")


def centres(img: np.ndarray) -> np.ndarray:
    """The dots' centres (36, 2), row by row from the top left."""
    found, c = cv2.findCirclesGrid(img, DOTS, flags=cv2.CALIB_CB_SYMMETRIC_GRID)
    if not found:
        raise ValueError("the grid's 36 dots were not found")
    return c.reshape(-1, 2).astype(np.float64)


def fitted(name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``grid-IJ``'s views I and J, their dots' centres and the homography through them (a, b, ca,
    cb, h)."""
    a, b = view(int(name[-2])), view(int(name[-1]))
    ca, cb = centres(a), centres(b)
    return a, b, ca, cb, cv2.findHomography(ca, cb, 0)[0]


def load(name: str) -> Pair:
    """``grid-IJ``: view I against view J, truth known on the grid (``MARGIN``)."""
    a, b, ca, _, h = fitted(name)
    index = np.array([[k % DOTS[0], k // DOTS[0]] for k in range(len(ca))], np.float64)
    to_index, _ = cv2.findHomography(ca, index, 0)
    plane = homography_map(h, b.shape)
    lo, hi = -MARGIN, np.array(DOTS) - 1 + MARGIN

    def point_map(xy: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        out, jac, ok = plane(xy)
        g = cv2.perspectiveTransform(np.asarray(xy, np.float64).reshape(-1, 1, 2), to_index).reshape(-1, 2)
        on = ((g >= lo) & (g <= hi)).all(1)
        return np.where(on[:, None], out, np.nan), jac, ok & on
    return Pair(name, a, b, point_map, h)


def residual(name: str) -> tuple[float, float]:
    """The dots' distance from the truth in b (median, max), pixels."""
    _, _, ca, cb, h = fitted(name)
    d = np.linalg.norm(cv2.perspectiveTransform(ca.reshape(-1, 1, 2), h).reshape(-1, 2) - cb, axis=1)
    return float(np.median(d)), float(d.max())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--overlays", type=Path, default=Path("/tmp/grid-overlays"))
    args = ap.parse_args()
    args.overlays.mkdir(parents=True, exist_ok=True)
    for name in NAMES:
        p = load(name)
        warped = cv2.warpPerspective(p.a, p.homography, p.b.shape[::-1])
        board = (np.indices(p.b.shape) // 40).sum(0) % 2 == 0
        cv2.imwrite(str(args.overlays / f"{name}.png"), np.where(board, p.b, warped))
        med, top = residual(name)
        print(f"{name}: dots {med:.2f} px from the truth (median), {top:.2f} at most")


if __name__ == "__main__":
    main()
