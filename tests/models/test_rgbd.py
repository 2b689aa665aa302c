import numpy as np
import pytest

from models.data import pairs, rgbd
from tests.models.sift import truth_errors

K = np.array([[500.0, 0, 80], [0, 500.0, 60], [0, 0, 1]])


MOVE = np.array([0.01, 0.0, -0.05])  # the box: 1 cm right, 5 cm nearer


def scene(move: np.ndarray | None = None) -> np.ndarray:
    """A wall 1 m away (160 x 120 px) and, before it, a box's face at x 40-79, y 30-69, 0.5 m away
    on its left edge and slanting back 2 mm a pixel, moved by ``move`` (m)."""
    box = np.zeros((120, 160))
    box[30:70, 40:80] = 0.5 + 0.002 * np.arange(40)
    if move is not None:
        moved = np.eye(4)
        moved[:3, 3] = move
        box = rgbd.registered(box, K, K, moved)
    return np.where(box > 0, box, 1.0)


def test_a_depth_map_seen_by_the_same_camera_is_itself():
    d = scene()
    np.testing.assert_allclose(rgbd.registered(d, K, K, np.eye(4)), d)


def test_a_depth_camera_beside_the_grey_one_sees_the_near_box_shifted_more_than_the_wall():
    beside = np.eye(4)
    beside[0, 3] = 0.01  # the grey camera 1 cm to the depth camera's left: points appear 1 cm to the right
    flat = np.full((120, 160), 1.0)
    flat[30:70, 40:80] = 0.5
    row = rgbd.registered(flat, K, K, beside)[50]
    assert np.isclose(row[100], 1.0) and np.isclose(row[150], 1.0)  # the wall: 5 px over, still the wall
    assert np.isclose(row[50], 0.5) and np.isclose(row[89], 0.5)  # the box: 10 px over (40-79 -> 50-89)
    assert np.isclose(row[45], 1.0) and row[47] == 0  # the wall it uncovered: seen beside, and a gap


def test_the_moving_part_goes_with_its_motion_and_the_rest_stays():
    """The box's face moved before a still wall: its pixels go with it, the wall's stay, and the
    wall the box now covers has no truth."""
    a, b = scene(), scene(MOVE)
    to, moving, still = rgbd.labels(a, b, np.eye(3), MOVE, K)
    face = np.zeros_like(moving)
    face[32:68, 42:78] = True  # the face, clear of its edges
    assert moving[face].mean() > 0.95 and not still[face].any()
    point = np.linalg.inv(K) @ [40, 50, 1] * 0.5 + MOVE  # the face's corner pixel, moved
    np.testing.assert_allclose(to[50, 40], (K @ point)[:2] / (K @ point)[2], atol=1e-9)
    wall = np.ones_like(still)
    wall[:, 25:110] = False
    assert still[wall].all() and not moving[wall].any()
    hidden = (a == 1.0) & (b < 0.9)  # the wall the box covers now
    assert hidden.sum() > 100 and not (moving | still)[hidden].any()
    ys, xs = np.nonzero(hidden)
    truth, _, known = rgbd.point_map(to, moving, still)(np.float64([[50, 50], [10, 10], [xs[0], ys[0]]]))
    np.testing.assert_allclose(truth[:2], [to[50, 50], [10, 10]], atol=1e-9)
    assert known.tolist() == [True, True, False] and np.isnan(truth[2]).all()


def castle(frame: int):
    try:
        return pairs.castle(frame)
    except FileNotFoundError:
        pytest.skip("no data/pairs/castel: run `python -m models.prep_data --opencv`")


def test_the_castles_truth_agrees_with_independent_matches():
    """SIFT's ratio-tested matches land where the truth puts them, on the castle and behind it."""
    p, moving, still, inliers = castle(20)
    assert inliers >= 50 and moving.sum() > 20000 and still.sum() > 5000
    err, ok = truth_errors(p)
    err = err[ok]
    assert ok.sum() >= 50 and np.median(err) < 1.5 and (err < 5).mean() >= 0.75, np.sort(err)
