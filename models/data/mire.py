"""A plain thing moved before a still camera: ViSP's ``mire-2`` sequence (visp-images-data), a
cardboard box whose black top carries five white dots (a large one in the middle, four small ones
near its corners) moved and turned by hand in front of posters and a toy, 384 x 288. The top and
the sides give a detector a handful of keypoints; the posters behind give it hundreds.

Truth, for frame i against frame j (``mire-I-J``): on the box's top, the homography through the
five dots' centres (their contours' ellipses, inside the black top's outline) in both frames, over
the four small dots' quadrilateral grown by ``TOP`` about the middle dot (inside the black top
in every frame, checked by eye); on the still background, where it is: the camera did not move
(SIFT's matches off the box: a hundredth of a pixel median, 93-99 % within 1 px). The background
is every pixel outside the box in both frames: the dots' quadrilateral grown by ``BOX`` and swept
down to the image's bottom (its sides and front hang below the top), and right of ``HAND_PX``
(the hand that holds it from frame 400 on). Elsewhere (the box's sides, what it uncovers) none.
``python -m models.data.mire`` writes an overlay of each pair to check by eye.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from models.data.pairs import PAIRS_DIR, Pair, grey
from models.data.rgbd import point_map

MIRE_DIR = PAIRS_DIR / "mire"  # unpacked by prep_data
FRAMES = (51, 101, 151, 201, 301, 351, 401, 451)
PAIRS = ((51, 101), (51, 151), (101, 201), (201, 301), (51, 301), (301, 401), (351, 451))
NAMES = tuple(f"mire-{i}-{j}" for i, j in PAIRS)
TOP = 1.25  # the small dots' quadrilateral grown about the middle dot: the black top
BOX = 2.4  # and grown so far, swept down: the whole box
HAND_PX = 40  # columns from the left where a hand may hold the box


def frame(i: int) -> np.ndarray:
    return grey(MIRE_DIR / f"image.{i:04d}.pgm")


def dots(img: np.ndarray) -> np.ndarray:
    """The dots' centres (5, 2): the middle one, then the small ones in order of angle about it.
    They are round holes of the dark top (Otsu's threshold): one that has four holes of the same
    dark region a quarter its area or less, of like size, within five of its radii."""
    _, dark = cv2.threshold(img, 0, 255, cv2.THRESH_BINARY_INV + cv2.THRESH_OTSU)
    contours, hierarchy = cv2.findContours(dark, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_NONE)
    holes: dict[int, list[tuple[float, float, float]]] = {}  # by the dark region they are holes of
    for c, h in zip(contours, hierarchy[0], strict=True):
        if h[3] == -1 or len(c) < 5 or cv2.contourArea(c) < 20:
            continue
        centre, axes, _ = cv2.fitEllipse(c)
        if 0 < min(axes) and max(axes) <= 3 * min(axes):  # a dot seen slanted, not a streak
            holes.setdefault(int(h[3]), []).append((*centre, cv2.contourArea(c)))
    bigs = sorted(((big, kin) for kin in holes.values() for big in kin if big[2] > 400), key=lambda t: -t[0][2])
    for big, kin in bigs:  # the largest first: the middle dot is the largest round hole of a dark region
        reach = 5 * np.sqrt(big[2] / np.pi)
        near = sorted((h for h in kin if h[2] < big[2] / 4 and np.hypot(h[0] - big[0], h[1] - big[1]) < reach),
                      key=lambda h: -h[2])
        if len(near) >= 4 and near[3][2] > 0.4 * near[0][2] and (len(near) == 4 or near[4][2] < 0.3 * near[3][2]):
            middle, small = np.array(big[:2]), np.array([h[:2] for h in near[:4]])
            turn = np.arctan2(*(small - middle)[:, ::-1].T)
            return np.vstack([middle, small[np.argsort(turn)]])
    raise ValueError("the box's five dots were not found")


def grown(d: np.ndarray, by: float) -> np.ndarray:
    """The small dots' quadrilateral (4, 2) grown ``by`` about the middle dot."""
    return (d[1:] - d[0]) * by + d[0]


def box(d: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """(H, W) bool: the box in a frame whose dots are ``d``, swept down, and the hand's columns."""
    q = grown(d, BOX)
    mask = np.zeros(shape, np.uint8)
    cv2.fillConvexPoly(mask, cv2.convexHull(np.vstack([q, q + [0, shape[0]]]).astype(np.int32)), 1)
    mask[:, :HAND_PX] = 1
    return mask.astype(bool)


Fitted = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # ``fitted``'s


def fitted(name: str) -> Fitted:
    """``mire-I-J``'s frames, their dots and the top's homography through them (a, b, da, db, h)."""
    i, j = (int(v) for v in name.split("-")[1:])
    a, b = frame(i), frame(j)
    da, db = dots(a), dots(b)
    # the small dots' order about the middle one starts where the angle wraps, and the dots are
    # symmetric (any of the four turns fits them as well): the box turns by less than 45 degrees
    # between the frames paired, so the turn that turns each dot least about the middle one
    angle = lambda d: np.arctan2(*(d[1:] - d[0])[:, ::-1].T)  # noqa: E731
    turns = [np.vstack([db[0], np.roll(db[1:], k, 0)]) for k in range(4)]
    k = int(np.argmin([np.abs(np.angle(np.exp(1j * (angle(t) - angle(da))))).sum() for t in turns]))
    return a, b, da, turns[k], cv2.findHomography(da, turns[k], 0)[0]


def parts(name: str, fit: Fitted | None = None) -> tuple[Pair, np.ndarray, np.ndarray]:
    """``mire-I-J`` with which of frame I's pixels are on the box's top and which are still
    background (H, W) bool each (``models.data.rgbd.point_map``'s truth); ``fit``: its ``fitted``,
    where the caller has it."""
    a, b, da, db, h = fit or fitted(name)
    height, width = a.shape
    xy = np.stack(np.meshgrid(np.arange(width), np.arange(height)), -1).reshape(-1, 2).astype(np.float64)
    moving = np.zeros(a.shape, np.uint8)
    cv2.fillConvexPoly(moving, cv2.convexHull(grown(da, TOP).astype(np.int32)), 1)
    moving = moving.astype(bool)
    still = ~box(da, a.shape) & ~box(db, b.shape)
    to = cv2.perspectiveTransform(xy.reshape(-1, 1, 2), h).reshape(height, width, 2)
    return Pair(name, a, b, point_map(to, moving, still)), moving, still


def residual(name: str, fit: Fitted | None = None) -> float:
    """The dots' largest distance from the top's homography in frame J, pixels (``fit`` as ``parts``)."""
    _, _, da, db, h = fit or fitted(name)
    return float(np.linalg.norm(cv2.perspectiveTransform(da.reshape(-1, 1, 2), h).reshape(-1, 2) - db, axis=1).max())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--overlays", type=Path, default=Path("/tmp/mire-overlays"))
    args = ap.parse_args()
    args.overlays.mkdir(parents=True, exist_ok=True)
    for name in NAMES:
        fit = fitted(name)
        p, moving, still = parts(name, fit)
        h = fit[4]
        left = cv2.cvtColor(p.a, cv2.COLOR_GRAY2BGR)  # frame I: the top blue, the still background green
        for mask, tint in ((moving, (120, 0, 0)), (still, (0, 120, 0))):
            left[mask] = (0.5 * left[mask] + tint).astype(np.uint8)
        # frame J with a checkerboard of frame I carried by the top's homography over the top: the dots' edges
        # run on across the squares where it holds
        top = cv2.warpPerspective(moving.astype(np.uint8), h, p.b.shape[::-1], flags=cv2.INTER_NEAREST) > 0
        board = (np.indices(p.b.shape) // 24).sum(0) % 2 == 0
        right = np.where(board & top, cv2.warpPerspective(p.a, h, p.b.shape[::-1]), p.b)
        cv2.imwrite(str(args.overlays / f"{name}.png"), np.hstack([left, cv2.cvtColor(right, cv2.COLOR_GRAY2BGR)]))
        print(f"{name}: dots at most {residual(name, fit):.2f} px from the top's homography; {moving.sum()} pixels "
              f"of a on the top, {still.sum()} still")


if __name__ == "__main__":
    main()
