"""Dense alignment of image b to image a by an MRF over feature displacements: SIFT Flow's model
(Liu, Yuen & Torralba, PAMI 2011) on learned features, as Long, Zhang & Darrell (NIPS 2014) align
instances of a class. Every cell p of a's feature grid gets a displacement w(p) = (u, v), in cells,
minimising

    E(w) = sum_p ||A(p) - B(p + w(p))||              data: distance of unit features, in [0, 2]
         + eta * sum_p |u_p| + |v_p|                  small displacements
         + sum_{p~q} min(alpha * ||w_p - w_q||_1, d)  truncated L1 smoothness, 4-neighbours

B is b's feature map resampled onto a's grid (the images may differ in size), so w = 0 maps each
point of a to the same relative position in b. Inference is min-sum loopy belief propagation with
the linear-time distance transform of Felzenszwalb & Huttenlocher for the L1 term, scheduled as
forward and backward sweeps along rows and columns (BP-M), coarse to fine: the coarsest level
searches a wide window, every finer level a small window around the doubled coarser field. The
final field is refined to sub-cell by a parabola through the beliefs either side of the minimum.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import cv2
import numpy as np

from service.feature_map import FeatureMap
from service.matching import bilinear, project, sample, within
from service.point_transfer import Transfer

OUTSIDE_COST = 2.0  # the largest distance of unit vectors: a displacement leaving b matches nothing
# a transfer's way back is solved in a's frame (``back_in_frame_of_a``) where a, brought onto b by
# the prealignment, covers less than this share of b: an object in a larger scene
OBJECT_SHARE = 0.5
REMAP_ROW = 4096  # points a row of the maps ``Alignment.at`` hands cv2.remap (whose sides stay under 32767)


@dataclass(frozen=True)
class Params:
    # defaults chosen on warps of training photos (astronaut, chelsea, Garden), never the held-back ones
    alpha: float = 0.04  # smoothness weight per cell of flow difference
    d: float = 0.4  # smoothness truncation (lets the field break at object boundaries)
    eta: float = 0.001  # small-displacement weight per cell
    radius: int = 10  # search radius at the coarsest level, in its cells
    window: int = 2  # search radius at every finer level, around the upsampled field
    iterations: int = 4  # BP-M sweeps (right, left, down, up) per level
    min_side: int = 12  # the pyramid stops before a level's short side gets smaller than this
    supersample: int = 0  # extra levels finer than the feature grid (bilinear features), each halving the step


@dataclass
class Alignment:
    flow: np.ndarray  # (h, w, 2) float32: position in b minus position in a, in b's pixels, per cell of a
    step: tuple[float, float]  # a's pixels per cell (x, y): cell (i, j) is at a's pixel (j * sx, i * sy)
    energy: dict[str, float]
    levels: int
    # (h, w) float32: each cell's part of the energy, its data and displacement terms and its
    # smoothness towards the cells right of and below it (``energies``)
    cost: np.ndarray | None = None

    def at(self, xy: np.ndarray) -> np.ndarray:
        """Positions in b (K, 2) of pixels (K, 2) of a, by bilinear interpolation of the field."""
        h, w, _ = self.flow.shape
        n = len(xy)
        if not n:
            return np.zeros((0, 2), np.float32)
        # cv2.remap takes maps under 32767 a side: the points go in rows of at most REMAP_ROW
        cols = min(n, REMAP_ROW)
        rows = -(-n // cols)
        gx, gy = (np.pad(np.clip(xy[:, k] / self.step[k], 0, side - 1).astype(np.float32), (0, rows * cols - n))
                  .reshape(rows, cols) for k, side in ((0, w), (1, h)))
        f = cv2.remap(self.flow, gx, gy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE).reshape(-1, 2)[:n]
        return (xy + f).astype(np.float32)


def onto_grid_of(fa: FeatureMap, fb: FeatureMap) -> tuple[np.ndarray, np.ndarray, tuple[float, float]]:
    """a's features (h, w, D), b's resampled at the same relative positions (h, w, D), and how
    many of b's pixels one of a's cells spans (x, y)."""
    a = fa.grid
    h, w, _ = a.shape
    step_a = fa.stride / fa.scale
    rx, ry = fb.width / fa.width, fb.height / fa.height
    jj, ii = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    to_b = fb.scale / fb.stride  # b pixels -> b cells
    b = sample(fb.grid, jj * step_a * rx * to_b, ii * step_a * ry * to_b)
    return a, b, (step_a * rx, step_a * ry)


def pool(f: np.ndarray) -> np.ndarray:
    """One pyramid level up: 2x2 mean (odd edges repeat), renormalised. (h, w, D) -> (ceil(h/2), ceil(w/2), D)."""
    h, w, _ = f.shape
    f = np.pad(f, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")
    v = f.reshape(f.shape[0] // 2, 2, f.shape[1] // 2, 2, -1).mean((1, 3))
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-6)


def upsample(f: np.ndarray) -> np.ndarray:
    """Bilinear features at twice the density, cell 2k on old cell k: (h, w, D) -> (2h - 1, 2w - 1, D)."""
    h, w, _ = f.shape
    jj, ii = np.meshgrid(np.arange(2 * w - 1, dtype=np.float32) / 2, np.arange(2 * h - 1, dtype=np.float32) / 2)
    return sample(f, jj, ii)


def data_cost(a: np.ndarray, b: np.ndarray, offset: np.ndarray, r: int, eta: float) -> np.ndarray:
    """(h, w, L, L) cost of each label (dv, du) in [-r, r]^2 on top of each cell's integer offset
    (h, w, 2) as (u, v): feature distance (OUTSIDE_COST beyond b) plus the displacement term."""
    h, w, _ = a.shape
    ii, jj = np.mgrid[0:h, 0:w]
    n = 2 * r + 1
    cost = np.empty((h, w, n, n), np.float32)
    for iv, dv in enumerate(range(-r, r + 1)):
        for iu, du in enumerate(range(-r, r + 1)):
            u, v = offset[..., 0] + du, offset[..., 1] + dv
            y, x = ii + v, jj + u
            inside = (y >= 0) & (y < h) & (x >= 0) & (x < w)
            sim = np.einsum("hwd,hwd->hw", a, b[np.clip(y, 0, h - 1), np.clip(x, 0, w - 1)])
            dist = np.sqrt(np.clip(2.0 - 2.0 * sim, 0.0, None))
            cost[..., iv, iu] = np.where(inside, dist, OUTSIDE_COST) + eta * (np.abs(u) + np.abs(v))
    return cost


def distance_transform(h: np.ndarray, alpha: float) -> np.ndarray:
    """min over labels l' of h(l') + alpha * ||l - l'||_1, for every label l: (N, L, L) -> (N, L, L).
    Two linear passes per label axis (exact for the L1 norm, which separates), on a copy with the
    labels first, where each pass's step reads and writes contiguous rows."""
    f = np.ascontiguousarray(h.transpose(1, 2, 0))  # (L, L, N)
    n = f.shape[0]
    for k in range(1, n):
        np.minimum(f[:, k], f[:, k - 1] + alpha, out=f[:, k])
    for k in range(n - 2, -1, -1):
        np.minimum(f[:, k], f[:, k + 1] + alpha, out=f[:, k])
    for k in range(1, n):
        np.minimum(f[k], f[k - 1] + alpha, out=f[k])
    for k in range(n - 2, -1, -1):
        np.minimum(f[k], f[k + 1] + alpha, out=f[k])
    return f.transpose(2, 0, 1)


def message(h: np.ndarray, shift: np.ndarray, p: Params) -> np.ndarray:
    """Min-sum message from cells with summed cost h (N, L, L) to their neighbours, whose offsets
    exceed theirs by ``shift`` (N, 2) as (u, v): m(l) = min(DT(h)(l + shift), min h + d), normalised.
    Beyond the label box the L1 transform grows linearly from its edge."""
    f = distance_transform(h, p.alpha)
    n = h.shape[-1]
    r = n // 2
    if shift.any():
        lab = np.arange(-r, r + 1)
        tu, tv = lab[None] + shift[:, :1], lab[None] + shift[:, 1:]  # (N, L) targets per axis
        cu, cv = np.clip(tu, -r, r), np.clip(tv, -r, r)
        rows = np.arange(len(h))[:, None, None]
        f = f[rows, cv[:, :, None] + r, cu[:, None, :] + r]
        f += p.alpha * (np.abs(tv - cv)[:, :, None] + np.abs(tu - cu)[:, None, :])
    np.minimum(f, h.min((1, 2), keepdims=True) + p.d, out=f)
    return f - f.min((1, 2), keepdims=True)


def bp(cost: np.ndarray, offset: np.ndarray, p: Params) -> np.ndarray:
    """BP-M sweeps on the 4-connected grid. cost (h, w, L, L), offset (h, w, 2) -> beliefs (h, w, L, L).
    A sweep rightwards reads no message from the right, nor one leftwards from the left (and so for
    down and up): each pair runs in step, one batched message per step."""
    h, w = cost.shape[:2]
    # incoming messages, named by the side they come from
    left, right, up, down = (np.zeros_like(cost) for _ in range(4))
    for _ in range(p.iterations):
        for j in range(w - 1):  # column j tells column j + 1 while column k = w - 1 - j tells k - 1
            k = w - 1 - j
            s = np.concatenate([cost[:, j] + left[:, j] + up[:, j] + down[:, j],
                                cost[:, k] + right[:, k] + up[:, k] + down[:, k]])
            m = message(s, np.concatenate([offset[:, j + 1] - offset[:, j], offset[:, k - 1] - offset[:, k]]), p)
            left[:, j + 1], right[:, k - 1] = m[:h], m[h:]
        for i in range(h - 1):  # row i tells row i + 1 while row k = h - 1 - i tells k - 1
            k = h - 1 - i
            s = np.concatenate([cost[i] + up[i] + left[i] + right[i], cost[k] + down[k] + left[k] + right[k]])
            m = message(s, np.concatenate([offset[i + 1] - offset[i], offset[k - 1] - offset[k]]), p)
            up[i + 1], down[k - 1] = m[:w], m[w:]
    return cost + left + right + up + down


def decide(belief: np.ndarray, offset: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Integer field (h, w, 2) at each cell's best label, and its sub-cell refinement (float32):
    a parabola through the beliefs either side along u and along v, at most half a cell."""
    h, w, n, _ = belief.shape
    r = n // 2
    flat = belief.reshape(h, w, -1).argmin(-1)
    iv, iu = flat // n, flat % n
    field = offset + np.stack([iu - r, iv - r], -1)
    ii, jj = np.mgrid[0:h, 0:w]

    def vertex(lo: np.ndarray, mid: np.ndarray, hi: np.ndarray) -> np.ndarray:
        curv = lo - 2 * mid + hi
        return np.where(curv > 1e-6, np.clip(0.5 * (lo - hi) / np.maximum(curv, 1e-6), -0.5, 0.5), 0.0)

    b0 = belief[ii, jj, iv, iu]
    su = np.where((iu > 0) & (iu < n - 1), vertex(belief[ii, jj, iv, np.maximum(iu - 1, 0)], b0,
                                                   belief[ii, jj, iv, np.minimum(iu + 1, n - 1)]), 0.0)
    sv = np.where((iv > 0) & (iv < n - 1), vertex(belief[ii, jj, np.maximum(iv - 1, 0), iu], b0,
                                                   belief[ii, jj, np.minimum(iv + 1, n - 1), iu]), 0.0)
    return field, (field + np.stack([su, sv], -1)).astype(np.float32)


def energies(a: np.ndarray, b: np.ndarray, field: np.ndarray, p: Params) -> tuple[dict[str, float], np.ndarray]:
    """The three terms of E at an integer field (h, w, 2), and E cell by cell (h, w) float32, each
    smoothness term counted at the cell left of or above its pair: over all cells it sums to E."""
    terms = cell_terms(a, b, field, p)
    data, smooth, disp = (float(t.sum()) for t in terms)
    return ({"data": data, "smoothness": smooth, "displacement": disp, "total": data + smooth + disp},
            sum(terms).astype(np.float32))


def cell_terms(a: np.ndarray, b: np.ndarray, field: np.ndarray, p: Params) -> tuple[np.ndarray, ...]:
    """The data, smoothness and displacement terms of E at each cell, (h, w) each."""
    h, w, _ = a.shape
    ii, jj = np.mgrid[0:h, 0:w]
    y, x = ii + field[..., 1], jj + field[..., 0]
    inside = (y >= 0) & (y < h) & (x >= 0) & (x < w)
    sim = np.einsum("hwd,hwd->hw", a, b[np.clip(y, 0, h - 1), np.clip(x, 0, w - 1)])
    data = np.where(inside, np.sqrt(np.clip(2 - 2 * sim, 0, None)), OUTSIDE_COST)
    smooth = np.zeros((h, w))
    smooth[:-1] += np.minimum(p.alpha * np.abs(np.diff(field, axis=0)).sum(-1), p.d)
    smooth[:, :-1] += np.minimum(p.alpha * np.abs(np.diff(field, axis=1)).sum(-1), p.d)
    return data, smooth, p.eta * np.abs(field).sum(-1)


def solve(a: np.ndarray, b: np.ndarray, p: Params) -> tuple[np.ndarray, dict[str, float], int, np.ndarray]:
    """Displacement field in cells (h, w, 2) float32 of b's features (h, w, D) against a's (same
    shape), its energy terms, the number of pyramid levels used and its energy cell by cell
    (``energies``). With ``supersample`` s the field is on a grid 2^s times denser,
    (2^s (h - 1) + 1, 2^s (w - 1) + 1, 2), in its cells."""
    pyramid = [(a, b)]
    for _ in range(p.supersample):
        pyramid.insert(0, (upsample(pyramid[0][0]), upsample(pyramid[0][1])))
    while min(pyramid[-1][0].shape[:2]) // 2 >= p.min_side:
        pyramid.append((pool(pyramid[-1][0]), pool(pyramid[-1][1])))
    field = np.zeros(pyramid[-1][0].shape[:2] + (2,), np.int64)
    fine = field.astype(np.float32)
    for level, (fa, fb) in enumerate(reversed(pyramid)):
        if level:
            h, w = fa.shape[:2]
            up = cv2.resize((2.0 * fine).astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
            field = np.rint(up).astype(np.int64)
        r = p.radius if level == 0 else p.window
        belief = bp(data_cost(fa, fb, field, r, p.eta), field, p)
        field, fine = decide(belief, field)
    terms, cost = energies(*pyramid[0], field, p)
    return fine, terms, len(pyramid), cost


def align(fa: FeatureMap, fb: FeatureMap, p: Params | None = None) -> Alignment:
    """Align b to a: for every cell of a, where its content lies in b (see the module docstring)."""
    p = p or Params()
    a, b, step_b = onto_grid_of(fa, fb)
    cells, terms, levels, cost = solve(a, b, p)
    flow = np.empty_like(cells)
    h, w, _ = cells.shape
    jj, ii = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    k = 2.0 ** -p.supersample
    step_a, step_b = k * fa.stride / fa.scale, (k * step_b[0], k * step_b[1])
    flow[..., 0] = (jj + cells[..., 0]) * step_b[0] - jj * step_a
    flow[..., 1] = (ii + cells[..., 1]) * step_b[1] - ii * step_a
    return Alignment(flow, (step_a, step_a), terms, levels, cost)


def through(al: Alignment, h: np.ndarray) -> Alignment:
    """The field of ``al`` with its positions taken through the homography ``h`` (3, 3): for a
    field found in a copy of b made by warping b with h^-1, the field into b itself."""
    rows, cols, _ = al.flow.shape
    grid = cell_centres(rows, cols, al.step)
    moved = project(h, grid + al.flow.reshape(-1, 2))
    return Alignment((moved - grid).reshape(rows, cols, 2).astype(np.float32), al.step, al.energy, al.levels, al.cost)


def seen_in(al: Alignment, h: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(rows, cols) bool: the cells of ``al``'s grid of a that the homography ``h`` (3, 3; a's
    pixels -> b's) takes inside b, of ``size`` (width, height)."""
    rows, cols, _ = al.flow.shape
    return within(project(h, cell_centres(rows, cols, al.step)), *size).reshape(rows, cols)


def cell_centres(rows: int, cols: int, step: tuple[float, float]) -> np.ndarray:
    """(rows * cols, 2) float64, row by row: the pixels of a grid's cells, (j * step_x, i * step_y)."""
    jj, ii = np.meshgrid(np.arange(cols, dtype=np.float64), np.arange(rows, dtype=np.float64))
    return np.stack([jj * step[0], ii * step[1]], -1).reshape(-1, 2)


def share_covered(h: np.ndarray, size: tuple[int, int], frame: tuple[int, int]) -> float:
    """The share of a ``frame`` (width, height) that an image of ``size`` (width, height) brought
    onto it by ``h`` (3, 3; the image's pixels -> the frame's) covers, clipped to the frame; 1
    where ``h`` sends part of the image beyond the horizon."""
    (w, hh), (fw, fh) = size, frame
    corners = np.c_[np.array([[0, 0], [w, 0], [w, hh], [0, hh]], np.float64), np.ones(4)] @ h.T
    if (corners[:, 2] <= 1e-9).any():
        return 1.0
    quad = (corners[:, :2] / corners[:, 2:]).astype(np.float32)
    box = np.array([[0, 0], [fw, 0], [fw, fh], [0, fh]], np.float32)
    area, _ = cv2.intersectConvexConvex(quad, box)
    return float(area) / (fw * fh)


def back_in_frame_of_a(fb: FeatureMap, fwb: FeatureMap, fa: FeatureMap, h: np.ndarray, p: Params) -> Alignment:
    """a aligned to b (for every cell of b, where its content lies in a), solved in a's frame: b's
    copy brought onto a (``fwb``, made with ``h``: b's pixels -> a's) aligned to a, and read at
    each cell of b taken through ``h``. For an object that fills a and a small part of b, a's
    copy brought onto b would be a small island in a blank frame, where the MRF loses the field
    (its round trips missed right points by 13-175 px: an object at half scale in clutter, the
    cube moved by hand); b's copy fills a's frame."""
    al = align(fwb, fa, p)
    rows, cols = fb.features.shape[1:]
    px = fb.stride / fb.scale
    grid = cell_centres(rows, cols, (px, px))
    back = al.at(np.nan_to_num(project(h, grid), nan=-1.0, posinf=-1.0, neginf=-1.0).astype(np.float32))
    return Alignment((back - grid).reshape(rows, cols, 2).astype(np.float32), (px, px), al.energy, al.levels)


def warp(image_b: np.ndarray, al: Alignment, width_a: int, height_a: int,
         to_sent: np.ndarray | None = None) -> np.ndarray:
    """Image b resampled into a's frame (height_a, width_a[, C]): the field is interpolated to
    every pixel of a, then b is sampled there (bilinear; outside b is black). ``to_sent``: the
    (3, 3) map from ``image_b``'s pixels to b's as sent, when it was decoded smaller."""
    h, w, _ = al.flow.shape
    xs = np.arange(width_a, dtype=np.float32)
    ys = np.arange(height_a, dtype=np.float32)
    gx = np.broadcast_to(np.clip(xs / al.step[0], 0, w - 1), (height_a, width_a)).astype(np.float32)
    gy = np.broadcast_to(np.clip(ys[:, None] / al.step[1], 0, h - 1), (height_a, width_a)).astype(np.float32)
    full = cv2.remap(al.flow, gx, gy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    mx = (full[..., 0] + xs[None]).astype(np.float32)
    my = (full[..., 1] + ys[:, None]).astype(np.float32)
    if to_sent is not None:  # sent pixels -> image_b's
        back = np.linalg.inv(to_sent)
        mx, my = (mx * back[0, 0] + back[0, 2]).astype(np.float32), (my * back[1, 1] + back[1, 2]).astype(np.float32)
    return cv2.remap(image_b, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def params_dict(p: Params) -> dict[str, float]:
    return {k: float(v) for k, v in asdict(p).items()}


def explains(al: Alignment, xy_a: np.ndarray, xy_b: np.ndarray, tol_px: float) -> np.ndarray:
    """(M,) bool: the matches (``xy_a``, ``xy_b`` (M, 2) in a and b) that the field puts within
    ``tol_px`` of where they lie in b."""
    if not len(xy_a):
        return np.zeros(0, bool)
    return np.linalg.norm(al.at(np.asarray(xy_a, np.float32)) - xy_b, axis=1) < tol_px


def transfer(fa: FeatureMap, fb: FeatureMap, forward: Alignment, backward: Alignment, points: np.ndarray,
             cycle_tol_px: float) -> Transfer:
    """Points of a (K, 2) carried to b along ``forward`` (b aligned to a) and back along
    ``backward`` (a aligned to b): consistent where they come back within the tolerance (at
    least a feature cell)."""
    xy_b = forward.at(points)
    score = np.einsum("kd,kd->k", bilinear(fa, points), bilinear(fb, xy_b)).clip(-1.0, 1.0)
    err = np.linalg.norm(backward.at(xy_b) - points, axis=1).astype(np.float32)
    tol = max(cycle_tol_px, fa.stride / fa.scale)
    return Transfer(xy_b, score.astype(np.float32), err, err <= tol, "align")
