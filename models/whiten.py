"""A linear map appended to a trained L2 descriptor network: its descriptors centred, projected
on their ``dims`` principal directions and whitened (each direction divided by its standard
deviation raised to ``2 * power``: 0.5 whitens fully, 0 only projects), then normalised to unit
length again. Fitted on patches of the network's training set, never on evaluation data.

The central-surround descriptor's 768 numbers are strongly correlated: a few directions carry
most of the variance, so nearest neighbours are decided by what every patch has in common. Evened
out, the rarer directions that tell look-alikes apart (letters of a text, a facade's windows) count
as much; and matching and the feature cache handle a third of the numbers (256 of 768). How the
dims and power were chosen, and what whitening costs on patches far off target: docs/defaults.md.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

BATCH = 512


@torch.no_grad()
def describe_all(net: nn.Module, patches: np.ndarray) -> np.ndarray:
    """Descriptors (N, D) float64 of uint8 patches (N, 64, 64), in batches."""
    out = [net.describe(torch.from_numpy(patches[i:i + BATCH, None].astype(np.float32) / 255.0))
           for i in range(0, len(patches), BATCH)]
    return torch.cat(out).double().numpy()


def require_l2(net: nn.Module) -> None:
    """Refuse a network whose descriptors are not unit vectors compared by distance (an L2 siamese
    network with shared weights): the map is fitted on, and renormalises, such descriptors."""
    if not (net.siamese and net.shared and net.l2):
        raise ValueError("whitening is for L2 descriptor networks")


def fit(descriptors: np.ndarray, dims: int, power: float) -> tuple[np.ndarray, np.ndarray, float]:
    """(mean (D,), projection (D, dims), the share of the variance the dims keep) of descriptors
    (N, D): principal directions, largest first, each scaled by its variance ** -power."""
    if not 0 < dims <= descriptors.shape[1]:
        raise ValueError(f"dims must be 1 to {descriptors.shape[1]}, not {dims}")
    mean = descriptors.mean(0)
    var, vec = np.linalg.eigh(np.cov((descriptors - mean).T))
    var, vec = np.clip(var[::-1], 1e-12, None), vec[:, ::-1]  # largest first
    return mean, vec[:, :dims] * var[:dims] ** -power, float(var[:dims].sum() / var.sum())


class Whitened(nn.Module):
    """An L2 siamese network whose descriptors pass through ``fit``'s map; the decision (the
    negative distance of unit descriptors) is the network's own."""

    def __init__(self, net: nn.Module, mean: np.ndarray, projection: np.ndarray):
        super().__init__()
        require_l2(net)
        self.net = net
        self.register_buffer("mean", torch.from_numpy(mean).float())
        self.register_buffer("projection", torch.from_numpy(np.ascontiguousarray(projection)).float())
        self.siamese, self.shared, self.spp, self.l2 = net.siamese, net.shared, net.spp, True
        self.dim = projection.shape[1]

    def describe(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize((self.net.describe(x) - self.mean) @ self.projection, dim=1)

    def decide(self, da: torch.Tensor, db: torch.Tensor) -> torch.Tensor:
        return self.net.decide(da, db)
