"""eval.depth's scoring of transferred points against a stereo pair's disparity."""
import numpy as np

from eval.depth import mean, run
from eval.robustness import uploads, visible_points
from models.data import pairs, stereo


def shifted_pair(photo: np.ndarray, shift: int, claimed: float) -> pairs.Pair:
    """b is a moved ``shift`` px to the left (a disparity of ``shift``); the truth says ``claimed``."""
    a = np.ascontiguousarray(photo[:240, :320 + shift])
    b = np.ascontiguousarray(a[:, shift:])
    a = np.ascontiguousarray(a[:, :320])
    return pairs.Pair("shifted", a, b, stereo.disparity_map(np.full(a.shape, claimed), b.shape[1]))


def test_visible_points_have_their_truth_inside_b(coffee):
    pair = shifted_pair(coffee, 8, 8.0)
    pts, truth = visible_points(pair, 100, np.random.default_rng(0))
    assert len(pts) == 100 and np.allclose(truth, pts - [8, 0])
    assert (truth >= 0).all() and (truth[:, 0] < pair.b.shape[1]).all()


def test_transferred_points_are_judged_against_the_pairs_disparity(client, coffee):
    pair = shifted_pair(coffee, 8, 8.0)
    seen = np.zeros((240, 320), bool)
    right = run(client, pair, uploads(pair), 0, seen)
    wrong_truth = shifted_pair(coffee, 8, 0.0)  # the same images, a truth 8 px off
    wrong = run(client, wrong_truth, uploads(wrong_truth), 0, seen)
    assert right["within"].mean() > 0.9 and wrong["within"].mean() < 0.1
    assert not right["hidden"].any()
    assert right["guidance"] in {"homography", "fundamental", "none"}
    assert ((right["confidence"] >= 0) & (right["confidence"] <= 1)).all()


def test_unguided_points_have_no_mean_confidence():
    assert mean(np.array([np.nan, np.nan])) == "-" and mean(np.array([0.5, np.nan, 1.0])) == "0.75"


def test_the_points_b_does_not_see_are_read_where_the_window_lies_in_the_whole_pair(client, coffee):
    """``hidden`` is the whole left view's mask; a window's points are looked up at its corner."""
    pair = shifted_pair(coffee, 8, 8.0)
    pts, _ = visible_points(pair, 200, np.random.default_rng(0))
    covered = np.zeros((300, 400), bool)
    covered[:, 150:] = True  # all of the whole view right of column 150
    whole = run(client, pair, uploads(pair), 0, covered)
    window = run(client, pair, uploads(pair), 0, covered, corner=(60, 10))
    np.testing.assert_array_equal(whole["hidden"], np.rint(pts[:, 0]) >= 150)
    np.testing.assert_array_equal(window["hidden"], np.rint(pts[:, 0]) + 60 >= 150)
