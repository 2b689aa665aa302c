"""Calibrated confidence: the manifest's curves applied to raw scores, and carried by the answers."""
import json

import cv2
import numpy as np
import pytest

from service import calibration
from service.manifest import ManifestEntry
from service.registry import LoadedModel
from tests.conftest import encode


def Entry(fields: dict) -> LoadedModel:  # noqa: N802 - reads as the entry it makes
    entry = ManifestEntry(name="m", kind="dense", file="m.onnx", sha256="0" * 64, version="v", **fields)
    return LoadedModel(entry, None)


CURVE = {"score": [0.0, 0.5, 1.0], "p": [0.0, 0.2, 0.9]}


def test_curves_map_scores_to_confidence_and_are_absent_without_one():
    m = Entry({"calibration": {"sparse": CURVE, "transfer": CURVE, "transfer-inconsistent": {"score": [0, 1],
                                                                                          "p": [0, 0.1]}}})
    np.testing.assert_allclose(calibration.confidence(m, "sparse", np.array([-0.3, 0.25, 0.75, 2.0])),
                               [0.0, 0.1, 0.55, 0.9], atol=1e-6)
    np.testing.assert_allclose(calibration.for_transfer(m, np.array([1.0, 1.0]), np.array([True, False])), [0.9, 0.1])
    assert calibration.confidence(Entry({}), "dense", np.ones(3)) is None
    assert calibration.for_transfer(Entry({"calibration": {"transfer": CURVE}}), np.ones(2), np.ones(2, bool)) is None


def test_points_searched_along_epipolar_lines_read_their_own_curve_where_the_model_has_one():
    """The same similarity is right less often in a scene with depth than on a plane, where the
    homography puts a point exactly: points that came back read the fundamental matrix's curve
    under its guidance, the plane's one otherwise or where the model has no such curve."""
    depth = {"score": [0.0, 1.0], "p": [0.0, 0.6]}
    cal = {"transfer": CURVE, "transfer-fundamental": depth, "transfer-inconsistent": {"score": [0, 1], "p": [0, 0.1]}}
    score, ok = np.array([1.0, 1.0]), np.array([True, False])
    np.testing.assert_allclose(calibration.for_transfer(Entry({"calibration": cal}), score, ok, "fundamental"),
                               [0.6, 0.1])
    np.testing.assert_allclose(calibration.for_transfer(Entry({"calibration": cal}), score, ok, "homography"),
                               [0.9, 0.1])
    plane = np.array([True, False])  # the first went where a homography beside the guide puts it
    np.testing.assert_allclose(calibration.for_transfer(Entry({"calibration": cal}), np.ones(3), np.ones(3, bool),
                                                        "fundamental", np.array([True, False, False])), [0.9, 0.6, 0.6])
    np.testing.assert_allclose(calibration.for_transfer(Entry({"calibration": cal}), score, ok, "fundamental", plane),
                               [0.9, 0.1])
    del cal["transfer-fundamental"]
    np.testing.assert_allclose(calibration.for_transfer(Entry({"calibration": cal}), score, ok, "fundamental"),
                               [0.9, 0.1])


def test_transfers_by_ids_without_their_bytes_read_their_own_curves_where_the_model_has_them():
    """Ids that carry features only: the guide fitted to dense matches is wrong far more often than
    the sparse matches' one, whatever the points' scores; without a curve of their own, the usual one."""
    cal = {"transfer": CURVE, "transfer-inconsistent": {"score": [0, 1], "p": [0, 0.1]},
           "transfer-dense": {"score": [0, 1], "p": [0, 0.4]}, "transfer-dense-inconsistent": {"score": [0, 1],
                                                                                             "p": [0, 0.02]}}
    score, ok = np.ones(2), np.array([True, False])
    m = Entry({"calibration": cal})
    np.testing.assert_allclose(calibration.for_transfer(m, score, ok, own="transfer-dense"), [0.4, 0.02])
    np.testing.assert_allclose(calibration.for_transfer(m, score, ok, "fundamental", own="transfer-dense"), [0.4, 0.02])
    np.testing.assert_allclose(calibration.for_transfer(m, score, ok), [0.9, 0.1])
    np.testing.assert_allclose(calibration.for_transfer(m, score, ok, own="transfer-uncopied"), [0.9, 0.1])
    del cal["transfer-dense-inconsistent"]
    np.testing.assert_allclose(calibration.for_transfer(Entry({"calibration": cal}), score, ok, own="transfer-dense"),
                               [0.4, 0.1])


def test_a_variant_of_the_matches_curves_is_read_where_the_model_has_it():
    """Dense matches of b scaled or turned, not searched in copies (no bytes): each curve's
    "-uncopied" variant where fitted, the curve itself where not."""
    low = {"score": [0, 1], "p": [0, 0.3]}
    m = Entry({"calibration": {"dense": CURVE, "dense-uncopied": low, "dense-inlier": CURVE,
                               "dense-outlier": {"score": [0, 1], "p": [0, 0.1]}, "dense-inlier-uncopied": low}})
    one = np.ones(2)
    np.testing.assert_allclose(calibration.for_matches(m, "dense", one, None, variant="-uncopied"), [0.3, 0.3])
    np.testing.assert_allclose(calibration.for_matches(m, "dense", one, None), [0.9, 0.9])
    inliers = np.array([True, False])
    np.testing.assert_allclose(calibration.for_matches(m, "dense", one, inliers, variant="-uncopied"), [0.3, 0.1])


def test_points_a_narrow_homography_put_far_from_its_inliers_read_their_own_curve_where_the_model_has_one():
    from service.keypoint_transfer import extrapolated
    far = {"score": [0.0, 1.0], "p": [0.0, 0.3]}
    cal = {"transfer": CURVE, "transfer-extrapolated": far, "transfer-inconsistent": {"score": [0, 1], "p": [0, 0.1]}}
    score, ok = np.ones(4), np.array([True, True, False, True])
    support, warped, moved = np.array([0.0, 0.9, 0.0, 0.2]), np.array([False, False, False, True]), None
    assert extrapolated(0.5, support, warped, moved) is None  # the homography spans half of a: not narrow
    assert extrapolated(None, support, warped, moved) is None  # no homography guided
    mask = extrapolated(0.05, support, warped, moved)
    assert mask.tolist() == [True, False, True, False]  # the last followed a local map
    assert extrapolated(0.05, support, warped, np.array([True, False, False, False])).tolist() == [False, False,
                                                                                                     True, False]
    np.testing.assert_allclose(calibration.for_transfer(Entry({"calibration": cal}), score, ok, "homography", None,
                                                        mask), [0.3, 0.9, 0.1, 0.9])
    del cal["transfer-extrapolated"]
    np.testing.assert_allclose(calibration.for_transfer(Entry({"calibration": cal}), score, ok, "homography", None,
                                                        mask), [0.9, 0.9, 0.1, 0.9])


def test_points_carried_along_the_alignment_read_how_far_their_round_trip_missed():
    """The MRF's fields answer wherever a point is and its score says little there: their points
    read a curve of the round trip's miss (px), falling with it; a model without one gives none."""
    miss = {"score": [0.0, 1.0, 10.0], "p": [0.95, 0.8, 0.1]}
    assert calibration.for_alignment(Entry({"calibration": {"transfer": CURVE}}), np.zeros(2)) is None
    np.testing.assert_allclose(calibration.for_alignment(Entry({"calibration": {"transfer-align": miss}}),
                                                         np.array([0.0, 0.5, 5.5, 300.0])),
                               [0.95, 0.875, 0.45, 0.1], atol=1e-6)


def test_aligned_points_among_matches_the_field_does_not_explain_read_their_own_curve_where_the_model_has_one():
    """A field locked onto look-alikes comes back round trip all the same: points whose sparse
    matches around mostly disagree with it read the unsupported curve; without that curve, or
    without the matches to judge by, every point reads the one curve."""
    miss, low = {"score": [0.0, 10.0], "p": [0.9, 0.1]}, {"score": [0.0, 10.0], "p": [0.2, 0.0]}
    cal = {"transfer-align": miss, "transfer-align-unsupported": low}
    cycle, unsupported = np.array([0.0, 0.0, 5.0]), np.array([True, False, True])
    np.testing.assert_allclose(calibration.for_alignment(Entry({"calibration": cal}), cycle, unsupported),
                               [0.2, 0.9, 0.1], atol=1e-6)
    np.testing.assert_allclose(calibration.for_alignment(Entry({"calibration": cal}), cycle), [0.9, 0.9, 0.5],
                               atol=1e-6)
    del cal["transfer-align-unsupported"]
    np.testing.assert_allclose(calibration.for_alignment(Entry({"calibration": cal}), cycle, unsupported),
                               [0.9, 0.9, 0.5], atol=1e-6)


def test_matches_without_a_geometry_that_the_scenes_geometry_does_not_explain_read_their_own_curve():
    off = {"score": [0.0, 1.0], "p": [0.0, 0.1]}
    m = Entry({"calibration": {"sparse": CURVE, "sparse-unexplained": off}})
    score, explained = np.array([1.0, 1.0, 0.5]), np.array([True, False, True])
    np.testing.assert_allclose(calibration.for_matches(m, "sparse", score, None, False, explained), [0.9, 0.1, 0.2],
                               atol=1e-6)
    np.testing.assert_allclose(calibration.for_matches(m, "sparse", score, None), [0.9, 0.9, 0.2], atol=1e-6)
    plain = Entry({"calibration": {"sparse": CURVE}})  # a model without that curve: the method's for all
    np.testing.assert_allclose(calibration.for_matches(plain, "sparse", score, None, False, explained),
                               [0.9, 0.9, 0.2], atol=1e-6)


def test_verified_matches_read_the_curve_of_their_side_and_the_rest_the_methods_own():
    on, off = {"score": [0.0, 1.0], "p": [0.9, 1.0]}, {"score": [0.0, 1.0], "p": [0.0, 0.1]}
    m = Entry({"calibration": {"sparse": CURVE, "sparse-inlier": on, "sparse-outlier": off}})
    score, inliers = np.array([0.5, 0.5, 1.0]), np.array([True, False, False])
    np.testing.assert_allclose(calibration.for_matches(m, "sparse", score, inliers), [0.95, 0.05, 0.1], atol=1e-6)
    np.testing.assert_allclose(calibration.for_matches(m, "sparse", score, None), [0.2, 0.2, 0.9], atol=1e-6)
    # a model without the split curves answers verified matches with its one curve
    plain = Entry({"calibration": {"sparse": CURVE}})
    np.testing.assert_allclose(calibration.for_matches(plain, "sparse", score, inliers), [0.2, 0.2, 0.9], atol=1e-6)
    assert calibration.for_matches(Entry({}), "sparse", score, inliers) is None


def test_matches_whose_geometry_failed_read_the_curve_of_failed_answers():
    failed = {"score": [0.0, 1.0], "p": [0.0, 0.02]}
    m = Entry({"calibration": {"sparse": CURVE, "sparse-unverified": failed}})
    score = np.array([0.5, 1.0])
    np.testing.assert_allclose(calibration.for_matches(m, "sparse", score, None, True), [0.01, 0.02], atol=1e-6)
    # matches that did not fail, or a model without that curve: the method's own
    np.testing.assert_allclose(calibration.for_matches(m, "sparse", score, None, False), [0.2, 0.9], atol=1e-6)
    plain = Entry({"calibration": {"sparse": CURVE}})
    np.testing.assert_allclose(calibration.for_matches(plain, "sparse", score, None, True), [0.2, 0.9], atol=1e-6)
    # no failed answer to fit on: the curve of matches off a verified geometry, not the method's own
    split = Entry({"calibration": {"dense": CURVE, "dense-inlier": CURVE, "dense-outlier": failed}})
    np.testing.assert_allclose(calibration.for_matches(split, "dense", score, None, True), [0.01, 0.02], atol=1e-6)


def test_matches_between_unrelated_images_that_fail_to_verify_claim_little(client, coffee, noise):
    """A photo against blurred noise with a geometry asked for: none verifies, every match is
    wrong, and each carries the shipped curve of answers that failed to verify, not the one of
    answers between images of one scene."""
    files = {"image_a": ("a.png", encode(coffee)), "image_b": ("b.png", encode(noise))}
    for geometry in ("homography", "fundamental"):
        r = client.post("/v1/correspondences", files=files, data={"method": "sparse", "geometry": geometry,
                                                                  "ratio": "0.99"}).json()
        assert r.get(geometry) is None and r["matches"], r["warnings"]
        cal = curves(client, r)
        assert "sparse-unverified" in cal, "python -m eval.calibrate fits it"
        conf = np.array([m["confidence"] for m in r["matches"]])
        want = np.interp([m["score"] for m in r["matches"]], cal["sparse-unverified"].score, cal["sparse-unverified"].p)
        np.testing.assert_allclose(conf, want, atol=1e-4)
        assert conf.max() < 0.5



def curves(client, answer: dict) -> dict:
    """The calibration curves of the network that gave ``answer`` (its ``model``: without one named,
    the fast descriptor or, where its answer was in doubt, the default one)."""
    return client.app.state.registry.get(answer["model"], ("descriptor",)).entry.calibration

@pytest.mark.parametrize("max_matches", [None, "3"])
def test_matches_without_a_geometry_between_unrelated_images_say_so_and_claim_little(client, coffee, noise,
                                                                                     max_matches):
    """A photo against blurred noise without a geometry asked for: RANSAC finds none among the
    matches, so the answer says the images may not show one scene and each match carries the
    curve of answers that failed to verify; a photo against itself turned fits one, and its
    matches keep the method's curve. Under a cap RANSAC still sees every match."""
    cap = {"max_matches": max_matches} if max_matches else {}
    for b, related in ((noise, False), (np.ascontiguousarray(np.rot90(coffee)), True)):
        files = {"image_a": ("a.png", encode(coffee)), "image_b": ("b.png", encode(b))}
        r = client.post("/v1/correspondences", files=files, data={"method": "sparse", "ratio": "0.99", **cap}).json()
        cal = curves(client, r)
        assert r["one_scene"] is related and r["matches"], r["warnings"]
        assert ("may not show one scene" in r["warnings"][0]) is not related
        use = np.where(r["explained"], "sparse", "sparse-unexplained") if related else \
            np.full(len(r["matches"]), "sparse-unverified")
        assert ("explained" in r) is related and (not related or len(r["explained"]) == len(r["matches"]))
        want = [np.interp(m["score"], cal[u].score, cal[u].p) for m, u in zip(r["matches"], use, strict=True)]
        np.testing.assert_allclose([m["confidence"] for m in r["matches"]], want, atol=1e-4)
        if max_matches:
            assert len(r["matches"]) == 3


def test_verified_answers_carry_their_sides_confidence(client, coffee):
    """With a verified homography, inliers and outliers read their own curves (the method's own
    one where the model has none)."""
    part = coffee[:240, :320]
    rng = np.random.default_rng(0)
    noise = cv2.GaussianBlur(rng.integers(0, 256, (240, 320), dtype=np.uint8), (0, 0), 1.5)
    a = np.hstack([part, noise])  # the noise's best matches in b can only be wrong
    b = np.ascontiguousarray(np.hstack([np.rot90(part), np.rot90(noise[::-1])]))
    files = {"image_a": ("a.png", encode(a)), "image_b": ("b.png", encode(b))}
    r = client.post("/v1/correspondences", files=files, data={"method": "sparse", "geometry": "homography"}).json()
    assert r["homography"] is not None and False in r["inliers"] and True in r["inliers"]
    cal = curves(client, r)
    for m, inlier in zip(r["matches"], r["inliers"], strict=True):
        use = ("sparse-inlier" if inlier else "sparse-outlier") if "sparse-inlier" in cal else "sparse"
        assert abs(m["confidence"] - np.interp(m["score"], cal[use].score, cal[use].p)) < 1e-4


def test_answers_carry_the_confidence_of_their_model(client, coffee):
    """Each match's confidence is its model's curve at its score (or null without a curve)."""
    a = encode(coffee[:200, :300])
    r = client.post("/v1/correspondences", files={"image_a": ("a.png", a), "image_b": ("b.png", a)},
                    data={"method": "sparse"}).json()
    cal = curves(client, r)
    for m in r["matches"][:20]:
        if "sparse" in cal:
            want = np.interp(m["score"], cal["sparse"].score, cal["sparse"].p)
            assert abs(m["confidence"] - want) < 1e-4
        else:
            assert m.get("confidence") is None


def test_points_outside_image_b_are_said_to_be(client, coffee):
    """A homography that puts a point outside image b says so instead of passing its border for it."""
    a = coffee[:240, :320]
    b = np.ascontiguousarray(a[:, 100:])  # b shows a's right part only: a's left points are not in it
    files = {"image_a": ("a.png", encode(a)), "image_b": ("b.png", encode(b))}
    r = client.post("/v1/keypoints/transfer", files=files, data={"keypoints": json.dumps([[30, 120], [250, 120]])})
    body = r.json()
    assert r.status_code == 200 and body["guidance"] == "homography", body
    assert [k["in_view"] for k in body["keypoints"]] == [False, True]
    assert abs(body["keypoints"][1]["x"] - 150) < 2 and "outside image b" in body["warnings"][0]
