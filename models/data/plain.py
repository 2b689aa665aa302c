"""Plain surfaces: ViSP's ``ellipse-1`` and ``line`` sequences (visp-images-data), a camera before
a white paper ellipse, or a white strip, on a dark board, 365 x 256. Nothing on them but the
shape's outline and a faint grain, and a detector finds nothing to match.

``plain-*``: two windows of two frames the camera took standing still, ``SIZE`` apart by a known
offset, so the truth is that offset: the frames paired meet at their grain where the camera did
not move (high-passed, they correlate as much unmoved as they do after an ECC homography between
them, which moves no point of the window by more than 2 px, against 0.01 correlation unmoved for
frames the camera moved between), and the windows put the frame of each image on a different
part of the scene. ``MOVED`` pairs frames the camera moved between: no truth (the outline fixes a
homography only up to those that keep the ellipse, and the grain is too faint to fix the rest);
the service should find no geometry there rather than one it cannot know.
"""
from __future__ import annotations

import numpy as np

from models.data.pairs import PAIRS_DIR, Pair, grey, of_homography

PLAIN_DIR = PAIRS_DIR / "plain"  # unpacked by prep_data
FRAMES = {"ellipse-1": (1, 2, 3, 4, 6, 7, 8, 9, 20, 30, 50), "line": (1, 2, 3, 4, 15)}
SIZE = (300, 200)  # a window's width and height
# (sequence, frame of a, frame of b, b's window offset from a's (dx, dy))
STILL = (("ellipse-1", 1, 6, 30, 20), ("ellipse-1", 2, 8, -40, 25), ("ellipse-1", 3, 9, 25, -30),
         ("ellipse-1", 4, 7, -35, -20), ("line", 1, 2, 35, -15), ("line", 3, 4, -20, -30), ("line", 1, 4, 30, 30))
MOVED = (("ellipse-1", 1, 20), ("ellipse-1", 1, 30), ("ellipse-1", 20, 30), ("ellipse-1", 30, 50), ("line", 1, 15))
NAMES = tuple(f"plain-{s.split('-')[0]}-{i}-{j}" for s, i, j, *_ in STILL)


def frame(sequence: str, i: int) -> np.ndarray:
    return grey(PLAIN_DIR / sequence / f"image.{i:04d}.pgm")


def load(name: str) -> Pair:
    """``plain-*``: a's window and b's, whose truth is the windows' offset."""
    sequence, i, j, dx, dy = STILL[NAMES.index(name)]
    w, h = SIZE
    x0, y0 = max(0, -dx) + 10, max(0, -dy) + 10
    a = frame(sequence, i)[y0:y0 + h, x0:x0 + w]
    b = frame(sequence, j)[y0 + dy:y0 + dy + h, x0 + dx:x0 + dx + w]
    return of_homography(name, np.ascontiguousarray(a), np.ascontiguousarray(b),
                         np.array([[1.0, 0, -dx], [0, 1, -dy], [0, 0, 1]]))


def moved() -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(label, frame a, frame b) of every ``MOVED`` pair, whole."""
    return [(f"{s} {i} -> {j}", frame(s, i), frame(s, j)) for s, i, j in MOVED]
