"""Reading a UBC/Brown Phototour folder."""
import numpy as np
from PIL import Image

from eval import phototour


def test_phototour_layout(tmp_path):
    rng = np.random.default_rng(0)
    tiles = rng.integers(0, 255, (300, 64, 64), np.uint8)
    for k in range(2):
        grid = np.zeros((256, 64, 64), np.uint8)
        part = tiles[k * 256:(k + 1) * 256]
        grid[:len(part)] = part
        Image.fromarray(grid.reshape(16, 16, 64, 64).swapaxes(1, 2).reshape(1024, 1024)).save(
            tmp_path / f"patch{k:04d}.bmp")
    point = np.repeat(np.arange(150), 2)
    np.savetxt(tmp_path / "info.txt", np.c_[point, np.zeros(300)], fmt="%d")
    (tmp_path / "m50_2_2_0.txt").write_text("10 5 0 11 5 0 0\n10 5 0 299 149 0 0\n")
    ps = phototour.load(tmp_path, "m50_2_2_0.txt")
    assert np.array_equal(ps.patches[257], tiles[257])
    assert ps.pos.tolist() == [[10, 11]] and ps.neg.tolist() == [[10, 299]]
    assert len(phototour.load(tmp_path).pos) == 150
