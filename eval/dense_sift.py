"""Dense SIFT as a FeatureMap: OpenCV SIFT descriptors on the same stride-4 grid as UCN's cells,
so the baseline goes through exactly the service's pipelines (alignment, keypoint models)."""
from __future__ import annotations

import cv2
import numpy as np

from service.feature_map import FeatureMap


def feature_map(img: np.ndarray, stride: int = 4, size: float = 16.0) -> FeatureMap:
    """Grey uint8 (H, W) -> unit SIFT descriptors (128, ceil(H/stride), ceil(W/stride)), cell (i, j)
    at pixel (stride * j, stride * i) as UCN's."""
    h, w = img.shape
    gh, gw = -(-h // stride), -(-w // stride)
    kps = [cv2.KeyPoint(float(min(stride * j, w - 1)), float(min(stride * i, h - 1)), size, 0)
           for i in range(gh) for j in range(gw)]
    kps_out, desc = cv2.SIFT_create().compute(img, kps)
    if len(kps_out) != len(kps):  # OpenCV keeps every grid point it is given; be loud if not
        raise RuntimeError("dense SIFT dropped grid points")
    d = desc / np.maximum(np.linalg.norm(desc, axis=1, keepdims=True), 1e-6)
    return FeatureMap(d.T.reshape(128, gh, gw).astype(np.float16), w, h, 1.0, stride)
