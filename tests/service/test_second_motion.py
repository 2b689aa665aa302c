"""A second motion beside the homography that guides a transfer: its geometry is fitted to the
matches the homography misses by more than a loose keypoint does, and the points among them
follow it, through the API as well."""
import json

import numpy as np

from service import matching, second_motion
from tests.conftest import encode


def two_motions(moved: int = 60, loose: int = 30) -> tuple[matching.Matches, np.ndarray, np.ndarray]:
    """Matches of a still background (200, within 2 px of the identity, and ``loose`` more 5-10 px
    off it, as coarse keypoints are found) on the left of a 400x400 image, and ``moved`` matches of
    a thing shifted by (50, 30) on its right. -> (matches, which are the background's, which moved)."""
    rng = np.random.default_rng(3)
    still = np.c_[rng.uniform(0, 200, 200 + loose), rng.uniform(0, 400, 200 + loose)]
    off = rng.uniform(-2, 2, (200 + loose, 2))
    off[200:] = rng.choice([-1, 1], (loose, 2)) * rng.uniform(5, 10, (loose, 2)) / np.sqrt(2)
    thing = np.c_[rng.uniform(250, 400, moved), rng.uniform(0, 400, moved)]
    xy_a = np.r_[still, thing].astype(np.float32)
    xy_b = np.r_[still + off, thing + [50, 30] + rng.uniform(-1, 1, (moved, 2))].astype(np.float32)
    n = len(xy_a)
    return (matching.Matches(xy_a, xy_b, np.ones(n, np.float32), np.full(n, 0.5, np.float32)),
            np.arange(n) < 200 + loose, np.arange(n) >= 200 + loose)


def background_guide(m: matching.Matches) -> matching.Guide:
    """The homography RANSAC fits to ``two_motions``' matches: the still background's."""
    return matching.Guide("homography", *matching.verify(m, "homography", 4.0))


def test_the_matches_the_homography_misses_by_far_fit_a_second_geometry_and_its_neighbourhood_follows_it():
    m, still, moved = two_motions()
    guide = background_guide(m)
    assert guide.inliers[moved].sum() == 0
    second = second_motion.fit(m, guide, 4.0)
    assert second is not None and second.kind == "homography"
    assert second.inliers[moved].mean() >= 0.95 and not second.inliers[still].any()  # not the loose keypoints
    points = np.array([[320.0, 200.0], [100.0, 200.0], [30.0, 30.0]], np.float32)
    np.testing.assert_array_equal(second_motion.followers(points, m, guide, second), [True, False, False])


def test_a_point_among_few_matches_of_either_follows_the_geometry_that_explains_more_of_them():
    """Of a point's 8 nearest matches the homography explains 2 and the second geometry 3 (the
    rest chance ones): under half each, the second more, so the point is searched along it too
    (kept only where that search comes back at least as alike); with the counts the other way
    round it is not. Among 8 of the homography's: not (the other way round: it follows)."""
    ring = np.array([[np.cos(t), np.sin(t)] for t in np.linspace(0, 2 * np.pi, 8, endpoint=False)])
    xy_a = np.r_[100 + 5 * ring, 300 + 5 * ring].astype(np.float32)
    m = matching.Matches(xy_a, xy_a, np.ones(16, np.float32))
    first = np.r_[[1, 1, 0, 0, 0, 0, 0, 0], np.ones(8)].astype(bool)
    other = np.r_[[0, 0, 1, 1, 1, 0, 0, 0], np.zeros(8)].astype(bool)
    guide, second = matching.Guide("homography", np.eye(3), first), matching.Guide("homography", np.eye(3), other)
    points = np.array([[100.0, 100.0], [300.0, 300.0]], np.float32)
    assert second_motion.followers(points, m, guide, second).tolist() == [True, False]
    assert second_motion.followers(points, m, second, guide).tolist() == [False, True]


def test_too_few_matches_that_move_otherwise_are_no_second_motion():
    m, _, _ = two_motions(moved=second_motion.SECOND_INLIERS - 5)
    assert second_motion.fit(m, background_guide(m), 4.0) is None


def test_a_thing_moved_before_a_still_camera_has_its_points_follow_it(client, turned_block):
    """Guided by the still background's homography alone, the block's points would land where
    they were, some 80 px from where the block went."""
    a, b, inside, there, still = turned_block
    pts = np.r_[inside, still]
    r = client.post("/v1/keypoints/transfer", files={"image_a": ("a.png", encode(a)), "image_b": ("b.png", encode(b))},
                    data={"keypoints": json.dumps(pts.tolist())}).json()
    assert r["guidance"] == "homography" and any("second motion" in w for w in r["warnings"])
    k = r["keypoints"]
    got = np.array([[p["x"], p["y"]] for p in k])
    followed = np.array([p["second_motion"] for p in k])
    moved_right = followed[:20] & (np.linalg.norm(got[:20] - there, axis=1) < 2)
    assert moved_right.sum() >= 18
    assert not followed[20:].any() and np.linalg.norm(got[20:] - still, axis=1).max() < 1
    # a follower's support is the second geometry's: it explains more of the point's neighbours than the homography
    assert all(p["confidence"] is not None and p["support"] > 0 for p, f in zip(k, followed, strict=True) if f)


def test_a_geometry_the_caller_names_guides_every_point(client, turned_block):
    a, b, inside, _, _ = turned_block
    r = client.post("/v1/keypoints/transfer", files={"image_a": ("a.png", encode(a)), "image_b": ("b.png", encode(b))},
                    data={"keypoints": json.dumps(inside.tolist()), "geometry": "homography"}).json()
    assert r["guidance"] == "homography" and not any("second motion" in w for w in r["warnings"])
    assert all("second_motion" not in p for p in r["keypoints"])
    got = np.array([[p["x"], p["y"]] for p in r["keypoints"]])
    assert np.linalg.norm(got - inside, axis=1).max() < 1  # where the still background's homography puts them


def test_no_second_geometry_is_fitted_where_no_point_could_follow_one():
    m, _, _ = two_motions()
    guide = background_guide(m)
    among_the_still = np.array([[100.0, 200.0], [30.0, 30.0]], np.float32)
    assert not second_motion.possible(among_the_still, m, guide)
    assert second_motion.possible(np.r_[among_the_still, [[320.0, 200.0]]], m, guide)
