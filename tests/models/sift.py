"""SIFT's ratio-tested matches as an independent check of a pair's truth."""
import cv2
import numpy as np

from models.data import pairs


def truth_errors(p: pairs.Pair, ratio: float = 0.7, features: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """For each of SIFT's matches between the pair's images (Lowe's ``ratio``; ``features`` per
    image, 0: all), how far the pair's truth puts it from where SIFT found it (px), and whether
    the truth knows that point."""
    det = cv2.SIFT_create(features)
    ka, da = det.detectAndCompute(p.a, None)
    kb, db = det.detectAndCompute(p.b, None)
    m = [x for x, y in cv2.BFMatcher().knnMatch(da, db, k=2) if x.distance < ratio * y.distance]
    xa, xb = np.float64([ka[x.queryIdx].pt for x in m]), np.float64([kb[x.trainIdx].pt for x in m])
    t, ok = p.truth(xa)
    return np.linalg.norm(t - xb, axis=1), ok
