"""The patch-comparison networks of Zagoruyko & Komodakis, "Learning to Compare Image Patches via
Convolutional Neural Networks" (CVPR 2015), in one file.

Every network takes a pair of grey patches as a (B, 2, H, W) float tensor with values in [0, 1]
(channel 0 = patch a, channel 1 = patch b; H = W = 64 except for SPP networks, which take any size
of at least 32) and returns a (B,) score: higher means more similar. Each patch is standardised
(zero mean, unit variance) inside the network, so a gain change of the image costs nothing.

Siamese-family networks also expose ``describe`` ((B, 1, H, W) -> (B, D)) and ``decide``
((B, D), (B, D) -> (B,)), so a service can compute each patch's descriptor once and compare many
pairs cheaply. Channel widths are the paper's times ``width`` (default 0.5, to train on a CPU).

Unlike the paper, every convolution and hidden layer is batch-normalised before its ReLU: without
it, trained with AdamW and a warm-up, siam-2stream-l2 silenced half of its central stream's units
within 1000 steps (a unit that differs between the views of a point is cheapest switched off) and
2ch-2stream a fifth of its decision layer's within 3000, climbing. The normalisation folds into
the convolutions at export, so it costs nothing when served.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

PATCH = 64
WIDTH = 0.5  # channel widths times the paper's, unless a network says otherwise
SPP_MIN = 36  # smallest side an SPP network accepts: its last conv needs a 5x5 input


def standardise(x: torch.Tensor, eps: float = 1e-3) -> torch.Tensor:
    """Per-patch, per-channel zero mean and unit variance. (B, C, H, W) -> (B, C, H, W)."""
    mean = x.mean(dim=(2, 3), keepdim=True)
    std = x.std(dim=(2, 3), keepdim=True)
    return (x - mean) / (std + eps)


def conv(cin: int, cout: int, k: int, stride: int = 1, norm: bool = False, relu: bool = True) -> nn.Sequential:
    """C(cout, k, stride) followed by a ReLU, the paper's building block; with ``norm``, batch
    normalisation between them (the siamese family's, see ``Siamese``); without ``relu``, linear."""
    return nn.Sequential(nn.Conv2d(cin, cout, k, stride), *([nn.BatchNorm2d(cout)] if norm else []),
                         *([nn.ReLU(inplace=True)] if relu else []))


def w(channels: int, width: float) -> int:
    return max(8, int(round(channels * width)))


def central_surround(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Split (B, C, 64, 64) into the 32x32 centre at full resolution and the whole patch
    downsampled by 2 (the surround), both (B, C, 32, 32)."""
    c = x.shape[-1] // 4
    return x[..., c:3 * c, c:3 * c], F.avg_pool2d(x, 2)


class SPP(nn.Module):
    """Spatial pyramid pooling: max over a 1x1, 2x2 and 4x4 grid of bins, for any input size.
    (B, C, H, W) -> (B, C * 21)."""

    levels = (1, 2, 4)

    @staticmethod
    def level(x: torch.Tensor, n: int) -> torch.Tensor:
        """Max over an n x n grid with adaptive pooling's bins ([floor(iH/n), ceil((i+1)H/n))),
        written with slices so that ONNX export keeps H and W dynamic. -> (B, C * n * n)."""
        h, w = x.shape[-2], x.shape[-1]
        bins = [x[..., (i * h) // n:((i + 1) * h + n - 1) // n, (j * w) // n:((j + 1) * w + n - 1) // n]
                .amax(dim=(-2, -1)) for i in range(n) for j in range(n)]
        return torch.stack(bins, dim=-1).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.level(x, n) for n in self.levels], dim=1)


def branch(cin: int, width: float, spp: bool = False, norm: bool = False) -> nn.Sequential:
    """The siamese / 2ch trunk: C(96,7,3)-P(2,2)-C(192,5,1)-P(2,2)-C(256,3,1).
    (B, cin, 64, 64) -> (B, 256w); with ``spp`` the last pooling is an SPP layer instead, and the
    output is (B, 192w * 21) for any input size. ``norm``: see ``conv``."""
    layers = [conv(cin, w(96, width), 7, 3, norm), nn.MaxPool2d(2, 2), conv(w(96, width), w(192, width), 5, 1, norm)]
    if spp:
        return nn.Sequential(*layers, SPP())
    return nn.Sequential(*layers, nn.MaxPool2d(2, 2), conv(w(192, width), w(256, width), 3, 1, norm), nn.Flatten())


def stream(cin: int, width: float, norm: bool = False, linear_end: bool = False, strided: bool = False
           ) -> nn.Sequential:
    """One stream of the central-surround networks:
    C(96,5,1)-P(2,2)-C(96,3,1)-P(2,2)-C(192,3,1)-C(192,3,1). (B, cin, 32, 32) -> (B, 768w).
    ``norm``: see ``conv``; with ``linear_end`` the last convolution has no ReLU (for
    descriptors that are normalised next: see ``Siamese``); ``strided``: the first convolution
    C(96,5,2) takes its pooling's place (32 -> 14 either way), a quarter of its work and none of the
    pooling's, the same output shape."""
    c1, c2 = w(96, width), w(192, width)
    first = [conv(cin, c1, 5, 2, norm)] if strided else [conv(cin, c1, 5, 1, norm), nn.MaxPool2d(2, 2)]
    return nn.Sequential(
        *first, conv(c1, c1, 3, 1, norm), nn.MaxPool2d(2, 2),
        conv(c1, c2, 3, 1, norm), conv(c2, c2, 3, 1, norm and not linear_end, not linear_end), nn.Flatten())


def decision(dim: int, hidden: int) -> nn.Sequential:
    """The decision network: two fully connected layers separated by a (batch-normalised) ReLU.
    (B, dim) -> (B,)."""
    return nn.Sequential(nn.Linear(dim, hidden), nn.BatchNorm1d(hidden), nn.ReLU(inplace=True), nn.Linear(hidden, 1),
                         nn.Flatten(0))


class PatchNet(nn.Module):
    """Common face of all patch networks: (B, 2, H, W) in [0, 1] -> (B,) score."""

    siamese = False
    l2 = False
    spp = False


class TwoChannel(PatchNet):
    """2ch: both patches as the two channels of one image, (B, 2, 64, 64) -> (B,)."""

    def __init__(self, width: float = 0.5, spp: bool = False):
        super().__init__()
        self.spp = spp
        self.trunk = branch(2, width, spp, norm=True)
        dim = w(192, width) * 21 if spp else w(256, width)
        self.head = decision(dim, w(256, width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.trunk(standardise(x)))


class TwoChannelDeep(PatchNet):
    """2ch-deep: C(96,4,3), three C(96,3,1), P(2,2), three C(192,3,1), then the decision network.
    (B, 2, 64, 64) -> (B,)."""

    def __init__(self, width: float = 0.5):
        super().__init__()
        c1, c2 = w(96, width), w(192, width)
        self.trunk = nn.Sequential(
            conv(2, c1, 4, 3, True), conv(c1, c1, 3, 1, True), conv(c1, c1, 3, 1, True),
            conv(c1, c1, 3, 1, True), nn.MaxPool2d(2, 2), conv(c1, c2, 3, 1, True), conv(c2, c2, 3, 1, True),
            conv(c2, c2, 3, 1, True), nn.Flatten())
        self.head = decision(c2, w(256, width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.trunk(standardise(x)))


class TwoChannel2Stream(PatchNet):
    """2ch-2stream: a central and a surround stream, each on the two-channel pair.
    (B, 2, 64, 64) -> (B,)."""

    def __init__(self, width: float = 0.5):
        super().__init__()
        self.central, self.surround = stream(2, width, norm=True), stream(2, width, norm=True)
        self.head = decision(2 * w(192, width) * 4, w(768, width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c, s = central_surround(standardise(x))
        return self.head(torch.cat([self.central(c), self.surround(s)], dim=1))


class Siamese(PatchNet):
    """Siamese family: a descriptor per patch, then a decision network on the pair of descriptors
    (or, with ``l2``, the negative L2 distance of L2-normalised descriptors).

    An L2 descriptor's last convolution is linear: a ReLU right before the normalisation
    silenced 62 % of siam-2stream-l2's last layer within 400 steps.

    ``shared=False`` gives pseudo-siamese (two branches with their own weights; ``describe`` then
    takes which branch). ``two_stream`` gives the central-surround siam-2stream; ``strided``, its
    streams' first convolutions strided (see ``stream``).
    """

    siamese = True

    def __init__(self, width: float = 0.5, shared: bool = True, two_stream: bool = False,
                 l2: bool = False, spp: bool = False, strided: bool = False):
        super().__init__()
        self.shared, self.two_stream, self.l2, self.spp = shared, two_stream, l2, spp
        make = (lambda: nn.ModuleList([stream(1, width, True, l2, strided) for _ in range(2)])) if two_stream else \
            (lambda: branch(1, width, spp, True))
        self.branches = nn.ModuleList([make()] if shared else [make(), make()])
        if two_stream:
            self.dim = 2 * w(192, width) * 4
        else:
            self.dim = w(192, width) * 21 if spp else w(256, width)
        self.head = None if l2 else decision(2 * self.dim, w(512, width))

    def describe(self, x: torch.Tensor, which: int = 0) -> torch.Tensor:
        """(B, 1, H, W) in [0, 1] -> (B, D) descriptor (unit length for l2 networks)."""
        b = self.branches[which if not self.shared else 0]
        x = standardise(x)
        if self.two_stream:
            c, s = central_surround(x)
            d = torch.cat([b[0](c), b[1](s)], dim=1)
        else:
            d = b(x)
        return F.normalize(d, dim=1) if self.l2 else d

    def decide(self, da: torch.Tensor, db: torch.Tensor) -> torch.Tensor:
        """(B, D), (B, D) -> (B,) score, higher = more similar."""
        if self.l2:
            return -torch.linalg.vector_norm(da - db, dim=1)
        return self.head(torch.cat([da, db], dim=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decide(self.describe(x[:, :1], 0), self.describe(x[:, 1:], 1))


ARCHS = {
    "siam": lambda wd: Siamese(wd),
    "pseudo-siam": lambda wd: Siamese(wd, shared=False),
    "siam-l2": lambda wd: Siamese(wd, l2=True),
    "siam-2stream": lambda wd: Siamese(wd, two_stream=True),
    "siam-2stream-l2": lambda wd: Siamese(wd, two_stream=True, l2=True),
    "siam-2stream-l2-s2": lambda wd: Siamese(wd, two_stream=True, l2=True, strided=True),
    "siam-spp": lambda wd: Siamese(wd, spp=True),
    "2ch": lambda wd: TwoChannel(wd),
    "2ch-deep": lambda wd: TwoChannelDeep(wd),
    "2ch-2stream": lambda wd: TwoChannel2Stream(wd),
    "2ch-spp": lambda wd: TwoChannel(wd, spp=True),
}


def he_init(net: nn.Module) -> nn.Module:
    """He initialisation (normal, fan-in, for ReLU) of every convolution and linear layer, biases
    zero. PyTorch's default keeps a sixth of the variance a ReLU layer needs: through 2ch-deep's
    eight layers the score's spread at initialisation shrinks to 2e-4 and half of a layer's units
    never fire on real patches; with He's, every layer starts with at most 6 % silent units."""
    for m in net.modules():
        if isinstance(m, nn.Conv2d | nn.Linear):
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            nn.init.zeros_(m.bias)
    return net


def build(arch: str, width: float = WIDTH) -> PatchNet:
    """Instantiate an architecture by its paper name (see ``ARCHS``), He-initialised."""
    if arch not in ARCHS:
        raise KeyError(f"unknown architecture {arch!r}; choose from {sorted(ARCHS)}")
    return he_init(ARCHS[arch](width))
