"""Measures of patch matching and correspondence quality."""
from __future__ import annotations

import numpy as np
from scipy.stats import bootstrap


def fpr_at_recall(scores: np.ndarray, labels: np.ndarray, recall: float = 0.95) -> float:
    """False positive rate at the threshold that accepts ``recall`` of the positives
    (FPR95 for 0.95), the standard measure on Brown's patch benchmark. scores (N,) higher = more
    similar; labels (N,) bool or {0, 1} / {-1, +1} (positives are the values > 0)."""
    labels = np.asarray(labels) > 0
    pos, neg = np.asarray(scores)[labels], np.asarray(scores)[~labels]
    if not len(pos) or not len(neg):
        raise ValueError("need both positive and negative pairs")
    return float((neg >= recall_threshold(pos, recall)).mean())


def fpr95(pos: np.ndarray, neg: np.ndarray, keep: np.ndarray | None = None) -> float:
    """FPR95 of positive and negative pairs' scores, against the negatives ``keep`` (Q,) bool only
    if given (the positives, and so the threshold, stay the same)."""
    neg = neg if keep is None else neg[keep]
    return fpr_at_recall(np.r_[pos, neg], np.r_[np.ones(len(pos)), np.zeros(len(neg))])


def fpr95_change(pos_a: np.ndarray, neg_a: np.ndarray, pos_b: np.ndarray, neg_b: np.ndarray,
                 resamples: int = 1000, seed: int = 0) -> tuple[float, float]:
    """95 % interval of FPR95(b) - FPR95(a), two scorers' scores of the same pairs (a's positives
    and b's in one order, likewise the negatives): a paired percentile bootstrap over the pairs,
    so that both scorers see each resample and only their difference varies."""
    labels = np.r_[np.ones(len(pos_a)), np.zeros(len(neg_a))]
    res = bootstrap((np.r_[pos_a, neg_a], np.r_[pos_b, neg_b], labels),
                    lambda a, b, y: fpr_at_recall(b, y) - fpr_at_recall(a, y), paired=True, vectorized=False,
                    n_resamples=resamples, confidence_level=0.95, method="percentile", rng=np.random.default_rng(seed))
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def recall_threshold(pos: np.ndarray, recall: float = 0.95) -> float:
    """The score at or above which ``recall`` of the positive pairs' scores (P,) lie."""
    return float(np.sort(pos)[int(np.floor((1.0 - recall) * len(pos)))])
