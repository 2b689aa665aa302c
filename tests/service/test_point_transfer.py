"""Keypoint transfer on feature maps: known answers for the search near a homography's
prediction, along epipolar bands and without a guide, the round trip, and local support."""
import numpy as np
from scipy.spatial import cKDTree

from service import matching, point_transfer
from service.feature_map import FeatureMap
from tests.service.test_matching import shifted_maps


def test_transfer_is_subpixel_and_cycle_checked():
    a, b = shifted_maps()
    pts = np.array([[40.0, 40.0], [80.0, 60.0], [100.0, 20.0]])
    t = point_transfer.transfer(a, b, pts, cycle_tol_px=4)
    np.testing.assert_allclose(t.xy, pts + [12, 0], atol=0.25)
    assert t.consistent.all() and (t.cycle_error <= 4).all()


def test_a_point_goes_where_the_plane_puts_it_only_in_view_and_at_least_as_alike():
    def answer(x, score, consistent, guidance):
        return point_transfer.Transfer(np.full((4, 2), x, np.float32), np.asarray(score, np.float32),
                                 np.full(4, x, np.float32), np.asarray(consistent), guidance)
    epipolar = answer(1.0, [0.9, 0.9, 0.9, 0.9], [True, False, True, True], "fundamental")
    plane = answer(2.0, [0.95, 0.9, 0.85, 0.99], [True, True, True, True], "homography")
    got = point_transfer.more_alike(epipolar, plane, np.array([True, True, True, False]))
    assert got.xy[:, 0].tolist() == [2, 2, 1, 1] and got.cycle_error.tolist() == [2, 2, 1, 1]
    assert got.consistent.tolist() == [True, True, True, True] and got.guidance == "fundamental"
    np.testing.assert_allclose(got.score, [0.95, 0.9, 0.9, 0.9])
    assert got.by_plane.tolist() == [True, True, False, False]  # the answer says which went where the plane puts it


def test_an_epipolar_band_holds_the_cells_within_reach_of_the_line_in_pixels():
    # a rectified pair, its fundamental matrix scaled by 50: point (x, y) of a has the line y' = y in b
    f = 50 * np.array([[0, 0, 0], [0, 0, -1], [0, 1, 0]], np.float64)
    gy, gx = np.mgrid[0:30, 0:40] * 4.0
    cells_xy = np.c_[gx.ravel(), gy.ravel()]
    points = np.array([[10.0, 41.0], [100.0, 7.5]])
    fb = FeatureMap(np.zeros((8, 30, 40), np.float16), 160, 120, 1.0, 4)
    band = point_transfer.band_cells(matching.Guide("fundamental", f), points, fb, 4.0)
    got = np.zeros((2, 1200), bool)
    got[np.nonzero(band >= 0)[0], band[band >= 0]] = True
    want = np.abs(cells_xy[None, :, 1] - points[:, 1:2]) <= 4.0
    assert (got == want).all() and got.sum() == 2 * 2 * 40


def test_an_epipolar_band_found_along_the_line_holds_every_cell_within_reach_of_it():
    """Lines of every slope, through the map and grazing its corners: the band found along each
    line holds the cells within reach of it, as measured against every cell."""
    rng = np.random.default_rng(7)
    f = rng.normal(size=(3, 3))
    fb = FeatureMap(np.zeros((8, 30, 40), np.float16), 160, 120, 1.0, 4)
    points = rng.uniform(-50, 250, (300, 2))
    band = point_transfer.band_cells(matching.Guide("fundamental", f), points, fb, 6.0)
    gy, gx = np.mgrid[0:30, 0:40] * 4.0
    lines = np.c_[points, np.ones(len(points))] @ f.T
    lines /= np.linalg.norm(lines[:, :2], axis=1, keepdims=True)
    d = np.abs(lines @ np.c_[gx.ravel(), gy.ravel(), np.ones(1200)].T)
    for k in range(len(points)):
        held = band[k][band[k] >= 0]
        assert (np.diff(held) > 0).all() and (d[k, held] <= 6.0 + 1e-3).all()
        assert set(np.flatnonzero(d[k] <= 6.0 - 1e-3)) <= set(held.tolist())


def test_on_flat_features_a_border_point_goes_where_the_homography_puts_it():
    """RANSAC's identity for an image and itself puts y = 0 at about -1e-15: the prediction is
    still taken (held at the border), not the features' arbitrary pick on a flat map."""
    fm = FeatureMap(np.ones((8, 10, 15), np.float16), 60, 40, 1.0, 4)
    h = np.array([[1.0, 6e-17, -2e-14], [-1.6e-17, 1.0, 9.6e-16], [-4e-20, 4e-19, 1.0]])
    points = np.array([[82.0 / 4, 0.0], [59.0, 11.5], [0.0, 39.0], [59.0, 39.0]], np.float32)
    found = np.full_like(points, 7.0)  # wherever the features happened to peak
    q = matching.bilinear(fm, points)
    got, _ = point_transfer.prefer_prediction(fm, q, found, h, points)
    assert np.abs(got - points).max() < 1e-4
    doubled, sim = point_transfer.prefer_prediction(fm, q, found, np.diag([2.0, 2.0, 1.0]), points)
    assert np.allclose(doubled[0], [41.0, 0.0]) and np.array_equal(doubled[3], found[3])  # far outside b: kept
    assert np.isclose(sim[0], 1.0, atol=1e-3) and np.isnan(sim[1:]).all()  # only the first lands in b


def test_a_homography_guided_point_stays_on_the_prediction_where_the_features_prefer_another_place():
    """The features of b are a's shifted 3 px (their peak is off the plane's prediction): the
    answer is the homography's prediction, scored by the features there."""
    rng = np.random.default_rng(4)
    f = rng.normal(size=(16, 30, 40)).astype(np.float32)
    f /= np.linalg.norm(f, axis=0, keepdims=True)
    fa = FeatureMap(f.astype(np.float16), 160, 120, 1.0, 4)
    fb = FeatureMap(np.roll(f, 1, axis=2).astype(np.float16), 160, 120, 1.0, 4)  # one cell (4 px) along x
    points = np.array([[40.0, 40.0], [100.0, 60.0], [80.0, 90.0]], np.float32)
    guide = matching.Guide("homography", np.eye(3))
    xy, score = point_transfer.search(fa, fb, points, guide)
    assert np.abs(xy - points).max() < 1e-4
    assert np.allclose(score, (matching.bilinear(fa, points) * matching.bilinear(fb, points)).sum(1), atol=1e-3)
    free, top = point_transfer.search(fa, fb, points, None)  # unguided, the features' own peak: 4 px along x
    assert np.abs(free - points - [4, 0]).max() < 0.5 and (top > score + 0.2).all()


def test_a_point_the_homography_puts_far_outside_b_is_held_at_its_border_not_sent_to_a_look_alike():
    """b shows a's very features where a is (a perfect look-alike of every point), but the
    homography puts the points 300 px to the right, beyond b: each is held at b's right border,
    and its round trip, held at a's, does not come back."""
    rng = np.random.default_rng(5)
    f = rng.normal(size=(16, 30, 40)).astype(np.float32)
    f /= np.linalg.norm(f, axis=0, keepdims=True)
    fm = FeatureMap(f.astype(np.float16), 160, 120, 1.0, 4)
    points = np.array([[40.0, 40.0], [100.0, 60.0], [80.0, 90.0]], np.float32)
    away = matching.Guide("homography", np.array([[1.0, 0, 300], [0, 1, 0], [0, 0, 1]]))
    t = point_transfer.transfer(fm, fm, points, 4.0, away)
    assert (t.xy[:, 0] >= 160 - 1 - 16).all() and np.abs(t.xy[:, 1] - points[:, 1]).max() <= 16
    assert not t.consistent.any() and (t.cycle_error > 20).all()
    near = point_transfer.transfer(fm, fm, points, 4.0, matching.Guide("homography", np.eye(3)))
    assert near.consistent.all() and np.abs(near.xy - points).max() < 1e-3


def test_a_point_whose_epipolar_line_misses_b_is_held_at_its_border_not_sent_to_a_look_alike():
    """The lines of a's points run 200 px below b (a fundamental matrix of a camera moved up): each
    point is held at b's bottom border, where its round trip does not come back, not sent to the
    perfect look-alike b shows where a is."""
    rng = np.random.default_rng(6)
    f = rng.normal(size=(16, 30, 40)).astype(np.float32)
    f /= np.linalg.norm(f, axis=0, keepdims=True)
    fm = FeatureMap(f.astype(np.float16), 160, 120, 1.0, 4)
    points = np.array([[40.0, 40.0], [100.0, 60.0], [80.0, 90.0]], np.float32)
    below = matching.Guide("fundamental", np.array([[0.0, 0, 0], [0, 0, 1], [0, -1, -200]]))  # y' = y + 200
    t = point_transfer.transfer(fm, fm, points, 4.0, below)
    assert (t.xy[:, 1] >= 119 - 12).all() and not t.consistent.any(), t


def test_support_is_the_share_of_a_points_nearest_matches_the_geometry_explains():
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 100, (400, 2)).astype(np.float32)
    inliers = xy[:, 0] < 50  # the geometry explains the left half's matches only
    got = point_transfer.support(np.float32([[10, 50], [90, 50], [50, 50]]), xy, inliers)
    assert got[0] == 1 and got[1] == 0 and 0 < got[2] < 1
    assert point_transfer.support(np.float32([[1, 1]]), xy[:3], inliers[:3]).shape == (1,)  # fewer matches than k
    assert point_transfer.support(np.float32([[1, 1]]), np.zeros((0, 2), np.float32), np.zeros(0, bool))[0] == 0


def test_a_homographys_local_offset_is_the_mean_residual_of_its_inliers_around_a_point():
    """Matches on a grid, a homography's inliers: the left half where it puts them, the right half
    3 px right and 2 px down of it (a part that moved within RANSAC's threshold). An outlier by
    the point is not counted; a point with fewer than ``least`` inliers within reach gets none."""
    h = np.array([[1.1, 0.05, 7.0], [-0.02, 0.95, -4.0], [1e-4, 0.0, 1.0]])
    xy_a = np.stack(np.meshgrid(np.arange(0, 400, 20.0), np.arange(0, 300, 20.0)), -1).reshape(-1, 2)
    moved = xy_a[:, 0] >= 200
    xy_b = matching.project(h, xy_a) + np.where(moved[:, None], [3.0, 2.0], 0.0)
    inliers = np.ones(len(xy_a), bool)
    xy_a, xy_b = np.r_[xy_a, [[95.0, 105.0]]], np.r_[xy_b, [[140.0, 30.0]]]  # a look-alike by the first point
    inliers = np.r_[inliers, False]
    pts = np.array([[100.0, 100.0], [320.0, 140.0], [900.0, 900.0]])
    off = point_transfer.local_offset(h, xy_a, xy_b, inliers, pts)
    np.testing.assert_allclose(off, [[0, 0], [3, 2], [0, 0]], atol=1e-6)
    few = point_transfer.local_offset(h, xy_a, xy_b, inliers, pts[:2], reach_px=15.0)  # the nearest only
    np.testing.assert_allclose(few, 0.0)
    # a plane's matches, their keypoints' noise only: the offset drawn towards zero, below the plain mean
    noisy = matching.project(h, xy_a) + np.random.default_rng(0).normal(0, 1.0, xy_a.shape)
    grid = np.stack(np.meshgrid(np.arange(30, 370, 17.0), np.arange(30, 270, 17.0)), -1).reshape(-1, 2)
    drawn = np.linalg.norm(point_transfer.local_offset(h, xy_a, noisy, inliers, grid), axis=1)
    _, near = cKDTree(xy_a[inliers]).query(grid, k=point_transfer.LOCAL_NEIGHBOURS)
    plain = np.linalg.norm((noisy - matching.project(h, xy_a))[inliers][near].mean(1), axis=1)
    assert drawn.mean() < 0.4 * plain.mean(), (drawn.mean(), plain.mean())  # 0.09 against 0.40


def test_a_second_geometrys_answer_replaces_a_point_only_where_it_comes_back_at_least_as_alike():
    t = point_transfer.Transfer(np.zeros((4, 2), np.float32), np.full(4, 0.9, np.float32), np.zeros(4, np.float32),
                                np.ones(4, bool), "homography")
    pick = np.array([True, True, True, False])
    sub = point_transfer.Transfer(np.ones((3, 2), np.float32), np.array([0.95, 0.8, 0.95], np.float32),
                                  np.array([0.0, 0.0, 9.0], np.float32), np.array([True, True, False]), "fundamental")
    out, taken = point_transfer.replaced(t, pick, sub)
    np.testing.assert_array_equal(taken, [True, False, False, False])  # less alike; not back; not asked
    np.testing.assert_array_equal(out.xy[:, 0], [1, 0, 0, 0])
    assert out.score[0] == np.float32(0.95) and out.guidance == "homography" and t.xy[0, 0] == 0  # t untouched
