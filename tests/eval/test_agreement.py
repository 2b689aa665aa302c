"""eval.agreement: the truth it judges fits by, and what each tolerance keeps."""
import numpy as np

from eval import agreement, robustness
from service import matching


def test_a_fit_is_right_within_tol_of_the_truth_over_a_grid():
    h = np.array([[0.5, 0.1, 20], [-0.1, 0.5, 10], [0, 0, 1.0]])
    truth = agreement.homography_truth(h)
    assert robustness.homography_right(h, truth, (120, 160))
    shifted = h + np.array([[0, 0, robustness.TOL + 1], [0, 0, 0], [0, 0, 0]])
    assert not robustness.homography_right(shifted, truth, (120, 160))


def test_each_tolerance_keeps_the_inliers_within_it():
    """Ten inliers of a homography that halves and does not turn: keypoints halved and turned
    35 degrees agree within 40 degrees and not within 30; two an octave off, only within an octave."""
    h = np.diag([0.5, 0.5, 1.0])
    xy = np.random.default_rng(0).uniform(0, 100, (10, 2)).astype(np.float32)
    scale = np.full(10, -1.0, np.float32)
    scale[:2] += 1.0
    turn = np.full(10, np.deg2rad(35), np.float32)
    m = matching.Matches(xy, (0.5 * xy).astype(np.float32), np.ones(10, np.float32), None, scale, turn)
    got = dict(zip(agreement.TOLERANCES, agreement.kept(h, np.ones(10, bool), m), strict=True))
    assert got[(0.75, 30)] == 0 and got[(0.75, 40)] == 8 and got[(0.75, 180)] == 8 and got[(1.0, 40)] == 10
