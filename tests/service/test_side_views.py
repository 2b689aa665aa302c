"""Image a seen from the side (``service.side_views``): where a plane seen obliquely leaves round
keypoints nothing alike, copies of a squeezed across find it, and their answer comes back in a's
pixels."""
import json

import cv2
import numpy as np
import pytest

from eval.robustness import judge, uploads, visible_points
from models.data import pairs
from service import side_views
from service.client_answers import aligned_of, correspondences_of, transferred_of
from service.matching import Matches, project
from tests.conftest import make_client, real


def texture(shape=(120, 160), seed=0) -> np.ndarray:
    noise = cv2.GaussianBlur(np.random.default_rng(seed).normal(0, 1, shape), (0, 0), 5.0)
    return cv2.normalize(noise, None, 20, 235, cv2.NORM_MINMAX).astype(np.uint8)


@pytest.mark.parametrize("degrees", [0.0, 45.0, 90.0, 135.0])
def test_a_copy_seen_from_the_side_shows_each_point_where_its_map_puts_it(degrees):
    img = texture()
    view, m = side_views.side_view(img, 2.0, degrees)
    xy = np.random.default_rng(1).uniform([10, 10], [150, 110], (300, 2)).astype(np.float32)
    at = project(m, xy).astype(np.float32)
    seen = cv2.remap(view.astype(np.float32), at[:, :1], at[:, 1:], cv2.INTER_LINEAR).ravel()
    there = cv2.remap(img.astype(np.float32), xy[:, :1], xy[:, 1:], cv2.INTER_LINEAR).ravel()
    assert np.corrcoef(seen, there)[0, 1] > 0.95
    assert abs(np.linalg.det(m[:2, :2]) - 0.5) < 0.01  # squeezed twice, nothing else changed in area
    off = project(m, xy + [4, 0]).astype(np.float32)  # the check sees a map 4 px off
    seen_off = cv2.remap(view.astype(np.float32), off[:, :1], off[:, 1:], cv2.INTER_LINEAR).ravel()
    assert np.corrcoef(seen_off, there)[0, 1] < 0.9


def test_a_copys_answer_comes_back_in_image_as_pixels():
    h_a = np.array([[0.9, 0.1, 12.0], [-0.05, 1.1, 5.0], [1e-4, 2e-4, 1.0]])  # a -> b
    _, m = side_views.side_view(texture(), 2.0, 45.0)  # a -> the copy
    xy_a = np.random.default_rng(2).uniform([0, 0], [160, 120], (50, 2)).astype(np.float32)
    xy_view = project(m, xy_a).astype(np.float32)
    found = Matches(xy_view, np.zeros_like(xy_view), np.ones(50, np.float32))
    h_view = 3.0 * h_a @ np.linalg.inv(m)  # as RANSAC would give it for the copy, at any scale
    view_size, a_size = (150, 140), (160, 120)
    hull = cv2.contourArea(cv2.convexHull(xy_view)) / (view_size[0] * view_size[1])
    back, h, span = side_views.onto_a(found, "homography", h_view, hull, view_size, a_size, np.linalg.inv(m))
    assert np.allclose(back.xy_a, xy_a, atol=1e-3) and np.allclose(h, h_a, atol=1e-9)
    assert span == pytest.approx(cv2.contourArea(cv2.convexHull(xy_a)) / (160 * 120), rel=1e-3)


@pytest.fixture(scope="module")
def text_from_the_side():
    return real(lambda: pairs.tilted(pairs.load("text"), 70))


def test_a_page_seen_70_degrees_from_the_side_is_found_in_a_copy_seen_so(text_from_the_side):
    """The text page's b seen 70 degrees from its side: its words a third as wide, and no homography
    has enough inliers among the keypoints of a as it is; a copy of a squeezed twice across finds
    the right one, mapped back into a. Without the copies, no geometry and a warning."""
    p = text_from_the_side
    sent = uploads(p)
    for views, right in ((True, True), (False, False)):
        with make_client(sparse_side_views=views) as client:
            body = client.post("/v1/correspondences", files=sent, data={"geometry": "homography"}).json()
        if not right:
            assert body.get("homography") is None and "seen_from_side" not in body and body["warnings"]
            continue
        xy_a, xy_b = (np.array([[x["x" + s], x["y" + s]] for x in body["matches"]]) for s in "ab")
        outcome = judge(p, xy_a, xy_b, body["homography"], np.asarray(body["inliers"], bool))
        assert outcome.homography_ok and outcome.mma > 0.9 and body["warnings"] == [], (body["warnings"], outcome)
        assert body["seen_from_side"] == {"tilt": 2.0, "direction_deg": 0.0} and body["coverage"] >= 0.1
        assert body["timing_ms"]["side_views"] > 0
        assert correspondences_of(body).seen_from_side == body["seen_from_side"]  # the typed clients say so too
        with make_client(sparse_side_views=views) as client:  # and a drawn answer's headers
            drawn = client.post("/v1/correspondences", files=sent, data={"geometry": "homography", "render": "png"})
        assert json.loads(drawn.headers["x-seen-from-side"]) == body["seen_from_side"]


def test_unrelated_images_find_nothing_in_copies_either(text_from_the_side):
    other = real(lambda: pairs.load("cube-40"))
    sent = {"image_a": ("a.png", cv2.imencode(".png", other.a)[1].tobytes()),
            "image_b": ("b.png", cv2.imencode(".png", text_from_the_side.b)[1].tobytes())}
    with make_client() as client:
        body = client.post("/v1/correspondences", files=sent, data={"geometry": "auto"}).json()
    assert body.get("geometry") is None and "seen_from_side" not in body and "side_views" in body["timing_ms"]


def test_keypoint_transfer_takes_its_guide_from_a_copy_where_a_as_sent_fits_none(text_from_the_side):
    p = text_from_the_side
    pts, truth = visible_points(p, 60, np.random.default_rng(0))
    shares, said = {}, {}
    for views in (True, False):
        with make_client(sparse_side_views=views) as client:
            r = client.post("/v1/keypoints/transfer", files=uploads(p), data={"keypoints": json.dumps(pts.tolist())})
        moved = np.array([[k["x"], k["y"]] for k in r.json()["keypoints"]])
        shares[views] = (np.linalg.norm(moved - truth, axis=1) < 5).mean()
        said[views] = transferred_of(r.json()).seen_from_side
    assert shares[True] > 0.9 and shares[False] < 0.2, shares
    assert said == {True: {"tilt": 2.0, "direction_deg": 0.0}, False: None}  # the answer says where its guide came from


def test_dense_matches_and_the_alignment_say_their_guide_was_found_in_a_copy(text_from_the_side):
    """The dense answer and the MRF alignment are pre-aligned by the sparse geometry: where a copy
    of a seen from the side found it, they say so (and b's scale and turn), and not without copies."""
    sent = uploads(text_from_the_side)
    for views in (True, False):
        with make_client(sparse_side_views=views) as client:
            dense = client.post("/v1/correspondences", files=sent, data={"method": "dense"}).json()
            aligned = aligned_of(client.post("/v1/align", files=sent).json())
        seen = {"tilt": 2.0, "direction_deg": 0.0} if views else None
        assert dense.get("seen_from_side") == seen and aligned["seen_from_side"] == seen, (dense, aligned)
        if views:
            assert dense["prealigned"]["scale"] < 0.5 and aligned["prealigned"] == dense["prealigned"]


def test_copies_that_find_nothing_ask_no_more_of_the_worker_than_a_request_does():
    """With a cache that holds nothing (or Redis gone), each copy's answer finds b's features again:
    asked all at once, four copies and four of b queued some 8,000 patches and the request was
    refused (503 overloaded). One copy after another, b's features found once, it is answered."""
    street, page = real(lambda: pairs.load("leuven")), real(lambda: pairs.load("text"))
    a = cv2.resize(street.a, (640, 480), interpolation=cv2.INTER_AREA)
    b = cv2.resize(page.b, (640, 372), interpolation=cv2.INTER_AREA)
    sent = {"image_a": ("a.png", cv2.imencode(".png", a)[1].tobytes()),
            "image_b": ("b.png", cv2.imencode(".png", b)[1].tobytes())}
    with make_client(cache_max_bytes=1) as client:
        r = client.post("/v1/correspondences", files=sent, data={"geometry": "auto"})
    assert r.status_code == 200 and r.json().get("geometry") is None and "side_views" in r.json()["timing_ms"], r.text


def test_a_narrow_image_is_answered_though_its_copies_squeezed_across_would_be_refused():
    """A 33 x 300 image a (its aspect 9, within the rules) squeezed twice across its narrow side is a
    16 x 300 copy the shape rules refuse: that copy is left out, and the request, whose images
    match nothing, is answered (it was refused 422 for an image it never sent)."""
    a, b = texture((300, 33), 3), texture((200, 200), 4)
    sent = {"image_a": ("a.png", cv2.imencode(".png", a)[1].tobytes()),
            "image_b": ("b.png", cv2.imencode(".png", b)[1].tobytes())}
    with make_client() as client:
        for path, data in (("/v1/correspondences", {"geometry": "homography"}),
                           ("/v1/correspondences", {"geometry": "auto", "method": "dense"}),
                           ("/v1/keypoints/transfer", {"keypoints": "[[10, 100]]"}), ("/v1/align", {})):
            r = client.post(path, files=sent, data=data)
            assert r.status_code == 200 and r.json().get("seen_from_side") is None, (path, r.text[:300])
        assert "side_views" in client.post("/v1/correspondences", files=sent,
                                           data={"geometry": "homography"}).json()["timing_ms"]  # the others were tried
