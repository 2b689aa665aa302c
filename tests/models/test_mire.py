import cv2
import numpy as np
import pytest

from models.data import mire


def box_frame(h: np.ndarray) -> np.ndarray:
    """A 384 x 288 frame: a grey wall, and a black top 160 x 120 with a large dot in the middle and
    four small ones near its corners, placed by ``h`` (the top's pixels -> the frame's)."""
    top = np.full((120, 160), 20, np.uint8)
    cv2.circle(top, (80, 60), 22, 235, -1, cv2.LINE_AA)
    for x, y in ((25, 22), (135, 22), (135, 98), (25, 98)):
        cv2.circle(top, (x, y), 8, 235, -1, cv2.LINE_AA)
    frame = cv2.warpPerspective(top, h, (384, 288), borderValue=170)
    return frame


def test_the_truth_is_the_homography_through_the_dots_on_the_top_and_in_place_on_the_background(tmp_path, monkeypatch):
    place_a = np.array([[1.0, 0.05, 110.0], [-0.05, 1.0, 40.0], [0.0, 0.0, 1.0]])
    place_b = np.array([[0.9, -0.3, 150.0], [0.3, 0.9, 60.0], [2e-4, 0.0, 1.0]])  # turned, nearer the right
    for i, place in ((1, place_a), (2, place_b)):
        cv2.imwrite(str(tmp_path / f"image.{i:04d}.pgm"), box_frame(place))
    monkeypatch.setattr(mire, "MIRE_DIR", tmp_path)
    pair, moving, still = mire.parts("mire-1-2")
    assert mire.residual("mire-1-2") < 0.3
    on_top = cv2.perspectiveTransform(np.array([[[80.0, 60.0], [40.0, 40.0], [120.0, 80.0]]]), place_a)[0]
    wall = np.array([[370.0, 20.0], [370.0, 270.0]])  # right of the box in both frames
    beside = np.array([[20.0, 200.0], [100.0, 280.0]])  # the hand's columns; below the box (its sides)
    got, known = pair.truth(np.r_[on_top, wall, beside])
    want = cv2.perspectiveTransform(on_top[None], place_b @ np.linalg.inv(place_a))[0]
    assert known.tolist() == [True] * 5 + [False] * 2
    np.testing.assert_allclose(got[:3], want, atol=0.5)
    np.testing.assert_allclose(got[3:5], wall)
    assert moving.sum() > 0.8 * 80 * 110 and not (moving & still).any()


def test_the_box_top_fits_the_homography_through_its_dots_in_every_pair():
    try:
        worst = {name: mire.residual(name) for name in mire.NAMES}
    except FileNotFoundError:
        pytest.skip("no data/pairs/mire: run `python -m models.prep_data --opencv`")
    assert max(worst.values()) < 0.5, worst
