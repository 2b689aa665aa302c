"""Correspondence search in dense feature maps, vectorised and blocked so that memory stays
bounded: at most ``BLOCK_BYTES`` of similarities (query rows x all cells of the other map,
float32) exist at a time, whatever the image sizes.

Coordinates: a feature cell (i, j) is centred on network pixel (stride * j, stride * i), and
network pixels are the sent image's pixels times the map's ``scale``; everything returned here is
in pixels of the images as sent.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np

from service import consensus as cons
from service.feature_map import FeatureMap
from service.threads import by_blocks

# similarities a block: small enough to stay in cache and below the 8 MiB mmap threshold
# (service.memory), so blocks are reused from the heap: 32 MiB blocks made dense matching ~25 % slower
BLOCK_BYTES = 4 * 1024 * 1024
COARSE_FROM = 4096  # maps with more cells than this are matched coarse to fine
BORDER_SLACK_PX = 0.5  # how far outside b a homography may put a point that is still held at b's border
# RANSAC at 4 px fits a fundamental matrix to 14-24 of a few hundred matches between unrelated
# photos (seven fit exactly, the band around its lines takes more by chance), a homography to 5-8
# of them: a geometry is found only beyond that, and when it explains a tenth of the matches or more
CHANCE_INLIERS = {"homography": 10, "fundamental": 30}
LEAST_SHARE = 0.1
AGREED_INLIERS = 6  # more than chance leaves whose keypoints agree (4 at most: ``agreeing``)
APART_CELLS = 2  # dense matches count towards a geometry once per block of this many feature cells a side
# offsets of a 2 x 2 block's cells and of a 4 x 4 window's, row by row
BLOCK_DY, BLOCK_DX = np.array([0, 0, 1, 1]), np.array([0, 1, 0, 1])
WINDOW_DY, WINDOW_DX = np.repeat([-1, 0, 1, 2], 4), np.tile([-1, 0, 1, 2], 4)


def cells(fm: FeatureMap) -> tuple[np.ndarray, np.ndarray]:
    """All cells of a map: pixel positions (N, 2) float32 in the sent image, descriptors (N, D)
    float32. Computed once per map object (a request's guided transfer asks twice)."""
    done = fm.__dict__.get("_cells")
    if done is None:
        d, h, w = fm.features.shape
        ii, jj = np.mgrid[0:h, 0:w]
        xy = fm.from_cells(np.stack([jj.ravel(), ii.ravel()], 1))
        done = fm.__dict__["_cells"] = (xy.astype(np.float32), fm.features.reshape(d, -1).T.astype(np.float32))
    return done


def top2(queries: np.ndarray, db: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Best and second-best cosine similarity of unit queries (M, D) in db (N, D):
    (index (M,), best (M,), second (M,); -1 when N < 2), a block of rows at a time."""
    return best_two(queries, db, False)[:3]


def top2_both(queries: np.ndarray, db: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``top2``, plus each db row's most similar query (N,), from the same blocks of products:
    a mutual search needs one product of the two sets, not one each way."""
    return best_two(queries, db, True)


def best_two(queries: np.ndarray, db: np.ndarray, back: bool
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """``top2_both``; the last item only with ``back`` (None without), as it costs a pass a block.
    The blocks of queries are searched on every core (``threads.by_blocks``)."""
    m = len(queries)
    block = max(1, BLOCK_BYTES // (4 * max(len(db), 1)))
    rev, rev_best = (np.zeros(len(db), np.int64), np.full(len(db), -np.inf, np.float32)) if back else (None, None)
    if m == 0:
        return np.empty(0, np.int64), np.empty(0, np.float32), np.empty(0, np.float32), rev

    def searched(b: slice) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
        sim = queries[b] @ db.T
        rows = np.arange(len(sim))
        up = sim.argmax(0) if back else None  # each db row's best query in the block
        col = sim[up, np.arange(sim.shape[1])] if back else None
        i = sim.argmax(1)  # two linear passes beat a partial sort here
        top, second = sim[rows, i], np.full(len(sim), -1.0, np.float32)
        if sim.shape[1] > 1:
            sim[rows, i] = -np.inf
            second = sim.max(1)
        return i, top, second, up, col
    found = by_blocks(searched, m, block)
    if back:  # block by block in order: the first best query wins a tie, as argmax over all queries would
        for s, (_, _, _, up, col) in zip(range(0, m, block), found, strict=True):
            better = col > rev_best
            rev[better], rev_best[better] = up[better] + s, col[better]
    idx, best, second = (np.concatenate([f[k] for f in found]) for k in range(3))
    return idx, np.clip(best, -1.0, 1.0), np.clip(second, -1.0, 1.0), rev


def topk(queries: np.ndarray, db: np.ndarray, k: int) -> np.ndarray:
    """The k most similar rows of db (N, D) to each unit query (M, D), in no order: (M, min(k, N))."""
    k = min(k, len(db))
    block = max(1, BLOCK_BYTES // (4 * max(len(db), 1)))
    return np.concatenate([np.argpartition(-(queries[s:s + block] @ db.T), k - 1, axis=1)[:, :k]
                           for s in range(0, len(queries), block)]) if len(queries) else np.zeros((0, k), np.int64)


def distance(sim: np.ndarray) -> np.ndarray:
    """Euclidean distance of unit vectors from their cosine similarity."""
    return np.sqrt(np.clip(2.0 - 2.0 * sim, 0.0, None))


@dataclass
class Matches:
    xy_a: np.ndarray  # (M, 2) float32 pixels of image a
    xy_b: np.ndarray  # (M, 2)
    score: np.ndarray  # (M,) cosine similarity in [-1, 1]
    # (M,) Lowe's ratio, the distance to the best of b's features over that to the second best
    # (sparse matches; None where the matching does not measure it)
    ratio: np.ndarray | None = None
    # (M,) how the two keypoints differ, b's against a's (sparse matches; None for dense ones):
    # log2 of their sizes' ratio, and their orientations' difference in radians
    scale: np.ndarray | None = None
    turn: np.ndarray | None = None
    # pixels of a within which matches count once towards a geometry's inliers (``independent``):
    # dense matches, whose neighbouring cells see nearly the same pixels, so that one patch matched
    # by mistake brings a coherent blob of them along; None: each match counts (sparse keypoints)
    apart: float | None = None


PER_ROW = ("xy_a", "xy_b", "score", "ratio", "scale", "turn")  # the fields of Matches with a value per match


def first(m: Matches, n: int) -> Matches:
    """The first ``n`` matches (the best: matches come best first)."""
    return rows(m, slice(n))


def rows(m: Matches, k: slice | np.ndarray) -> Matches:
    """The matches ``k`` picks (a slice, indices or a mask), in its order."""
    return Matches(*(None if v is None else v[k] for v in (getattr(m, f) for f in PER_ROW)), apart=m.apart)


def match(fa: FeatureMap, fb: FeatureMap, max_queries: int, mutual: bool = True,
          ratio: float | None = None, consensus: cons.Consensus | None = None) -> Matches:
    """Nearest neighbours from a's cells into b's, optionally kept only when mutual, passing
    Lowe's ratio test and agreeing with their neighbours (``consensus``); best scores first (a
    caller's cap takes the first: ``first``). Each match's position in b is refined to sub-pixel (its position in a
    is a cell centre). Maps of more than ``COARSE_FROM`` cells are searched coarse to fine (see
    ``coarse_to_fine``); smaller ones exhaustively, from at most ``max_queries`` cells of a."""
    xa, da = cells(fa)
    xb, db = cells(fb)
    if min(len(da), len(db)) > COARSE_FROM:
        q, j, best = coarse_to_fine(fa, fb, max_queries, mutual, ratio)
    else:
        q, j, best = exhaustive(da, db, max_queries, mutual, ratio)
    order = np.argsort(-best, kind="stable")
    apart = apart_in(fa.stride, fa.scale)
    found = Matches(xa[q[order]], refine(fb, da[q[order]], j[order]), best[order], apart=apart)
    if consensus is not None:
        ok, xy_b = cons.select(found.xy_a, found.xy_b, fa.stride / fa.scale, fb.stride / fb.scale, consensus)
        kept = np.flatnonzero(ok)
        found = Matches(found.xy_a[kept], xy_b[kept], found.score[kept], apart=apart)
    return found


def exhaustive(da: np.ndarray, db: np.ndarray, max_queries: int, mutual: bool,
               ratio: float | None, among: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every query cell of a (of ``among``, indices, where given; at most ``max_queries``, evenly
    spread) against every cell of b, and back over every cell of a where ``mutual``: (query cells,
    their best cells in b, similarities) of the matches kept."""
    q = np.arange(len(da)) if among is None else among
    if len(q) > max_queries:  # restrict the queries, never the database
        q = q[np.linspace(0, len(q) - 1, max_queries).round().astype(np.int64)]
    j, best, second = top2(da[q], db)
    keep = np.ones(len(q), bool)
    if ratio is not None:
        keep &= distance(best) < ratio * distance(second)
    if mutual:
        uj, inv = np.unique(j, return_inverse=True)
        back, _, _ = top2(db[uj], da)
        keep &= back[inv] == q
    return q[keep], j[keep], best[keep]


def pooled(f: np.ndarray) -> np.ndarray:
    """(D, h, w) unit features -> (D, ceil(h/2), ceil(w/2)): the mean of each 2 x 2 block, unit."""
    _, h, w = f.shape
    p = np.pad(f.astype(np.float32), ((0, 0), (0, h % 2), (0, w % 2)), mode="edge")
    # the four cells' sum (the mean's direction) as strided slices: a mean over axes 2 and 4 of a
    # reshaped map reduces across strides and took four times as long
    p = p[:, 0::2, 0::2] + p[:, 0::2, 1::2] + p[:, 1::2, 0::2] + p[:, 1::2, 1::2]
    return p / np.maximum(np.linalg.norm(p, axis=0, keepdims=True), 1e-6)


def coarse_to_fine(fa: FeatureMap, fb: FeatureMap, max_queries: int, mutual: bool,
                   ratio: float | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mutual nearest neighbours among 2 x 2 pooled cells (a sixteenth of the exhaustive work),
    then each of the four cells of a matched block searched in a 4 x 4 window of b's cells around
    its block's match, and kept when that cell searched back over the same window of a comes
    home: (query cells, their best cells in b, similarities) of the matches kept."""
    (d, ha, wa), (_, hb, wb) = fa.features.shape, fb.features.shape
    ca, cb = pooled(fa.features), pooled(fb.features)
    qa, jb, _ = exhaustive(ca.reshape(d, -1).T, cb.reshape(d, -1).T, max(1, max_queries // 4), mutual, ratio)
    ia, ja = np.divmod(qa, ca.shape[2])
    ib, jbb = np.divmod(jb, cb.shape[2])
    # the four fine cells of each matched coarse cell of a, and a 4 x 4 window of b around 2x its match
    fy = (2 * ia[:, None] + BLOCK_DY[None]).reshape(-1)
    fx = (2 * ja[:, None] + BLOCK_DX[None]).reshape(-1)
    wy = np.clip(2 * ib[:, None] + WINDOW_DY[None], 0, hb - 1)
    wx = np.clip(2 * jbb[:, None] + WINDOW_DX[None], 0, wb - 1)
    ok = (fy < ha) & (fx < wa)
    fy, fx = np.minimum(fy, ha - 1), np.minimum(fx, wa - 1)
    A = fa.features.astype(np.float32)
    B = fb.features.astype(np.float32)
    qv = A[:, fy, fx].T  # (4K, D)
    win = np.repeat(np.arange(len(ib)), 4)
    cand = B[:, wy[win], wx[win]].transpose(1, 2, 0)  # (4K, 16, D)
    sims = np.einsum("kd,knd->kn", qv, cand)
    pick = sims.argmax(1)
    by, bx = wy[win, pick], wx[win, pick]
    best = sims[np.arange(len(pick)), pick]
    if mutual:  # back over a's window around the query's own block: the query must win
        ay = np.clip(2 * ia[win][:, None] + WINDOW_DY[None], 0, ha - 1)
        ax = np.clip(2 * ja[win][:, None] + WINDOW_DX[None], 0, wa - 1)
        back = np.einsum("kd,knd->kn", B[:, by, bx].T, A[:, ay, ax].transpose(1, 2, 0)).argmax(1)
        ok &= (ay[np.arange(len(back)), back] == fy) & (ax[np.arange(len(back)), back] == fx)
    q = (fy * wa + fx)[ok]
    first = np.unique(q, return_index=True)[1]  # a block's window can hold one cell twice
    return q[first], (by * wb + bx)[ok][first], np.clip(best[ok][first], -1.0, 1.0)


def verify(m: Matches, geometry: str, threshold_px: float) -> tuple[np.ndarray | None, np.ndarray]:
    """RANSAC (OpenCV) over the matches: (3x3 homography or fundamental matrix, or None when
    too few matches or no model; inlier mask (M,) bool)."""
    need = 4 if geometry == "homography" else 8
    if len(m.score) < need:
        return None, np.zeros(len(m.score), bool)
    if geometry == "homography":
        # PROSAC draws from the most similar matches first (they come best first): a few correct
        # matches among many look-alikes are found in a few draws where RANSAC's 2000 can miss them,
        # while where the best-scored matches are look-alikes RANSAC does better. More inliers wins,
        # counted where the keypoints agree (``agreeing``); RANSAC runs only where it may win
        # something (``hopeless``)
        other, mask2 = homography(m, cv2.USAC_PROSAC, threshold_px)
        model, mask = hopeless(m, geometry, threshold_px, mask2) or homography(m, cv2.RANSAC, threshold_px)
        if other is not None and mask2 is not None and (mask is None or mask2.sum() > mask.sum()):
            model, mask = other, mask2
    else:
        model, mask = (hopeless(m, geometry, threshold_px)
                       or cv2.findFundamentalMat(m.xy_a, m.xy_b, cv2.FM_RANSAC, threshold_px, 0.999))
        if model is not None:
            model = model[:3]
    if model is None or mask is None:
        return None, np.zeros(len(m.score), bool)
    return model, mask.ravel().astype(bool)


def homography(m: Matches, method: int, threshold_px: float) -> tuple[np.ndarray | None, np.ndarray | None]:
    """OpenCV's homography of the matches by ``method`` (up to 2000 draws), and its inlier mask
    as ``agreeing`` keeps it; none where OpenCV fails (its USAC methods assert on some exact
    matches: ``hopeless``)."""
    try:
        h, mask = cv2.findHomography(m.xy_a, m.xy_b, method, threshold_px, maxIters=2000, confidence=0.999)
    except cv2.error:
        return None, None
    return h, agreeing(h, mask, m)


def hopeless(m: Matches, geometry: str, threshold_px: float, prosac: np.ndarray | None = None
             ) -> tuple[np.ndarray | None, np.ndarray | None] | None:
    """Where sparse matches hold no ``geometry`` to find, GC-RANSAC's fit of it (OpenCV's
    USAC_ACCURATE) and its inliers; else None, and RANSAC is run. Between unrelated images RANSAC
    runs all its draws (a homography's 2000 take 34 ms however few the matches, a fundamental
    matrix's 17 ms), where GC-RANSAC's sequential test drops a hopeless draw after a few matches
    (under 1 ms, 3 ms). Hopeless: for a homography, neither GC-RANSAC nor PROSAC (its agreeing
    inliers ``prosac``) has AGREED_INLIERS agreeing inliers; for a fundamental matrix, GC-RANSAC's
    holds fewer inliers than one needs (``least_inliers``: its local optimisation takes in more
    matches than RANSAC's fit, not fewer). So spared between unrelated images: every chance
    homography and nine in ten fundamental matrices; of the right homographies and the
    fundamental matrices RANSAC finds on the validation pairs, none (``eval.agreement``,
    ``eval.guide``). GC-RANSAC's fit does not stand in for RANSAC's where there is one: in
    repeated structure it grew a look-alike's homography past the right one (leuven's facade at a
    quarter of its size). Dense matches carry no keypoints to agree: RANSAC always runs."""
    if not agreed(m):
        return None
    try:  # where OpenCV fails (USAC asserts on some exact matches: a crop's), RANSAC decides
        if geometry == "homography":
            h, mask = cv2.findHomography(m.xy_a, m.xy_b, cv2.USAC_ACCURATE, threshold_px, maxIters=2000,
                                         confidence=0.999)
        else:
            h, mask = cv2.findFundamentalMat(m.xy_a, m.xy_b, cv2.USAC_ACCURATE, threshold_px, 0.999, 2000)
    except cv2.error:
        return None
    if geometry == "homography":
        mask = agreeing(h, mask, m)
        counts = [0 if k is None else int(k.sum()) for k in (mask, prosac)]
        return (h, mask) if max(counts) < AGREED_INLIERS else None
    few = h is None or mask is None or int(mask.sum()) < least_inliers(geometry, len(m.score))
    return (h, mask) if few else None


SCALE_AGREES, TURN_AGREES = 0.75, np.deg2rad(40)  # octaves, radians: see ``agreeing``


def agreeing(h: np.ndarray | None, mask: np.ndarray | None, m: Matches, octaves: float = SCALE_AGREES,
             turns: float = TURN_AGREES) -> np.ndarray | None:
    """RANSAC's inlier ``mask`` of the homography ``h``, less the matches whose keypoints' sizes and
    orientations disagree with it (where the matches carry them: sparse ones). Around each match
    the homography scales and turns a's pixels by its Jacobian there; a true match's keypoints
    differ by as much (detected scale and orientation), a chance one's by anything. Three quarters
    of an octave and 40 degrees keep 99.8 % of the inliers of the right homographies on the
    validation pairs, objects in clutter and regions of large photos, and leave at most 4 to each
    chance homography between unrelated images, where RANSAC's count is 4-11 (``eval.agreement``)."""
    if h is None or mask is None or not agreed(m):
        return mask
    w = np.c_[m.xy_a.astype(np.float64), np.ones(len(m.xy_a))] @ h[2]
    u, v = project(h, m.xy_a).T
    with np.errstate(divide="ignore", invalid="ignore"):
        jxx, jxy = (h[0, 0] - u * h[2, 0]) / w, (h[0, 1] - u * h[2, 1]) / w  # d(u, v) / d(x, y)
        jyx, jyy = (h[1, 0] - v * h[2, 0]) / w, (h[1, 1] - v * h[2, 1]) / w
        scale = 0.5 * np.log2(np.abs(jxx * jyy - jxy * jyx))
    turn = np.arctan2(jyx - jxy, jxx + jyy)  # the rotation nearest the Jacobian
    off = np.abs((m.turn - turn + np.pi) % (2 * np.pi) - np.pi)
    return mask.ravel().astype(bool) & (np.abs(scale - m.scale) <= octaves) & (off <= turns)


def among(xy: np.ndarray, of: np.ndarray) -> np.ndarray:
    """(N,) bool: each position of ``xy`` (N, 2) that ``of`` (M, 2) holds too (each position
    compared as one value)."""
    def points(p: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(p, np.float32).view(np.complex64).ravel()
    return np.isin(points(xy), points(of))


def shares_a_keypoint(m: Matches, other: Matches) -> np.ndarray:
    """(M,) bool: each match of ``m`` whose place in a or in b one of ``other``'s holds too."""
    return among(m.xy_a, other.xy_a) | among(m.xy_b, other.xy_b)


def joined(m: Matches, inliers: np.ndarray, extra: Matches) -> tuple[Matches, np.ndarray]:
    """The matches ``m`` with ``inliers`` (M,) bool of a geometry, and the ``extra`` matches it
    explains besides (``sparse.explained``) as inliers too: an extra match on a keypoint (its
    place in a or in b) an inlier holds already is left out, and an outlier on a keypoint of an
    added match gives way to it. Best score first, ties in their former order. -> (matches,
    inliers)."""
    new = ~shares_a_keypoint(extra, rows(m, inliers))
    stay = inliers | ~shares_a_keypoint(m, rows(extra, new))
    both = Matches(*(None if a is None or b is None else np.concatenate([a[stay], b[new]])
                     for a, b in ((getattr(m, k), getattr(extra, k)) for k in PER_ROW)), apart=m.apart)
    flags = np.concatenate([inliers[stay], np.ones(int(new.sum()), bool)])
    order = np.argsort(-both.score, kind="stable")
    return rows(both, order), flags[order]


def least_inliers(geometry: str, matches: int, agreed: bool = False) -> int:
    """The fewest RANSAC inliers among ``matches`` that show a real ``geometry`` rather than
    chance: more than unrelated images give (``CHANCE_INLIERS``), and ``LEAST_SHARE`` of them.
    A homography's inliers that also ``agreeing`` kept need only AGREED_INLIERS, however many
    the matches: chance leaves at most 4 of those whatever their number."""
    if agreed and geometry == "homography":
        return AGREED_INLIERS
    return max(CHANCE_INLIERS[geometry], int(np.ceil(LEAST_SHARE * matches)))


def agreed(m: Matches) -> bool:
    """Whether ``verify`` checks the homography's inliers among ``m`` against their keypoints."""
    return m.scale is not None and m.turn is not None


def found(geometry: str, inliers: np.ndarray, m: Matches | None = None) -> bool:
    """Whether RANSAC's inliers (M,) bool among the matches ``m`` show a real ``geometry``
    (``least_inliers``), counted once per block of ``m.apart`` pixels of a as well where the
    matches say (dense ones: ``independent``)."""
    enough = int(inliers.sum()) >= least_inliers(geometry, len(inliers), m is not None and agreed(m))
    return enough and (m is None or m.apart is None or independent(inliers, m) >= CHANCE_INLIERS[geometry])


def apart_in(stride: int, scale: float) -> float:
    """The side, in pixels of the image as sent, of the blocks of ``APART_CELLS`` feature cells (of
    ``stride`` network pixels, the network seeing the image at ``scale``) in which dense matches
    count once (``Matches.apart``)."""
    return APART_CELLS * stride / scale


def independent(inliers: np.ndarray, m: Matches) -> int:
    """How many blocks of ``m.apart`` x ``m.apart`` pixels of a the inliers (M,) bool among the
    matches ``m`` fall in: between unrelated photos, a patch matched by mistake and its neighbours
    gave dense answers 10 or more inliers in at most 9 blocks of two feature cells; the right ones
    of the validation pairs hold 28 or more (``eval.dense_chance``)."""
    return len(np.unique(np.floor(m.xy_a[inliers] / m.apart).astype(np.int64), axis=0))


def coverage(xy: np.ndarray, width: int, height: int) -> float:
    """The share of a width x height image's area inside the convex hull of its points xy (K, 2)."""
    if len(xy) < 3:
        return 0.0
    return float(cv2.contourArea(cv2.convexHull(np.asarray(xy, np.float32)))) / float(width * height)


# the fewest matches a first geometry leaves that are searched for a second motion's: fewer can
# hardly hold one that tells itself from chance (a homography needs 6 to 10 inliers), and RANSAC run
# to its limit on a dozen leftovers cost a warm sparse answer 10 ms
SECOND_LEAST = 24


def scene_fits(m: Matches, threshold_px: float) -> Iterator[np.ndarray]:
    """RANSAC's inliers (M,) bool of each geometry, a homography then a fundamental matrix, that it
    finds among the matches (``found``), fitted as they are asked for."""
    for geometry in ("homography", "fundamental"):
        if len(m.score) < least_inliers(geometry, len(m.score), agreed(m)):  # too few to hold enough inliers
            continue
        model, inliers = verify(m, geometry, threshold_px)
        if model is not None and found(geometry, inliers, m):
            yield inliers


def scene_inliers(m: Matches, threshold_px: float) -> np.ndarray | None:
    """(M,) bool: the matches that the homography or the fundamental matrix RANSAC finds among them
    explains, whichever explains more, and those that one found among the rest explains (a second
    motion's: people who moved before a still camera, a thing turned by hand); None where none is
    found (``one_scene`` false). The rest are mostly not right: look-alikes, a repeated pattern a
    period off. Before the second fit, the basketball pair's players' 331 dense matches, 94 % right,
    were left unexplained; the castle's 88 sparse ones, about 60 % right."""
    best = max(scene_fits(m, threshold_px), key=lambda inliers: int(inliers.sum()), default=None)
    if best is None or (~best).sum() < SECOND_LEAST:
        return best
    rest = np.flatnonzero(~best)  # a second motion's matches fit a geometry of their own
    second = max(scene_fits(rows(m, rest), threshold_px), key=lambda inliers: int(inliers.sum()), default=None)
    if second is not None:
        best = best.copy()
        best[rest[second]] = True
    return best


def one_scene(m: Matches, threshold_px: float) -> bool:
    """Whether RANSAC finds a homography or a fundamental matrix among the matches: what two images
    of one scene give, and unrelated images give only by chance (the fundamental matrix is not
    fitted where a homography is found)."""
    return next(scene_fits(m, threshold_px), None) is not None


def sample(f: np.ndarray, gx: np.ndarray, gy: np.ndarray) -> np.ndarray:
    """Bilinear samples of a (h, w, D) map at grid positions gx, gy (any shape S), renormalised:
    (*S, D) float32. Up to one cell beyond the outermost cells the map is extrapolated linearly
    (the last cells' centres lie up to stride - 1 pixels inside the image), farther it is held."""
    h, w, _ = f.shape
    gx, gy = np.clip(gx, -1, w), np.clip(gy, -1, h)
    x0f, y0f = np.clip(np.floor(gx), 0, max(w - 2, 0)), np.clip(np.floor(gy), 0, max(h - 2, 0))
    x0, y0 = x0f.astype(np.intp), y0f.astype(np.intp)
    x1, y1 = np.minimum(x0 + 1, w - 1), np.minimum(y0 + 1, h - 1)
    fx, fy = ((gx - x0f) if w > 1 else 0 * gx)[..., None], ((gy - y0f) if h > 1 else 0 * gy)[..., None]
    v = (1 - fx) * (1 - fy) * f[y0, x0] + fx * (1 - fy) * f[y0, x1] + (1 - fx) * fy * f[y1, x0] + fx * fy * f[y1, x1]
    v = v.astype(np.float32)  # normalised in float32: cheaper than in float64 on the matching hot path
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-6)


def bilinear(fm: FeatureMap, xy: np.ndarray) -> np.ndarray:
    """Unit descriptors (K, D) at pixel positions (K, 2) of the sent image, bilinear on the grid."""
    g = fm.to_cells(xy)
    return sample(fm.features.transpose(1, 2, 0), g[:, 0], g[:, 1])


def refine(fm: FeatureMap, query: np.ndarray, idx: np.ndarray, steps: int = 9) -> np.ndarray:
    """Sub-pixel peaks on the feature grid, in two rounds: the features are sampled bilinearly on
    a ``steps`` x ``steps`` lattice spanning one cell either side of each best cell (a quarter of
    a cell apart by default), then on as fine a lattice a sixteenth of a cell apart around the
    winner, and the most similar sample wins. Unlike a parabola through three cells, this finds a
    point matched to itself to within a thirty-second of a cell, borders and corners included
    (the map is extrapolated there, see ``sample``), and is not pulled by a lopsided profile.
    query (K, D) unit, idx (K,) best cells, or (K, C) candidate cells of which the one refining
    best wins -> pixel positions (K, 2) in the sent image, inside it."""
    d, h, w = fm.features.shape
    idx = idx.reshape(len(idx), -1 if len(idx) else 1)
    k, c = idx.shape
    start = np.stack([idx % w, idx // w], -1).reshape(-1, 2).astype(np.float64)  # (x, y) in cells
    q = np.repeat(query, c, axis=0)
    # how far the image reaches beyond the outermost cell centres, in cells
    lo, hi = fm.to_cells([[0, 0], [fm.width - 1, fm.height - 1]])
    best, _ = peak(fm, q, start, 1.0, steps, lo, hi)
    best, sim = peak(fm, q, best, 2.0 / (steps - 1), 5, lo, hi)
    best = best.reshape(k, c, 2)[np.arange(k), sim.reshape(k, c).argmax(1)]
    return np.clip(fm.from_cells(best), 0, [fm.width - 1, fm.height - 1]).astype(np.float32)


def peak(fm: FeatureMap, query: np.ndarray, centre: np.ndarray, reach: float, steps: int,
         lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The most similar of a steps x steps lattice reaching ``reach`` cells either side of each
    centre (K, 2), positions kept within the image (``lo`` to ``hi`` cells): ((K, 2) in cells, (K,)
    similarity). Lattices about a whole cell whose samples need no extrapolation and no clipping
    take ``on_cells``, the same similarities from the cells' own products."""
    d = fm.features.shape[0]
    off = np.linspace(-reach, reach, steps)
    ou, ov = (g.ravel() for g in np.meshgrid(off, off))
    out, top = np.empty_like(centre), np.empty(len(centre), np.float32)
    f = fm.grid  # float32 arithmetic throughout
    r = int(np.ceil(reach))
    whole = (centre == np.round(centre)).all(1) & (centre - r >= np.maximum(lo, 0)).all(1) & \
        (centre + r <= np.minimum(hi, [f.shape[1] - 1, f.shape[0] - 1])).all(1)
    if whole.any():
        pick, top[whole] = on_cells(f, query[whole], centre[whole], off, r)
        out[whole] = centre[whole] + np.c_[ou[pick], ov[pick]]
    rest = np.flatnonzero(~whole)
    chunk = max(1, BLOCK_BYTES // (4 * 4 * d * steps * steps))  # four bilinear corners in float32
    for s in range(0, len(rest), chunk):
        i = rest[s:s + chunk]
        c = centre[i]
        grid = np.clip(np.stack([c[:, :1] + ou[None], c[:, 1:] + ov[None]], -1), lo, hi).astype(np.float32)
        sims = np.einsum("kd,knd->kn", query[i], sample(f, grid[..., 0], grid[..., 1]))
        out[i] = grid[np.arange(len(c)), sims.argmax(1)]
        top[i] = sims.max(1)
    return out, top


def on_cells(f: np.ndarray, query: np.ndarray, centre: np.ndarray, off: np.ndarray,
             r: int) -> tuple[np.ndarray, np.ndarray]:
    """``peak`` for lattices (offsets ``off`` along each axis, within ``r`` cells) about whole
    cells (K, 2) at least ``r`` cells inside the map (h, w, D): (the best sample of each, (K,)
    indices into the row-major lattice, and its similarity (K,)). A bilinear sample is a weighted sum
    of four cells, the same weights about every whole cell, so its similarity to a query, q.v /
    |v|, comes from the (2r+1)^2 cells' products with the query and with each other: two matrix
    products instead of a D-vector per sample."""
    n = 2 * r + 1
    u = off + r  # positions in the block of cells, 0 to 2r
    u0 = np.minimum(np.floor(u), n - 2).astype(np.intp)
    t = (u - u0).astype(np.float32)
    along = np.zeros((n, len(off)), np.float32)  # (cell, sample) weights along one axis
    along[u0, np.arange(len(off))] = 1 - t
    along[u0 + 1, np.arange(len(off))] += t
    w = np.einsum("ys,xt->yxst", along, along).reshape(n * n, -1)  # (cells, samples), row-major lattice
    ww = np.einsum("as,bs->abs", w, w).reshape(n * n * n * n, -1)
    dy, dx = np.divmod(np.arange(n * n), n)
    top = np.empty(len(centre), np.float32)
    pick = np.empty(len(centre), np.intp)
    chunk = max(1, BLOCK_BYTES // (4 * n * n * (f.shape[2] + n * n + 2 * w.shape[1])))
    for s in range(0, len(centre), chunk):
        c = centre[s:s + chunk].astype(np.intp)
        cells = f[c[:, 1:2] - r + dy[None], c[:, :1] - r + dx[None]]  # (k, n*n, D)
        dots = np.einsum("kd,kcd->kc", query[s:s + chunk], cells) @ w
        norms = np.sqrt(np.maximum((cells @ cells.transpose(0, 2, 1)).reshape(len(c), -1) @ ww, 0))
        sims = dots / np.maximum(norms, 1e-6)
        pick[s:s + chunk] = sims.argmax(1)
        top[s:s + chunk] = sims[np.arange(len(c)), pick[s:s + chunk]]
    return pick, top


def project(h: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """Points (N, 2) under the homography (3, 3), N = 0 included; a point sent to infinity comes
    back non-finite."""
    p = np.c_[xy.astype(np.float64), np.ones(len(xy))] @ h.T
    with np.errstate(divide="ignore", invalid="ignore"):
        return p[:, :2] / p[:, 2:3]


def within(xy: np.ndarray, width: int, height: int, slack: float = 0.0) -> np.ndarray:
    """(N,) bool: the points (N, 2) inside a width x height image, up to ``slack`` pixels beyond
    its border (non-finite points never are)."""
    return (xy >= -slack).all(1) & (xy[:, 0] <= width - 1 + slack) & (xy[:, 1] <= height - 1 + slack)


def held_in(xy: np.ndarray, width: int, height: int) -> np.ndarray:
    """The points (N, 2) held inside a width x height image: each moved to the nearest place in it
    (a non-finite coordinate to an edge)."""
    return np.clip(np.nan_to_num(xy), 0, [width - 1, height - 1])


def facing(h: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """The homography ``h`` (3, 3), or -h: the one under which the points ``xy`` (N, 2) of a it was
    fitted to lie in front of the camera (``lands_in``: a positive third coordinate). OpenCV scales
    a homography to h[2, 2] = 1, which puts a's origin in front: where a's corner lies beyond the
    plane's horizon (sky over a floor, or b's corner for the inverse map: another photo around an
    object seen in perspective) every point of the plane would read as behind it."""
    if not len(xy):
        return h
    w = np.c_[xy.astype(np.float64), np.ones(len(xy))] @ h[2]
    return -h if np.median(w) < 0 else h


def lands_in(h: np.ndarray, points: np.ndarray, width: int, height: int,
             slack: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Where the homography ``h`` puts each point (N, 2), and whether it lands in front of the
    camera (h's sign as ``facing`` sets it) and ``within`` a width x height image, (N,) bool."""
    ahead = np.c_[points, np.ones(len(points))] @ h[2] > 0
    pred = project(h, points)
    return pred, ahead & within(pred, width, height, slack)


@dataclass
class Guide:
    """The pair's geometry, estimated from confident mutual matches: ``kind`` is "homography" or
    "fundamental", ``model`` its 3x3 matrix (image a pixels -> image b)."""
    kind: str
    model: np.ndarray
    inliers: np.ndarray | None = None  # (M,) bool over the matches it was fitted to
    plane: Guide | None = None  # a fundamental matrix's: the homography that holds among the same matches too
    seen_from_side: dict[str, float] | None = None  # fitted in a copy of a seen from the side: its tilt, direction


def fit_guide(m: Matches, threshold_px: float, min_inliers: int = 16, kind: str = "auto") -> Guide | None:
    """RANSAC on matches: a homography when it explains nearly as many matches as a fundamental
    matrix (a plane, or a rotating camera) or that one leaves out its inliers (``flat``),
    otherwise the fundamental matrix; None when neither has ``min_inliers`` inliers and more than
    chance gives (``found``, ``fundamental_support``).
    ``kind`` "homography" or "fundamental" fits that one only (None when it is not found): the
    caller knows the scene. A fundamental matrix chosen while a homography holds too carries it
    (``Guide.plane``)."""
    h, inl_h = verify(m, "homography", threshold_px) if kind != "fundamental" else (None, None)
    f, inl_f = verify(m, "fundamental", threshold_px) if kind != "homography" else (None, None)
    plane = h is not None and inl_h.sum() >= min_inliers and found("homography", inl_h, m)
    scene = f is not None and inl_f.sum() >= min_inliers and found("fundamental", inl_f, m)
    h = facing(h, m.xy_a[inl_h]) if plane else h
    if plane and (kind == "homography" or not scene or flat(m, h, inl_h, inl_f, threshold_px)):
        return Guide("homography", h, inl_h)
    return Guide("fundamental", f, inl_f, Guide("homography", h, inl_h) if plane else None) if scene else None


PLANE_KEPT = 0.9


def leaves_out(inl_h: np.ndarray, inl_f: np.ndarray) -> bool:
    """Whether the fundamental matrix leaves out more than a tenth of the homography's inliers.
    A scene's epipolar geometry holds on each of its planes, so the fundamental matrix of a
    scene with depth keeps a plane's matches (all but at most two of hundreds in the Aloe stereo
    pair and each of its windows, all 26 on the cube moved by hand: ``eval.guide``); one that
    leaves them out was turned by RANSAC to thread the look-alikes of repeated structure onto its
    lines (the leuven facade enlarged 4x, counted in a's pixels: 20 of the homography's 27)."""
    return (inl_h & inl_f).sum() < PLANE_KEPT * inl_h.sum()


def flat(m: Matches, h: np.ndarray, inl_h: np.ndarray, inl_f: np.ndarray, threshold_px: float) -> bool:
    """Whether the homography ``h`` explains nearly as many of the matches as the fundamental
    matrix does (``fundamental_support``), or that one leaves out the homography's inliers
    (``leaves_out``), counted in the coarser image's pixels (``counted``): where b is the finer by
    a quarter octave or more (``enlargement``), RANSAC counts both again with the threshold in
    a's pixels. The models stay those fitted at the threshold in b's pixels (fitted
    with the looser one, leuven's homography took in look-alikes: enlarged 2x, it came out 1.2x).
    Counting the same models' residuals again instead, cheaper, chose alike with the default
    descriptor but left leuven enlarged 2x to the fundamental matrix with the w0.25 one (28 %
    within 5 px against 100 %)."""
    inl_h, inl_f = counted(m, h, inl_h, inl_f, threshold_px)
    return leaves_out(inl_h, inl_f) or inl_h.sum() >= 0.85 * fundamental_support(m, inl_h, inl_f)


def counted(m: Matches, h: np.ndarray, inl_h: np.ndarray, inl_f: np.ndarray,
            threshold_px: float) -> tuple[np.ndarray, np.ndarray]:
    """The homography's and the fundamental matrix's inliers in the coarser image's pixels (see
    ``flat``): as RANSAC found them, or where b is the finer by a quarter octave or more, RANSAC's
    again with the threshold in a's pixels."""
    s = enlargement(h, m.xy_a[inl_h])
    if s < 2 ** 0.25:
        return inl_h, inl_f
    return verify(m, "homography", threshold_px * s)[1], verify(m, "fundamental", threshold_px * s)[1]


def enlargement(h: np.ndarray, xy: np.ndarray) -> float:
    """How many pixels of b a pixel of a spans under the homography ``h``, at the centre of the
    points ``xy`` (N, 2) of a (1 without points). A keypoint is found to about a pixel of the
    scale it is detected at, so where b shows a's content larger its matches miss by as many
    more of b's pixels: a threshold in b's pixels would keep fewer of a plane's matches the
    larger b is, while a fundamental matrix, which bounds only the distance across its lines,
    keeps them and the look-alikes of repeated structure threaded along them (the leuven facade
    enlarged 2x and 2.8x went to a fundamental matrix: a quarter of its transfers within 5 px,
    where its homography puts four fifths). In the coarser image's pixels, a threshold means one
    thing at every scale."""
    if not len(xy):
        return 1.0
    c = xy.mean(0, dtype=np.float64)
    p = project(h, np.array([c, c + [1.0, 0.0], c + [0.0, 1.0]]))
    s = float(np.sqrt(abs(np.linalg.det(np.c_[p[1] - p[0], p[2] - p[0]]))))
    return s if np.isfinite(s) else 1.0


def fundamental_support(m: Matches, inl_h: np.ndarray, inl_f: np.ndarray) -> int:
    """How many matches the fundamental matrix explains that are real: the homography's inliers,
    plus the matches only it keeps (depth off the plane) counted by their distinctiveness. When a
    homography holds (a plane, a turning camera), a fundamental matrix is free in its epipole, and
    RANSAC turns it to thread the look-alike false matches of repeated structure (a row of
    windows) onto epipolar lines; those are far less distinct (Lowe's ratio) than the plane's
    matches, while matches at another depth are as distinct. So only its extra matches at least
    as distinct as the median of the homography's count, twice (as half of them would be)."""
    extra = inl_f & ~inl_h
    if m.ratio is None or not inl_h.any() or not extra.any():  # dense matches carry no ratio: as counted
        return int(inl_f.sum())
    alike = int((m.ratio[extra] <= np.median(m.ratio[inl_h])).sum())
    return int(inl_h.sum()) + 2 * alike
