import numpy as np
import pytest

from models.data import moving, photos


def shifted_part() -> tuple[np.ndarray, np.ndarray]:
    """A photo and a copy whose right half moved 3 px right and 2 px down (the left half still)."""
    a = photos.load("coffee")
    b = a.copy()
    w = a.shape[1]
    b[:, w // 2:] = np.roll(a, (2, 3), axis=(0, 1))[:, w // 2:]
    return a, b


def test_the_flows_truth_is_each_halfs_own_motion_and_unknown_at_the_seam_and_border():
    a, b = shifted_part()
    fwd, known = moving.flow(a, b)
    w = a.shape[1]
    left, right = known[:, 40:w // 2 - 40], known[:, w // 2 + 40:-40]
    assert left.mean() > 0.5 and right.mean() > 0.5, (left.mean(), right.mean())
    np.testing.assert_allclose(np.median(fwd[:, 40:w // 2 - 40][left], 0), [0, 0], atol=0.1)
    np.testing.assert_allclose(np.median(fwd[:, w // 2 + 40:-40][right], 0), [3, 2], atol=0.1)
    assert not known[:moving.MARGIN].any() and not known[:, -moving.MARGIN:].any()
    assert known[:, w // 2 - 2:w // 2 + 2].mean() < 0.5  # the seam: where a's pixels went is not there in b


def test_points_that_stayed_and_moved_come_with_where_they_went():
    a, b = shifted_part()
    fwd, known = moving.flow(a, b)
    rng = np.random.default_rng(0)
    (ps, ts), (pm, tm) = (moving.points(fwd, known, m, 50, rng) for m in (False, True))
    assert len(ps) == len(pm) == 50
    assert (ps[:, 0] < a.shape[1] // 2 + 3).all() and (pm[:, 0] > a.shape[1] // 2).all()
    np.testing.assert_allclose(ts, ps, atol=1.0)
    np.testing.assert_allclose(tm - pm, np.tile([3, 2], (50, 1)), atol=0.5)


def test_the_validation_frames_load_grey_and_alike_in_size():
    try:
        fa, fb = moving.load("basketball")
    except FileNotFoundError:
        pytest.skip("no data/pairs: run `python -m models.prep_data --opencv`")
    assert fa.dtype == np.uint8 and fa.ndim == 2 and fa.shape == fb.shape
