"""Rectified stereo pairs with ground-truth disparity, as evaluation data: a left-image point
(x, y) is seen at (x - d(x, y), y) in the right image. Evaluation only: never trained on."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import skimage.data as skd

from models.data.photos import DATA_DIR, to_grey
from models.data.synth import PointMap, nearest_pixel


def disparity_map(disp: np.ndarray, width: int) -> PointMap:
    """Point map of a left-image disparity field (H, W) float (non-finite = unknown): xy (K, 2) ->
    (xy' (K, 2), Jacobians (K, 2, 2), valid (K,)). The Jacobian of a rectified pair is close to
    the identity; disparity gradients are ignored, as the tolerances absorb them."""
    def apply(xy: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        d = disp[nearest_pixel(xy, disp.shape)].astype(np.float64)
        out = np.c_[xy[:, 0] - d, xy[:, 1]]
        ok = np.isfinite(d) & (out[:, 0] >= 0) & (out[:, 0] < width)
        return np.where(ok[:, None], out, 0.0), np.repeat(np.eye(2)[None], len(xy), 0), ok
    return apply


def hidden(disp: np.ndarray, slack: float = 1.0) -> np.ndarray:
    """(H, W) bool: the left-image pixels the right view does not see, because a nearer surface
    (a larger disparity, by more than ``slack``) lands on the same right-image pixel of their row
    (a z-buffer of the left disparity forward-warped; unknown disparities hide nothing and are
    not hidden)."""
    h, w = disp.shape
    d = np.where(np.isfinite(disp), disp, -1.0)
    rows = np.repeat(np.arange(h)[:, None], w, 1)
    xr = np.rint(np.arange(w)[None, :] - d).astype(np.int64)
    seen = (d >= 0) & (xr >= 0) & (xr < w)
    nearest = np.full((h, w), -1.0)
    np.maximum.at(nearest, (rows[seen], xr[seen]), d[seen])
    out = np.zeros((h, w), bool)
    out[seen] = nearest[rows[seen], xr[seen]] > d[seen] + slack
    return out


# Middlebury 2006 Aloe at full size, from opencv-doc's samples (``python -m models.prep_data
# --opencv`` unpacks them): left and right views and the left view's disparity, 0 where unknown.
# Validation only: it chooses between candidates by how they do on a real 3-D scene.
ALOE = ("aloeL.jpg", "aloeR.jpg", "aloeGT.png")


def motorcycle() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Middlebury 2014 motorcycle (shipped by scikit-image): grey left, grey right (H, W) uint8
    at full resolution, and the left disparity (H, W) float32."""
    left, right, disp = skd.stereo_motorcycle()
    return to_grey(left), to_grey(right), disp


def aloe(folder: Path = DATA_DIR / "opencv") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Middlebury 2006 Aloe (full size, 1282 x 1110): grey left, grey right (H, W) uint8 and the
    left disparity (H, W) float32, NaN where unknown. Its PNG holds disparities as they are (a
    value of 60 is 60 px): that scale, and neither half nor a third of it, makes left and right
    agree."""
    paths = [folder / name for name in ALOE]
    if not all(p.exists() for p in paths):
        raise FileNotFoundError(f"no {', '.join(ALOE)} in {folder}: run `python -m models.prep_data --opencv`")
    left, right, gt = (cv2.imread(str(p), cv2.IMREAD_GRAYSCALE) for p in paths)
    return left, right, np.where(gt > 0, gt, np.nan).astype(np.float32)
