"""Universal Correspondence Network (Choy, Gwak, Savarese & Chandraker, NIPS 2016), sized for a CPU.

A fully convolutional network maps a grey image (B, 1, H, W) in [0, 1] to L2-normalised dense
features (B, D, H/4, W/4) whose Euclidean distances form a metric space: corresponding points are
close, others at least a margin apart. The convolutional spatial transformer predicts a local
affine transform at every location and samples the features of a k x k neighbourhood through it,
then a k x k convolution with stride k pools the normalised neighbourhood (the paper's patch
normalisation), which makes the features invariant to local rotation, scale and shear.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

STRIDE = 4


def conv(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class ConvSpatialTransformer(nn.Module):
    """Per-location affine sampling of a k x k neighbourhood, then a k x k stride-k convolution.
    (B, C, h, w) -> (B, C_out, h, w)."""

    def __init__(self, channels: int, out: int, k: int = 3):
        super().__init__()
        self.k = k
        self.theta = nn.Conv2d(channels, 4, 3, 1, 1)  # 2x2 affine per location, around the identity
        nn.init.zeros_(self.theta.weight)
        nn.init.zeros_(self.theta.bias)
        self.pool = nn.Conv2d(channels, out, k, k)
        offsets = torch.arange(k, dtype=torch.float32) - (k - 1) / 2
        oy, ox = torch.meshgrid(offsets, offsets, indexing="ij")
        self.register_buffer("offsets", torch.stack([ox, oy], dim=-1).reshape(1, 1, 1, k * k, 2), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        a = self.theta(x).permute(0, 2, 3, 1).reshape(b, h, w, 1, 2, 2) + torch.eye(2, device=x.device)
        # neighbourhood offsets in feature-grid cells, transformed: (B, h, w, k*k, 2)
        d = (a @ self.offsets.unsqueeze(-1).expand(b, h, w, self.k * self.k, 2, 1)).squeeze(-1)
        ys = torch.arange(h, dtype=x.dtype, device=x.device).view(1, h, 1, 1)
        xs = torch.arange(w, dtype=x.dtype, device=x.device).view(1, 1, w, 1)
        gx = (xs + d[..., 0]) * (2.0 / max(w - 1, 1)) - 1.0
        gy = (ys + d[..., 1]) * (2.0 / max(h - 1, 1)) - 1.0
        # lay the k*k samples of each location out as a k x k tile: grid (B, h*k, w*k, 2)
        grid = torch.stack([gx, gy], dim=-1).reshape(b, h, w, self.k, self.k, 2)
        grid = grid.permute(0, 1, 3, 2, 4, 5).reshape(b, h * self.k, w * self.k, 2)
        tiles = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=True)
        return self.pool(tiles)


class UCN(nn.Module):
    """(B, 1, H, W) in [0, 1] -> (B, D, ceil(H/4), ceil(W/4)) unit-length features.
    Feature (i, j) is centred on image pixel (4j, 4i): each stride-2 convolution (kernel 3,
    padding 1) centres its output k on input 2k."""

    stride = STRIDE

    def __init__(self, dim: int = 32, width: int = 32):
        super().__init__()
        c = width
        # no full-resolution layer: the first convolution already strides, which keeps a
        # 640x480 forward pass to a fraction of a second on one CPU core
        self.trunk = nn.Sequential(conv(1, c, 2), conv(c, c), conv(c, 2 * c, 2), conv(2 * c, 2 * c),
                                   conv(2 * c, 4 * c), conv(4 * c, 4 * c))
        self.cst = ConvSpatialTransformer(4 * c, 4 * c)
        # normalised before its ReLU like every other layer: the transformer's pooling sums
        # non-negative inputs, so without it a unit whose weights sum below zero never fires
        # (two in five at initialisation)
        self.head = nn.Sequential(nn.BatchNorm2d(4 * c), nn.ReLU(inplace=True), nn.Conv2d(4 * c, dim, 1))
        self.dim = dim

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        x = image - image.mean(dim=(2, 3), keepdim=True)
        x = x / (x.std(dim=(2, 3), keepdim=True) + 1e-3)
        f = self.head(self.cst(self.trunk(x)))
        return F.normalize(f, dim=1)


def grid_to_pixels(ij: torch.Tensor) -> torch.Tensor:
    """Feature-grid coordinates (..., 2) as (x, y) -> image pixel coordinates (x, y)."""
    return ij * STRIDE


def pixels_to_grid(xy: torch.Tensor) -> torch.Tensor:
    """Image pixel coordinates (x, y) -> continuous feature-grid coordinates (x, y)."""
    return xy / STRIDE
