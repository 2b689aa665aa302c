"""Image pairs with exact dense ground truth for training the dense feature network: a crop of a
photo, and the same scene under a random homography (rotation within 45 degrees, up to an octave
of scale either way), photometric changes and a partial occlusion.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from models.data.synth import photometric

SIDE = 192


@dataclass
class DensePair:
    """a, b: grey uint8 (S, S); h: (3, 3) mapping a's pixels to b's; occluded: bool (S, S) mask of
    b's pixels covered by the occluder."""
    a: np.ndarray
    b: np.ndarray
    h: np.ndarray
    occluded: np.ndarray


# the training pairs' largest rotation (radians: larger ones are undone before dense matching)
# and scale change (octaves either way)
ROTATION, OCTAVES = np.pi / 4, 1.0


def moderate_homography(rng: np.random.Generator, side: int, rotation: float = np.pi / 4,
                        octaves: float = 0.5) -> np.ndarray:
    """Rotation within ``rotation`` radians, scale within ``octaves`` octaves either way, mild
    shear and tilt, about the centre."""
    c = np.array([[1, 0, -side / 2], [0, 1, -side / 2], [0, 0, 1]], float)
    t, s = rng.uniform(-rotation, rotation), 2.0 ** rng.uniform(-octaves, octaves)
    m = np.eye(3)
    m[:2, :2] = s * np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]]) @ \
        np.array([[2.0 ** rng.uniform(-0.2, 0.2), rng.uniform(-0.15, 0.15)], [0, 1]])
    m[2, :2] = rng.uniform(-0.4, 0.4, 2) / side
    back = np.array([[1, 0, side / 2 + rng.uniform(-0.1, 0.1) * side],
                     [0, 1, side / 2 + rng.uniform(-0.1, 0.1) * side], [0, 0, 1]])
    return back @ m @ c


def sample(photos: list[np.ndarray], rng: np.random.Generator, side: int = SIDE, octaves: float = OCTAVES,
           rotation: float = ROTATION) -> DensePair:
    img = photos[rng.integers(len(photos))]
    h_img, w_img = img.shape
    crop = int(min(h_img, w_img, side * 2.0 ** rng.uniform(0, 1)))
    x0, y0 = rng.integers(0, w_img - crop + 1), rng.integers(0, h_img - crop + 1)
    # photo -> a: take the crop, resized to side x side
    to_a = np.array([[side / crop, 0, -x0 * side / crop], [0, side / crop, -y0 * side / crop], [0, 0, 1]])
    h = moderate_homography(rng, side, rotation, octaves)
    a = cv2.warpPerspective(img, to_a, (side, side), flags=cv2.INTER_AREA)
    b = cv2.warpPerspective(img, h @ to_a, (side, side), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    occluded = np.zeros((side, side), bool)
    if rng.random() < 0.5:  # an occluder cut from another photo
        other = photos[rng.integers(len(photos))]
        ow, oh = rng.integers(side // 6, side // 2, 2)
        ox, oy = rng.integers(0, side - ow), rng.integers(0, side - oh)
        sx, sy = rng.integers(0, other.shape[1] - ow), rng.integers(0, other.shape[0] - oh)
        b[oy:oy + oh, ox:ox + ow] = other[sy:sy + oh, sx:sx + ow]
        occluded[oy:oy + oh, ox:ox + ow] = True
    return DensePair(photometric(a, rng, 0.5), photometric(b, rng), h, occluded)


def correspondences(pair: DensePair, n: int, rng: np.random.Generator, margin: int = 4) -> tuple[np.ndarray, ...]:
    """Up to n ground-truth correspondences: (xy_a (n, 2), xy_b (n, 2)) float32 pixels, all visible
    in b (inside it, at least ``margin`` from its border, not occluded)."""
    side = pair.a.shape[0]
    xy = rng.uniform(margin, side - margin, (4 * n, 2))
    p = np.c_[xy, np.ones(len(xy))] @ pair.h.T
    xb = p[:, :2] / p[:, 2:3]
    ok = (p[:, 2] > 0) & (xb >= margin).all(1) & (xb < side - margin).all(1)
    xi = np.clip(xb[:, 0].astype(int), 0, side - 1)
    yi = np.clip(xb[:, 1].astype(int), 0, side - 1)
    ok &= ~pair.occluded[yi, xi]
    idx = np.flatnonzero(ok)[:n]
    return xy[idx].astype(np.float32), xb[idx].astype(np.float32)
