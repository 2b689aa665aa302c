"""Training objectives of the patch networks (Zagoruyko & Komodakis 2015, eq. 1).

min_w  lambda/2 * ||w||^2 + sum_i max(0, 1 - y_i * o_i),   y_i in {-1, +1}

The loss here is the hinge term; the L2 regularisation is the optimiser's weight decay
(``models.training.optimiser``: decoupled under AdamW, the exact L2 gradient under SGD), never a
term of the loss, which Adam would turn into steps that kill unused units.

For the L2 networks (siam-l2, siam-2stream-l2) the score is o = -d with d the distance of unit
descriptors; the hinge is applied to ``margin - d`` so positives are pulled below the margin and
negatives pushed above it, which is the hinge-embedding form of the same loss.
"""
from __future__ import annotations

import torch
from torch import nn


def hinge(scores: torch.Tensor, labels: torch.Tensor, pos_weight: float = 1.0) -> torch.Tensor:
    """Mean hinge loss, the positives' terms weighted by ``pos_weight``. scores (B,), labels (B,)
    in {-1, +1} -> scalar."""
    return (torch.clamp(1.0 - labels * scores, min=0.0) * torch.where(labels > 0, pos_weight, 1.0)).mean()


def patch_loss(model: nn.Module, scores: torch.Tensor, labels: torch.Tensor,
               margin: float = 0.7, pos_weight: float = 1.0) -> torch.Tensor:
    """The hinge loss of a batch's scores. For L2 networks ``scores`` are negative distances in
    [-2, 0] and the hinge acts on (margin - distance) scaled to unit width."""
    if getattr(model, "l2", False):
        scores = (scores + margin) * 4.0
    return hinge(scores, labels, pos_weight)
