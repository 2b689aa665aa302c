"""eval.explained: how it judges pairs and sets each rule's bar."""
import numpy as np

from eval import explained
from models.data import pairs
from service import matching


def test_pairs_are_right_within_tol_wrong_beyond_and_unknown_ones_count_neither_way():
    h = np.array([[1, 0, 10], [0, 1, 0], [0, 0, 1.0]])
    def unknown_beyond_40(xy):  # as pairs mark the truth unknown off the plane: NaN, not known
        out, off = matching.project(h, xy), xy[:, 0] >= 40
        return np.where(off[:, None], np.nan, out), None, ~off

    pair = pairs.Pair("shift", np.zeros((50, 50), np.uint8), np.zeros((50, 60), np.uint8), unknown_beyond_40, h)
    xy_a = np.float32([[5, 5], [6, 6], [7, 7], [45, 5]])
    xy_b = xy_a + np.float32([[10, 0], [14, 0], [16, 0], [10, 0]])  # right, right, wrong, unknown
    m = matching.Matches(xy_a, xy_b, np.ones(4, np.float32))
    assert explained.judged(pair, m) == (2, 1)


def test_each_rule_sets_its_bar_from_the_inliers():
    held = matching.Matches(np.zeros((5, 2), np.float32), np.zeros((5, 2), np.float32),
                            np.float32([0.9, 0.5, 0.7, 0.8, 0.6]))
    assert explained.bar(held, None) == -1.0 and explained.bar(held, "least") == np.float32(0.5)
    assert explained.bar(held, 5) == np.percentile(held.score, 5)
