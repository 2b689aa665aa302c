"""Two frames of a scene where things moved on their own before a still camera, with where each
pixel went: opencv-doc's ``basketball1``/``basketball2`` (two people passing a ball in an office:
their heads and shirts a few pixels, hands and ball up to 25) and ``rubberwhale1``/``rubberwhale2``
(Middlebury's RubberWhale: toys on a table, a wheel and a shell moved by a few pixels). No one
homography or epipolar geometry holds: validation pairs for keypoint transfer between frames of
a video (``eval.moving``).

Truth: OpenCV's DIS optical flow where it comes back (the backward flow returns within
``ROUND_TRIP_PX``) and Farneback's flow agrees with it within ``AGREE_PX``; unknown elsewhere
(occlusions, blank wall). SIFT's matches (Lowe's 0.7) on the known pixels lie 0.23 px (median) from
it on basketball, 0.10 px on RubberWhale, 97-98 % within 1.5 px; the moving points were checked by
eye (a's patch, b's at the truth, b's where a's was).
"""
from __future__ import annotations

import cv2
import numpy as np

from models.data.pairs import PAIRS_DIR, grey

FILES = {"basketball": ("basketball1.png", "basketball2.png"), "rubberwhale": ("rubberwhale1.png", "rubberwhale2.png")}
ROUND_TRIP_PX, AGREE_PX = 0.5, 1.0
MARGIN = 8  # px: points no nearer the border


def load(name: str) -> tuple[np.ndarray, np.ndarray]:
    """The pair's two frames, grey uint8."""
    fa, fb = FILES[name]
    return grey(PAIRS_DIR / fa), grey(PAIRS_DIR / fb)


def flow(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where each pixel of a went in b: (H, W, 2) displacement in pixels and (H, W) bool where it is
    known (see the module's note)."""
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    fwd, bwd = dis.calc(a, b, None), dis.calc(b, a, None)
    h, w = a.shape
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    back = cv2.remap(bwd, xs + fwd[..., 0], ys + fwd[..., 1], cv2.INTER_LINEAR)
    other = cv2.calcOpticalFlowFarneback(a, b, None, 0.5, 5, 15, 5, 7, 1.5, 0)
    known = (np.linalg.norm(fwd + back, axis=2) < ROUND_TRIP_PX) & (np.linalg.norm(fwd - other, axis=2) < AGREE_PX)
    known[:MARGIN], known[-MARGIN:], known[:, :MARGIN], known[:, -MARGIN:] = False, False, False, False
    return fwd, known


def points(fwd: np.ndarray, known: np.ndarray, moving: bool, n: int,
           rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Up to n known pixels of a, drawn without replacement, that moved over 2 px (``moving``) or
    under 1 px: ((n, 2) their places, (n, 2) where they are in b)."""
    mag = np.linalg.norm(fwd, axis=2)
    ys, xs = np.nonzero(known & (mag > 2 if moving else mag < 1))
    pick = rng.choice(len(xs), min(n, len(xs)), replace=False)
    xy = np.c_[xs[pick], ys[pick]].astype(np.float64)
    return xy, xy + fwd[ys[pick], xs[pick]]
