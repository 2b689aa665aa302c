"""SIFT's ratio-tested matches as an independent check of a pair's truth."""
import numpy as np

from models.data import pairs


def truth_errors(p: pairs.Pair, ratio: float = 0.7, features: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """For each of SIFT's matches between the pair's images (``pairs.sift_matches``), how far the
    pair's truth puts it from where SIFT found it (px), and whether the truth knows that point."""
    xa, xb = pairs.sift_matches(p.a, p.b, ratio, features)
    t, ok = p.truth(xa)
    return np.linalg.norm(t - xb, axis=1), ok
