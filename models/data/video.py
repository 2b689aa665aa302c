"""Real views for training the patch networks: opencv-doc's ``box.mp4`` (its pose-estimation
tutorial's video, 455 frames of 640x480), a still camera filming a printed box turned and moved by
hand over a table. Two frames of it are two real views of the box's faces: perspective, shading,
motion blur and the video's compression change between them, as between real photos, which warps
of one photo never show.

Truth for frame a against frame b: each face seen in both is a plane, so a homography maps it.
``planes`` fits up to three to SIFT's ratio-tested matches, one after another (RANSAC, 2 px; the
still background is one of them and is left out); ``faces`` gives each pixel of frame a the plane
that carries its 15x15 neighbourhood onto frame b best (normalised cross-correlation 0.7 or more,
0.1 clear of every other plane and of the still background, inside the hull of the plane's matches
grown by 7 px): a hand, an edge or a face that turned away has no truth. Checked by eye on overlays
of the faces found (the top and the front of the box).

Training only: no validation or held-back scene shows this box.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from models.data.photos import DATA_DIR
from models.data.synth import PointMap, homography_map, nearest_pixel

VIDEO = DATA_DIR / "video" / "box.mp4"
MIN_INLIERS = 30
STILL = 1.0  # px: a plane whose matches moved less than this (median) is the still background
WINDOW, AGREE, CLEAR = 15, 0.7, 0.1


def frames(path: Path = VIDEO) -> list[np.ndarray]:
    """The video's frames, grey uint8."""
    cap, out = cv2.VideoCapture(str(path)), []
    while (got := cap.read())[0]:
        out.append(cv2.cvtColor(got[1], cv2.COLOR_BGR2GRAY))
    cap.release()
    return out


def frame_pairs(n: int, every: int = 6, gaps: tuple[int, ...] = (6, 15, 30, 45)) -> list[tuple[int, int]]:
    """(a, b) frame indices: every ``every``-th frame against the ones ``gaps`` later."""
    return [(a, a + g) for a in range(0, n, every) for g in gaps if a + g < n]


def planes(a: np.ndarray, b: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """Moving planes between two frames: (homography a -> b, its inliers in a (K, 2)), up to three
    fitted one after another, the still background's left out."""
    sift = cv2.SIFT_create()
    ka, da = sift.detectAndCompute(a, None)
    kb, db = sift.detectAndCompute(b, None)
    if da is None or db is None or len(da) < 2 or len(db) < 2:
        return []
    good = [m[0] for m in cv2.BFMatcher().knnMatch(da, db, k=2) if len(m) == 2 and m[0].distance < 0.8 * m[1].distance]
    pa = np.float32([ka[g.queryIdx].pt for g in good]).reshape(-1, 2)
    pb = np.float32([kb[g.trainIdx].pt for g in good]).reshape(-1, 2)
    out = []
    for _ in range(3):
        if len(pa) < MIN_INLIERS:
            break
        h, inl = cv2.findHomography(pa, pb, cv2.RANSAC, 2.0, maxIters=5000, confidence=0.999)
        if h is None or (inl := inl.ravel().astype(bool)).sum() < MIN_INLIERS:
            break
        if np.median(np.linalg.norm(pa[inl] - pb[inl], axis=1)) >= STILL:
            out.append((h, pa[inl]))
        pa, pb = pa[~inl], pb[~inl]
    return out


def ncc(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Normalised cross-correlation of two same-sized grey images over WINDOW x WINDOW
    neighbourhoods; -1 where either is flat."""
    a, b, k = a.astype(np.float32), b.astype(np.float32), (WINDOW, WINDOW)
    ma, mb = cv2.blur(a, k), cv2.blur(b, k)
    va, vb = cv2.blur(a * a, k) - ma * ma, cv2.blur(b * b, k) - mb * mb
    cov = cv2.blur(a * b, k) - ma * mb
    return np.where((va > 25) & (vb > 25), cov / np.sqrt(np.maximum(va * vb, 1e-6)), -1.0)


def faces(a: np.ndarray, b: np.ndarray, found: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """(H, W) int: the plane of ``found`` each pixel of a lies on, -1 for none."""
    shape = a.shape[::-1]
    scores = []
    for h in [np.eye(3), *(h for h, _ in found)]:  # the still background competes too
        back = np.linalg.inv(h)
        inside = cv2.warpPerspective(np.ones_like(b), back, shape) > 0
        scores.append(np.where(inside, ncc(a, cv2.warpPerspective(b, back, shape)), -1.0))
    scores = np.stack(scores)
    best, top = scores.argmax(0), np.sort(scores, 0)
    label = np.full(a.shape, -1)
    for k, (_, pts) in enumerate(found, 1):
        hull = np.zeros(a.shape, np.uint8)
        cv2.fillConvexPoly(hull, cv2.convexHull(pts.astype(np.int32)), 1)
        hull = cv2.dilate(hull, np.ones((WINDOW, WINDOW), np.uint8))
        on = (best == k) & (scores[k] >= AGREE) & (top[-1] - top[-2] >= CLEAR) & (hull > 0)
        label[cv2.morphologyEx(on.astype(np.uint8), cv2.MORPH_OPEN, np.ones((9, 9), np.uint8)) > 0] = k - 1
    return label


def point_map(a: np.ndarray, b: np.ndarray) -> PointMap | None:
    """Where frame b sees frame a's pixels (``models.data.synth.PointMap``); None where no moving
    face is found."""
    found = planes(a, b)
    if not found:
        return None
    label = faces(a, b, found)
    maps = [homography_map(h, b.shape) for h, _ in found]

    def apply(xy: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        on = label[nearest_pixel(xy, label.shape)]
        out, jac, ok = np.zeros_like(xy, np.float64), np.repeat(np.eye(2)[None], len(xy), 0), on >= 0
        for k, m in enumerate(maps):
            if (sel := on == k).any():
                out[sel], jac[sel], valid = m(xy[sel])
                ok[sel] &= valid
        return out, jac, ok
    return apply
