"""A warp that no one geometry holds: two lenses' projections of one view (a fisheye and a
stereographic or rectilinear image, ``models.data.lenses``). A homography fitted to such a pair
explains the matches of one small region, where the projections are alike, and is tens of pixels
off elsewhere; no fundamental matrix holds either. Each point's nearest matches, a few dozen pixels
across, see a nearly affine map.

So where a homography guides a transfer while its inliers span little of image a
(``correspond.NARROW``), a point whose nearest sparse matches are mostly not its inliers, and agree
among themselves on an affine map that puts it elsewhere, goes where that map puts it. Checking
that the features are at least as alike there as where the homography put it kept none of the
nave's (``eval.lenses``): a fisheye's periphery in a rectilinear image is stretched out of the
features' likeness.
"""
from __future__ import annotations

import cv2
import numpy as np
from scipy.spatial import cKDTree

from service.feature_map import FeatureMap
from service.matching import BORDER_SLACK_PX, Guide, Matches, bilinear, project, within
from service.point_transfer import LOCAL_REACH_PX, Transfer, support

NEIGHBOURS = 16  # the sparse matches a point's local map is fitted to
LEAST = 8  # of them, the fewest its RANSAC must keep
BELOW = 0.5  # support by the homography under which a point's neighbourhood is not its own
APART = 1.0  # RANSAC thresholds the local map must put the point from the homography's place


def placed(points: np.ndarray, m: Matches, guide: Guide, threshold_px: float,
           candidates: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For the ``candidates`` (K,) bool among ``points`` (K, 2) of a whose nearest sparse matches
    ``m`` the homography ``guide`` explains under ``BELOW`` of: where an affine map fitted by RANSAC
    (``threshold_px``) to those of their ``NEIGHBOURS`` nearest matches within ``LOCAL_REACH_PX``
    keeps at least ``LEAST`` of them and puts the point over ``APART`` thresholds from the
    homography's place, that place.
    -> (positions (K, 2) in b, NaN elsewhere; placed (K,) bool; the share of the neighbours
    the map kept (K,), NaN elsewhere)."""
    xy = np.full((len(points), 2), np.nan, np.float32)
    kept = np.full(len(points), np.nan, np.float32)
    done = np.zeros(len(points), bool)
    if guide.inliers is None or len(m.xy_a) < NEIGHBOURS:
        return xy, done, kept
    todo = np.flatnonzero(candidates & (support(points, m.xy_a, guide.inliers) < BELOW))
    if not len(todo):
        return xy, done, kept
    dist, nearest = cKDTree(m.xy_a).query(points[todo], k=NEIGHBOURS)
    by_h = project(guide.model, points[todo])
    for i, d, k, h in zip(todo, dist, nearest, by_h, strict=True):
        k = k[d <= LOCAL_REACH_PX]  # farther, an affine map of a lens's warp is pixels off
        if len(k) < LEAST:
            continue
        fit, keep = cv2.estimateAffine2D(m.xy_a[k], m.xy_b[k], method=cv2.RANSAC, ransacReprojThreshold=threshold_px)
        if fit is None or keep.sum() < LEAST:
            continue
        p = fit[:, :2] @ points[i] + fit[:, 2]
        if np.linalg.norm(p - h) > APART * threshold_px:
            xy[i], done[i], kept[i] = p, True, keep.mean()
    return xy, done, kept


def follow(tr: Transfer, fa: FeatureMap, fb: FeatureMap, points: np.ndarray, m: Matches, guide: Guide,
           threshold_px: float, candidates: np.ndarray) -> tuple[Transfer, np.ndarray, np.ndarray]:
    """``tr`` with each of the ``candidates`` that a local map places inside b (``placed``) moved
    there, its ``score`` the features' similarity there. -> (the transfer, moved (K,) bool, the
    share of its neighbours each moved point's map kept (K,))."""
    xy, done, kept = placed(points, m, guide, threshold_px, candidates)
    done &= within(np.nan_to_num(xy, nan=-1.0), fb.width, fb.height, BORDER_SLACK_PX)
    if done.any():
        tr.xy[done] = np.clip(xy[done], 0, [fb.width - 1, fb.height - 1])
        tr.score[done] = np.clip((bilinear(fa, points[done]) * bilinear(fb, tr.xy[done])).sum(1), -1.0, 1.0)
    return tr, done, kept
