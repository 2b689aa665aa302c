"""eval.truth: how far right SIFT matches fall from a pair's truth."""
import cv2
import numpy as np

from eval.truth import cells, matches, misses
from models.data import pairs

TURN = np.array([[0.9, -0.2, 30.0], [0.2, 0.9, 10.0], [0.0, 0.0, 1.0]])


def turned(photo: np.ndarray, claimed: np.ndarray) -> pairs.Pair:
    """b is a turned and shrunk by ``TURN``; the truth says ``claimed``."""
    b = cv2.warpPerspective(photo, TURN, (photo.shape[1], photo.shape[0]))
    return pairs.of_homography("turned", photo, b, claimed)


def test_right_matches_meet_an_exact_truth_and_miss_a_shifted_one_by_the_shift(coffee):
    exact = turned(coffee, TURN)
    xy_a, xy_b, size = matches(exact)
    err = misses(exact, xy_a, xy_b)
    assert len(err) > 50 and np.nanmedian(err) < 0.5
    off = misses(turned(coffee, np.array([[1, 0, 3.0], [0, 1, 0], [0, 0, 1]]) @ TURN), xy_a, xy_b)
    assert 2.5 < np.nanmedian(off) < 3.5
    row = cells(off, size)
    assert int(row[1]) > 50 and row[5] != "100 %"


def test_a_pair_without_known_truth_gives_dashes():
    row = cells(np.full(4, np.nan), np.ones(4))
    assert row == ["0", "0", "-", "-", "-", "-", "-"]
