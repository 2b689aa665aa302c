"""Keypoint transfer through dense feature maps: each point of image a searched for in image b,
where a homography puts it, along a fundamental matrix's epipolar line, or among all of b's cells
without a guide; refined to sub-pixel and checked by the round trip back to a (cycle
consistency). Also each point's local support: how many of the sparse matches around it the
geometry that placed it explains.

Coordinates as in ``service.matching``: pixels of the images as sent.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from service.feature_map import FeatureMap
from service.matching import (
    BLOCK_BYTES,
    BORDER_SLACK_PX,
    Guide,
    bilinear,
    cells,
    held_in,
    lands_in,
    project,
    refine,
    top2,
    topk,
)

CANDIDATES = 4  # cells refined per transferred point: a point between cells can be most like a far one
SUPPORT_NEIGHBOURS = 8


def support(points: np.ndarray, xy_a: np.ndarray, inliers: np.ndarray, k: int = SUPPORT_NEIGHBOURS) -> np.ndarray:
    """(K,) for each point (K, 2) of a, the share of its ``k`` nearest matches (their places ``xy_a``
    (M, 2) in a) that are ``inliers`` (M,) of a geometry: near 1 where the geometry explains the
    matches around the point, near 0 where they follow something else (another surface or motion)
    or are look-alikes."""
    if not len(xy_a):
        return np.zeros(len(points), np.float32)
    _, idx = cKDTree(xy_a).query(points, k=min(k, len(xy_a)))
    return inliers[np.asarray(idx).reshape(len(points), -1)].mean(1).astype(np.float32)


LOCAL_NEIGHBOURS, LOCAL_REACH_PX, LOCAL_LEAST = 8, 80.0, 3


def local_offset(h: np.ndarray, xy_a: np.ndarray, xy_b: np.ndarray, inliers: np.ndarray, points: np.ndarray,
                 k: int = LOCAL_NEIGHBOURS, reach_px: float = LOCAL_REACH_PX, least: int = LOCAL_LEAST) -> np.ndarray:
    """(K, 2) pixels of b: for each point (K, 2) of a, the mean residual of the homography ``h``
    (where its matches lie in b less where ``h`` puts them) over the ``k`` of its inlier matches
    (``xy_a``, ``xy_b`` (M, 2) in a and b, ``inliers`` (M,) bool) nearest the point, those within
    ``reach_px``, drawn towards zero by its own noise (times max(0, 1 - se^2 / |mean|^2), se^2
    the residuals' spread over their count); zero where fewer than ``least`` are. Within RANSAC's
    threshold a homography fitted to a scene that is not one plane misses the same way over a
    neighbourhood: the houses of a street seen by a camera not quite turned about its centre, the
    still background and the people who moved between two frames of a video (one homography a
    blend of both, off by up to 4 px on each). On a plane the residuals are the keypoints' own
    noise: taken whole, their mean cost the validation planes 4 points of their points within 1 px
    (90.6 -> 86.4 %), drawn in 2 (88.7 %), while the moving scenes kept their gain."""
    a, b = xy_a[inliers].astype(np.float64), xy_b[inliers].astype(np.float64)
    out = np.zeros((len(points), 2), np.float32)
    if len(a) < least:
        return out
    d, idx = cKDTree(a).query(points, k=min(k, len(a)))
    d, idx = d.reshape(len(points), -1), idx.reshape(len(points), -1)
    near = d <= reach_px
    n = near.sum(1)
    res = (b - project(h, a))[idx]  # (K, k, 2)
    mean = (near[..., None] * res).sum(1) / np.maximum(n, 1)[:, None]
    spread = (near * ((res - mean[:, None]) ** 2).sum(-1)).sum(1) / np.maximum(n - 1, 1)
    drawn = np.clip(1 - spread / np.maximum(n, 1) / np.maximum((mean ** 2).sum(1), 1e-12), 0, 1)
    return np.where((n >= least)[:, None], mean * drawn[:, None], 0.0).astype(np.float32)


def allowed_cells(guide: Guide, points: np.ndarray, cells_xy: np.ndarray, reach_px: float,
                  size: tuple[int, int]) -> np.ndarray:
    """(K, N) bool: the cells of b each point may go to: within ``reach_px`` of where a
    homography puts it (a fundamental matrix's bands: ``band_cells``), or where that is farther
    outside b (``size``: width, height), of the place in b nearest it: the point is held at b's
    border (``in_view`` false), not sent to a look-alike anywhere in b, which a round trip there
    and back, unguided too, found consistent (the far eye of a symmetric head at 0.99)."""
    pred = project(guide.model, points)
    allowed = ((pred[:, None, :] - cells_xy[None]) ** 2).sum(-1) <= reach_px ** 2
    out = ~allowed.any(1)
    if out.any():
        held = held_in(pred[out], *size)
        allowed[out] = ((held[:, None, :] - cells_xy[None]) ** 2).sum(-1) <= reach_px ** 2
    return allowed


def top1_guided(q: np.ndarray, db: np.ndarray, allowed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Best allowed cell per query (the global best where none is allowed): (index (K,), sim (K,))."""
    sim = q @ db.T
    masked = np.where(allowed, sim, -np.inf)
    fallback = ~allowed.any(1)
    masked[fallback] = sim[fallback]
    idx = masked.argmax(1)
    return idx, np.clip(masked[np.arange(len(q)), idx], -1.0, 1.0)


def prefer_prediction(fb: FeatureMap, q: np.ndarray, found: np.ndarray, h: np.ndarray, points: np.ndarray,
                      slack: float = BORDER_SLACK_PX) -> tuple[np.ndarray, np.ndarray]:
    """Where the homography ``h`` puts each point that lands inside b, instead of where the
    features found it, and the features' similarity there: (K, 2) pixels, (K,) similarity (NaN
    where the features' own find is kept: a point the homography puts outside b). On the plane
    (or for the turning camera) the homography is exact to its RANSAC residuals, while the dense
    features, at a quarter of the resolution and blind to foreshortening, miss by a few pixels
    as often as not: on the validation pairs, moving a point off the prediction only where the
    features preferred another place (by any margin, or within 4-16 px) put fewer points within
    5 px in every case (``eval.robustness``; docs/correspondences.md). A prediction up to
    ``slack`` pixels outside b (a border point under an estimate: the identity fitted by RANSAC
    puts y = 0 at -1e-15) is held at the border."""
    pred, inside = lands_in(h, points, fb.width, fb.height, slack)
    pred = held_in(pred, fb.width, fb.height)
    xy = np.where(inside[:, None], pred, found).astype(np.float32)
    sim = np.full(len(points), np.nan, np.float32)
    if inside.any():
        sim[inside] = np.clip((q[inside] * bilinear(fb, xy[inside])).sum(1), -1.0, 1.0)
    return xy, sim


@dataclass
class Transfer:
    xy: np.ndarray  # (K, 2) float32 in image b
    score: np.ndarray  # (K,) cosine similarity of the match
    cycle_error: np.ndarray  # (K,) pixels in image a between the point and its round trip
    consistent: np.ndarray  # (K,) bool: cycle_error within tolerance
    guidance: str = "none"
    by_plane: np.ndarray | None = None  # (K,) bool: put by a homography beside the guide (``more_alike``)


def either(t1: Transfer, t2: Transfer) -> Transfer:
    """Per point, the better of two transfers of the same points: the consistent one, else the
    one whose features agree more (``score``)."""
    return chosen(t1, t2, (t2.consistent & ~t1.consistent) | ((t2.consistent == t1.consistent) & (t2.score > t1.score)))


def more_alike(t: Transfer, on_plane: Transfer, in_view: np.ndarray) -> Transfer:
    """Per point, ``on_plane``'s answer (where a homography puts it) where that lies in b
    (``in_view``) and its features there are at least as similar as at ``t``'s (an epipolar
    search's find), else ``t``'s: a camera turned about its centre, or a plane of repeated
    structure, leaves the epipolar lines free to run through look-alikes. ``by_plane`` says which."""
    pick = in_view & (on_plane.score >= t.score)
    out = chosen(t, on_plane, pick)
    out.by_plane = pick
    return out


def replaced(t: Transfer, pick: np.ndarray, sub: Transfer) -> tuple[Transfer, np.ndarray]:
    """``t`` with the points ``pick`` (K,) bool holds answered by ``sub`` (its answers for them, in
    order) where ``sub``'s come back (``consistent``) and find them at least as alike (``score``),
    and which points those are (K,) bool. On the castle turned before a still camera, the still
    points among its matches kept their place this way (88 % -> 98 % within 5 px at frame 20)
    while its own lost 1-2 in a hundred."""
    better = sub.consistent & (sub.score >= t.score[pick])
    taken = np.zeros_like(pick)
    taken[np.flatnonzero(pick)[better]] = True
    out = Transfer(t.xy.copy(), t.score.copy(), t.cycle_error.copy(), t.consistent.copy(), t.guidance,
                   None if t.by_plane is None else t.by_plane.copy())
    out.xy[taken], out.score[taken], out.cycle_error[taken], out.consistent[taken] = (
        sub.xy[better], sub.score[better], sub.cycle_error[better], sub.consistent[better])
    return out, taken


def chosen(t1: Transfer, t2: Transfer, pick: np.ndarray) -> Transfer:
    """``t2``'s answer where ``pick`` (K,) holds, else ``t1``'s; ``t1``'s guidance."""
    take = lambda x1, x2: np.where(pick.reshape(-1, *[1] * (x1.ndim - 1)), x2, x1)  # noqa: E731
    return Transfer(take(t1.xy, t2.xy), take(t1.score, t2.score), take(t1.cycle_error, t2.cycle_error),
                    take(t1.consistent, t2.consistent), t1.guidance)


def search(fa: FeatureMap, fb: FeatureMap, points: np.ndarray, guide: Guide | None) -> tuple[np.ndarray, np.ndarray]:
    """Each point of image a (K, 2 pixels) in image b: with a homography, where it puts the point
    when that is inside b (``prefer_prediction``); otherwise the nearest cell of b (``nearest``).
    -> (positions (K, 2), similarity (K,))."""
    q = bilinear(fa, points)
    if guide is None or guide.kind != "homography":
        return nearest(fb, q, points, guide)
    xy, sim = prefer_prediction(fb, q, np.zeros((len(points), 2), np.float32), guide.model, points)
    outside = np.isnan(sim)  # only points the homography puts outside b need the features' search
    if outside.any():
        xy[outside], sim[outside] = nearest(fb, q[outside], points[outside], guide)
    return xy, sim


def nearest(fb: FeatureMap, q: np.ndarray, points: np.ndarray, guide: Guide | None) -> tuple[np.ndarray, np.ndarray]:
    """The nearest cell of b to each query (K, D) of a point of a (K, 2 pixels), near its predicted
    position or epipolar line when a ``guide`` is given, refined to sub-pixel: (positions (K, 2),
    similarity (K,))."""
    xb_cells, db = cells(fb)
    if guide is None:
        idx, best, _ = top2(q, db)
        idx = np.c_[idx, topk(q, db, CANDIDATES)]
    elif guide.kind == "fundamental":
        idx, best = top1_in_band(fb, q, points, guide, max(fb.stride / fb.scale, 4.0))
    else:
        reach = max(4.0 * fb.stride / fb.scale, 16.0)
        block = max(1, BLOCK_BYTES // (5 * max(len(db), 1)))  # similarities plus the mask
        parts = [top1_guided(q[s:s + block], db, allowed_cells(guide, points[s:s + block], xb_cells, reach,
                                                              (fb.width, fb.height)))
                 for s in range(0, len(q), block)]
        idx, best = (np.concatenate(x) for x in zip(*parts, strict=True))
    return refine(fb, q, idx), best


def epipolar_lines(guide: Guide, points: np.ndarray) -> np.ndarray:
    """(K, 3) each point's epipolar line in b under a fundamental matrix, scaled to a unit normal
    (a x + b y + c is the distance from it in pixels)."""
    lines = np.c_[points, np.ones(len(points))] @ guide.model.T
    return lines / (np.linalg.norm(lines[:, :2], axis=1, keepdims=True) + 1e-12)


def band_cells(guide: Guide, points: np.ndarray, fb: FeatureMap, reach_px: float) -> np.ndarray:
    """(K, L) the cells of b (flat indices in increasing order; -1 pads) within ``reach_px`` of
    each point's epipolar line, found along the line instead of among all cells: for each cell
    along the line's longer axis, the few across it that the band can hold, kept where their
    distance to the line (a x + b y + c of the unit line) is within reach."""
    _, h, w = fb.features.shape
    px = fb.stride / fb.scale  # pixels a cell
    lines = epipolar_lines(guide, points)
    a, b, c = lines.T
    steep = np.abs(b) < np.abs(a)  # nearer vertical: walk down the rows, x across
    along, across = np.where(steep, b, a), np.where(steep, a, b)  # |across| >= 1/sqrt(2)
    t = np.arange(max(h, w))
    centre = -(along[:, None] * t * px + c[:, None]) / across[:, None] / px  # the line across, in cells
    half = reach_px / np.abs(across) / px
    span = int(np.ceil(2 * reach_px * np.sqrt(2) / px)) + 3
    low = np.floor(centre - half[:, None]) - 1
    cross = low[..., None] + np.arange(span)  # (K, T, span)
    row = np.where(steep[:, None, None], t[None, :, None], cross)
    col = np.where(steep[:, None, None], cross, t[None, :, None])
    inside = (row >= 0) & (row < h) & (col >= 0) & (col < w)
    row, col = np.where(inside, row, 0), np.where(inside, col, 0)
    d = (lines[:, None, None, 0].astype(np.float32) * (col * px).astype(np.float32)
         + lines[:, None, None, 1].astype(np.float32) * (row * px).astype(np.float32)
         + lines[:, None, None, 2].astype(np.float32))
    keep = inside & (np.abs(d) <= reach_px)
    flat = np.sort(np.where(keep, row * w + col, h * w).reshape(len(points), -1), axis=1)  # in cell order
    flat = flat[:, :max(1, int(keep.reshape(len(points), -1).sum(1).max(initial=0)))]
    return np.where(flat < h * w, flat, -1).astype(np.int64)


def top1_in_band(fb: FeatureMap, q: np.ndarray, points: np.ndarray, guide: Guide, reach_px: float
                 ) -> tuple[np.ndarray, np.ndarray]:
    """``top1_guided`` over a fundamental matrix's epipolar bands (``band_cells``), each query
    multiplied by its band's cells only: (index (K,), similarity (K,)). Where a line misses b (no
    cell within reach), the cells nearest it (within reach of the nearest): the point is held at
    b's border, not sent to a look-alike anywhere in b (as ``allowed_cells`` holds a homography's)."""
    xb_cells, db = cells(fb)
    idx, best = np.zeros(len(q), np.int64), np.zeros(len(q), np.float32)
    block = max(1, BLOCK_BYTES // (4 * q.shape[1] * 8 * max(fb.features.shape[1:])))  # a band: ~8 cells across
    for s in range(0, len(q), block):
        cand = band_cells(guide, points[s:s + block], fb, reach_px)
        sim = np.einsum("kd,kld->kl", q[s:s + block], db[np.maximum(cand, 0)])
        sim[cand < 0] = -np.inf
        k = sim.argmax(1)
        idx[s:s + block], best[s:s + block] = cand[np.arange(len(cand)), k], sim[np.arange(len(cand)), k]
    empty = idx < 0
    if empty.any():
        lines = epipolar_lines(guide, points[empty])
        d = np.abs(lines[:, :2] @ xb_cells.T + lines[:, 2:])
        idx[empty], best[empty] = top1_guided(q[empty], db, d <= d.min(1, keepdims=True) + reach_px)
    return idx, np.clip(best, -1.0, 1.0)


def inverse(guide: Guide | None) -> Guide | None:
    """The same geometry from b to a."""
    if guide is None:
        return None
    return Guide(guide.kind, np.linalg.inv(guide.model) if guide.kind == "homography" else guide.model.T)


def transfer(fa: FeatureMap, fb: FeatureMap, points: np.ndarray, cycle_tol_px: float,
             guide: Guide | None = None) -> Transfer:
    """Each point of image a (K, 2 pixels) to image b (``search``), checked by searching back
    from where it landed to a the same way (cycle consistency: guided by the inverse geometry
    when there is one, else over all of a)."""
    xy_b, best = search(fa, fb, points, guide)
    back, _ = search(fb, fa, xy_b, inverse(guide))
    err = np.linalg.norm(back - points, axis=1)
    tol = max(cycle_tol_px, fa.stride / fa.scale)
    return Transfer(xy_b, best, err.astype(np.float32), err <= tol, guide.kind if guide else "none")
