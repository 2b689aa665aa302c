"""Neighbourhood consensus for dense matches: a match is kept only when the matches around it in
image a agree with it, and its position in b is pulled towards what they predict.

Around every match, the other matches within ``radius`` cells of it in a (at most ``neighbours``)
are fitted with a local affine map a -> b by reweighted least squares: two rounds keep the better
half of the neighbours, then each round drops those whose residual exceeds the next of ``cuts``
(in cells of b), so wrong neighbours cannot drag the fit. A match survives when at least
``min_support`` neighbours fit and the fit puts it within ``tolerance`` cells of where it was
found. Its position in b then moves ``pull`` of the way to the fit's prediction, which averages
out the grid's quantisation (features exist only every ``stride`` pixels).

Correct matches of a smooth surface agree with their neighbours; wrong ones (repeated texture,
flat regions) rarely do, so the filter raises precision without a global model, and unlike
RANSAC it keeps scenes with depth. Defaults were chosen on pairs of the training photos.

Each match's fit is its own: blocks of matches are fitted on every core (``threads.by_blocks``).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from service.threads import by_blocks

BLOCK = 2048  # matches fitted at a time: their (BLOCK, k, 3) arrays stay in cache (all at once took 8x as long)


@dataclass(frozen=True)
class Consensus:
    radius: float = 12.0  # cells of a
    neighbours: int = 48
    cuts: tuple[float, ...] = (4.0, 2.0, 1.0, 0.5)  # cells of b, one per reweighting round
    tolerance: float = 0.75  # cells of b
    min_support: int = 8
    pull: float = 0.5


def local_fit(xa: np.ndarray, xb: np.ndarray, radius: float, cuts: tuple[float, ...],
              neighbours: int) -> tuple[np.ndarray, np.ndarray]:
    """For each match (xa (M, 2) -> xb (M, 2)), the affine map fitted to its neighbours (itself
    left out): (offset (M, 2) from xb to the fit's prediction, support (M,) neighbours fitted)."""
    m = len(xa)
    if m < 2 or not cuts:
        return np.zeros((m, 2)), np.zeros(m)
    dist, nb = cKDTree(xa).query(xa, k=min(neighbours + 1, m), distance_upper_bound=radius, workers=-1)
    valid = np.isfinite(dist)
    valid[:, 0] = False  # the match itself (distance 0 comes first)
    nb = np.where(valid, nb, 0)
    design = np.concatenate([xa[nb] - xa[:, None], np.ones(nb.shape + (1,))], -1)  # (M, k, 3)
    target = xb[nb] - xb[:, None]  # (M, k, 2), relative to the match itself
    fits = by_blocks(lambda b: fitted(design[b], target[b], valid[b], cuts), m, BLOCK)
    return np.concatenate([f[0] for f in fits]), np.concatenate([f[1] for f in fits])


def fitted(design: np.ndarray, target: np.ndarray, valid: np.ndarray,
           cuts: tuple[float, ...]) -> tuple[np.ndarray, np.ndarray]:
    """The reweighted fits of a block of matches: design (B, k, 3), target (B, k, 2), valid (B, k)
    -> (offset (B, 2), support (B,)); see ``local_fit``."""
    m = len(design)
    weight = valid.astype(np.float64)
    params = np.zeros((m, 3, 2))
    # two rounds keep the better half of the neighbours (least trimmed squares' concentration
    # steps, which a third of wrong matches cannot capture), then the fixed cuts
    for cut in (None, None, *cuts):
        dw = (design * weight[..., None]).transpose(0, 2, 1)  # (B, 3, k)
        params = np.linalg.solve(dw @ design + 1e-6 * np.eye(3), dw @ target)  # (B, 3, 2)
        r = design @ params - target
        residual = np.sqrt(r[..., 0] ** 2 + r[..., 1] ** 2)  # norm(axis=-1), without its overhead on pairs
        if cut is None:  # each match's median neighbour residual (inf without neighbours)
            ranked = np.sort(np.where(valid, residual, np.inf), axis=1)
            cut = ranked[np.arange(m), np.maximum(valid.sum(1) - 1, 0) // 2][:, None]
        weight = (valid & (residual <= cut)).astype(np.float64)
    return params[:, 2], weight.sum(1)


def select(xa: np.ndarray, xb: np.ndarray, cell_a: float, cell_b: float,
           c: Consensus = Consensus()) -> tuple[np.ndarray, np.ndarray]:
    """(keep (M,) bool, xb (M, 2) pulled towards the local fit). ``cell_a`` and ``cell_b`` are
    the size of a feature cell in pixels of each image as sent (stride / scale)."""
    xa, xb = np.asarray(xa, np.float64).reshape(-1, 2), np.asarray(xb, np.float64).reshape(-1, 2)
    offset, support = local_fit(xa / cell_a, xb / cell_b, c.radius, c.cuts, c.neighbours)
    keep = (support >= c.min_support) & (np.linalg.norm(offset, axis=1) < c.tolerance)
    return keep, (xb + c.pull * offset * cell_b).astype(np.float32)
