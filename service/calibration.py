"""Confidence that means something: the share of answers like this one that were right.

A raw score (the cosine similarity of two features) says which match is better, not how likely a
match is to be right. ``python -m eval.calibrate`` measures that on the real validation pairs (a
match or a transferred point is right when it lies within 3 px of the truth), fits a monotone
curve from score to that share (isotonic regression, each step drawn towards the use's share right
as if a few answers at that share were in it, so that no step of a few answers reads 0 or 1), and
stores it in the manifest entry of the network that made the features:
``calibration[<use>] = {"score": [...], "p": [...]}``, for the uses
``sparse`` and ``dense`` (correspondences), ``<method>-inlier`` and ``<method>-outlier`` (the matches
of an answer whose geometry was verified, on it and off it), ``<method>-unverified`` (the matches of
an answer whose geometry was asked for and not verified), each of the dense ones also with
``-uncopied`` (by ids without their bytes, b scaled or turned: not searched in copies), ``transfer``,
``transfer-fundamental`` and ``transfer-inconsistent`` (points whose round trip came back, put by a
homography or found along epipolar lines, and those whose did not), ``transfer-extrapolated``
(those a homography fitted to a small part of image a put far from its inliers), the transfers by
ids whose images' bytes are not kept: ``transfer-dense`` and ``transfer-dense-inconsistent`` (points
guided by a geometry fitted to dense matches alone, no keypoints cached either) and
``transfer-uncopied`` and ``transfer-uncopied-inconsistent`` (b scaled or turned, and no pixels to
search copies brought onto each other), and ``transfer-align``
(points carried along the MRF's fields, ``method=align``: its curve reads the round trip's miss in
pixels, not a score). The answers
carry it as ``confidence``; docs/RESULTS.md shows the reliability table on validation and held-back
pairs.
"""
from __future__ import annotations

import numpy as np

from service.registry import LoadedModel

WITHIN_PX = 3.0


def confidence(model: LoadedModel, use: str, score: np.ndarray, variant: str = "") -> np.ndarray | None:
    """The calibrated confidence (K,) of raw scores (K,) for ``use`` (its ``variant``'s curve, such
    as "dense-uncopied", where the model has one); None when the model has no curve for it (a
    network trained elsewhere, say)."""
    curves = model.entry.calibration
    curve = curves.get(use + variant, curves.get(use))
    if curve is None:
        return None
    return np.interp(score, curve.score, curve.p).astype(np.float32)


def for_matches(model: LoadedModel, method: str, score: np.ndarray, inliers: np.ndarray | None,
                failed: bool = False, explained: np.ndarray | None = None, variant: str = "") -> np.ndarray | None:
    """Matches' confidence: where a geometry was verified (``inliers`` (K,) bool), a curve for its
    inliers and another for the rest, fitted on answers verified the same way; where one was asked
    for and not verified, or none was asked for and none is among the matches (``failed``), a curve
    fitted on answers that failed the same way (unrelated images among them), or where no
    validation answer of the method failed so none was fitted, the curve of matches off a verified
    geometry, which they are like (the dense method's few failures all read 0 from either);
    otherwise, or for a model without those curves, the method's own curve, except for the matches
    the geometry found among them does not explain (``explained`` false: ``matching.scene_inliers``),
    which read a curve of their own where the model has one: on the validation pairs 2 % of 644
    such sparse matches lay within 3 px (the explained ones 96 %), 5 % of 642 dense ones. A
    ``variant`` ("-uncopied": dense matches of b scaled or turned, not searched in copies brought
    onto each other) reads each of these curves' own variant where the model has it."""
    if inliers is not None:
        yes, no = (confidence(model, f"{method}-{side}", score, variant) for side in ("inlier", "outlier"))
        if yes is not None and no is not None:
            return np.where(inliers, yes, no).astype(np.float32)
    elif failed:
        for use in (f"{method}-unverified", f"{method}-outlier"):
            curve = confidence(model, use, score, variant)
            if curve is not None:
                return curve
    own = confidence(model, method, score, variant)
    off = confidence(model, f"{method}-unexplained", score, variant) if explained is not None else None
    if own is not None and off is not None:
        return np.where(explained, own, off).astype(np.float32)
    return own


def for_transfer(model: LoadedModel, score: np.ndarray, consistent: np.ndarray, guidance: str = "homography",
                 by_plane: np.ndarray | None = None, extrapolated: np.ndarray | None = None,
                 own: str | None = None) -> np.ndarray | None:
    """Transferred points' confidence: a curve for those whose round trip came back, another for
    the rest. Where epipolar lines guided the search (``guidance`` "fundamental": a scene with
    depth), the points they found that came back read a curve of their own when the model has
    one: the same similarity is right less often off a plane than on one, where the homography
    puts a point exactly; the points a homography put instead (``by_plane``) read its curve. So do
    the points a homography fitted to a small part of image a put far from its inliers
    (``extrapolated``, see ``keypoint_transfer.extrapolated``), when the model has one: there the
    homography may be far off whatever the features say. Transfers by ids whose bytes are not kept
    read curves of their own (``own`` and ``<own>-inconsistent``, each where the model has it): a guide
    fitted to the dense matches alone ("transfer-dense": no keypoints cached, see
    ``keypoint_transfer.dense_guide``) is wrong far more often than the sparse matches' (on the
    validation planes 46 % of its points within 3 px at a mean confidence of 0.70 off the curves
    above), and points searched in b scaled or turned rather than in copies brought onto each other
    ("transfer-uncopied") score lower for the same places (92 % within 3 px at 0.70)."""
    yes = confidence(model, "transfer", score)
    found = confidence(model, "transfer-fundamental", score) if guidance == "fundamental" else None
    if found is not None and yes is not None:
        yes = np.where(by_plane, yes, found) if by_plane is not None else found
    far = confidence(model, "transfer-extrapolated", score) if extrapolated is not None else None
    if far is not None and yes is not None:
        yes = np.where(extrapolated, far, yes)
    no = confidence(model, "transfer-inconsistent", score)
    if yes is None or no is None:
        return None
    if own is not None:
        yes, no = (c if c is not None else usual for c, usual in
                   ((confidence(model, own, score), yes), (confidence(model, f"{own}-inconsistent", score), no)))
    return np.where(consistent, yes, no).astype(np.float32)


def for_alignment(model: LoadedModel, cycle_error: np.ndarray, unsupported: np.ndarray | None = None
                  ) -> np.ndarray | None:
    """Confidence (K,) of points carried along the MRF's fields (``method=align``), off a curve of
    how far their round trip missed (px in image a) rather than their score: on the validation
    transfers the score told the right from the wrong little (AUC 0.57 among the consistent
    points), the round trip's miss much (0.84). Points among sparse matches the field mostly does
    not explain (``unsupported``, see ``keypoint_transfer.field_support``) read a curve of their
    own when the model has one: a field locked onto look-alikes comes back round trip all the same."""
    yes = confidence(model, "transfer-align", cycle_error)
    low = confidence(model, "transfer-align-unsupported", cycle_error) if unsupported is not None else None
    if low is not None and yes is not None:
        return np.where(unsupported, low, yes).astype(np.float32)
    return yes
