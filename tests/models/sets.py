"""Small patch sets written for the training tests."""
import numpy as np

from models.data.synth import PatchSet


def tiny_set(path, n: int = 20) -> str:
    """n positive pairs of random 64x64 patches (2n patches), each pair's negative the next one's
    second view; written to ``path``."""
    rng = np.random.default_rng(0)
    patches = rng.integers(0, 255, (2 * n, 64, 64), np.uint8)
    pos = np.stack([np.arange(0, 2 * n, 2), np.arange(1, 2 * n, 2)], 1)
    PatchSet(patches, np.repeat(np.arange(n), 2), pos, np.stack([pos[:-1, 0], pos[1:, 1]], 1)).save(path)
    return str(path)
