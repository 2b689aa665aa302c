"""Correspondence contrastive loss with hard negative mining (Choy et al. 2016, eq. 1 and sec. 3.2).

L = 1/2N sum_i  s_i ||f_a(x_i) - f_b(x'_i)||^2 + (1 - s_i) max(0, m - ||f_a(x_i) - f_b(x''_i)||)^2

Positives pair a point with its ground-truth correspondence. The negative of a point is mined as
the nearest neighbour, in feature space, among all locations of the other image that lie farther
than ``exclusion`` pixels from the true correspondence: the negative the network most confuses.
``negatives="mixed"`` adds, beside each mined negative, one random location outside the exclusion
zone: from scratch, hardest negatives alone reward features that vary fast in space rather than
features that survive the warp, and the random ones keep the metric globally spread.

With ``grid_positive`` the positive term also pulls the query towards the feature of b's cell
nearest the truth, not only towards the feature sampled exactly there: matching searches cells,
and without it the features sharpened until the cells around the truth no longer looked like it
(two runs' nearest-cell accuracy fell from step 500-900 on while the loss kept falling).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from models.ucn import STRIDE, grid_to_pixels, pixels_to_grid


def sample_features(fmap: torch.Tensor, xy: torch.Tensor) -> torch.Tensor:
    """Bilinear features at pixel positions. fmap (D, h, w), xy (N, 2) pixels -> (N, D)."""
    _, h, w = fmap.shape
    g = pixels_to_grid(xy)
    norm = torch.stack([g[:, 0] * 2 / max(w - 1, 1) - 1, g[:, 1] * 2 / max(h - 1, 1) - 1], dim=-1)
    out = F.grid_sample(fmap[None], norm[None, None], mode="bilinear", align_corners=True)
    return F.normalize(out[0, :, 0].t(), dim=1)


def contrastive_hard(fa: torch.Tensor, fb: torch.Tensor, xa: torch.Tensor, xb: torch.Tensor,
                     margin: float = 1.0, exclusion: float = 2.0 * STRIDE,
                     negatives: str = "hard", grid_positive: bool = False) -> tuple[torch.Tensor, dict]:
    """fa, fb (D, h, w) features of one pair; xa, xb (N, 2) corresponding pixels.
    Returns the loss and diagnostics (mean positive / negative distance, nearest-neighbour accuracy)."""
    d, h, w = fb.shape
    qa = sample_features(fa, xa)  # (N, D)
    qb = sample_features(fb, xb)
    pos = (qa - qb).pow(2).sum(1)
    dist = torch.cdist(qa, fb.reshape(d, -1).t())  # (N, h*w)
    jj, ii = torch.meshgrid(torch.arange(w, device=fb.device), torch.arange(h, device=fb.device), indexing="xy")
    cells = grid_to_pixels(torch.stack([jj, ii], -1).reshape(-1, 2).float())  # (h*w, 2) pixels
    to_cells = torch.cdist(xb, cells)
    near = to_cells < exclusion
    if grid_positive:
        pos = 0.5 * (pos + dist.gather(1, to_cells.argmin(1, keepdim=True))[:, 0].pow(2))
    far = dist.masked_fill(near, float("inf"))
    neg = far.min(1).values
    terms = [F.relu(margin - neg).pow(2)] if negatives != "random" else []
    if negatives in ("random", "mixed"):
        pick = torch.multinomial((~near).float() + 1e-6, 1)[:, 0]
        terms.append(F.relu(margin - dist.gather(1, pick[:, None])[:, 0]).pow(2))
    loss = 0.5 * (pos.mean() + torch.stack(terms).mean())
    nn_px = cells[dist.argmin(1)]
    stats = {"pos": pos.sqrt().mean().item(), "neg": neg.mean().item(),
             "nn_acc": ((nn_px - xb).norm(dim=1) < exclusion).float().mean().item()}
    return loss, stats
