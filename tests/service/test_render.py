"""Answers as pictures: each PNG is decoded and checked for what it shows."""
import json

import cv2
import numpy as np
import pytest

from service import dense, render
from service.imaging import Decoded
from tests.conftest import encode


def decode(body: bytes) -> np.ndarray:
    img = cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_COLOR)
    assert img is not None, "not a PNG"
    return img


def near(img: np.ndarray, xy, colour, tol: int = 40) -> bool:
    """Whether a pixel within 1 of xy has the colour (B, G, R)."""
    x, y = int(round(xy[0])), int(round(xy[1]))
    patch = img[max(0, y - 1):y + 2, max(0, x - 1):x + 2].reshape(-1, 3).astype(int)
    return bool((np.abs(patch - colour).max(1) <= tol).any())


@pytest.fixture(scope="module")
def pair(coffee):
    a = cv2.resize(coffee, (360, 240), interpolation=cv2.INTER_AREA)
    h = np.array([[0.95, 0.08, 12], [-0.06, 0.97, 8], [1e-5, 2e-5, 1]])
    return a, cv2.warpPerspective(a, h, (360, 240)), h


def test_matches_are_green_when_verified_faint_red_when_rejected_yellow_when_unchecked():
    a = Decoded(np.full((100, 200), 128, np.uint8), 400, 200)  # decoded at half size: drawn at sent scale
    b = Decoded(np.full((100, 150), 128, np.uint8), 150, 100)
    xy_a, xy_b = np.float32([[40, 40], [200, 100], [380, 180]]), np.float32([[10, 10], [75, 50], [140, 90]])
    img = decode(render.matches(a, b, xy_a, xy_b, np.array([render.VERIFIED, render.REJECTED, render.UNVERIFIED])))
    assert img.shape == (100, 200 + 150, 3)
    # a rejected match shows through as the web page draws it: red at FAINT over the image
    faint = tuple(round(render.FAINT * c + (1 - render.FAINT) * 128) for c in render.RED)
    ends = zip(xy_a / 2, xy_b + [200, 0], strict=True)
    for (pa, pb), colour in zip(ends, (render.GREEN, faint, render.YELLOW), strict=True):
        assert near(img, pa, colour, tol=12) and near(img, pb, colour, tol=12)


def test_transfer_colours_points_by_confidence_and_crosses_the_inconsistent():
    a = b = Decoded(np.full((120, 120), 60, np.uint8), 120, 120)
    img = decode(render.transfer(a, b, np.float32([[20, 20], [90, 90]]), np.float32([[30, 30], [60, 100]]),
                                 np.float32([1.0, 0.0]), np.array([True, False])))
    assert img.shape == (120, 240, 3)
    assert near(img, (150, 30), render.confidence_colour(1.0)) and render.confidence_colour(1.0)[1] > 200
    assert near(img, (180 + 6, 100 + 6), render.RED)  # the cross's arm
    assert near(img, (20 + 5, 20), render.WHITE)  # the ring in a
    unverified = decode(render.transfer(a, b, np.float32([[20, 20]]), np.float32([[30, 30]]), None, np.array([True])))
    assert near(unverified, (150, 30), render.GREY, tol=12)


def test_the_api_draws_a_transferred_point_in_its_confidence_s_colour_and_grey_where_it_has_none(client, pair):
    """A point the pair's homography placed is drawn in its confidence's colour; one carried to an
    unrelated image (nothing verified, no confidence) in grey, not by its feature score."""
    a, b, _ = pair
    noise = np.random.default_rng(0).integers(0, 256, a.shape, dtype=np.uint8)
    pts = json.dumps([[150.0, 120.0]])
    for other, verified in ((b, True), (noise, False)):
        files = {"image_a": ("a.png", encode(a)), "image_b": ("b.png", encode(other))}
        p = client.post("/v1/keypoints/transfer", files=files, data={"keypoints": pts}).json()["keypoints"][0]
        assert ("confidence" in p and p["confidence"] is not None) == verified, p
        img = decode(client.post("/v1/keypoints/transfer", files=files,
                                 data={"keypoints": pts, "render": "png"}).content)
        want = render.confidence_colour(p["confidence"] if verified else float("nan"))
        assert near(img, (p["x"] + a.shape[1] + 4, p["y"]), want, tol=12), (verified, p)


def test_a_point_is_drawn_on_the_shown_pixel_that_holds_its_pixels_centre():
    """A picture shown at half size: sent pixel 43 (its centre at 43, OpenCV's convention) lies in
    shown pixel 21 (43.5 / 2 = 21.75 in pixel edges), not 22 (43 / 2 rounded)."""
    img = Decoded(np.zeros((1200, 800), np.uint8), 800, 1200)
    drawn = decode(render.keypoints(img, [""], np.float32([[43, 43]])))
    assert drawn.shape[:2] == (600, 400)
    ys, xs = np.nonzero(drawn.max(2) > 60)
    assert (xs.mean(), ys.mean()) == pytest.approx((21, 21), abs=0.1)


def test_wide_images_lie_one_above_the_other_and_their_points_follow():
    """Two panorama strips (2000 x 250) side by side would show at 100 px high in a 1600 px
    picture: they lie one above the other at 1600 x 200 each, b's points below a's; a photo pair of
    ordinary shape stays side by side, as do thumbnails that fit either way at their own size."""
    a = Decoded(np.full((250, 2000), 90, np.uint8), 2000, 250)
    b = Decoded(np.full((250, 2000), 160, np.uint8), 2000, 250)
    img = decode(render.matches(a, b, np.float32([[1000, 125]]), np.float32([[500, 60]]),
                                np.array([render.VERIFIED])))
    assert img.shape == (400, 1600, 3)
    assert near(img, (800, 100), render.GREEN, tol=12) and near(img, (400, 200 + 48), render.GREEN, tol=12)
    assert img[5, 5, 0] == 90 and img[395, 1595, 0] == 160  # a on top, b below
    turned = decode(render.transfer(a, b, np.float32([[1000, 125]]), np.float32([[500, 60]]),
                                    np.float32([1.0]), np.array([True])))
    assert turned.shape == (400, 1600, 3)
    assert not render.stacked([(640, 480), (640, 480)]) and not render.stacked([(300, 100), (300, 100)])
    assert render.stacked([(2000, 250), (2000, 250)]) and render.stacked([(1800, 600), (1800, 600)])
    al = decode(render.alignment(a, np.zeros((250, 2000), np.uint8), np.zeros((63, 500, 2), np.float32)))
    assert al.shape == (600, 1600, 3)  # a, its flow, b over a: one above the other


def test_the_api_draws_correspondences_with_their_verdicts(client, pair):
    a, b, h = pair
    files = {"image_a": ("a.png", encode(a)), "image_b": ("b.png", encode(b))}
    r = client.post("/v1/correspondences", files=files, data={"render": "png", "geometry": "homography"})
    assert r.status_code == 200 and r.headers["content-type"] == "image/png", r.text[:200]
    img = decode(r.content)
    assert img.shape[0] == a.shape[0] and img.shape[1] == a.shape[1] + b.shape[1]
    assert r.headers["x-geometry"] == "homography" and int(r.headers["x-inliers"]) >= 20
    assert 0.1 < float(r.headers["x-coverage"]) <= 1
    js = client.post("/v1/correspondences", files=files, data={"geometry": "homography"}).json()
    inl = [m for m, ok in zip(js["matches"], js["inliers"], strict=True) if ok][:20]
    hits = [near(img, (m["xa"], m["ya"]), render.GREEN) for m in inl]
    assert np.mean(hits) > 0.9


def test_without_a_geometry_the_matches_the_scenes_geometry_does_not_explain_are_drawn_as_rejected(client, pair):
    """Half of b replaced by noise: its look-alike matches are not the plane's; the picture draws
    them faint red as a verified answer's rejected ones, the rest yellow, and says how many the
    geometry explains."""
    a, b, _ = pair
    b = b.copy()
    b[:, b.shape[1] // 2:] = cv2.GaussianBlur(np.random.default_rng(0).integers(0, 256, b[:, b.shape[1] // 2:].shape,
                                                                                 dtype=np.uint8), (0, 0), 1.5)
    files = {"image_a": ("a.png", encode(a)), "image_b": ("b.png", encode(b))}
    js = client.post("/v1/correspondences", files=files, data={"ratio": "0.99"}).json()
    off = [m for m, ok in zip(js["matches"], js["explained"], strict=True) if not ok]
    on = [m for m, ok in zip(js["matches"], js["explained"], strict=True) if ok]
    assert js["one_scene"] and len(off) >= 5 and len(on) >= 20, (len(off), len(on))
    r = client.post("/v1/correspondences", files=files, data={"ratio": "0.99", "render": "png"})
    assert int(r.headers["x-explained"]) == len(on) and int(r.headers["x-matches"]) == len(js["matches"])
    img = decode(r.content)
    assert np.mean([near(img, (m["xa"], m["ya"]), render.YELLOW) for m in on[:20]]) > 0.9
    assert np.mean([near(img, (m["xb"] + a.shape[1], m["yb"]), render.YELLOW) for m in off]) < 0.3


def test_the_api_draws_transfers_alignments_and_ids_while_their_bytes_are_kept(client, pair):
    a, b, _ = pair
    files = {"image_a": ("a.png", encode(a)), "image_b": ("b.png", encode(b))}
    pts = [[150.0, 120.0], [300.0, 200.0]]
    r = client.post("/v1/keypoints/transfer", files=files, data={"keypoints": json.dumps(pts), "render": "png"})
    assert r.status_code == 200 and r.headers["x-guidance"] in ("homography", "fundamental")
    img = decode(r.content)
    assert img.shape[1] == a.shape[1] + b.shape[1] and near(img, (pts[0][0] + 5, pts[0][1]), render.WHITE, tol=60)
    r = client.post("/v1/align", files=files, data={"render": "png"})
    assert r.status_code == 200
    img = decode(r.content)
    assert img.shape == (a.shape[0], 3 * a.shape[1], 3)
    flow = img[:, a.shape[1]:2 * a.shape[1]]
    assert flow.std() > 5  # a colour wheel image, not blank
    image_id = client.post("/v1/images", files={"image": ("a.png", encode(a))}).json()["image_id"]
    by_id = {"image_a_id": image_id, "image_b_id": image_id, "render": "png"}
    r = client.post("/v1/correspondences", data=by_id)  # drawn from the bytes /v1/images kept
    assert r.status_code == 200 and decode(r.content).shape[1] == 2 * a.shape[1]
    client.app.state.cache.delete(dense.image_key(image_id))  # evicted: features only, nothing to draw
    r = client.post("/v1/correspondences", data=by_id)
    assert r.status_code == 422 and "bytes" in r.json()["detail"]
