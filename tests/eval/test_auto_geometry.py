"""eval.auto_geometry's judging of an answer by the geometry that verified it."""
import cv2
import numpy as np

from eval.auto_geometry import asked
from eval.robustness import uploads
from models.data import pairs

H = np.array([[0.9, 0.05, 20.0], [-0.04, 0.92, 15.0], [1e-5, 2e-5, 1.0]])


def plane(coffee: np.ndarray, truth: np.ndarray) -> pairs.Pair:
    """coffee and its view through H, with ``truth`` as the pair's homography."""
    return pairs.of_homography("plane", coffee, cv2.warpPerspective(coffee, H, coffee.shape[::-1]), truth)


def test_an_answer_is_judged_by_the_geometry_that_verified_it(client, coffee):
    pair = plane(coffee, H)
    chose, auto = asked(client, pair, uploads(pair), "auto")
    assert chose == "homography" and auto.homography_ok and auto.correct > 100 and auto.mma > 0.95
    # a fundamental matrix is no homography, however right the matches it verified
    chose, other = asked(client, pair, uploads(pair), "fundamental")
    assert chose == "fundamental" and other.homography_ok is False and other.correct > 100
    # against a truth 8 px off, nothing the same answer verified is right
    shifted = plane(coffee, np.array([[1.0, 0, 8], [0, 1, 0], [0, 0, 1]]) @ H)
    chose, wrong = asked(client, shifted, uploads(shifted), "auto")
    assert chose == "homography" and not wrong.homography_ok and wrong.correct == 0 and wrong.verified > 100
