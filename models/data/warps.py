"""Warps with known dense ground truth, for alignment: a smooth random non-rigid field and a
moderate homography. Each returns the warped image a and, for every pixel x of a, where its
content lies in the source photo b (H, W, 2) float32, so a(x) = b(map(x))."""
from __future__ import annotations

import cv2
import numpy as np

from models.data.dense_pairs import moderate_homography


def nonrigid_map(rng: np.random.Generator, shape: tuple[int, int], amplitude: float = 0.04,
                 smoothness: float = 0.15) -> np.ndarray:
    """x + g(x), with g smooth Gaussian noise (length scale ``smoothness`` of the long side) whose
    largest component is ``amplitude`` of the long side, plus a mild global affine part."""
    h, w = shape
    side = max(h, w)
    coarse = rng.normal(size=(8, 8, 2)).astype(np.float32)
    g = cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC)
    g = cv2.GaussianBlur(g, (0, 0), smoothness * side / 4)
    g *= amplitude * side / max(np.abs(g).max(), 1e-6)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    a = np.eye(2) + rng.uniform(-0.06, 0.06, (2, 2))
    cx, cy = w / 2, h / 2
    mx = a[0, 0] * (xs - cx) + a[0, 1] * (ys - cy) + cx + g[..., 0]
    my = a[1, 0] * (xs - cx) + a[1, 1] * (ys - cy) + cy + g[..., 1]
    return np.stack([mx, my], -1).astype(np.float32)


def homography_map(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """The inverse of a moderate random homography, per pixel."""
    h, w = shape
    side = max(h, w)
    shift = np.array([[1, 0, (w - side) / 2], [0, 1, (h - side) / 2], [0, 0, 1]])  # centre it on the image
    hinv = np.linalg.inv(shift @ moderate_homography(rng, side) @ np.linalg.inv(shift))
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    p = np.stack([xs, ys, np.ones_like(xs)], -1) @ hinv.T
    return (p[..., :2] / p[..., 2:3]).astype(np.float32)


def apply(b: np.ndarray, m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(a = b sampled at the map, valid (H, W) bool: the map lands inside b)."""
    h, w = b.shape[:2]
    a = cv2.remap(b, m[..., 0], m[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    valid = (m[..., 0] >= 0) & (m[..., 1] >= 0) & (m[..., 0] <= w - 1) & (m[..., 1] <= h - 1)
    return a, valid
