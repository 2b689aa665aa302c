import numpy as np

from eval import lenses as evaluation
from models.data.lenses import LensPair


def test_a_row_counts_the_points_within_3_and_5_px_and_averages_the_confidence():
    truth = np.zeros((4, 2))
    got = np.array([[0, 1], [0, 4], [0, 9], [2.9, 0]], float)
    assert evaluation.judged(got, truth, np.array([0.9, 0.5, np.nan, 0.1])) == "50 % | 75 % | 0.50"
    assert evaluation.judged(got, truth, None) == "50 % | 75 % | -"


def test_matches_are_judged_by_the_truth_of_the_pair():
    img = np.zeros((100, 100), np.uint8)
    pair = LensPair(img, img, ("fisheye", "fisheye"), (50.0, 50.0), 40.0, 0, 0.0)  # the identity
    xa = np.array([[10.0, 10.0], [50.0, 50.0], [80.0, 20.0]])
    assert evaluation.share_right(pair, xa, xa + [[0, 1], [0, 5], [2, 2]]) == "3 | 67 %"
    assert evaluation.share_right(pair, np.zeros((0, 2)), np.zeros((0, 2))) == "0 | -"
