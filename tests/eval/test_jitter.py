"""eval.jitter: the nudge moves every keypoint by the asked noise and shift, alike for one image
within a draw, otherwise anew, and leaves the detector as it was."""
import numpy as np
import pytest

from eval import jitter
from service import sparse


def photo() -> np.ndarray:
    rng = np.random.default_rng(0)
    return np.uint8(np.clip(rng.normal(128, 60, (24, 32)), 0, 255)).repeat(4, 0).repeat(4, 1)


def test_a_draw_moves_each_keypoint_by_its_noise_the_same_way_for_one_image():
    img, detect = photo(), sparse.detect
    xy, size, angle = sparse.detect(img, 200)
    assert len(xy) > 20
    with jitter.nudged(0.1, 1, 0.0):
        first, size1, angle1 = sparse.detect(img, 200)
        again, _, _ = sparse.detect(img, 200)
    with jitter.nudged(0.1, 2, 0.0):
        other, _, _ = sparse.detect(img, 200)
    assert sparse.detect is detect
    assert np.array_equal(first, again) and np.array_equal(size1, size) and np.array_equal(angle1, angle)
    moved = first - xy
    assert np.std(moved) == pytest.approx(0.1, rel=0.25) and np.abs(moved).max() < 1.0
    assert not np.array_equal(first, other)


def test_draw_zero_is_as_detected_moved_by_the_shift_alone():
    img = photo()
    xy, _, _ = sparse.detect(img, 200)
    with jitter.nudged(0.1, 0, -0.25):
        got, _, _ = sparse.detect(img, 200)
    assert np.allclose(got, xy - 0.25)
