"""Reader for the UBC / Brown "Phototour" patch datasets (Liberty, Notre Dame, Yosemite), so users
who have them can train and evaluate on them unchanged.

Layout of one dataset folder:
- ``patchNNNN.bmp``: 1024x1024 grey images, each a 16x16 grid of 64x64 patches, row-major;
- ``info.txt``: one line per patch, ``<3D point id> <unused>``;
- ``m50_<N>_<N>_0.txt``: evaluation pairs, one per line,
  ``<patch a> <point a> <unused> <patch b> <point b> <unused> <unused>``; a pair matches when the
  two point ids are equal.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from models.data.synth import PATCH, PatchSet

GRID = 16


def read_patches(folder: Path, count: int) -> np.ndarray:
    """The first ``count`` patches of the folder's .bmp grids: (count, 64, 64) uint8."""
    out = np.empty((count, PATCH, PATCH), np.uint8)
    files = sorted(folder.glob("patch*.bmp"))
    per = GRID * GRID
    for k, f in enumerate(files):
        if k * per >= count:
            break
        grid = np.asarray(Image.open(f).convert("L"))
        tiles = grid.reshape(GRID, PATCH, GRID, PATCH).swapaxes(1, 2).reshape(per, PATCH, PATCH)
        n = min(per, count - k * per)
        out[k * per:k * per + n] = tiles[:n]
    return out


def load(folder: str | Path, pairs_file: str | None = None) -> PatchSet:
    """A Phototour dataset as a PatchSet. With ``pairs_file`` (an m50 file name), pos and neg are
    that file's pairs; otherwise pos holds consecutive views of each point and neg is empty
    (training samples its negatives at random)."""
    folder = Path(folder)
    point = np.loadtxt(folder / "info.txt", dtype=np.int64, usecols=0, ndmin=1)
    patches = read_patches(folder, len(point))
    if pairs_file:
        m = np.loadtxt(folder / pairs_file, dtype=np.int64, ndmin=2)
        same = m[:, 1] == m[:, 4]
        return PatchSet(patches, point, m[same][:, [0, 3]], m[~same][:, [0, 3]])
    same = np.flatnonzero(point[1:] == point[:-1])
    return PatchSet(patches, point, np.stack([same, same + 1], axis=1), np.zeros((0, 2), np.int64))
