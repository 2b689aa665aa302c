"""Readers of the benchmark layouts users own: HPatches-style sequences, Middlebury-style stereo."""
import cv2
import numpy as np

from eval import benchmarks


def test_pfm_reader_flips_rows_and_keeps_infinities(tmp_path):
    disp = np.arange(12, dtype=np.float32).reshape(3, 4)
    disp[0, 0] = np.inf
    with open(tmp_path / "d.pfm", "wb") as f:
        f.write(b"Pf\n4 3\n-1.0\n")
        f.write(np.flipud(disp).astype("<f4").tobytes())  # PFM stores the bottom row first
    np.testing.assert_array_equal(benchmarks.read_pfm(tmp_path / "d.pfm"), disp)


def test_hpatches_sequence(tmp_path, coffee):
    h = np.array([[1.0, 0.05, 10.0], [0.0, 1.0, 5.0], [0.0, 0.0, 1.0]])
    colour = cv2.cvtColor(coffee, cv2.COLOR_GRAY2BGR)  # HPatches ships colour .ppm files
    cv2.imwrite(str(tmp_path / "1.ppm"), colour)
    cv2.imwrite(str(tmp_path / "2.ppm"), cv2.warpPerspective(colour, h, coffee.shape[::-1]))
    np.savetxt(tmp_path / "H_1_2", h)
    pairs = list(benchmarks.hpatches(tmp_path))
    assert len(pairs) == 1 and pairs[0].b.shape == coffee.shape
    out, ok = pairs[0].gt(np.array([[100.0, 100.0], [599.0, 399.0]]))
    np.testing.assert_allclose(out[0], [115.0, 105.0])
    assert ok.tolist() == [True, False]  # the second lands outside image b


def test_middlebury_folder_with_pfm_and_png(tmp_path, coffee):
    disp = np.full(coffee.shape, 20.0, np.float32)
    disp[:10] = np.inf
    cv2.imwrite(str(tmp_path / "im0.png"), coffee)
    cv2.imwrite(str(tmp_path / "im1.png"), coffee)
    with open(tmp_path / "disp0GT.pfm", "wb") as f:
        f.write(f"Pf\n{coffee.shape[1]} {coffee.shape[0]}\n-1.0\n".encode())
        f.write(np.flipud(disp).astype("<f4").tobytes())
    pair = next(benchmarks.middlebury(tmp_path))
    out, ok = pair.gt(np.array([[100.0, 50.0], [100.0, 5.0]]))
    np.testing.assert_allclose(out[0], [80.0, 50.0])
    assert ok.tolist() == [True, False]
    (tmp_path / "disp0GT.pfm").unlink()
    cv2.imwrite(str(tmp_path / "disp0.png"), (np.where(np.isinf(disp), 0, disp) * 4).astype(np.uint16))
    out, ok = next(benchmarks.middlebury(tmp_path, png_scale=4.0)).gt(np.array([[100.0, 50.0], [100.0, 5.0]]))
    np.testing.assert_allclose(out[0], [80.0, 50.0])
    assert ok.tolist() == [True, False]
