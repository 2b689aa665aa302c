"""A local map where the homography guiding a transfer spans little of image a: points among
matches it misses, which agree on an affine map of their own nearby, go where that map puts
them; through the API on two lenses' projections of one view."""
import json

import numpy as np

from eval.robustness import png
from models.data import lenses
from models.data.lenses import carried
from service import local_warp, matching
from tests.conftest import real

SIZE, CENTRE = 600, np.array([299.5, 299.5])
FOCAL = (126.0, 60.0)  # Medinet's fisheye and stereographic


def lens_matches(outliers: int = 150) -> tuple[matching.Matches, np.ndarray]:
    """Matches on a 600 x 600 fisheye image and where its stereographic projection shows them
    (within 0.5 px), 150 of them wrong at random. -> (matches, which are right)."""
    rng = np.random.default_rng(0)
    xy_a = rng.uniform(40, SIZE - 40, (900 + outliers, 2))
    xy_a = xy_a[np.linalg.norm(xy_a - CENTRE, axis=1) < 240][:600 + outliers]
    xy_b = carried(xy_a, ("fisheye", "stereographic"), FOCAL, CENTRE, CENTRE) + rng.uniform(-0.5, 0.5, xy_a.shape)
    right = np.arange(len(xy_a)) < len(xy_a) - outliers
    xy_b[~right] = rng.uniform(0, SIZE, ((~right).sum(), 2))
    n = len(xy_a)
    return matching.Matches(xy_a.astype(np.float32), xy_b.astype(np.float32), np.ones(n, np.float32)), right


def central_guide(m: matching.Matches) -> matching.Guide:
    """The homography of the matches within 50 px of the centre, where the projections are alike,
    its inliers over all of them (RANSAC's 4 px)."""
    centre = np.linalg.norm(m.xy_a - CENTRE, axis=1) < 50
    h, _ = matching.verify(matching.rows(m, centre), "homography", 4.0)
    off = np.linalg.norm(matching.project(h, m.xy_a) - m.xy_b, axis=1)
    return matching.Guide("homography", h, off < 4.0)


def test_points_among_matches_the_homography_misses_go_where_their_local_map_puts_them():
    m, _ = lens_matches()
    guide = central_guide(m)
    assert matching.coverage(m.xy_a[guide.inliers], SIZE, SIZE) < 0.12  # the homography holds near the centre only
    points = np.array([[300.0, 310.0], [460.0, 300.0], [300.0, 120.0], [150.0, 420.0]])
    truth = carried(points, ("fisheye", "stereographic"), FOCAL, CENTRE, CENTRE)
    xy, done, kept = local_warp.placed(points, m, guide, 4.0, np.ones(len(points), bool))
    assert not done[0] and np.isnan(xy[0]).all()  # among the homography's own inliers: left to it
    assert done[1:].all(), done
    assert np.linalg.norm(xy[1:] - truth[1:], axis=1).max() < 1.5, xy[1:] - truth[1:]
    assert (kept[1:] >= local_warp.LEAST / local_warp.NEIGHBOURS).all()
    off_h = np.linalg.norm(matching.project(guide.model, points[1:]) - truth[1:], axis=1)
    assert off_h.min() > 8, off_h  # where the homography would have put them


def test_no_point_is_placed_among_matches_that_agree_on_nothing_or_that_is_not_a_candidate():
    m, right = lens_matches()
    guide = central_guide(m)
    points = np.array([[460.0, 300.0], [300.0, 120.0]])
    _, done, _ = local_warp.placed(points, m, guide, 4.0, np.array([True, False]))
    assert done.tolist() == [True, False]
    noise = matching.rows(m, ~right)  # only the wrong matches: no local map keeps 8 of 16
    guide_on_noise = matching.Guide("homography", guide.model, np.zeros(len(noise.xy_a), bool))
    _, done, _ = local_warp.placed(points, noise, guide_on_noise, 4.0, np.ones(2, bool))
    assert not done.any()


def test_points_follow_a_local_map_between_two_lenses_projections_of_one_view(client):
    """Medinet Habu's court as a fisheye and a stereographic image: the homography of the sparse
    matches holds near the centre only (its inliers span 7 % of a), 42 % of the points within 3 px
    where it puts them; following the local maps, over 55 %, and those it moved nearly all right."""
    pair = real(lambda: lenses.load("medinet"))
    pts, truth = lenses.points(pair, 100, np.random.default_rng(0))
    sent = {"image_a": ("a.png", png(pair.a)), "image_b": ("b.png", png(pair.b))}
    r = client.post("/v1/keypoints/transfer", files=sent, data={"keypoints": json.dumps(pts.tolist())})
    body = r.json()
    assert r.status_code == 200 and body["guidance"] == "homography", r.text
    err = np.linalg.norm(np.array([[k["x"], k["y"]] for k in body["keypoints"]]) - truth, axis=1)
    local = np.array([bool(k.get("local_warp")) for k in body["keypoints"]])
    assert local.sum() >= 15 and (err[local] < 3).mean() > 0.9, (local.sum(), (err[local] < 3).mean())
    assert (err < 3).mean() > 0.55, (err < 3).mean()
    assert any("local_warp: true" in w for w in body["warnings"])


def test_points_a_narrow_homography_extrapolates_read_a_confidence_that_says_so(client):
    """The nave as a fisheye and a rectilinear image: the points the homography (inliers over 9 %
    of a, said as ``coverage``) put far from its inliers, no local map placing them, are next to
    none right; they read their own curve, well under the rest, which read about their share right
    (0.10 against 0.83 for 86 %; 0.75 against 0.93 on the homography's curve)."""
    from service.keypoint_transfer import extrapolated
    pair = real(lambda: lenses.load("bigben"))
    pts, truth = lenses.points(pair, 100, np.random.default_rng(0))
    sent = {"image_a": ("a.png", png(pair.a)), "image_b": ("b.png", png(pair.b))}
    body = client.post("/v1/keypoints/transfer", files=sent, data={"keypoints": json.dumps(pts.tolist())}).json()
    k = body["keypoints"]
    assert body["guidance"] == "homography" and 0 < body["coverage"] < 0.1, body.get("coverage")
    far = extrapolated(body["coverage"], *(np.array([x[f] for x in k]) for f in ("support", "local_warp")), None)
    right = np.linalg.norm(np.array([[x["x"], x["y"]] for x in k]) - truth, axis=1) < 3
    conf = np.array([x["confidence"] for x in k])
    assert far.sum() >= 15 and right[far].mean() < 0.2, (far.sum(), right[far].mean())
    assert conf[far].mean() < 0.45 and conf[~far].mean() > conf[far].mean() + 0.5, (conf[far].mean(), conf[~far].mean())
    assert abs(conf[~far].mean() - right[~far].mean()) < 0.1, (conf[~far].mean(), right[~far].mean())
