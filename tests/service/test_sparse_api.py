"""method=sparse through the API: the default method, invariant to rotation and scale, and with a
geometry to fit it keeps the mutual matches a ratio test would drop in repeated structure."""
import json

import cv2
import numpy as np
import pytest

from eval.robustness import Outcome, judge, uploads, visible_points
from models.data import pairs
from models.data.photos import LOMIRI_VAL
from models.data.photos import load as load_photo
from tests.conftest import encode, real


def similarity(shape, scale, angle):
    """(3, 3) turning about the centre and scaling; and the output size holding the whole image."""
    h, w = shape
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, scale)
    corners = np.c_[[[0, 0], [w, 0], [w, h], [0, h]], np.ones(4)] @ m.T
    lo, hi = corners.min(0), corners.max(0)
    m[:, 2] -= lo
    return np.vstack([m, [0, 0, 1]]), tuple(np.ceil(hi - lo).astype(int))


def ask(client, a, b, **data):
    r = client.post("/v1/correspondences", data=data,
                    files={"image_a": ("a.png", encode(a), "image/png"), "image_b": ("b.png", encode(b), "image/png")})
    assert r.status_code == 200, r.text
    return r.json()


def judged(client, p: pairs.Pair, sent: dict) -> tuple[dict, Outcome]:
    """The answer of ``sent`` (``p``'s images) with a homography asked for, and how it fares
    against ``p``'s truth (``eval.robustness.judge``)."""
    body = client.post("/v1/correspondences", files=sent, data={"geometry": "homography"}).json()
    xy_a, xy_b = (np.array([[x["x" + s], x["y" + s]] for x in body["matches"]]) for s in "ab")
    return body, judge(p, xy_a, xy_b, body.get("homography"), np.asarray(body["inliers"], bool))


def grid_error(body, h_true, shape):
    ys, xs = np.mgrid[40:shape[0] - 40:40, 40:shape[1] - 40:40]
    p = np.c_[xs.ravel(), ys.ravel(), np.ones(xs.size)]
    est, true = p @ np.array(body["homography"]).T, p @ h_true.T
    return np.median(np.linalg.norm(est[:, :2] / est[:, 2:] - true[:, :2] / true[:, 2:], axis=1))


@pytest.mark.parametrize("scale, angle", [(0.5, 90), (0.35, 30), (2.0, 200)])
def test_the_default_method_recovers_rotation_and_scale(client, coffee, scale, angle):
    h, size = similarity(coffee.shape, scale, angle)
    b = cv2.warpAffine(coffee, h[:2], size, flags=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    body = ask(client, coffee, b, geometry="homography")
    assert body["method"] == "sparse" and body["homography"] is not None and body["warnings"] == []
    assert grid_error(body, h, coffee.shape) < 3


@pytest.mark.parametrize("method", ["sparse", "dense"])
def test_pixel_centres_lie_at_whole_coordinates_so_a_zoom_of_two_maps_x_to_2x_plus_a_half(client, coffee, method):
    """(0, 0) is the centre of the top-left pixel (OpenCV's convention): in image b, image a enlarged
    twice by a centre-aligned resize, a's point x lies at 2x + 0.5, for either method (the dense
    one is pre-aligned by the sparse geometry). Not a quarter pixel short of it, as with OpenCV's
    detector doubling its image by default (``sparse.DETECTOR``)."""
    b = cv2.resize(coffee, None, fx=2, fy=2, interpolation=cv2.INTER_LINEAR)
    body = ask(client, coffee, b, method=method, geometry="homography")
    m = np.array([[x["xa"], x["ya"], x["xb"], x["yb"]] for x in body["matches"]])
    off = np.median(m[:, 2:] - (2 * m[:, :2] + 0.5), axis=0)
    assert len(m) > 100 and np.all(np.abs(off) < 0.06), off


def test_the_slim_descriptor_recovers_rotation_and_scale_and_says_so_with_its_own_confidence(client, coffee):
    """``model`` picks the faster descriptor per request: the same geometry, the answer names it,
    and each match's confidence is read off that model's own curve (fitted by eval.calibrate)."""
    h, size = similarity(coffee.shape, 0.5, 90)
    b = cv2.warpAffine(coffee, h[:2], size, flags=cv2.INTER_AREA)
    body = ask(client, coffee, b, geometry="homography", model="siam-2stream-l2-w0.25")
    assert (body["method"], body["model"]) == ("sparse", "siam-2stream-l2-w0.25") and body["warnings"] == []
    assert grid_error(body, h, coffee.shape) < 3
    cal = client.app.state.registry.get("siam-2stream-l2-w0.25", ("descriptor",)).entry.calibration
    m, inlier = body["matches"][0], body["inliers"][0]
    curve = cal["sparse-inlier" if inlier else "sparse-outlier"]
    assert abs(m["confidence"] - np.interp(m["score"], curve.score, curve.p)) < 1e-4


@pytest.fixture(scope="module")
def page():
    """Repeated structure: a page of the same few words, and a copy at 0.7 of its size."""
    img = np.full((480, 640), 235, np.uint8)
    rng = np.random.default_rng(0)
    for row in range(15):
        words = " ".join(rng.choice(["match", "image", "patch", "scale", "point"], 4))
        cv2.putText(img, words, (20, 30 + 30 * row), cv2.FONT_HERSHEY_SIMPLEX, 0.9, 20, 2, cv2.LINE_AA)
    h, size = similarity(img.shape, 0.7, 0)
    return img, cv2.warpAffine(img, h[:2], size, flags=cv2.INTER_AREA), h


def test_with_a_geometry_no_ratio_test_drops_the_repeated_structure(client, page):
    a, b, h = page
    one = {"model": "siam-2stream-l2"}  # every answer by one descriptor (none tried first: test_first_try)
    default = ask(client, a, b, geometry="homography", **one)
    ratio_tested = ask(client, a, b, geometry="homography", ratio="0.9", **one)
    assert sum(default["inliers"]) > sum(ratio_tested["inliers"])
    assert grid_error(default, h, a.shape) < 3
    unverified = ask(client, a, b, **one)  # no geometry: the ratio test is the only filter, and it applies
    assert len(unverified["matches"]) == len(ratio_tested["matches"])


def test_each_sparse_match_carries_its_ratio_and_the_test_reads_it(client, page):
    a, b, _ = page
    one = {"model": "siam-2stream-l2"}  # both answers by one descriptor
    everything = ask(client, a, b, geometry="homography", **one)["matches"]  # no ratio test: every mutual match
    tested = ask(client, a, b, geometry="homography", ratio="0.8", **one)["matches"]
    ratios = np.array([m["ratio"] for m in everything])
    assert ((ratios > 0) & (ratios <= 1)).all() and (ratios >= 0.8).any()  # repeated words: look-alikes
    assert all(m["ratio"] < 0.8 for m in tested)
    assert len(tested) == (ratios < 0.8).sum()  # the test keeps exactly the matches under its ratio
    dense = ask(client, a, b, method="dense")["matches"]
    assert dense and all("ratio" not in m for m in dense)


CLUTTER = ("grass", "gravel", "brick", "moon", "hubble_deep_field", "immunohistochemistry", "retina", "coins")


def in_clutter(obj: np.ndarray, scale: float, x0: int = 900, y0: int = 600) -> tuple[np.ndarray, np.ndarray]:
    """A 2048 x 1536 mosaic of eight other photos (the service sees it halved) with ``obj``
    pasted at ``scale``: (the mosaic, (3, 3) obj's pixels -> its)."""
    tiles = [cv2.resize(load_photo(n), (512, 384), interpolation=cv2.INTER_AREA) for n in CLUTTER]
    b = np.vstack([np.hstack(row) for row in (tiles[:4], tiles[4:], tiles[::-1][:4], tiles[::-1][4:])])
    small = cv2.resize(obj, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    b[y0:y0 + small.shape[0], x0:x0 + small.shape[1]] = small
    sx, sy = small.shape[1] / obj.shape[1], small.shape[0] / obj.shape[0]
    return b, np.array([[sx, 0, x0 + 0.5 * sx - 0.5], [0, sy, y0 + 0.5 * sy - 0.5], [0, 0, 1]])


@pytest.mark.parametrize("name, scale", [("coffee", 0.5), ("camera", 0.35)])
def test_a_small_object_in_a_large_image_of_clutter_is_found_and_its_points_transferred(client, name, scale):
    """Its true matches are under a tenth of the mutual matches, too few for a homography to be
    believed among them; the ratio test keeps them and drops most of the rest, and the homography
    fitted to what passes it is found (the mutual matches alone gave none)."""
    obj = load_photo(name)
    b, h = in_clutter(obj, scale)
    body = ask(client, obj, b, geometry="homography")
    assert body["homography"] is not None and body["warnings"] == [], body["warnings"]
    assert grid_error(body, h, obj.shape) < 3
    pts = np.float32([[60, 60], [obj.shape[1] / 2, obj.shape[0] / 2], [obj.shape[1] - 80, obj.shape[0] - 60]])
    sent = {"image_a": ("a.png", encode(obj), "image/png"), "image_b": ("b.png", encode(b), "image/png")}
    r = client.post("/v1/keypoints/transfer", data={"keypoints": json.dumps(pts.tolist())}, files=sent)
    assert r.status_code == 200, r.text
    got = np.array([[k["x"], k["y"]] for k in r.json()["keypoints"]])
    truth = np.c_[pts, np.ones(3)] @ h.T
    # guided, and within a feature cell of b as the dense network sees it (halved: 8 px)
    assert r.json()["warnings"] == [] and np.linalg.norm(got - truth[:, :2], axis=1).max() < 8


@pytest.mark.parametrize("x0, y0", [(100, 50), (600, 450)])
def test_sparse_max_side_sees_a_large_image_finely_enough_to_place_a_region_of_it_exactly(x0, y0):
    """A 400 x 300 region of the 2048 x 1536 mosaic, as it is: at SPARSE_MAX_SIDE=2048 the mosaic's
    keypoints are found at its own resolution and the region's place comes out within half a pixel
    (at the default 1024 the mosaic is halved: 12 px off and a wrong place, for these two)."""
    from tests.conftest import make_client
    b, _ = in_clutter(load_photo("camera"), 0.35)
    a = b[y0:y0 + 300, x0:x0 + 400].copy()
    with make_client(sparse_max_side=2048) as c:
        body = ask(c, a, b, geometry="homography")
    assert body["homography"] is not None
    assert grid_error(body, np.array([[1, 0, x0], [0, 1, y0], [0, 0, 1.0]]), a.shape) < 0.5


def test_a_homography_says_how_much_of_image_a_its_inliers_span_and_warns_when_little(client, coffee):
    """Coffee's whole photo: the inliers span most of it, no warning. The same photo flat grey but
    for a 120 x 90 corner of it: the homography rests on that corner, a twentieth of image a, and
    the answer says it is extrapolated beyond."""
    h, size = similarity(coffee.shape, 0.8, 20)
    whole = ask(client, coffee, cv2.warpAffine(coffee, h[:2], size, flags=cv2.INTER_AREA), geometry="homography")
    assert whole["coverage"] > 0.5 and whole["warnings"] == []
    corner = np.full_like(coffee, 128)
    corner[250:340, 420:540] = coffee[250:340, 420:540]
    body = ask(client, corner, cv2.warpAffine(corner, h[:2], size, flags=cv2.INTER_AREA), geometry="homography")
    assert body["homography"] is not None and body["coverage"] < 120 * 90 / coffee.size
    assert len(body["warnings"]) == 1
    assert "as RANSAC fitted it): it is fitted there and extrapolated" in body["warnings"][0]


def test_a_transfer_guided_by_a_homography_on_a_corner_says_so(client, coffee):
    """The same corner of coffee: its homography guides a keypoint transfer, and the answer warns
    as a correspondences answer does; the whole photo's transfer does not."""
    h, size = similarity(coffee.shape, 0.8, 20)
    corner = np.full_like(coffee, 128)
    corner[250:340, 420:540] = coffee[250:340, 420:540]
    for a, warned in ((coffee, False), (corner, True)):
        b = cv2.warpAffine(a, h[:2], size, flags=cv2.INTER_AREA)
        body = client.post("/v1/keypoints/transfer", data={"keypoints": "[[480, 300], [100, 100]]"},
                           files={"image_a": ("a.png", encode(a)), "image_b": ("b.png", encode(b))}).json()
        assert body["guidance"] == "homography", body
        said = [w for w in body["warnings"] if "as RANSAC fitted it): it is fitted there and extrapolated" in w]
        assert len(said) == warned, body["warnings"]


@pytest.mark.parametrize("gain, offset", [(0.1, 0), (0.2, 160)])
def test_a_dark_or_washed_out_copy_is_found(client, coffee, gain, offset):
    """Image b at a tenth of the brightness, or faded to a fifth of its contrast over a light grey,
    with a sensor's noise: the detector's threshold follows the image's contrast, so b keeps its
    keypoints and the homography is found."""
    h, size = similarity(coffee.shape, 0.7, 30)
    b = cv2.warpAffine(coffee, h[:2], size, flags=cv2.INTER_AREA)
    b = np.clip(b * gain + offset + np.random.default_rng(1).normal(0, 1.5, b.shape), 0, 255).round().astype(np.uint8)
    body = ask(client, coffee, b, geometry="homography")
    assert body["homography"] is not None and grid_error(body, h, coffee.shape) < 3, body["warnings"]


def test_a_street_seen_at_a_quarter_of_its_size_fits_where_its_matches_spread(client):
    """Leuven's facade shrunk to 188 x 141 in b: among the mutual matches, 16 chance agreements on
    its repeated windows fitted a homography in 8 % of image a (wrong by tens of pixels); the
    matches that pass the ratio test fit the right one across a sixth of it. A narrow fit gives
    way to a wider one, in the answer and in the guide that places transferred points."""
    p = real(lambda: pairs.zoomed(pairs.load("leuven"), 0.25))
    sent = uploads(p)
    body, outcome = judged(client, p, sent)
    assert outcome.homography_ok and outcome.mma > 0.8 and body["coverage"] > 0.1 and body["warnings"] == []
    pts, truth = visible_points(p, 100, np.random.default_rng(0))
    r = client.post("/v1/keypoints/transfer", data={"keypoints": json.dumps(pts.tolist())}, files=sent).json()
    err = np.linalg.norm(np.array([[k["x"], k["y"]] for k in r["keypoints"]]) - truth, axis=1)
    assert (err < 5).mean() > 0.8, (err < 5).mean()


@pytest.mark.parametrize("name, scale", [("cube-40", 0.25), ("leuven", 0.35)])
def test_a_small_object_among_other_photos_is_found_by_its_few_agreeing_keypoints(client, name, scale):
    """The cube's box shrunk to a quarter, or leuven's facade to about a third, pasted beside four
    other photos: a dozen true matches among hundreds. Counted as RANSAC counts them, they were
    under a tenth of the mutual matches (cube: no homography), or a chance fit among the
    ratio-tested ones took their place (leuven: a wrong homography, not warned of). Counted where
    the keypoints' sizes and orientations agree with the homography, they hold it; transferred
    points follow it."""
    try:
        base = pairs.load(name)
        others = [load_photo(n) for n in LOMIRI_VAL[:4]]
    except FileNotFoundError:
        pytest.skip("no data/pairs or photos: run `python -m models.prep_data --opencv`")
    p = pairs.among_others(pairs.in_clutter(base, scale=scale), base.b.shape, others)
    sent = uploads(p)
    body, outcome = judged(client, p, sent)
    assert outcome.homography_ok and outcome.mma > 0.8, (body["warnings"], outcome)
    pts, truth = visible_points(p, 100, np.random.default_rng(0))
    r = client.post("/v1/keypoints/transfer", data={"keypoints": json.dumps(pts.tolist())}, files=sent).json()
    err = np.linalg.norm(np.array([[k["x"], k["y"]] for k in r["keypoints"]]) - truth, axis=1)
    assert (err < 5).mean() > 0.6, (err < 5).mean()


def test_a_verified_homography_adds_the_keypoint_pairs_it_explains_and_they_are_right(client):
    """The text page turned 135 degrees: the verified homography also pairs keypoints that are
    not each other's nearest neighbours among all of the other image's (Lowe's ratio 1: a
    look-alike word is nearer) but lie where it puts them, keypoints agreeing. Every inlier is
    right, and a ratio test asked for keeps its meaning (nothing added: the matches are those that
    pass it)."""
    p = real(lambda: pairs.rotated(pairs.load("text"), 135))
    sent = uploads(p)
    body, outcome = judged(client, p, sent)
    m, inliers = body["matches"], np.asarray(body["inliers"], bool)
    assert outcome.homography_ok and outcome.mma == 1.0 and body["warnings"] == []
    ratios = np.array([x["ratio"] for x in m])
    assert (ratios[inliers] == 1.0).sum() >= 20, (ratios[inliers] == 1.0).sum()
    tested = client.post("/v1/correspondences", files=sent, data={"geometry": "homography", "ratio": "0.9"}).json()
    assert all(x["ratio"] < 0.9 for x in tested["matches"])


def test_an_image_without_texture_is_named_as_the_reason_nothing_matched(client, coffee):
    flat = np.full((240, 320), 128, np.uint8)
    body = ask(client, coffee, flat, geometry="homography")
    assert body["matches"] == [] and body.get("homography") is None
    assert body["warnings"][0].startswith("image b has 0 keypoints (it shows little or no texture")
    assert not any(w.startswith("image a has") for w in body["warnings"])
    body = ask(client, flat, flat)
    assert [w.split(" (")[0] for w in body["warnings"][:2]] == ["image a has 0 keypoints", "image b has 0 keypoints"]


def test_the_dense_method_and_keypoint_transfer_name_an_image_without_texture_too(client, coffee):
    """Dense features come out of any image; its keypoints, found for the pair's guide, say why
    nothing matched. An answer that verified its geometry says nothing of them."""
    flat = np.full((240, 320), 128, np.uint8)
    for geometry in ("homography", "none"):
        body = ask(client, coffee, flat, method="dense", geometry=geometry)
        assert body["warnings"][0].startswith("image b has 0 keypoints (it shows little or no texture"), body
        assert not any(w.startswith("image a has") for w in body["warnings"])
    sent = {"image_a": ("a.png", encode(coffee)), "image_b": ("b.png", encode(flat))}
    moved = client.post("/v1/keypoints/transfer", files=sent, data={"keypoints": "[[100, 100]]"}).json()
    assert moved["warnings"][0].startswith("image b has 0 keypoints"), moved["warnings"]
    assert moved["warnings"][1].startswith("no geometry was found")
    body = ask(client, coffee, coffee, method="dense", geometry="homography")
    assert body.get("homography") is not None and not any("keypoints (it shows" in w for w in body["warnings"])



def test_a_crop_of_the_photo_transfers_its_points_by_its_shift(client, coffee):
    """The cup cut from the photo: the sparse matches the transfer's guide is fitted to are exact
    copies of the photo's keypoints, on which OpenCV's GC-RANSAC asserts while fitting a
    fundamental matrix (``matching.hopeless`` then leaves the fit to RANSAC). The guide is the
    crop's shift, and each point lands by it."""
    pts = np.random.default_rng(3).uniform([20, 20], [280, 220], (12, 2))
    r = client.post("/v1/keypoints/transfer", data={"keypoints": json.dumps(pts.tolist())},
                    files={"image_a": ("a.png", encode(np.ascontiguousarray(coffee[60:300, 120:420])), "image/png"),
                           "image_b": ("b.png", encode(coffee), "image/png")})
    assert r.status_code == 200, r.text
    got = np.array([[k["x"], k["y"]] for k in r.json()["keypoints"]])
    np.testing.assert_allclose(got, pts + [120, 60], atol=1.0)
