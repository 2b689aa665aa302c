"""Rectified stereo pairs with ground-truth disparity, as evaluation data: a left-image point
(x, y) is seen at (x - d(x, y), y) in the right image. Evaluation only: never trained on."""
from __future__ import annotations

import numpy as np
import skimage.data as skd

from models.data.photos import to_grey
from models.data.synth import PointMap


def disparity_map(disp: np.ndarray, width: int) -> PointMap:
    """Point map of a left-image disparity field (H, W) float (non-finite = unknown): xy (K, 2) ->
    (xy' (K, 2), Jacobians (K, 2, 2), valid (K,)). The Jacobian of a rectified pair is close to
    the identity; disparity gradients are ignored, as the tolerances absorb them."""
    def apply(xy: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        xi = np.clip(np.round(xy[:, 0]).astype(int), 0, disp.shape[1] - 1)
        yi = np.clip(np.round(xy[:, 1]).astype(int), 0, disp.shape[0] - 1)
        d = disp[yi, xi].astype(np.float64)
        out = np.c_[xy[:, 0] - d, xy[:, 1]]
        ok = np.isfinite(d) & (out[:, 0] >= 0) & (out[:, 0] < width)
        return np.where(ok[:, None], out, 0.0), np.repeat(np.eye(2)[None], len(xy), 0), ok
    return apply


def motorcycle() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Middlebury 2014 motorcycle (shipped by scikit-image): grey left, grey right (H, W) uint8
    at full resolution, and the left disparity (H, W) float32."""
    left, right, disp = skd.stereo_motorcycle()
    return to_grey(left), to_grey(right), disp
