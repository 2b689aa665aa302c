"""Measures of patch matching and correspondence quality."""
from __future__ import annotations

import numpy as np


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


def paired_false_positives(pos_a: np.ndarray, neg_a: np.ndarray, pos_b: np.ndarray, neg_b: np.ndarray,
                           resamples: int = 1000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two scorers' scores of the same pairs (a's positives and b's in one order, likewise the
    negatives) drawn again ``resamples`` times, the positives and the negatives each from its own
    kind, so that both scorers see each resample: the false positives (R,) of a and of b at their
    own thresholds for 95 % recall in each (a paired percentile bootstrap)."""
    rng = np.random.default_rng(seed)
    fa, fb = np.empty(resamples), np.empty(resamples)
    for r in range(resamples):
        p, q = rng.integers(0, len(pos_a), len(pos_a)), rng.integers(0, len(neg_a), len(neg_a))
        fa[r] = np.count_nonzero(neg_a[q] >= recall_threshold(pos_a[p]))
        fb[r] = np.count_nonzero(neg_b[q] >= recall_threshold(pos_b[p]))
    return fa, fb


def fpr95_change(pos_a: np.ndarray, neg_a: np.ndarray, pos_b: np.ndarray, neg_b: np.ndarray,
                 resamples: int = 1000, seed: int = 0) -> tuple[float, float]:
    """95 % interval of FPR95(b) - FPR95(a) (``paired_false_positives``)."""
    fa, fb = paired_false_positives(pos_a, neg_a, pos_b, neg_b, resamples, seed)
    lo, hi = np.percentile((fb - fa) / len(neg_a), [2.5, 97.5])
    return float(lo), float(hi)


def fpr95_ratio(pos_a: np.ndarray, neg_a: np.ndarray, pos_b: np.ndarray, neg_b: np.ndarray,
                resamples: int = 1000, seed: int = 0) -> tuple[float, float]:
    """95 % interval of FPR95(b) / FPR95(a) (``paired_false_positives``): infinite where a
    resample gives a no false positive and b some; resamples where neither has one count as 0."""
    fa, fb = paired_false_positives(pos_a, neg_a, pos_b, neg_b, resamples, seed)
    ratio = np.divide(fb, fa, out=np.where(fb > 0, np.inf, 0.0), where=fa > 0)
    lo, hi = np.percentile(ratio, [2.5, 97.5], method="inverted_cdf")  # no mixing of inf with a number
    return float(lo), float(hi)


def recall_threshold(pos: np.ndarray, recall: float = 0.95) -> float:
    """The score at or above which ``recall`` of the positive pairs' scores (P,) lie: the k-th
    lowest, found without sorting them all."""
    k = int(np.floor((1.0 - recall) * len(pos)))
    return float(np.partition(pos, k)[k])
