"""Measures of patch matching and correspondence quality."""
from __future__ import annotations

import numpy as np


def fpr_at_recall(scores: np.ndarray, labels: np.ndarray, recall: float = 0.95) -> float:
    """False positive rate at the threshold that accepts ``recall`` of the positives
    (FPR95 for 0.95), the standard measure on Brown's patch benchmark. scores (N,) higher = more
    similar; labels (N,) bool or {0, 1} / {-1, +1} (positives are the values > 0)."""
    labels = np.asarray(labels) > 0
    pos = np.sort(np.asarray(scores)[labels])
    neg = np.asarray(scores)[~labels]
    if not len(pos) or not len(neg):
        raise ValueError("need both positive and negative pairs")
    threshold = pos[int(np.floor((1.0 - recall) * len(pos)))]
    return float((neg >= threshold).mean())
