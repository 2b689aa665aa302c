"""A second motion in one pair: where a homography guides a transfer (a plane, a still background)
and the sparse matches it leaves out agree on a geometry of their own (a thing moved before a still
camera), the points whose neighbourhood follows that geometry are searched along it instead, and
go where that search finds them if it comes back and finds them at least as alike
(``point_transfer.replaced``).

One geometry guides the rest of a transfer, so without this the part that moves otherwise lands
where the background's motion puts it: ViSP's castle turned by hand before a still camera
(``eval.two_motions``), none of its points within 5 px at frames 20 and 29; following it, 78 % and
59 % (docs/correspondences.md).
"""
from __future__ import annotations

import numpy as np

from service.matching import Guide, Matches, fit_guide, project, rows
from service.point_transfer import support

# the fewest inliers of a second geometry: the castle's fundamental matrix has 69-80; a second homography fitted
# (without APART) to the leftover look-alikes of a street from a turning camera took 12-37
SECOND_INLIERS = 45
APART = 3.0  # RANSAC thresholds: matches the homography misses by less are its own, coarse keypoints found loosely
# the share of the places of its matches the search along it must come back from (``keypoint_transfer.lines_hold``):
# the castle's 88-89 %; a street's look-alikes left by the homography of a turning camera 43-76 %
COMES_BACK = 0.8
HOLDS = 0.5  # share of a point's nearest sparse matches the second geometry must explain, more than the first's


def fit(m: Matches, guide: Guide, threshold_px: float) -> Guide | None:
    """The geometry (a homography or a fundamental matrix, ``fit_guide``) of the matches ``m``
    that the homography ``guide`` misses by more than ``APART`` thresholds, its inliers over all of
    ``m``; None where too few agree."""
    if guide.inliers is None:
        return None
    off = np.linalg.norm(project(guide.model, m.xy_a) - m.xy_b, axis=1)
    rest = np.flatnonzero(~guide.inliers & ~(off <= APART * threshold_px))
    if len(rest) < SECOND_INLIERS:
        return None
    second = fit_guide(rows(m, rest), threshold_px, min_inliers=SECOND_INLIERS)
    if second is None or second.inliers.sum() < SECOND_INLIERS:
        return None
    inliers = np.zeros(len(guide.inliers), bool)
    inliers[rest[second.inliers]] = True
    return Guide(second.kind, second.model, inliers)


def possible(points: np.ndarray, m: Matches, guide: Guide) -> bool:
    """Whether any point (K, 2) of a could follow a second geometry (``followers``): one whose
    nearest sparse matches are under ``1 - HOLDS`` the homography's, the second's inliers being
    none of its. Where none is, the second geometry is not fitted (two homographies' and a
    fundamental matrix's RANSAC: 35 ms on the castle's 180 leftover matches)."""
    return guide.inliers is not None and bool((support(points, m.xy_a, guide.inliers) < 1 - HOLDS).any())


def followers(points: np.ndarray, m: Matches, guide: Guide, second: Guide) -> np.ndarray:
    """(K,) bool: the points (K, 2) of a whose nearest sparse matches the second geometry explains
    more of than the first does, and at least ``HOLDS`` of them or where the first explains under
    ``1 - HOLDS`` (a point among few matches of either, on the castle's edges: there the search
    along the second geometry, kept only where it comes back at least as alike, took the castle
    from 65 to 78 % within 5 px at frame 20 and 56 to 59 % at frame 29, the still background 98 ->
    97 % and 84 -> 84 %)."""
    first, other = support(points, m.xy_a, guide.inliers), support(points, m.xy_a, second.inliers)
    return (other > first) & ((other >= HOLDS) | (first < 1 - HOLDS))
