"""POST /v1/images, /v1/correspondences, /v1/keypoints/transfer on the shipped dense network."""
import hashlib
import io
import json
import time

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from eval.robustness import uploads, visible_points
from models.data import pairs, photos
from service import dense, matching, sparse
from service.config import Settings
from tests.conftest import encode, make_client, real
from tests.service.test_imaging import png_header_only

H = np.array([[0.95, 0.12, 18.0], [-0.1, 0.97, 12.0], [2e-5, -1e-5, 1.0]])


@pytest.fixture(scope="module")
def pair(coffee):
    """(png a, png b, a, b) with b = H(a)."""
    b = cv2.warpPerspective(coffee, H, coffee.shape[::-1], flags=cv2.INTER_LINEAR)
    return encode(coffee), encode(b), coffee, b


def project(xy):
    p = np.c_[xy, np.ones(len(xy))] @ H.T
    return p[:, :2] / p[:, 2:]


def files(pair):
    return {"image_a": ("a.png", pair[0], "image/png"), "image_b": ("b.png", pair[1], "image/png")}


def points(n=60, seed=0):
    rng = np.random.default_rng(seed)
    return np.c_[rng.uniform(80, 500, n), rng.uniform(60, 320, n)]


def test_images_returns_id_size_and_caches(client, pair):
    r = client.post("/v1/images", files={"image": ("a.png", pair[0], "image/png")})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["image_id"] == hashlib.sha256(pair[0]).hexdigest()
    assert (body["width"], body["height"]) == (600, 400) and body["model"] == "ucn"
    assert client.post("/v1/images", files={"image": ("a.png", pair[0])}).json()["cached"] is True


def test_keypoint_transfer_is_accurate_and_ordered(client, pair):
    pts = points()
    r = client.post("/v1/keypoints/transfer", files=files(pair), data={"keypoints": json.dumps(pts.tolist())})
    assert r.status_code == 200, r.text
    kps = r.json()["keypoints"]
    assert len(kps) == len(pts)
    got = np.array([[k["x"], k["y"]] for k in kps])
    err = np.linalg.norm(got - project(pts), axis=1)
    assert np.median(err) < 0.5 and r.json()["guidance"] == "homography" and r.json()["warnings"] == []
    consistent = np.array([k["consistent"] for k in kps])
    assert consistent.mean() > 0.6 and np.median(err[consistent]) <= np.median(err) + 0.1
    steps = r.json()["timing_ms"]  # where the time went, in order
    assert set(steps) == {"features", "guide", "search", "total"}, steps
    assert steps["features"] + steps["guide"] + steps["search"] <= steps["total"] + 1e-3
    aligned = client.post("/v1/keypoints/transfer", files=files(pair),
                          data={"keypoints": json.dumps(pts[:3].tolist()), "method": "align"}).json()["timing_ms"]
    assert set(aligned) == {"features", "alignment", "total"}, aligned


def test_correspondences_recover_the_homography(client, pair):
    r = client.post("/v1/correspondences", files=files(pair), data={"geometry": "homography", "ratio": "0.95",
                                                                    "method": "dense"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert len(body["matches"]) >= 100 and len(body["inliers"]) == len(body["matches"])
    corners = np.array([[0, 0], [599, 0], [599, 399], [0, 399]], float)
    est = np.array(body["homography"])
    p = np.c_[corners, np.ones(4)] @ est.T
    assert np.abs(p[:, :2] / p[:, 2:] - project(corners)).max() < 6.0
    scores = [m["score"] for m in body["matches"]]
    assert scores == sorted(scores, reverse=True) and all(-1 <= s <= 1 for s in scores)
    assert set(body["timing_ms"]) == {"features", "matching", "geometry", "total"} and body["method"] == "dense"
    assert body["warnings"] == []


def test_neighbourhood_consensus_raises_precision_and_keeps_the_cap(client, pair):
    def errors(**data):
        r = client.post("/v1/correspondences", files=files(pair), data=data | {"method": "dense"})
        assert r.status_code == 200, r.text
        m = r.json()["matches"]
        xa, xb = np.array([[x["xa"], x["ya"]] for x in m]), np.array([[x["xb"], x["yb"]] for x in m])
        return np.linalg.norm(xb - project(xa), axis=1)

    raw, kept = errors(consistency="false"), errors()
    assert (kept <= 1).mean() > (raw <= 1).mean() + 0.1 and (kept <= 3).mean() > max(0.9, (raw <= 3).mean() + 0.1)
    assert (kept <= 3).sum() > 0.8 * (raw <= 3).sum()
    assert len(errors(max_matches="25")) == 25


def test_ids_give_the_same_answer_as_uploads(client, pair):
    ids = [client.post("/v1/images", files={"image": ("x.png", d)}).json()["image_id"] for d in pair[:2]]
    by_file = client.post("/v1/correspondences", files=files(pair), data={"max_matches": "50"}).json()
    by_id = client.post("/v1/correspondences", data={"image_a_id": ids[0], "image_b_id": ids[1],
                                                     "max_matches": "50"}).json()
    assert by_id["matches"] == by_file["matches"] and len(by_id["matches"]) == 50


def test_coordinates_are_in_sent_pixels_when_resized_inside(pair):
    pts = points(40)
    with make_client(dense_max_side=300) as c:  # the service works at half size
        r = c.post("/v1/keypoints/transfer", files=files(pair), data={"keypoints": json.dumps(pts.tolist())})
    got = np.array([[k["x"], k["y"]] for k in r.json()["keypoints"]])
    assert np.median(np.linalg.norm(got - project(pts), axis=1)) < 6.0


def test_exif_orientation_and_colour(client, coffee):
    im = Image.fromarray(np.dstack([coffee] * 3))
    exif = im.getexif()
    exif[0x0112] = 6
    buf = io.BytesIO()
    im.save(buf, format="JPEG", exif=exif)
    body = client.post("/v1/images", files={"image": ("r.jpg", buf.getvalue(), "image/jpeg")}).json()
    assert (body["width"], body["height"]) == (400, 600)
    # coordinates are the image's as a viewer shows it: (x, y) of the raw pixels turned a quarter clockwise
    pts = np.array([[150.0, 100.0], [450.0, 300.0]])
    r = client.post("/v1/keypoints/transfer", data={"keypoints": json.dumps(pts.tolist())},
                    files={"image_a": ("a.png", encode(coffee), "image/png"), "image_b": ("r.jpg", buf.getvalue())})
    got = np.array([[k["x"], k["y"]] for k in r.json()["keypoints"]])
    np.testing.assert_allclose(got, np.c_[coffee.shape[0] - 1 - pts[:, 1], pts[:, 0]], atol=2.0)


# ---- bad input -------------------------------------------------------------------------------

def err(r, status):
    assert r.status_code == status, r.text
    assert set(r.json()) == {"detail", "code", "request_id"} and r.json()["request_id"] == r.headers["x-request-id"]
    return r.json()


def test_missing_or_doubled_images_are_422(client, pair):
    err(client.post("/v1/correspondences", files={"image_a": ("a.png", pair[0])}), 422)
    err(client.post("/v1/correspondences", files=files(pair), data={"image_a_id": "0" * 64}), 422)
    err(client.post("/v1/correspondences", data={"image_a_id": "../etc", "image_b_id": "0" * 64}), 422)
    err(client.post("/v1/keypoints/transfer", files=files(pair)), 422)
    err(client.post("/v1/images"), 422)
    err(client.post("/v1/images", json={"image": "aGk="}), 422)


def test_unknown_ids_and_models_are_404(client, pair):
    err(client.post("/v1/correspondences", data={"image_a_id": "0" * 64, "image_b_id": "1" * 64}), 404)
    err(client.post("/v1/correspondences", files=files(pair), data={"model": "2ch-2stream"}), 404)


@pytest.mark.parametrize("kps", ["[[1, NaN]]", "[[1, Infinity]]", "[[-5, 3]]", "[[10, 100000]]", "[]", "[[1]]",
                                 "{\"x\": 1}", "not json", "[[true, 2]]", json.dumps([[1, 1]] * 5000),
                                 pytest.param("[" * 100_000 + "]" * 100_000, id="nested-100000-deep")])
def test_bad_keypoints_are_422(client, pair, kps):
    err(client.post("/v1/keypoints/transfer", files=files(pair), data={"keypoints": kps}), 422)


@pytest.mark.parametrize("right,bottom,x,y", [(0, 0, -0.5, 0), (0, 0, 0, -0.01), (1, 0, 0.5, 0), (0, 1, 0, 0.2)])
def test_a_point_beyond_the_outer_pixels_centres_is_refused_with_the_range_that_holds(client, pair, right, bottom,
                                                                                       x, y):
    """A corner of the image's outline (-0.5, -0.5) is half a pixel outside the centres the
    coordinates count: the message says where a point may lie (``right``, ``bottom``: from the last
    pixel's centre)."""
    h, w = pair[2].shape
    x, y = x + right * (w - 1), y + bottom * (h - 1)
    r = client.post("/v1/keypoints/transfer", files=files(pair), data={"keypoints": json.dumps([[1, 1], [x, y]])})
    assert r.status_code == 422, r.text
    assert r.json()["detail"] == (f"point 1 of the keypoints, ({x:g}, {y:g}), lies outside image a: x must lie in "
                                  f"[0, {w - 1}] and y in [0, {h - 1}] for a {w}x{h} image (pixel centres: (0, 0) "
                                  "is the centre of the top-left pixel)")
    inner = client.post("/v1/keypoints/transfer", files=files(pair),
                        data={"keypoints": json.dumps([[0, 0], [w - 1, h - 1]])})
    assert inner.status_code == 200, inner.text


def test_bad_images(client, pair):
    tiny = encode(np.zeros((4, 4), np.uint8))
    elongated = encode(np.zeros((16, 600), np.uint8))
    err(client.post("/v1/images", files={"image": ("t.png", tiny)}), 422)
    err(client.post("/v1/images", files={"image": ("e.png", elongated)}), 422)
    err(client.post("/v1/images", files={"image": ("b.png", png_header_only(50_000, 50_000))}), 413)
    err(client.post("/v1/images", files={"image": ("x.bin", b"\x00" * 500)}), 415)
    err(client.post("/v1/images", files={"image": ("t.png", pair[0][:2000])}), 400)
    err(client.post("/v1/correspondences", files={"image_a": ("a.png", pair[0]),
                                                  "image_b": ("s.svg", b"<svg xmlns='http://www.w3.org/2000/svg'/>")}),
        415)


def test_multipart_abuse_is_refused_fast_and_health_answers(client):
    fields = {f"f{k}": "x" for k in range(3000)}
    t = time.perf_counter()
    r = client.post("/v1/images", data=fields)
    assert r.status_code in (400, 413, 422) and time.perf_counter() - t < 2.0
    t = time.perf_counter()
    assert client.get("/healthz").status_code == 200 and time.perf_counter() - t < 1.0


def test_image_over_the_byte_limit_is_413(pair):
    with make_client(max_image_bytes=10_000) as c:
        err(c.post("/v1/images", files={"image": ("a.png", pair[0])}), 413)


# ---- the Redis-backed cache ------------------------------------------------------------------

def test_a_second_instance_reuses_features_the_first_cached(redis_server, pair):
    with make_client(redis_url=redis_server.url) as one:
        assert one.post("/v1/images", files={"image": ("a.png", pair[0])}).json()["cached"] is False
    with make_client(redis_url=redis_server.url) as two:
        assert two.post("/v1/images", files={"image": ("a.png", pair[0])}).json()["cached"] is True
        image_id = hashlib.sha256(pair[0]).hexdigest()
        r = two.post("/v1/keypoints/transfer", data={"image_a_id": image_id, "image_b_id": image_id,
                                                     "keypoints": "[[100, 100]]"})
        assert r.status_code == 200


def test_requests_survive_redis_going_away_and_coming_back(redis_server, pair):
    with make_client(redis_url=redis_server.url, redis_retry_s=0.2) as c:
        assert c.get("/readyz").json()["cache"] == "ok"
        assert c.post("/v1/images", files={"image": ("a.png", pair[0])}).status_code == 200
        redis_server.stop()
        for _ in range(3):  # computed instead of cached, every time
            r = c.post("/v1/correspondences", files=files(pair), data={"max_matches": "20"})
            assert r.status_code == 200 and len(r.json()["matches"]) == 20
        ready = c.get("/readyz")
        assert ready.status_code == 200 and ready.json()["cache"] == "degraded"
        assert 'corr_cache_up{backend="redis"} 0.0' in c.get("/metrics").text
        redis_server.start()
        time.sleep(0.25)
        assert c.get("/readyz").json()["cache"] == "ok"
        c.post("/v1/images", files={"image": ("a.png", pair[0])})
        assert c.post("/v1/images", files={"image": ("a.png", pair[0])}).json()["cached"] is True


def test_a_plane_in_strong_perspective_is_matched_in_a_prealigned_copy(client, coffee):
    """Dense features compare like with like: b, the photo in strong perspective, is warped into
    a's frame by the homography of the sparse matches, searched there and mapped back."""
    h, w = coffee.shape
    src = np.float32([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]])
    hom = cv2.getPerspectiveTransform(src, src + np.float32([[0.3 * w, 0.3 * h], [-0.09 * w, 0], [0, 0],
                                                             [0, -0.3 * h]]))
    b = cv2.warpPerspective(coffee, hom, (w, h))
    sent = {"image_a": ("a.png", encode(coffee), "image/png"), "image_b": ("b.png", encode(b), "image/png")}
    r = client.post("/v1/correspondences", data={"method": "dense", "geometry": "homography"}, files=sent)
    assert r.status_code == 200, r.text
    body = r.json()
    xa = np.array([[m["xa"], m["ya"]] for m in body["matches"]], np.float64).reshape(-1, 1, 2)
    xb = np.array([[m["xb"], m["yb"]] for m in body["matches"]])
    err = np.linalg.norm(cv2.perspectiveTransform(xa, hom).reshape(-1, 2) - xb, axis=1)
    assert body["prealigned"] is not None and len(err) >= 1000 and (err < 3).mean() > 0.9


def test_a_copy_beyond_its_image_is_noise_of_the_images_grey_levels(coffee):
    """A copy warped onto a frame it reaches a third of: where it reaches, the warp itself; the
    rest noise whose mean and spread are those of what it reached (so the network, which
    standardises by the whole frame's, sees the image's contrast), drawn the same each time."""
    m = np.array([[1.0, 0, 2 * coffee.shape[1] / 3], [0, 1, 0], [0, 0, 1]])
    size = coffee.shape[::-1]
    plain = cv2.warpPerspective(coffee, m, size)
    copy, fill = dense.warped_copy(coffee, m, size)
    reached = cv2.warpPerspective(np.full_like(coffee, 255), m, size) == 255
    assert fill.startswith("noise ") and 0.25 < reached.mean() < 0.4 and np.array_equal(copy[reached], plain[reached])
    seen, filled = copy[reached].astype(float), copy[~reached].astype(float)
    assert abs(filled.mean() - seen.mean()) < 2 and abs(filled.std() - seen.std()) < 0.05 * seen.std()
    assert abs(copy.astype(float).std() - seen.std()) < 0.05 * seen.std()  # black there: far more
    assert np.array_equal(copy, dense.warped_copy(coffee, m, size)[0])


@pytest.mark.parametrize("gain, offset", [(1.0, 0.0), (0.6, 70.0)])
def test_a_copy_of_a_part_of_the_frames_image_standardises_as_that_image(coffee, gain, offset):
    """b is the coffee photo's dark lower left quarter (with ``gain`` and ``offset``), its copy
    brought back onto the photo's frame: noise of the frame's image's standardisation (``like``)
    puts the copy's pixels where the photo's network input has them (0.01-0.03 of a spread off);
    noise of b's own grey levels standardised the darker corner by itself, 0.38-0.42 off."""
    h, w = coffee.shape
    b = np.clip(coffee[h // 2:, : w // 2] * gain + offset, 0, 255).astype(np.uint8)
    m = np.array([[1.0, 0, 0], [0, 1, h // 2], [0, 0, 1]])
    reached = cv2.warpPerspective(np.full_like(b, 255), m, (w, h)) == 255
    z = lambda x: ((x - x.mean()) / x.std())[reached]  # noqa: E731  the network's standardisation
    truth = z(coffee.astype(float))
    like, fill = dense.warped_copy(b, m, (w, h), like=coffee)
    own, _ = dense.warped_copy(b, m, (w, h))
    assert fill.startswith("noise ") and np.array_equal(like[reached], own[reached])
    assert np.abs(z(like.astype(float)) - truth).mean() < 0.05
    assert np.abs(z(own.astype(float)) - truth).mean() > 0.3


def test_a_copy_for_the_alignment_shows_the_frames_own_image_where_it_does_not_reach(coffee):
    m = np.array([[1.0, 0, 2 * coffee.shape[1] / 3], [0, 1, 0], [0, 0, 1]])
    size = coffee.shape[::-1]
    behind = np.ascontiguousarray(coffee[::-1])
    copy, fill = dense.warped_copy(coffee, m, size, behind)
    assert fill == "image"
    reached = cv2.warpPerspective(np.full_like(coffee, 255), m, size) == 255
    assert np.array_equal(copy[reached], cv2.warpPerspective(coffee, m, size)[reached])
    assert np.array_equal(copy[~reached], behind[~reached])


@pytest.mark.parametrize("share", [0.75, 0.3])
def test_halves_of_a_page_that_share_part_of_it_are_matched_in_a_prealigned_copy(client, share):
    """The text pair's halves sharing ``share`` of a's (``pairs.overlapping``): b's copy brought
    onto a reaches part of a's frame only. Black where it did not, the dense network's
    standardisation of each image set the white page's copy apart from a and nothing matched
    (0 matches at either share); noise of b's own grey levels there, the page matches."""
    p = real(lambda: pairs.overlapping(pairs.load("text"), share))
    body = client.post("/v1/correspondences", files=uploads(p), data={"method": "dense", "geometry": "homography"}
                       ).json()
    xa, xb = (np.array([[m["x" + s], m["y" + s]] for m in body["matches"]]).reshape(-1, 2) for s in "ab")
    truth, known = p.truth(xa)
    within = known & (np.linalg.norm(truth - xb, axis=1) < 3)
    assert body["prealigned"] is not None and body.get("homography") is not None, body["warnings"]
    assert within.sum() >= 300 and within.mean() > 0.95, (len(xa), within.mean())


@pytest.mark.parametrize("crop_is_b", [True, False])
def test_a_crop_whose_grey_levels_are_not_the_whole_photos_is_matched_in_a_copy_standardised_as_it(client, crop_is_b):
    """b is a 300 x 250 crop of the rocket photo, mostly night sky: the dense network standardised
    it by its own grey levels, not the photo's, and 73 % of 75 matches were right, the homography
    5 px off. Its copy brought onto a by the sparse matches' shift, noise beyond it standardising
    the frame as a (``margins.standardised_as``), matches a cell for cell. The other way round
    (the crop as a, the photo as b: 104 matches before), b's copy onto a is the crop's part of it."""
    whole = cv2.resize(photos.load("rocket"), (640, 480), interpolation=cv2.INTER_AREA)
    crop = np.ascontiguousarray(whole[150:400, 200:500])
    a, b = (whole, crop) if crop_is_b else (crop, whole)
    sent = {"image_a": ("a.png", encode(a), "image/png"), "image_b": ("b.png", encode(b), "image/png")}
    body = client.post("/v1/correspondences", data={"method": "dense", "geometry": "homography"}, files=sent).json()
    xa, xb = (np.array([[m["x" + s], m["y" + s]] for m in body["matches"]]).reshape(-1, 2) for s in "ab")
    err = np.linalg.norm(xb - (xa + (-1 if crop_is_b else 1) * np.array([200, 150])), axis=1)
    assert body["prealigned"] == {"scale": pytest.approx(1, abs=0.01), "rotation_deg": pytest.approx(0, abs=0.5)}
    assert len(err) >= 1000 and (err < 3).mean() > 0.95, (len(err), (err < 3).mean())


def test_points_transfer_onto_a_plane_in_strong_perspective(client, coffee):
    """b, the photo in strong perspective and enlarged: the search runs in a copy of b brought
    onto a by the sparse matches' homography (a similarity would leave the perspective in it)."""
    h, w = coffee.shape
    src = np.float32([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]])
    hom = cv2.getPerspectiveTransform(src, src + np.float32([[0.3 * w, 0.3 * h], [-0.09 * w, 0], [0, 0],
                                                             [0, -0.3 * h]]))
    b = cv2.warpPerspective(coffee, hom, (w, h))
    pts = np.random.default_rng(1).uniform([0.15 * w, 0.15 * h], [0.85 * w, 0.85 * h], (60, 2))
    body, err = transferred(client, coffee, b, hom, pts)
    assert body["prealigned"] is not None and (err < 3).mean() > 0.85, (np.median(err), (err < 3).mean())


def test_points_follow_the_part_that_moved_where_one_homography_explains_both(client, coffee):
    """b: the photo with its right half moved 3 px right and 2 px down, the left half still (a
    frame of a video where something moved): within RANSAC's 4 px one homography explains both
    halves, a blend that misses each by a pixel or two; the residuals of its matches around each
    point put it back where its own half went."""
    h, w = coffee.shape
    b = coffee.copy()
    b[:, w // 2:] = np.roll(coffee, (2, 3), axis=(0, 1))[:, w // 2:]
    pts = np.random.default_rng(0).uniform([20, 20], [w - 20, h - 20], (80, 2))
    pts = pts[np.abs(pts[:, 0] - w / 2) > 30]  # off the seam
    truth = pts + np.where(pts[:, :1] > w / 2, [3.0, 2.0], 0.0)
    r = client.post("/v1/keypoints/transfer", files={"image_a": ("a.png", encode(coffee)),
                                                     "image_b": ("b.png", encode(b))},
                    data={"keypoints": json.dumps(pts.tolist())})
    body = r.json()
    assert r.status_code == 200 and body["guidance"] == "homography", r.text
    err = np.linalg.norm(np.array([[k["x"], k["y"]] for k in body["keypoints"]]) - truth, axis=1)
    assert np.median(err) < 0.3 and (err < 1).mean() > 0.9, (np.median(err), (err < 1).mean())  # the blend: 0.6, 0.73


def in_perspective(quad: list[list[float]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A part of astronaut (400x300) seen in strong perspective on chelsea (640x480), its corners at
    ``quad``: (the part, the scene, the homography from the part to the scene)."""
    front = photos.load("astronaut")[60:360, 60:460]
    h, w = front.shape
    hom = cv2.getPerspectiveTransform(np.float32([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]]), np.float32(quad))
    seen = cv2.warpPerspective(np.full_like(front, 255), hom, (640, 480)) > 127
    scene = np.where(seen, cv2.warpPerspective(front, hom, (640, 480)), cv2.resize(photos.load("chelsea"), (640, 480)))
    return front, scene, hom


def test_points_transfer_where_the_planes_horizon_runs_between_it_and_an_images_corner(client):
    """The plane's top and bottom edges meet left of it, so its horizon passes between it and the
    scene's top-left corner, which OpenCV's scaling of a homography (h[2, 2] = 1) puts in front of
    the camera: every point of the plane read as behind it. Each way round, every point is where
    the homography puts it, in view and unwarned (the scene as b: a copy of b brought onto a;
    as a: its points had read as outside b, the features' find kept, up to 7.6 px off)."""
    front, scene, hom = in_perspective([[300, 200], [620, 60], [620, 420], [300, 280]])
    pts = np.random.default_rng(3).uniform([40, 30], [360, 270], (40, 2))
    body, err = transferred(client, front, scene, hom, pts)
    assert body["prealigned"] is not None and not body["warnings"]
    assert all(k["in_view"] for k in body["keypoints"]) and err.max() < 1.0, np.sort(err)[-5:]
    inv, on_plane = np.linalg.inv(hom), cv2.perspectiveTransform(pts.reshape(-1, 1, 2), hom).reshape(-1, 2)
    body, err = transferred(client, scene, front, inv, on_plane)
    # the plane's inliers span about a tenth of the scene (9.9 % or 11 % as the keypoints fall): said or not
    told = [w for w in body["warnings"] if "inliers span" not in w]
    assert not told and all(k["in_view"] for k in body["keypoints"]), body["warnings"]
    assert err.max() < 3.0, np.sort(err)[-5:]
    # the keypoint pairs the homography explains besides RANSAC's inliers join them (100 without)
    sent = {"image_a": ("a.png", encode(scene), "image/png"), "image_b": ("b.png", encode(front), "image/png")}
    body = client.post("/v1/correspondences", data={"method": "sparse", "geometry": "homography"}, files=sent).json()
    xa = np.array([[m["xa"], m["ya"]] for m in body["matches"]])[np.array(body["inliers"])]
    xb = np.array([[m["xb"], m["yb"]] for m in body["matches"]])[np.array(body["inliers"])]
    err = np.linalg.norm(cv2.perspectiveTransform(xa.reshape(-1, 1, 2), inv).reshape(-1, 2) - xb, axis=1)
    assert len(err) >= 105 and err.max() < 5, (len(err), err.max())


def test_an_image_seen_larger_is_matched_at_its_own_scale(client, coffee):
    """a is the photo at 0.4 of its size, b the photo: a copy of a brought onto b is searched at
    b's finer scale, which gives many times the correct matches of b shrunk onto a."""
    a = cv2.resize(coffee, (240, 160), interpolation=cv2.INTER_AREA)
    sent = {"image_a": ("a.png", encode(a), "image/png"), "image_b": ("b.png", encode(coffee), "image/png")}
    r = client.post("/v1/correspondences", data={"method": "dense", "geometry": "homography"}, files=sent)
    assert r.status_code == 200, r.text
    body = r.json()
    xa = np.array([[m["xa"], m["ya"]] for m in body["matches"]])
    xb = np.array([[m["xb"], m["yb"]] for m in body["matches"]])
    err = np.linalg.norm((xa + 0.5) * 2.5 - 0.5 - xb, axis=1)
    # about 9,900 correct against 2,400 from b shrunk onto a alone
    assert body["prealigned"]["scale"] > 2 and (err < 3).sum() >= 5000 and (err < 3).mean() > 0.9, \
        ((err < 3).sum(), (err < 3).mean())


def transferred(client, a: np.ndarray, b: np.ndarray, hom: np.ndarray, pts: np.ndarray) -> tuple[dict, np.ndarray]:
    """/v1/keypoints/transfer of points (K, 2) of a onto b = a under ``hom``: (answer, errors (K,) px)."""
    sent = {"image_a": ("a.png", encode(a), "image/png"), "image_b": ("b.png", encode(b), "image/png")}
    r = client.post("/v1/keypoints/transfer", data={"keypoints": json.dumps(pts.tolist())}, files=sent)
    assert r.status_code == 200, r.text
    body = r.json()
    truth = cv2.perspectiveTransform(pts.reshape(-1, 1, 2), hom).reshape(-1, 2)
    return body, np.linalg.norm(np.array([[k["x"], k["y"]] for k in body["keypoints"]]) - truth, axis=1)


def zoomed_in(coffee: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """b: the photo turned 30 degrees and enlarged 1.5 times about its centre; its homography."""
    h, w = coffee.shape
    c = np.array([[1, 0, w / 2], [0, 1, h / 2], [0, 0, 1]])
    hom = c @ np.vstack([cv2.getRotationMatrix2D((0, 0), 30, 1.5), [0, 0, 1]]) @ np.linalg.inv(c)
    return cv2.warpPerspective(coffee, hom, (w, h)), hom


def test_points_transfer_onto_an_enlarged_and_turned_copy(client, coffee):
    """b shows a's content 1.5 times as large: searched at b's finer scale as well (a copy of a
    enlarged onto b), the points land within 3 px; at a's scale alone, 41 % did."""
    b, hom = zoomed_in(coffee)
    h, w = coffee.shape
    pts = np.random.default_rng(2).uniform([0.3 * w, 0.3 * h], [0.7 * w, 0.7 * h], (60, 2))
    body, err = transferred(client, coffee, b, hom, pts)
    assert body["prealigned"]["scale"] > 1.4 and (err < 3).mean() > 0.9, (np.median(err), (err < 3).mean())
    ids = {m: client.post("/v1/images", files={"image": ("a.png", encode(coffee[:, ::-1]))},
                          data={"method": m}).json()["image_id"] for m in ("dense", "sparse")}
    assert ids["dense"] == ids["sparse"]  # both kinds of features cached: the sparse guide and its homography work
    r = client.post("/v1/keypoints/transfer", data={"keypoints": json.dumps(pts.tolist()), "image_a_id": ids["dense"]},
                    files={"image_b": ("b.png", encode(b[:, ::-1]), "image/png")})
    assert r.status_code == 200, r.text  # a by id: no pixels of a to enlarge, the search at a's scale only
    assert r.json()["prealigned"]["scale"] > 1.4


def test_a_pair_sent_again_finds_its_prealigned_copies_cached_and_answers_the_same(coffee):
    """b enlarged and turned: the features of the copies brought onto each other are computed
    once; sent again, the pair's copies come from the cache (no miss, one hit each) and every
    point and match is the same."""
    b, _ = zoomed_in(coffee)
    pts = np.random.default_rng(2).uniform(100, 300, (40, 2))
    sent = {"image_a": ("a.png", encode(coffee), "image/png"), "image_b": ("b.png", encode(b), "image/png")}
    with make_client() as c:
        stats = c.app.state.cache.stats
        for path, data in (("/v1/keypoints/transfer", {"keypoints": json.dumps(pts.tolist())}),
                           ("/v1/correspondences", {"method": "dense"})):
            first = c.post(path, data=data, files=sent).json()
            misses, hits = stats.misses, stats.hits
            again = c.post(path, data=data, files=sent).json()
            assert first["prealigned"]["scale"] > 1.4 and stats.misses == misses
            assert stats.hits - hits == 4 + 2  # a's and b's dense and sparse features, and the two copies
            key = "keypoints" if "keypoints" in first else "matches"
            assert first[key] == again[key]


def transferred_real(client, p: pairs.Pair) -> tuple[dict, np.ndarray]:
    """The answer for 100 points of a whose truth lies in b, with each point's error in pixels."""
    pts, truth = visible_points(p, 100, np.random.default_rng(0))
    body = client.post("/v1/keypoints/transfer", data={"keypoints": json.dumps(pts.tolist())}, files=uploads(p)).json()
    return body, np.linalg.norm(np.array([[k["x"], k["y"]] for k in body["keypoints"]]) - truth, axis=1)


def test_a_turning_camera_enlarged_is_guided_by_its_plane(client):
    """Leuven (a street from a camera turned about its centre) enlarged 4x: RANSAC's fundamental
    matrix takes in more matches than the homography by threading the repeated windows onto its
    lines, and leaves out a quarter of the homography's inliers, which the scene's own would keep;
    guided by it, 40 % of the points came within 5 px. The homography guides instead."""
    body, err = transferred_real(client, real(lambda: pairs.zoomed(pairs.load("leuven"), 4.0)))
    assert body["guidance"] == "homography" and body["prealigned"]["scale"] > 2
    assert (err < 5).mean() > 0.85, (err < 5).mean()


def test_a_turning_camera_seen_through_jpeg_is_guided_by_its_plane(client):
    """Leuven with b saved as JPEG at quality 40: RANSAC's fundamental matrix explains enough more
    matches than the homography to be chosen, but the epipolar search comes back from only about
    60 % of the places that were its evidence of depth (``keypoint_transfer.lines_hold``); guided by it,
    14 % of the points came within 5 px. The homography guides instead."""
    body, err = transferred_real(client, real(lambda: pairs.degraded(pairs.load("leuven"), "jpeg", 40)))
    assert body["guidance"] == "homography"
    assert (err < 5).mean() > 0.85, (err < 5).mean()


def test_points_go_where_the_plane_puts_them_when_it_looks_as_alike_as_the_epipolar_find(client):
    """The aloe stereo pair (a scene with depth): a fundamental matrix guides, and where the
    homography that holds among the same matches puts a point at least as alike, the point goes
    there. Each point says which (``by_plane``), and those the plane put read the homography's
    confidence curve, the rest the epipolar finds'."""
    body, err = transferred_real(client, real(lambda: pairs.load("aloe")))
    assert body["guidance"] == "fundamental"
    plane = np.array([k["by_plane"] for k in body["keypoints"]])
    assert 0 < plane.sum() < len(plane) and (err[plane] < 5).mean() > (err[~plane] < 5).mean()
    cal = client.app.state.registry.get("ucn", ("dense",)).entry.calibration
    for k, put in zip(body["keypoints"], plane, strict=True):
        use = "transfer" if put else "transfer-fundamental"
        if k["consistent"]:
            assert abs(k["confidence"] - np.interp(k["score"], cal[use].score, cal[use].p)) < 1e-4


def test_points_map_through_a_homography_however_many():
    w = np.array([[2.0, 0, 1], [0, 2, 0], [0, 0, 1]])
    assert matching.project(w, np.zeros((0, 2), np.float32)).shape == (0, 2)
    np.testing.assert_allclose(matching.project(w, np.array([[1.0, 2.0]])), [[3.0, 4.0]])
    assert not np.isfinite(matching.project(np.diag([1.0, 1.0, 0.0]), np.array([[1.0, 2.0]]))).any()
    flip = np.diag([-1.0, -1.0, -1.0])  # the same points, from behind the camera
    pts = np.array([[0.0, 0.0], [9.0, 4.0], [9.2, 4.0]])
    assert matching.lands_in(np.eye(3), pts, 10, 5)[1].tolist() == [True, True, False]
    assert matching.lands_in(np.eye(3), pts, 10, 5, slack=0.5)[1].tolist() == [True, True, True]
    assert not matching.lands_in(flip, pts, 10, 5, slack=0.5)[1].any()


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.floats(0, 1), st.floats(0, 1)), min_size=1, max_size=40),
       st.sampled_from(["corners", "edges", "inside"]))
def test_an_image_transferred_onto_itself_returns_every_point(client, coffee, unit_points, where):
    """Property: whatever the points, borders and corners included, transfer onto the same image
    returns each within 0.5 px, in view and without a warning."""
    h, w = coffee.shape
    u = np.array(unit_points)
    if where == "corners":
        u = np.round(u)
    elif where == "edges":
        u[:, 0] = np.round(u[:, 0])
    pts = u * [w - 1, h - 1]
    png = encode(coffee)
    r = client.post("/v1/keypoints/transfer", data={"keypoints": json.dumps(pts.tolist())},
                    files={"image_a": ("a.png", png, "image/png"), "image_b": ("b.png", png, "image/png")})
    assert r.status_code == 200, r.text
    body = r.json()
    got = np.array([[k["x"], k["y"]] for k in body["keypoints"]])
    assert np.linalg.norm(got - pts, axis=1).max() <= 0.5
    assert all(k["in_view"] for k in body["keypoints"]) and body["warnings"] == []


def layered_stereo(coffee):
    """A stereo pair of a scene with depth: the photo as a wall 6 px of disparity away and a card
    cut from it standing in front at 30 px. -> (a, b, points on the card, on the wall, truth)."""
    card = np.ascontiguousarray(coffee[40:200, 300:520])

    def view(wall, front):
        img = np.roll(coffee, -wall, axis=1).copy()
        img[120:280, 200 - front:420 - front] = card
        return img
    rng = np.random.default_rng(0)
    on_card = np.c_[rng.uniform(215, 405, 40), rng.uniform(135, 265, 40)]
    on_wall = np.c_[rng.uniform(20, 180, 40), rng.uniform(20, 380, 40)]
    return view(0, 0), view(6, 30), on_card, on_wall, np.r_[on_card - [30, 0], on_wall - [6, 0]]


@pytest.mark.parametrize("geometry", ["homography", "fundamental"])
def test_the_caller_names_the_geometry_of_a_scene_with_depth(client, coffee, geometry):
    """The card's matches are few beside the wall's: asked for, a fundamental matrix carries the
    card's points along their epipolar lines to the card; a homography (the wall's) puts them
    where the wall would be."""
    a, b, on_card, on_wall, truth = layered_stereo(coffee)
    r = client.post("/v1/keypoints/transfer", files={"image_a": ("a.png", encode(a)), "image_b": ("b.png", encode(b))},
                    data={"keypoints": json.dumps(np.r_[on_card, on_wall].tolist()), "geometry": geometry})
    assert r.status_code == 200, r.text
    body = r.json()
    err = np.linalg.norm(np.array([[k["x"], k["y"]] for k in body["keypoints"]]) - truth, axis=1)
    assert body["guidance"] == geometry
    card_right = (err[:len(on_card)] < 3).mean()
    assert card_right > 0.9 if geometry == "fundamental" else card_right < 0.2, card_right


@pytest.mark.parametrize("fields", [{"guided": "false"}, {"method": "align"}])
def test_a_geometry_without_a_guided_search_is_refused(client, pair, fields):
    r = client.post("/v1/keypoints/transfer", files=files(pair),
                    data={"keypoints": "[[100, 100]]", "geometry": "fundamental"} | fields)
    assert r.status_code == 422 and r.json()["code"] == "invalid_input" and "geometry" in r.json()["detail"]


def test_an_unknown_geometry_is_refused(client, pair):
    r = client.post("/v1/keypoints/transfer", files=files(pair),
                    data={"keypoints": "[[100, 100]]", "geometry": "affine"})
    assert r.status_code == 422 and "geometry" in json.dumps(r.json())


def test_a_named_geometry_that_cannot_be_found_is_named_in_the_warning(client):
    rng = np.random.default_rng(5)
    a, b = (cv2.GaussianBlur(rng.integers(0, 255, (240, 320), dtype=np.uint8), (0, 0), 1.5) for _ in range(2))
    r = client.post("/v1/keypoints/transfer", files={"image_a": ("a.png", encode(a)), "image_b": ("b.png", encode(b))},
                    data={"keypoints": "[[100, 100], [200, 150]]", "geometry": "fundamental"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["guidance"] == "none" and body["warnings"][0].startswith("no fundamental matrix was found"), body


def test_unrelated_images_verify_no_geometry(client, coffee, noise):
    """A photo against blurred noise: whatever RANSAC fits among their sparse matches is chance,
    and the answer says nothing was verified."""
    sent = {"image_a": ("a.png", encode(coffee)), "image_b": ("b.png", encode(noise))}
    for geometry in ("fundamental", "homography"):
        body = client.post("/v1/correspondences", files=sent, data={"method": "sparse", "geometry": geometry}).json()
        assert body.get(geometry) is None and body["warnings"][0].startswith(f"no {geometry} has"), body["warnings"]
        assert body["warnings"][0].endswith("nearest neighbours that pass Lowe's ratio test, as without a geometry")
        # both fits are named: the mutual matches' and the ratio-tested ones' (as many as the answer returns)
        assert f"or more among the {len(body['matches'])} that pass Lowe's ratio test" in body["warnings"][0]
        # a homography's inliers count where their keypoints agree with it, and the bar is theirs
        assert (f"{matching.AGREED_INLIERS} or more inliers whose keypoints' scale and orientation agree with it"
                in body["warnings"][0]) == (
            geometry == "homography")
    dense = client.post("/v1/correspondences", files=sent, data={"method": "dense", "geometry": "homography"}).json()
    assert dense["warnings"][0].endswith("the matches are unverified nearest neighbours"), dense["warnings"]  # no ratio
    body = client.post("/v1/keypoints/transfer", files=sent, data={"keypoints": "[[100, 100]]"}).json()
    assert body["guidance"] == "none" and body["warnings"][0].startswith("no geometry was found")


def step_in_depth(img: np.ndarray) -> np.ndarray:
    """Image b of a stereo pair of a step: a's left half at 6 px of disparity, its right half
    nearer, at 30 px (each half a plane of its own: no homography explains both)."""
    w = img.shape[1]
    b = np.roll(img, -6, axis=1)
    b[:, w // 2 - 30:] = np.roll(img, -30, axis=1)[:, w // 2 - 30:]
    return b


def test_auto_verifies_a_plane_by_its_homography_and_a_step_in_depth_by_a_fundamental_matrix(client, pair, coffee):
    """geometry=auto: the plane's answer is the one geometry=homography gives; the step's is a
    fundamental matrix verifying both halves, given by the default descriptor (a fundamental
    matrix chosen by the fast one's matches is in doubt: look-alikes in repeated structure)."""
    plane = client.post("/v1/correspondences", files=files(pair), data={"geometry": "auto"}).json()
    named = client.post("/v1/correspondences", files=files(pair), data={"geometry": "homography"}).json()
    assert plane["geometry"] == named["geometry"] == "homography" and "fundamental" not in plane
    assert np.allclose(plane["homography"], named["homography"], rtol=1e-9) and plane["inliers"] == named["inliers"]
    sent = {"image_a": ("a.png", encode(coffee)), "image_b": ("b.png", encode(step_in_depth(coffee)))}
    body = client.post("/v1/correspondences", files=sent, data={"geometry": "auto"}).json()
    assert body["geometry"] == "fundamental" and "homography" not in body and body["warnings"] == []
    assert body["model"] == Settings().default_descriptor_model and "first_try" in body["timing_ms"]
    xa, xb = (np.array([[m[f"x{k}"], m[f"y{k}"]] for m in body["matches"]]) for k in "ab")
    near = xa[:, 0] >= coffee.shape[1] // 2
    right = (np.abs(xa[:, 0] - xb[:, 0] - np.where(near, 30, 6)) < 2) & (np.abs(xa[:, 1] - xb[:, 1]) < 2)
    inliers = np.array(body["inliers"])
    assert (inliers & near).sum() > 150 and (inliers & ~near).sum() > 150, ((inliers & near).sum(), inliers.sum())
    assert right[inliers].mean() > 0.95, right[inliers].mean()


def test_dense_auto_takes_the_geometry_its_sparse_prealignment_chose(client):
    """Leuven (a street from a camera turned about its centre): the dense matches, which carry no
    Lowe's ratio, let a fundamental matrix thread the windows' look-alikes onto its lines; the
    sparse matches the dense method pre-aligns by choose the homography, and auto takes theirs."""
    sent = uploads(real(lambda: pairs.load("leuven")))
    body = client.post("/v1/correspondences", files=sent, data={"geometry": "auto", "method": "dense"}).json()
    assert body["method"] == "dense" and body["geometry"] == "homography", body.get("geometry")


def test_auto_names_both_geometries_when_neither_verifies(client, coffee, noise):
    sent = {"image_a": ("a.png", encode(coffee)), "image_b": ("b.png", encode(noise))}
    body = client.post("/v1/correspondences", files=sent, data={"geometry": "auto"}).json()
    assert "geometry" not in body and "homography" not in body and "fundamental" not in body
    assert body["warnings"][0].startswith("no homography has") and "nor does a fundamental matrix fit them" in \
        body["warnings"][0], body["warnings"]


@pytest.mark.parametrize("cap", [None, 2])
def test_matches_whose_geometry_failed_are_those_of_the_ratio_test(client, coffee, noise, cap):
    """No geometry sorted the mutual matches out, so the answer keeps those that pass Lowe's ratio
    test, as an answer without a geometry does (the same matches, each with its RANSAC mark, and as
    many under a ``max_matches`` cap); a ratio the caller sends is kept as sent."""
    sent = {"image_a": ("a.png", encode(coffee)), "image_b": ("b.png", encode(noise))}
    one = {"method": "sparse", "model": "siam-2stream-l2"}  # one descriptor answers all three (without one named,
    # the failed one would be answered again by another: test_first_try)
    asked = one | ({"max_matches": str(cap)} if cap else {})
    failed = client.post("/v1/correspondences", files=sent, data=asked | {"geometry": "fundamental"}).json()
    plain = client.post("/v1/correspondences", files=sent, data=asked).json()
    assert failed.get("fundamental") is None and failed["matches"], failed["warnings"]
    assert cap is None or len(plain["matches"]) == cap
    assert all(m["ratio"] < sparse.RATIO for m in failed["matches"])
    assert len(failed["inliers"]) == len(failed["matches"])
    key = {(round(m["xa"], 2), round(m["ya"], 2), round(m["xb"], 2), round(m["yb"], 2)) for m in plain["matches"]}
    assert key == {(round(m["xa"], 2), round(m["ya"], 2), round(m["xb"], 2), round(m["yb"], 2))
                   for m in failed["matches"]}
    sent_ratio = client.post("/v1/correspondences", files=sent, data=one | {"geometry": "fundamental",
                                                                            "ratio": "0.99"}).json()
    assert len(sent_ratio["matches"]) > len(failed["matches"])


@pytest.mark.parametrize("how", ["unrelated", "guided=false"])
def test_unguided_points_carry_no_confidence(client, coffee, noise, pair, how):
    """The confidence curves were fitted on guided transfers; without a geometry the answer warns
    and vouches for nothing."""
    sent = {"image_a": ("a.png", encode(coffee)), "image_b": ("b.png", encode(noise))} if how == "unrelated" \
        else files(pair)
    body = client.post("/v1/keypoints/transfer", files=sent,
                       data={"keypoints": "[[100, 100], [300, 200]]"} | ({"guided": "false"} if how != "unrelated"
                                                                           else {})).json()
    assert body["guidance"] == "none" and "without a confidence" in body["warnings"][0]
    assert all("confidence" not in k for k in body["keypoints"])
    guided = client.post("/v1/keypoints/transfer", files=files(pair), data={"keypoints": "[[100, 100]]"}).json()
    assert guided["guidance"] != "none" and "confidence" in guided["keypoints"][0]


@pytest.mark.parametrize("method,geometry", [("sparse", "homography"), ("dense", "none"), ("dense", "homography")])
def test_a_cap_cuts_the_answer_and_changes_nothing_else(client, coffee, method, geometry):
    """``max_matches`` returns the best of the matches an uncapped answer has, in its order, with
    the same geometry: RANSAC sees every match (five of them could never show a homography's ten
    inliers) and the dense search is the one an uncapped request runs (a cap had sent a plane in
    perspective through the pre-aligned copies, where the whole answer searched directly)."""
    a = cv2.resize(coffee, (480, 320), interpolation=cv2.INTER_AREA)
    b = cv2.warpPerspective(a, np.array([[0.93, 0.1, 18], [-0.08, 0.95, 12], [2e-4, 1e-4, 1]]), (480, 320))
    sent = {"image_a": ("a.png", encode(a)), "image_b": ("b.png", encode(b))}
    asked = {"method": method, "geometry": geometry}
    whole = client.post("/v1/correspondences", files=sent, data=asked).json()
    cut = client.post("/v1/correspondences", files=sent, data=asked | {"max_matches": "5"}).json()
    key = lambda body: [(m["xa"], m["ya"], m["xb"], m["yb"]) for m in body["matches"]]  # noqa: E731
    assert len(whole["matches"]) > 5 and key(cut) == key(whole)[:5]
    assert cut.get("prealigned") == whole.get("prealigned") and cut.get("one_scene") == whole.get("one_scene")
    if geometry != "none":
        assert cut[geometry] is not None and cut[geometry] == whole[geometry]
        assert cut["inliers"] == whole["inliers"][:5]


def inferred(client, model: str) -> float:
    line = next((x for x in client.get("/metrics").text.splitlines()
                 if x.startswith(f'corr_inference_items_total{{model="{model}"}}')), None)
    return float(line.split()[-1]) if line else 0.0


def test_malformed_keypoints_are_refused_before_any_features_are_computed(client, pair):
    fresh = encode(np.ascontiguousarray(pair[2][::-1]))  # bytes no other test sent: never cached
    before = inferred(client, "ucn")
    err(client.post("/v1/keypoints/transfer", files={"image_a": ("a.png", fresh), "image_b": ("b.png", fresh)},
                    data={"keypoints": "[[1, 2], [3]]"}), 422)
    assert inferred(client, "ucn") == before
    # the bounds are checked against the image, once it is decoded
    err(client.post("/v1/keypoints/transfer", files={"image_a": ("a.png", fresh), "image_b": ("b.png", fresh)},
                    data={"keypoints": "[[1e6, 2]]"}), 422)
    assert inferred(client, "ucn") > before


def test_points_among_matches_the_guide_does_not_explain_have_low_support(client, coffee):
    """A second motion: the right third of b moved 24 px down. The guide follows the rest, and the
    points on the moved part say they sit among matches it does not explain."""
    a = coffee
    b = a.copy()
    third = a.shape[1] * 2 // 3
    b[:, third:] = np.roll(a[:, third:], 24, axis=0)
    rng = np.random.default_rng(0)
    left = np.c_[rng.uniform(40, third - 60, 30), rng.uniform(60, a.shape[0] - 60, 30)]
    right = np.c_[rng.uniform(third + 40, a.shape[1] - 40, 30), rng.uniform(60, a.shape[0] - 60, 30)]
    r = client.post("/v1/keypoints/transfer", files={"image_a": ("a.png", encode(a)), "image_b": ("b.png", encode(b))},
                    data={"keypoints": json.dumps(np.r_[left, right].tolist()), "geometry": "homography"})
    assert r.status_code == 200, r.text
    support = np.array([k["support"] for k in r.json()["keypoints"]])
    assert np.median(support[:30]) >= 0.75 and np.median(support[30:]) <= 0.25, support


@pytest.mark.parametrize("name", ["thermal", "cathedrals"])
@pytest.mark.parametrize("geometry", ["auto", "none"])
def test_views_that_share_nothing_matchable_get_no_geometry_and_no_confidence_by_either_method(client, name, geometry):
    """Held-back fresh pairs (``models.data.imm``): a thermal camera's view of a building against a
    visible one's, where dense matches had been given a homography on 11 wrong matches within
    20 x 12 px of a, read at 0.99; two different cathedrals. Neither method finds a geometry or one
    scene, and no match reads 0.1 or more."""
    from models.data import imm
    if not imm.available():
        pytest.skip("run `python -m models.prep_data --opencv` to unpack the pairs")
    a, b = imm.load(name)
    for method in ("sparse", "dense"):
        r = client.post("/v1/correspondences", files={"image_a": ("a.jpg", a), "image_b": ("b.jpg", b)},
                        data={"method": method, "geometry": geometry})
        body = r.json()
        assert r.status_code == 200 and body.get("geometry") is None and not body.get("one_scene"), (method, body)
        assert max((m["confidence"] for m in body["matches"]), default=0) < 0.1 and body["warnings"], method


def test_a_dense_answer_that_finds_no_geometry_where_the_sparse_guide_did_says_so(client):
    """The basilica near and far in other light (held back, ``models.data.imm``): the dense
    features match nothing of it, the sparse keypoints that guide them fit its homography; the
    dense answer said only that its matches fit nothing."""
    from models.data import imm
    if not imm.available():
        pytest.skip("run `python -m models.prep_data --opencv` to unpack the pairs")
    files = dict(zip(("image_a", "image_b"), (("a.jpg", d) for d in imm.load("basilica")), strict=True))
    dense = client.post("/v1/correspondences", files=files, data={"method": "dense", "geometry": "auto"}).json()
    assert dense.get("geometry") is None and "try method=sparse" in dense["warnings"][-1]
    assert "fit a homography" in dense["warnings"][-1]
    sparse = client.post("/v1/correspondences", files=files, data={"method": "sparse", "geometry": "auto"}).json()
    assert sparse["geometry"] == "homography"
