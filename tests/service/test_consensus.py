"""Neighbourhood consensus: wrong matches go, right ones stay (on smooth and on stepped scenes),
and positions move towards the truth."""
import numpy as np

from service.consensus import Consensus, select

H = np.array([[0.9, 0.25, 20.0], [-0.2, 1.05, 8.0], [3e-4, -2e-4, 1.0]])


def grid(n=50, step=4.0):
    yy, xx = np.mgrid[0:n, 0:n] * step
    return np.c_[xx.ravel(), yy.ravel()].astype(np.float64)


def project(xy):
    p = np.c_[xy, np.ones(len(xy))] @ H.T
    return p[:, :2] / p[:, 2:]


def corrupt(xb, share, rng):
    """(xb with a ``share`` of matches sent anywhere, mask of those)."""
    wrong = rng.random(len(xb)) < share
    out = xb.copy()
    out[wrong] = rng.uniform(0, 200, (wrong.sum(), 2))
    return out, wrong


def test_outliers_go_and_inliers_stay():
    rng = np.random.default_rng(0)
    xa = grid()
    truth = project(xa)
    xb, wrong = corrupt(truth + rng.normal(0, 0.7, truth.shape), 0.3, rng)
    keep, _ = select(xa, xb, 4.0, 4.0)
    assert keep[~wrong].mean() > 0.95
    assert keep[wrong].mean() < 0.03


def test_positions_move_towards_the_truth():
    rng = np.random.default_rng(1)
    xa = grid()
    truth = project(xa)
    noisy = truth + rng.uniform(-2, 2, truth.shape)  # the grid's quantisation
    keep, pulled = select(xa, noisy, 4.0, 4.0)
    before = np.linalg.norm(noisy - truth, axis=1)[keep].mean()
    after = np.linalg.norm(pulled - truth, axis=1)[keep].mean()
    assert after < 0.7 * before
    _, unmoved = select(xa, noisy, 4.0, 4.0, Consensus(pull=0.0))
    assert np.allclose(unmoved, noisy, atol=1e-3)


def test_a_scene_with_depth_keeps_both_surfaces():
    """Two planes moving differently (a depth step): no single model fits, the local one does."""
    rng = np.random.default_rng(2)
    xa = grid(60)
    near = xa[:, 0] < 120
    truth = np.where(near[:, None], xa + [-30.0, 0.0], xa + [-6.0, 0.0])
    xb, wrong = corrupt(truth + rng.normal(0, 0.5, truth.shape), 0.2, rng)
    keep, _ = select(xa, xb, 4.0, 4.0)
    assert keep[near & ~wrong].mean() > 0.9 and keep[~near & ~wrong].mean() > 0.9
    assert keep[wrong].mean() < 0.05


def test_cell_sizes_scale_the_tolerance():
    """A 2-px error is 1/2 cell of 4 px (kept) but 2 cells of 1 px (dropped)."""
    xa = grid(30)
    xb = xa.copy()
    xb[465] += [2.0, 0.0]
    assert select(xa, xb, 4.0, 4.0)[0][465]
    assert not select(xa, xb, 4.0, 1.0)[0][465]


def test_too_few_matches_keep_nothing_and_do_not_fail():
    for n in (0, 1, 5):
        xa = grid(3)[:n]
        keep, pulled = select(xa, xa, 4.0, 4.0)
        assert keep.shape == (n,) and not keep.any() and pulled.shape == (n, 2)
