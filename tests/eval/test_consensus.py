"""The consensus tuning script's scoring: the figures it prints mean what its table says."""
import numpy as np

from eval import benchmarks
from eval.consensus import DEFAULT, cell, score


def test_cell_follows_the_service_downscaling():
    assert cell((600, 800), 4, 1024) == 4.0  # small images are not resized
    assert cell((2048, 1536), 4, 1024) == 8.0  # halved, so a cell covers twice the pixels


def test_score_counts_matches_within_3px_and_consensus_drops_outliers():
    rng = np.random.default_rng(0)
    h = np.array([[1.0, 0.05, 10], [-0.05, 1.0, 5], [0, 0, 1]])
    pair = benchmarks.EvalPair("t", np.zeros((400, 400), np.uint8), np.zeros((400, 400), np.uint8),
                               benchmarks.homography_gt(h, (400, 400)))
    ys, xs = np.mgrid[20:380:4, 20:380:4]
    xa = np.c_[xs.ravel(), ys.ravel()].astype(np.float64)
    xb = pair.gt(xa)[0] + rng.normal(0, 0.5, xa.shape)
    wrong = rng.random(len(xa)) < 0.3
    xb[wrong] = rng.uniform(0, 400, (wrong.sum(), 2))  # 30 % outliers, nearly all farther than 3 px
    mma_raw, correct_raw = score([(pair, xa, xb, 4.0, 4.0)], None)
    assert 65 < mma_raw < 72  # the inliers, and the few outliers that land within 3 px by chance
    gt, judged = pair.gt(xa)  # points that leave b have no truth and are not counted
    assert correct_raw == np.sum(np.linalg.norm(gt[judged] - xb[judged], axis=1) <= 3) < judged.sum()
    mma, correct = score([(pair, xa, xb, 4.0, 4.0)], DEFAULT)
    assert mma > 98 and correct > 0.9 * correct_raw
