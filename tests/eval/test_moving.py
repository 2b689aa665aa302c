import numpy as np

from eval import moving


def test_a_row_counts_the_points_that_stayed_and_moved_apart_by_3_and_5_px():
    truth = np.zeros((6, 2))
    got = np.array([[0, 1], [0, 4], [0, 9], [2, 0], [0, 2.9], [0, 3.1]], float)  # 3 stayed, 3 moved
    conf = np.array([0.9, 0.5, 0.1, np.nan, 0.4, 0.6])
    assert moving.judged(got, truth, conf, 3) == "33 % | 67 % | 0.50 | 67 % | 100 % | 0.50"
    assert moving.judged(got, truth, None, 3) == "33 % | 67 % | - | 67 % | 100 % | -"
