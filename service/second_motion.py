"""A second motion in one pair: where a homography guides a transfer (a plane, a still background)
and the sparse matches it leaves out agree on a geometry of their own (a thing moved before a still
camera), the points whose neighbourhood follows that geometry are searched along it instead, and
go where that search finds them if it comes back and finds them at least as alike
(``point_transfer.replaced``).

One geometry guides the rest of a transfer, so without this the part that moves otherwise lands
where the background's motion puts it: ViSP's castle turned by hand before a still camera
(``eval.two_motions``), none of its points within 5 px at frames 20 and 29; following it, 78 % and
59 % (docs/correspondences.md). A thing too plain for the detector (a box with five dots on its
black top) shows its motion to the dense features alone: their matches around the points the
guide leaves unsupported (``dense_near``; ``keypoint_transfer.dense_second``).
"""
from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from service.consensus import select
from service.feature_map import FeatureMap
from service.matching import Guide, Matches, cells, exhaustive, fit_guide, project, refine, rows
from service.point_transfer import support

# the fewest inliers of a second geometry: the castle's fundamental matrix has 69-80; a second homography fitted
# (without APART) to the leftover look-alikes of a street from a turning camera took 12-37
SECOND_INLIERS = 45
APART = 3.0  # RANSAC thresholds: matches the homography misses by less are its own, coarse keypoints found loosely
# the share of the places of its matches the search along it must come back from (``keypoint_transfer.lines_hold``):
# the castle's 88-89 %; a street's look-alikes left by the homography of a turning camera 43-76 %
COMES_BACK = 0.8
HOLDS = 0.5  # share of a point's nearest sparse matches the second geometry must explain, more than the first's


def fit(m: Matches, guide: Guide, threshold_px: float, kind: str = "auto") -> Guide | None:
    """The geometry (a homography or a fundamental matrix, ``fit_guide``; ``kind``: that one only)
    of the matches ``m`` that the homography ``guide`` misses by more than ``APART`` thresholds,
    its inliers over all of ``m``; None where too few agree."""
    if guide.inliers is None:
        return None
    rest = np.flatnonzero(~guide.inliers & ~(missed_by(guide, m) <= APART * threshold_px))
    if len(rest) < SECOND_INLIERS:
        return None
    second = fit_guide(rows(m, rest), threshold_px, min_inliers=SECOND_INLIERS, kind=kind)
    if second is None or second.inliers.sum() < SECOND_INLIERS:
        return None
    inliers = np.zeros(len(guide.inliers), bool)
    inliers[rest[second.inliers]] = True
    return Guide(second.kind, second.model, inliers)


def missed_by(guide: Guide, m: Matches) -> np.ndarray:
    """(M,) pixels of b: how far the homography ``guide`` puts each match from where it lies in b
    (non-finite for a point it sends to infinity)."""
    return np.linalg.norm(project(guide.model, m.xy_a) - m.xy_b, axis=1)


def unsupported(points: np.ndarray, m: Matches, guide: Guide) -> np.ndarray:
    """(K,) bool: the points (K, 2) of a that could follow a second geometry (``followers``), those
    whose nearest sparse matches are under ``1 - HOLDS`` the homography's, the second's inliers
    being none of its."""
    return support(points, m.xy_a, guide.inliers) < 1 - HOLDS


def possible(points: np.ndarray, m: Matches, guide: Guide) -> bool:
    """Whether any point (K, 2) of a could follow a second geometry (``unsupported``). Where none
    is, the second geometry is not fitted (two homographies' and a fundamental matrix's RANSAC:
    35 ms on the castle's 180 leftover matches)."""
    return guide.inliers is not None and bool(unsupported(points, m, guide).any())


def followers(points: np.ndarray, m: Matches, guide: Guide, second: Guide) -> np.ndarray:
    """(K,) bool: the points (K, 2) of a whose nearest sparse matches the second geometry explains
    more of than the first does, and at least ``HOLDS`` of them or where the first explains under
    ``1 - HOLDS`` (a point among few matches of either, on the castle's edges: there the search
    along the second geometry, kept only where it comes back at least as alike, took the castle
    from 65 to 78 % within 5 px at frame 20 and 56 to 59 % at frame 29, the still background 98 ->
    97 % and 84 -> 84 %)."""
    first, other = support(points, m.xy_a, guide.inliers), support(points, m.xy_a, second.inliers)
    return (other > first) & ((other >= HOLDS) | (first < 1 - HOLDS))


REACH_PX = 48.0  # the cells of a around a point whose dense matches may show its motion
# of those cells, the most searched (evenly spread), and the few searched first to see whether the guide
# explains most of their matches (then no second geometry can explain more: the rest are not searched)
MOST_CELLS, FIRST_CELLS = 2048, 256
GAIN = 0.005  # the median gain in similarity by which a dense second motion's points must find themselves along it


def dense_near(fa: FeatureMap, fb: FeatureMap, points: np.ndarray, reach_px: float = REACH_PX,
               most: int = MOST_CELLS, agree: bool = True) -> Matches:
    """Mutual nearest neighbours of the dense features from the cells of a within ``reach_px`` of
    the ``points`` (K, 2) (at most ``most`` of them, evenly spread) to all of b's (and back over all
    of a's), refined to sub-pixel in b and, with ``agree``, kept where their neighbours agree
    (``consensus``; among a few cells spread apart too few are neighbours): the matches of a thing
    too plain for the detector's keypoints (a box's printed face, its sides)."""
    xa, da = cells(fa)
    _, db = cells(fb)
    near = np.flatnonzero(cKDTree(points).query(xa, distance_upper_bound=reach_px)[0] <= reach_px) \
        if len(points) and len(db) else np.zeros(0, np.int64)
    if not len(near):
        return Matches(np.zeros((0, 2), np.float32), np.zeros((0, 2), np.float32), np.zeros(0, np.float32))
    q, j, best = exhaustive(da, db, most, True, None, among=near)
    xy_b = refine(fb, da[q], j)
    if not agree:
        return Matches(xa[q], xy_b, best)
    ok, xy_b = select(xa[q], xy_b, fa.stride / fa.scale, fb.stride / fb.scale)
    return Matches(xa[q][ok], xy_b[ok], best[ok])


def inliers_among(m: Matches, guide: Guide, threshold_px: float) -> Guide:
    """``guide``'s homography with its inliers among other matches ``m``: those it puts within
    ``threshold_px`` of where they lie in b (a point sent to infinity never is)."""
    return Guide(guide.kind, guide.model, missed_by(guide, m) <= threshold_px)


def more_alike(first: np.ndarray, second: np.ndarray, gain: float = GAIN) -> bool:
    """Whether points find themselves more alike along a second geometry (their ``second``
    similarities) than where the first put them (``first``), by a median ``gain``. The dense
    matches of a grid of dots, or of a street's windows, agree on a homography one period off the
    right one as readily as a moved box's do, and along it the points find themselves no more
    alike than where they were (a median gain of 0.000 on the grid's views 1 and 4), while the
    box's find themselves 0.016-0.056 more alike (``models.data.mire``)."""
    return bool(len(first)) and float(np.median(second - first)) >= gain
