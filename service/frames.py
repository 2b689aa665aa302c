"""Dense matches that may be the images' frames matched rather than the scene. Near an image's
edge the dense network sees its zero padding, so there its features say how deep the cell lies
behind each edge. Where the scene gives nothing else (a plain surface: ViSP's paper ellipse and
strip, ``models.data.plain``), a's cells near its frame find the cells of b at the same depth
behind the same edges, and those matches agree on a geometry the scene does not have: windows of
still frames a known offset apart got 0 % right at a mean confidence of 0.88-0.98. Where a's frame
truly meets b's (an image and its resized copy, a still camera), or by chance lies as deep behind
the same edges (a wide image whose matches crowd its frame), the same test holds for right matches,
so such matches are no evidence of a geometry but are kept where one found without them explains
them: the sparse matches' where the dense search has it (keypoints need no frame), else the other
dense matches'."""
from __future__ import annotations

import numpy as np

from service.feature_map import FeatureMap
from service.matching import Guide, Matches, fit_guide, rows
from service.second_motion import missed_by

DEPTH_CELLS = 8  # how deep behind an edge the padding shows in the features, cells
SAME_CELLS = 1.5  # depths this close (cells) are the same
GUIDE_SLACK = 4  # the sparse matches' geometry explains a dense match this many RANSAC thresholds from it


def depths(fm: FeatureMap, xy: np.ndarray) -> np.ndarray:
    """(N, 4) how deep points (N, 2) of the sent image lie behind its left, right, top and bottom
    edges, in cells of the map."""
    x, y = np.asarray(xy, np.float64).T
    return np.stack([x, fm.width - 1 - x, y, fm.height - 1 - y], 1) * (fm.scale / fm.stride)


def framed(fa: FeatureMap, fb: FeatureMap, m: Matches) -> np.ndarray:
    """(M,) bool: matches whose end in a lies within DEPTH_CELLS of an edge of a and whose end in b
    lies as deep (to SAME_CELLS) behind the same edges of b, and near no other."""
    da, db = depths(fa, m.xy_a), depths(fb, m.xy_b)
    na, nb = da < DEPTH_CELLS, db < DEPTH_CELLS
    same = np.where(na | nb, na & nb & (np.abs(da - db) <= SAME_CELLS), True).all(1)
    return na.any(1) & same


def explained(g: Guide, m: Matches, threshold_px: float) -> np.ndarray:
    """(M,) bool: matches within ``threshold_px`` of the geometry: of its homography's place for
    them, or of the epipolar line of a fundamental matrix."""
    if g.kind == "homography":
        return missed_by(g, m) < threshold_px
    one = np.ones((len(m.xy_a), 1))
    line = np.c_[m.xy_a, one] @ g.model.T
    off = np.abs((line * np.c_[m.xy_b, one]).sum(1)) / np.maximum(np.hypot(*line[:, :2].T), 1e-12)
    return off < threshold_px


def off_frames(fa: FeatureMap, fb: FeatureMap, m: Matches, threshold_px: float,
               guide: Guide | None = None) -> Matches:
    """``m`` without the ``framed`` matches that the sparse matches' geometry (``guide``, where
    there is one) or else the geometry the others show (``fit_guide``) does not explain; all of
    them where neither is. Order kept."""
    frame = framed(fa, fb, m)
    if not frame.any():
        return m
    keep, edge, others = ~frame, rows(m, frame), rows(m, ~frame)
    if guide is not None:  # fitted to keypoints elsewhere, as loose as the pre-alignment's test (``agreeing``)
        keep[frame] = explained(guide, edge, GUIDE_SLACK * threshold_px)
        if guide.kind == "homography":  # one plane of a scene that may have depth: the others' epipolar geometry too
            g = fit_guide(others, threshold_px, kind="fundamental")
            if g is not None:
                keep[frame] |= explained(g, edge, threshold_px)
        return rows(m, keep)
    g = fit_guide(others, threshold_px)
    if g is not None:
        keep[frame] = explained(g, edge, threshold_px)
    return rows(m, keep)
