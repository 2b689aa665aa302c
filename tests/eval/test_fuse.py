"""The fused scorer's fit: a regression that reads a match off a high score and a small distance."""
import numpy as np
from threadpoolctl import threadpool_limits

from eval.fuse import fit


def test_the_fit_weighs_the_score_up_and_the_distance_down():
    rng = np.random.default_rng(0)
    label = rng.random(4000) < 0.5
    scores = np.where(label, 1.0, -1.0) + rng.normal(0, 1.0, 4000)
    distances = np.where(label, 150.0, 350.0) + rng.normal(0, 100.0, 4000)
    with threadpool_limits(1):  # BLAS threads left spinning would bill CPU to the next test's timings
        f = fit(scores, distances, label.astype(float))
    assert f.score_weight > 0 > f.sift_weight
    z = f.combine(scores, distances)
    both = ((z > 0) == label).mean()
    assert both > max(((scores > 0) == label).mean(), ((distances < 250) == label).mean()) + 0.02
