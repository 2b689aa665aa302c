"""The MRF alignment: its distance transform and messages against brute force, recovery of known
fields, and /v1/align and transfer method=align through the API."""
from __future__ import annotations

import base64
import io
import json

import cv2
import numpy as np
import pytest

from models.data import photos, warps
from service import align, correspond, dense, imaging
from tests.conftest import encode


def brute_message(h: np.ndarray, shift: tuple[int, int], p: align.Params) -> np.ndarray:
    """min over l' of h(l') + min(alpha * |l' - (l + shift)|_1, d), normalised: (L, L) -> (L, L)."""
    n = h.shape[0]
    r = n // 2
    out = np.empty_like(h)
    for iv in range(n):
        for iu in range(n):
            tv, tu = iv - r + shift[1], iu - r + shift[0]
            best = np.inf
            for jv in range(n):
                for ju in range(n):
                    cost = min(p.alpha * (abs(jv - r - tv) + abs(ju - r - tu)), p.d)
                    best = min(best, h[jv, ju] + cost)
            out[iv, iu] = best
    return out - out.min()


@pytest.mark.parametrize("shift", [(0, 0), (1, -2), (7, 3), (-9, 0)])
def test_message_matches_brute_force(shift):
    rng = np.random.default_rng(sum(shift) + 10)
    p = align.Params(alpha=0.3, d=1.1)
    h = rng.uniform(0, 3, (3, 5, 5)).astype(np.float32)
    got = align.message(h, np.tile(np.array(shift), (3, 1)), p)
    for k in range(3):
        np.testing.assert_allclose(got[k], brute_message(h[k], shift, p), atol=1e-5)


def sequential_bp(cost: np.ndarray, offset: np.ndarray, p: align.Params) -> np.ndarray:
    """BP-M as first written: each of the four sweeps on its own, one message at a time."""
    h, w = cost.shape[:2]
    left, right, up, down = (np.zeros_like(cost) for _ in range(4))
    for _ in range(p.iterations):
        for j in range(w - 1):
            left[:, j + 1] = align.message(cost[:, j] + left[:, j] + up[:, j] + down[:, j],
                                           offset[:, j + 1] - offset[:, j], p)
        for j in range(w - 1, 0, -1):
            right[:, j - 1] = align.message(cost[:, j] + right[:, j] + up[:, j] + down[:, j],
                                            offset[:, j - 1] - offset[:, j], p)
        for i in range(h - 1):
            up[i + 1] = align.message(cost[i] + up[i] + left[i] + right[i], offset[i + 1] - offset[i], p)
        for i in range(h - 1, 0, -1):
            down[i - 1] = align.message(cost[i] + down[i] + left[i] + right[i], offset[i - 1] - offset[i], p)
    return cost + left + right + up + down


@pytest.mark.parametrize("h,w", [(6, 9), (7, 4), (2, 2)])
def test_sweeps_run_in_step_give_the_sequential_schedules_beliefs_bit_for_bit(h, w):
    rng = np.random.default_rng(h * w)
    cost = rng.uniform(0, 2, (h, w, 5, 5)).astype(np.float32)
    offset = rng.integers(-3, 4, (h, w, 2))
    p = align.Params(iterations=3)
    np.testing.assert_array_equal(align.bp(cost, offset, p), sequential_bp(cost, offset, p))


def smooth_features(rng, h, w, d=16):
    f = cv2.GaussianBlur(rng.normal(size=(h, w, d)).astype(np.float32), (0, 0), 1.0)
    return f / np.linalg.norm(f, axis=-1, keepdims=True)


def shifted(f, du, dv):
    """b such that a(p) = b(p + (du, dv)) inside."""
    b = np.roll(f, (dv, du), axis=(0, 1))
    return b


def test_solve_recovers_a_constant_field_through_noise_that_fools_nearest_neighbours():
    rng = np.random.default_rng(0)
    a = smooth_features(rng, 40, 48)
    b = shifted(a, 5, -3)
    noisy = a + rng.normal(0, 0.35, a.shape).astype(np.float32)
    noisy /= np.linalg.norm(noisy, axis=-1, keepdims=True)
    field, terms, levels, _ = align.solve(noisy, b, align.Params())
    inner = np.s_[6:-6, 6:-6]
    mrf_ok = np.mean(np.abs(np.rint(field[inner]) - [5, -3]).max(-1) == 0)
    # independent nearest neighbours on the same features
    sim = noisy.reshape(-1, 16) @ b.reshape(-1, 16).T
    best = sim.argmax(1)
    nn = np.stack([best % 48 - np.tile(np.arange(48), 40), best // 48 - np.repeat(np.arange(40), 48)], -1)
    nn_ok = np.mean(np.abs(nn.reshape(40, 48, 2)[inner] - [5, -3]).max(-1) == 0)
    assert levels >= 2
    assert mrf_ok > 0.8 and nn_ok < 0.3, (mrf_ok, nn_ok)
    assert terms["total"] == pytest.approx(terms["data"] + terms["smoothness"] + terms["displacement"])


def test_the_solution_has_lower_energy_than_the_zero_field_and_nearest_neighbours():
    rng = np.random.default_rng(1)
    a = smooth_features(rng, 30, 30)
    b = shifted(a, -4, 2)
    p = align.Params()
    field, terms, _, cost = align.solve(a, b, p)
    zero = align.energies(a, b, np.zeros((30, 30, 2), np.int64), p)[0]["total"]
    assert terms["total"] < zero
    assert cost.shape == (30, 30) and float(cost.sum()) == pytest.approx(terms["total"], rel=1e-4)  # cell by cell
    at_field, _ = align.energies(a, b, np.rint(field).astype(np.int64), p)
    assert terms["total"] == pytest.approx(at_field["total"], rel=1e-4)


def test_warp_with_a_known_field_moves_the_image():
    img = np.zeros((40, 60), np.uint8)
    img[10:20, 30:40] = 255
    flow = np.zeros((10, 15, 2), np.float32)
    flow[..., 0] = 8.0  # a's pixel x is b's pixel x + 8
    al = align.Alignment(flow, (4.0, 4.0), {}, 1)
    out = align.warp(img, al, 60, 40)
    assert out[15, 22:32].min() == 255 and out[15, 34:40].max() == 0
    np.testing.assert_allclose(al.at(np.float32([[10, 10], [3.5, 7.25]])), [[18, 10], [11.5, 7.25]])


def files(a, b):
    return {"image_a": ("a.png", encode(a)), "image_b": ("b.png", encode(b))}


@pytest.fixture(scope="module")
def warped_coffee(coffee):
    b = cv2.resize(coffee, (360, 240), interpolation=cv2.INTER_AREA)
    m = warps.nonrigid_map(np.random.default_rng(3), b.shape, amplitude=0.05)
    a, valid = warps.apply(b, m)
    return a, b, m, valid


def field_errors(out: dict, m: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Endpoint errors (pixels) of /v1/align's field at the cells of a whose truth lies in b."""
    flow = np.load(io.BytesIO(base64.b64decode(out["flow"]["data"])))
    g = out["grid"]
    ii, jj = np.mgrid[0:g["height"], 0:g["width"]]
    xy = np.stack([jj * g["step_x"], ii * g["step_y"]], -1).reshape(-1, 2)
    ix = np.rint(xy).astype(int)
    ok = valid[ix[:, 1], ix[:, 0]]
    return np.linalg.norm(xy + flow.reshape(-1, 2) - m[ix[:, 1], ix[:, 0]], axis=1)[ok]


@pytest.fixture(scope="module")
def coffee_in_perspective(coffee):
    """b, and a: b turned by 30 degrees and seen in perspective; the true map (a's pixels -> b's)
    and where it lies in b."""
    b = cv2.resize(coffee, (360, 240), interpolation=cv2.INTER_AREA)
    h = np.array([[0.87, -0.5, 90.0], [0.5, 0.87, -60.0], [2e-4, 1e-4, 1.0]])  # a's pixels -> b's
    ys, xs = np.mgrid[0:240, 0:360].astype(np.float64)
    p = np.stack([xs, ys, np.ones_like(xs)], -1) @ h.T
    m = (p[..., :2] / p[..., 2:3]).astype(np.float32)
    a, valid = warps.apply(b, m)
    return a, b, m, valid


def test_a_plane_turned_in_perspective_is_aligned_through_its_homography(client, coffee_in_perspective):
    """b turned by 30 degrees and seen in perspective: the MRF alone searches a small window with a
    small-displacement prior and fails; brought onto a by the sparse matches' homography first, it
    solves the residual and the field is taken back into b."""
    a, b, m, valid = coffee_in_perspective
    r = client.post("/v1/align", files=files(a, b))
    assert r.status_code == 200, r.text
    out = r.json()
    err = field_errors(out, m, valid)
    assert valid.mean() > 0.5 and np.median(err) < 1.5 and (err < 3).mean() > 0.9, (np.median(err), (err < 3).mean())
    assert out["prealigned"] is not None and abs(out["prealigned"]["rotation_deg"]) > 20


def test_align_api_recovers_a_non_rigid_field(client, warped_coffee):
    a, b, m, valid = warped_coffee
    r = client.post("/v1/align", files=files(a, b), data={"warp": "true"})
    assert r.status_code == 200, r.text
    out = r.json()
    flow = np.load(io.BytesIO(base64.b64decode(out["flow"]["data"])))
    g = out["grid"]
    assert flow.shape == (g["height"], g["width"], 2) == tuple(out["flow"]["shape"]) and flow.dtype == np.float32
    err = field_errors(out, m, valid)
    assert np.median(err) < 3.0, np.median(err)
    warped = cv2.imdecode(np.frombuffer(base64.b64decode(out["warped_png"]), np.uint8), cv2.IMREAD_GRAYSCALE)
    assert warped.shape == a.shape
    inner = np.s_[20:-20, 20:-20]
    # the warped image matches a far better than b itself does
    after = np.abs(warped[inner].astype(float) - a[inner]).mean()
    assert after < 0.5 * np.abs(b[inner].astype(float) - a[inner]).mean()
    assert set(out["energy"]) == {"data", "smoothness", "displacement", "total"}


def test_transfer_method_align(client, warped_coffee):
    a, b, m, _ = warped_coffee
    pts = np.float32([[100, 80], [200, 150], [260, 60]])
    r = client.post("/v1/keypoints/transfer", files=files(a, b),
                    data={"keypoints": str(pts.tolist()), "method": "align"})
    assert r.status_code == 200, r.text
    out = r.json()
    got = np.array([[k["x"], k["y"]] for k in out["keypoints"]])
    truth = m[pts[:, 1].astype(int), pts[:, 0].astype(int)]
    assert out["guidance"] == "align"
    assert np.linalg.norm(got - truth, axis=1).max() < 6.0
    assert all(k["consistent"] for k in out["keypoints"])


def test_transfer_method_align_follows_the_prealigned_field(client, coffee_in_perspective):
    """b turned by 30 degrees in perspective (as above): points carried along the field /v1/align
    answers, solved in b brought onto a by the sparse homography, land where the truth puts them
    and come back (along the direct field alone: 4.2 px at the median), each with the confidence of
    the shipped curves fitted on such transfers."""
    a, b, m, valid = coffee_in_perspective
    pts = np.argwhere(valid[20:-20:25, 20:-20:25])[:, ::-1] * 25 + 20
    r = client.post("/v1/keypoints/transfer", files=files(a, b),
                    data={"keypoints": str(pts.tolist()), "method": "align"})
    assert r.status_code == 200, r.text
    out = r.json()
    err = np.linalg.norm(np.array([[k["x"], k["y"]] for k in out["keypoints"]]) - m[pts[:, 1], pts[:, 0]], axis=1)
    assert len(pts) > 40 and np.median(err) < 1.5 and (err < 3).mean() > 0.9, (np.median(err), (err < 3).mean())
    assert np.mean([k["consistent"] for k in out["keypoints"]]) > 0.9
    assert out["prealigned"] is not None and abs(out["prealigned"]["rotation_deg"]) > 20
    assert all(0 <= k["confidence"] <= 1 for k in out["keypoints"])


def test_an_object_carried_into_a_larger_scene_comes_back_and_reads_a_high_confidence(client, coffee):
    """a is the cup, b the whole photo at 0.6x: a covers a fifth of b, so the way back is solved in
    a's frame (b's copy fills it) instead of in a copy of a that would be an island in a blank
    frame of b's size, where the round trips had missed by tens of pixels and read under 0.5."""
    a = np.ascontiguousarray(coffee[60:300, 120:420])
    b = cv2.resize(coffee, None, fx=0.6, fy=0.6, interpolation=cv2.INTER_AREA)
    pts = np.random.default_rng(3).uniform([20, 20], [280, 220], (40, 2))
    truth = (pts + [120, 60]) * 0.6
    r = client.post("/v1/keypoints/transfer", files=files(a, b),
                    data={"keypoints": json.dumps(pts.tolist()), "method": "align"})
    assert r.status_code == 200, r.text
    k = r.json()["keypoints"]
    err = np.linalg.norm(np.array([[x["x"], x["y"]] for x in k]) - truth, axis=1)
    assert (err < 3).mean() > 0.9 and r.json()["prealigned"]["scale"] < 0.7, err
    assert np.median([x["cycle_error"] for x in k]) < 2 and np.mean([x["confidence"] for x in k]) > 0.8


def test_an_object_carried_into_a_photo_of_more_feature_cells_than_opencv_maps_a_row_comes_back(client, coffee):
    """b is the photo at 1.7x (1020 x 680: 43,350 feature cells, more than the 32,767 cv2.remap
    takes on a side): the way back, read at every cell of b, answered 500 before."""
    a = np.ascontiguousarray(coffee[60:300, 120:420])
    b = cv2.resize(coffee, None, fx=1.7, fy=1.7, interpolation=cv2.INTER_LINEAR)
    pts = np.random.default_rng(3).uniform([20, 20], [280, 220], (40, 2))
    r = client.post("/v1/keypoints/transfer", files=files(a, b),
                    data={"keypoints": json.dumps(pts.tolist()), "method": "align"})
    assert r.status_code == 200, r.text
    k = r.json()["keypoints"]
    err = np.linalg.norm(np.array([[x["x"], x["y"]] for x in k]) - ((pts + [120, 60] + 0.5) * 1.7 - 0.5), axis=1)
    assert (err < 3).mean() > 0.9, err


def test_a_field_is_read_at_any_number_of_points():
    """An affine field, which bilinear interpolation reads exactly, at 100,000 points: as many as
    every cell of a large image, beyond what cv2.remap takes in one row."""
    jj, ii = np.meshgrid(np.arange(300, dtype=np.float32), np.arange(200, dtype=np.float32))
    flow = np.stack([0.01 * jj - 0.02 * ii + 3, 0.03 * jj + 0.01 * ii - 1], -1).astype(np.float32)
    al = align.Alignment(flow, (4.0, 4.0), {}, 1)
    xy = np.random.default_rng(0).uniform([0, 0], [4 * 299, 4 * 199], (100_000, 2)).astype(np.float32)
    gx, gy = xy[:, 0] / 4, xy[:, 1] / 4
    want = xy + np.stack([0.01 * gx - 0.02 * gy + 3, 0.03 * gx + 0.01 * gy - 1], -1)
    np.testing.assert_allclose(al.at(xy), want, atol=0.02)
    assert al.at(np.zeros((0, 2), np.float32)).shape == (0, 2)


def test_a_crop_aligned_to_the_whole_photo_at_its_own_scale_is_brought_onto_it_first(client, coffee):
    """a is the cup cut from the photo, b the whole photo: the sparse matches agree on a shift,
    which dense searches need no prealignment for, but the MRF's zero field puts each point of a at
    the same relative place in b, 120 and 60 px from the truth. Brought onto a first, the field
    and its way back are right: the direct field had put 93 % within 3 px and read 0.60."""
    a = np.ascontiguousarray(coffee[60:300, 120:420])
    pts = np.random.default_rng(3).uniform([20, 20], [280, 220], (40, 2))
    r = client.post("/v1/keypoints/transfer", files=files(a, coffee),
                    data={"keypoints": json.dumps(pts.tolist()), "method": "align"})
    k = r.json()["keypoints"]
    err = np.linalg.norm(np.array([[x["x"], x["y"]] for x in k]) - (pts + [120, 60]), axis=1)
    assert r.json()["prealigned"]["scale"] == pytest.approx(1, abs=0.01) and (err < 3).all(), err
    assert np.mean([x["confidence"] for x in k]) > 0.85
    assert client.post("/v1/align", files=files(a, coffee)).json()["energy"]["total"] < 100


def test_a_crop_of_a_night_sky_is_aligned_in_its_copy_brought_onto_the_whole_photo(client):
    """b is a 300 x 200 crop of the rocket photo, most of it dark sky. Over all of a, the field
    solved in b's copy brought onto a (noise beyond the crop) cost more than the direct field,
    which stretches b over all of a and finds something in it: the direct field was answered,
    7 % of the towers' points within 3 px. Over the cells b shows, the copy's field wins."""
    a = cv2.resize(photos.load("rocket"), (640, 480), interpolation=cv2.INTER_AREA)
    pts = np.array([[x, y] for x in np.arange(160.0, 440, 10) for y in np.arange(180.0, 261, 10)])
    out = client.post("/v1/keypoints/transfer", files=files(a, a[100:300, 150:450]),
                      data={"keypoints": json.dumps(pts.tolist()), "method": "align"}).json()
    got = np.array([[k["x"], k["y"]] for k in out["keypoints"]])
    assert out["prealigned"] == {"scale": pytest.approx(1, abs=0.01), "rotation_deg": pytest.approx(0, abs=0.5)}
    assert np.mean(np.linalg.norm(got - (pts - [150, 100]), axis=1) < 3) > 0.95  # 7 % before; 64 % with noise


def test_points_the_field_carries_beyond_b_are_held_at_its_border_and_said_to_be_out_of_view(client, coffee):
    """b is a 300 x 200 crop of a: a's points beyond it have no place in b. The field had put
    them up to 100 px outside image b, without a word."""
    pts = [[50, 50], [160, 110], [300, 200], [440, 290], [500, 350]]
    out = client.post("/v1/keypoints/transfer", files=files(coffee, coffee[100:300, 150:450]),
                      data={"keypoints": json.dumps(pts), "method": "align"}).json()
    k = out["keypoints"]
    assert [x["in_view"] for x in k] == [False, True, True, True, False], k
    assert all(0 <= x["x"] <= 299 and 0 <= x["y"] <= 199 for x in k), k
    # solved in b's copy brought onto a, a's own pixels beyond it: those near b's border too (4-6 px
    # off where the copy was noise beyond b)
    assert np.allclose([[x["x"], x["y"]] for x in k[1:4]], np.array(pts[1:4]) - [150, 100], atol=1)
    assert any("2 of 5 points lie outside image b along the alignment's field" in w for w in out["warnings"])


def test_a_copy_with_the_other_images_pixels_behind_it_is_never_cached(client, coffee):
    """b's copy brought onto a for the MRF shows a's own pixels beyond b: it derives from both
    images, and a deletion of either must drop it, so it is made afresh each request."""
    a = np.ascontiguousarray(coffee[::-1, ::-1])  # bytes no other test sends
    b = np.ascontiguousarray(a[80:320, 100:460])
    copies = lambda: [k for k in client.app.state.cache.keys() if ":copy:" in k]  # noqa: E731
    before = copies()
    answers = [client.post("/v1/keypoints/transfer", files=files(a, b),
                           data={"keypoints": "[[200, 150], [300, 200]]", "method": "align"}).json() for _ in range(2)]
    assert answers[0]["prealigned"] is not None and answers[0]["keypoints"] == answers[1]["keypoints"]
    assert copies() == before


def test_fields_are_compared_over_the_cells_b_shows():
    """The direct field costs less over all of a but more where b's copy has b's pixels."""
    rows, cols = 4, 6
    seen = np.zeros((rows, cols), bool)
    seen[1:3, 1:4] = True
    flow = np.zeros((rows, cols, 2), np.float32)
    direct = align.Alignment(flow, (4.0, 4.0), {"total": 10.0}, 1, np.where(seen, 1.0, 0.1).astype(np.float32))
    residual = align.Alignment(flow, (4.0, 4.0), {"total": 20.0}, 1, np.where(seen, 0.0, 1.0).astype(np.float32))
    assert not correspond.lower(direct, residual, seen)
    assert correspond.lower(direct, residual, np.ones_like(seen))  # all of a: the totals, as before
    shown = align.seen_in(direct, np.array([[1, 0, -4], [0, 1, -4], [0, 0, 1.0]]), (9, 5))
    assert shown.tolist() == [[False] * 6] + [[False, True, True, True, False, False]] * 2 + [[False] * 6]


def test_the_share_of_a_frame_an_image_covers():
    shift = np.array([[1, 0, 50], [0, 1, 20], [0, 0, 1]], float)
    assert align.share_covered(np.eye(3), (200, 100), (200, 100)) == pytest.approx(1.0)
    assert align.share_covered(np.diag([0.5, 0.5, 1]), (200, 100), (200, 100)) == pytest.approx(0.25)
    assert align.share_covered(shift, (200, 100), (200, 100)) == pytest.approx(150 * 80 / 20000)
    horizon = np.array([[1, 0, 0], [0, 1, 0], [-0.01, 0, 1]], float)  # x = 100 goes to infinity
    assert align.share_covered(horizon, (200, 100), (200, 100)) == 1.0


def test_an_image_id_aligns_as_its_bytes_do_and_without_them_says_it_solved_only_the_direct_field(
        client, coffee_in_perspective):
    """b turned by 30 degrees, sent as an id from /v1/images: its kept bytes bring it onto a as the
    bytes sent do. Once they are gone (evicted), there are no pixels to bring b onto a, so /v1/align
    and transfer method=align solve the direct field only and say so."""
    a, b, _, _ = coffee_in_perspective
    b_id = client.post("/v1/images", files={"image": ("b.png", encode(b))}).json()["image_id"]
    by_id = {"files": {"image_a": ("a.png", encode(a))}, "data": {"image_b_id": b_id}}
    sent = client.post("/v1/align", files=files(a, b)).json()
    kept = client.post("/v1/align", **by_id).json()
    assert sent["prealigned"] is not None and sent["warnings"] == []
    assert kept["prealigned"] == sent["prealigned"] and kept["flow"] == sent["flow"] and kept["warnings"] == []
    client.app.state.cache.delete(dense.image_key(b_id))
    aligned = client.post("/v1/align", **by_id).json()
    moved = client.post("/v1/keypoints/transfer", files=by_id["files"],
                        data={**by_id["data"], "keypoints": "[[180, 120]]", "method": "align"}).json()
    for out in (aligned, moved):
        assert out.get("prealigned") is None and any("only the direct field" in w for w in out["warnings"]), out
        assert out["one_scene"] is True  # the sparse features /v1/images cached still show one scene


@pytest.mark.parametrize("data,extra,status", [
    ({"warp": "true", "image_b_id": "0" * 64}, {}, 422),  # warping needs b's pixels, never kept
    ({"alpha": "-1"}, {"image_b": 1}, 422),
    ({"radius": "100"}, {"image_b": 1}, 422),
    ({"image_b_id": "0" * 64}, {}, 404),  # never cached
    ({"image_a_id": "0" * 64}, {"image_b": 1}, 422),  # both a file and an id for a
])
def test_align_bad_inputs(client, coffee, data, extra, status):
    f = {"image_a": ("a.png", encode(coffee))}
    if extra:
        f["image_b"] = ("b.png", encode(coffee))
    r = client.post("/v1/align", files=f, data=data)
    assert r.status_code == status, r.text
    assert "detail" in r.json()


def test_transfer_unknown_method(client, coffee):
    r = client.post("/v1/keypoints/transfer", files=files(coffee, coffee),
                    data={"keypoints": "[[5, 5]]", "method": "x"})
    assert r.status_code == 422


def test_align_with_warp_decodes_image_b_once(client, warped_coffee, monkeypatch):
    a, b, _, _ = warped_coffee
    a, b = a[:, ::-1], b[:, ::-1]  # bytes no earlier test sent, so neither image's features are cached
    sent = files(a, b)
    calls = []
    real = imaging.decode_within

    def counting(data, *args):
        calls.append("b" if data == sent["image_b"][1] else "a")
        return real(data, *args)

    monkeypatch.setattr(imaging, "decode_within", counting)
    r = client.post("/v1/align", files=sent, data={"warp": "true"})
    assert r.status_code == 200, r.text
    assert sorted(calls) == ["a", "b"]
    # features cached: b still decoded, to warp, and a for its pixels behind b's copy (never cached)
    r = client.post("/v1/align", files=sent, data={"warp": "true"})
    assert r.status_code == 200 and sorted(calls) == ["a", "a", "b", "b"]


def test_a_field_taken_through_a_homography_lands_where_the_homography_puts_its_points():
    rng = np.random.default_rng(0)
    flow = rng.normal(0, 2, (6, 8, 2)).astype(np.float32)
    al = align.Alignment(flow, (4.0, 4.0), {"total": 0.0}, 1)
    h = np.array([[0.9, -0.2, 15.0], [0.3, 1.1, -4.0], [1e-3, -2e-3, 1.0]])
    moved = align.through(al, h)
    ii, jj = np.mgrid[0:6, 0:8]
    grid = np.stack([jj * 4.0, ii * 4.0], -1).reshape(-1, 2)
    q = np.c_[grid + flow.reshape(-1, 2), np.ones(len(grid))] @ h.T
    assert moved.flow.shape == flow.shape and moved.step == al.step
    assert np.allclose(grid + moved.flow.reshape(-1, 2), q[:, :2] / q[:, 2:], atol=1e-3)


def test_an_alignment_of_images_whose_sparse_matches_fit_no_geometry_says_so(client, coffee_in_perspective, noise):
    """The coffee photo against blurred noise: the MRF's field answers whatever the images show, so
    /v1/align and transfer method=align say the images may not show one scene (``one_scene``
    false) and the points carry no confidence; the photo turned in perspective fits one, and its
    points read the curve of how far their round trip missed. An image sent by id is checked by
    the sparse features /v1/images cached."""
    a, b, _, _ = coffee_in_perspective
    unrelated = cv2.resize(noise, a.shape[::-1])
    for other, related in ((unrelated, False), (b, True)):
        aligned = client.post("/v1/align", files=files(a, other)).json()
        moved = client.post("/v1/keypoints/transfer", files=files(a, other),
                            data={"keypoints": "[[180, 120], [120, 80]]", "method": "align"}).json()
        for out in (aligned, moved):
            assert out["one_scene"] is related and any("may not show one scene" in w for w in out["warnings"]) \
                is not related, out["warnings"]
        confidence = [k.get("confidence") for k in moved["keypoints"]]
        curve = client.app.state.registry.get(moved["model"], ("dense",)).entry.calibration["transfer-align"]
        want = np.interp([k["cycle_error"] for k in moved["keypoints"]], curve.score, curve.p)
        assert confidence == [None, None] if not related else np.allclose(confidence, want, atol=1e-4), confidence
    noise_id = client.post("/v1/images", files={"image": ("n.png", encode(unrelated))}).json()["image_id"]
    by_id = client.post("/v1/keypoints/transfer", files={"image_a": ("a.png", encode(a))},
                        data={"image_b_id": noise_id, "keypoints": "[[180, 120]]", "method": "align"}).json()
    assert by_id["one_scene"] is False and "confidence" not in by_id["keypoints"][0]  # by id as well
    drawn = client.post("/v1/align", files=files(a, unrelated), data={"render": "png"})
    assert "may not show one scene" in drawn.headers["x-warnings"]  # the picture says so too


def test_a_prealignment_that_turns_nothing_says_0_degrees_not_minus_0():
    """A similarity that only scales (its rotation a rounding error either side of 0) reads 0.0:
    json would write -0.0, and a page would show "turned -0 degrees"."""
    from service.correspond import describe
    for tiny in (-1e-9, 0.0, 1e-9):
        s = np.array([[0.8, tiny, 3.0], [-tiny, 0.8, 1.0]])
        d = describe(s)
        assert d["rotation_deg"] == 0.0 and "-0" not in json.dumps(d) and d["scale"] == 1.25, d


def test_a_points_support_is_the_share_of_its_nearest_sparse_matches_the_field_puts_where_they_lie():
    """A field shifting everything by (5, -3) px: matches it puts within RANSAC's threshold of
    where they lie in b support the points among them, matches one period of a repeated pattern
    off (20 px) do not, whatever the field's round trip says; of matches that carry Lowe's ratio,
    only those passing 0.8 count."""
    from service.keypoint_transfer import field_support
    from service.matching import Matches
    al = align.Alignment(np.tile(np.float32([5.0, -3.0]), (30, 40, 1)), (4.0, 4.0), {"total": 0.0}, 1)
    rng = np.random.default_rng(0)
    left, right = rng.uniform([10, 10], [60, 110], (20, 2)), rng.uniform([100, 10], [150, 110], (20, 2))
    xy_a = np.r_[left, right].astype(np.float32)
    xy_b = xy_a + [5.0, -3.0] + np.r_[rng.normal(0, 1, (20, 2)), np.tile([20.0, 0.0], (20, 1))]
    assert align.explains(al, xy_a, xy_b, 4.0).tolist() == [True] * 20 + [False] * 20
    m = Matches(xy_a, xy_b.astype(np.float32), np.ones(40, np.float32))
    np.testing.assert_allclose(field_support(al, m, np.float32([[35, 60], [125, 60]]), 4.0), [1.0, 0.0])
    # look-alikes fail Lowe's 0.8 more often than not: counted, only the matches that pass it
    ratio = np.r_[np.full(20, 0.5), np.full(20, 0.95)].astype(np.float32)
    tested = Matches(xy_a, xy_b.astype(np.float32), np.ones(40, np.float32), ratio)
    np.testing.assert_allclose(field_support(al, tested, np.float32([[35, 60], [125, 60]]), 4.0), [1.0, 1.0])
    assert align.explains(al, np.zeros((0, 2), np.float32), np.zeros((0, 2)), 4.0).shape == (0,)
