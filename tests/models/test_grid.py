import cv2
import numpy as np
import pytest

from models.data import grid


def dots(size: tuple[int, int] = (480, 640)) -> np.ndarray:
    """A printed grid of 6 x 6 black dots, 60 px apart, on white."""
    img = np.full(size, 235, np.uint8)
    for i in range(6):
        for j in range(6):
            cv2.circle(img, (170 + 60 * j, 90 + 60 * i), 18, 20, -1, cv2.LINE_AA)
    return img


def test_the_truth_is_the_homography_through_the_dots_known_on_the_grid_only(tmp_path, monkeypatch):
    h = np.array([[0.9, 0.12, 30.0], [-0.08, 1.0, 12.0], [2e-4, -1e-4, 1.0]])
    a = dots()
    cv2.imwrite(str(tmp_path / "grid36-01.pgm"), a)
    cv2.imwrite(str(tmp_path / "grid36-02.pgm"), cv2.warpPerspective(a, h, a.shape[::-1], borderValue=235))
    monkeypatch.setattr(grid, "GRID_DIR", tmp_path)
    pair = grid.load("grid-12")
    pts = np.array([[170.0, 90.0], [320.0, 240.0], [470.0, 390.0], [150.0, 200.0], [20.0, 20.0], [560.0, 240.0]])
    got, known = pair.truth(pts)
    want = cv2.perspectiveTransform(pts.reshape(-1, 1, 2), h).reshape(-1, 2)
    # within half a period (30 px) of the outer dots' centres: the first four; the last two beyond
    assert known.tolist() == [True, True, True, True, False, False]
    np.testing.assert_allclose(got[known], want[known], atol=0.5)
    assert np.isnan(got[~known]).all()
    assert grid.residual("grid-12")[1] < 0.5


def test_the_four_views_of_the_calibration_grid_fit_one_homography_each_pair():
    try:
        fits = [grid.residual(name) for name in grid.NAMES]
    except FileNotFoundError:
        pytest.skip("no data/pairs: run `python -m models.prep_data --opencv`")
    assert len(fits) == 6 and all(med < 0.5 and top < 1.5 for med, top in fits), fits
