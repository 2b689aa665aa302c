"""Where eval.calibrate stores its curves (on the models that served the answers they were fitted on), and
the cases and answers it fits them on."""
import json

import numpy as np
import pytest

from eval.calibrate import (
    AS_SERVED,
    PRIOR,
    VALIDATION_UNRELATED,
    curve_of,
    errors,
    fit,
    merged,
    on_curve,
    own_curves,
    scene_brier,
    scene_of,
    store,
    stored_curves,
    transfer_uses,
    unrelated_cases,
    unsupported,
    windows,
    without_geometry,
)
from models.export_patch import MANIFEST
from service.config import Settings

CURVES = {"sparse": {"score": [0.0, 1.0], "p": [0.1, 0.9]}, "dense": {"score": [0.0, 1.0], "p": [0.2, 0.8]}}


@pytest.fixture
def manifest():
    return {"models": [{"name": n, "calibration": "old"} for n in ("ucn", "siam-2stream-l2", "siam-2stream-l2-w0.25")]}


def calibrated(manifest):
    return {e["name"]: sorted(e["calibration"]) if e["calibration"] != "old" else "old" for e in manifest["models"]}


def test_the_defaults_curves_go_to_the_default_models(manifest):
    store(manifest, CURVES, {})
    assert calibrated(manifest) == {"ucn": ["dense"], "siam-2stream-l2": ["sparse"], "siam-2stream-l2-w0.25": "old"}


def test_a_named_descriptor_gets_the_sparse_curves_and_nothing_else_changes(manifest):
    store(manifest, CURVES, {"DEFAULT_DESCRIPTOR_MODEL": "siam-2stream-l2-w0.25"})
    assert calibrated(manifest) == {"ucn": "old", "siam-2stream-l2": "old", "siam-2stream-l2-w0.25": ["sparse"]}


def test_settings_that_name_no_model_store_nothing(manifest):
    """Another first octave changes what the default descriptor's scores mean: its curves stay."""
    store(manifest, CURVES, {"SPARSE_FIRST_OCTAVE": "0"})
    assert calibrated(manifest) == {"ucn": "old", "siam-2stream-l2": "old", "siam-2stream-l2-w0.25": "old"}


def test_each_validation_case_reads_as_its_scene():
    """Each scene is read with the others fitted, whatever the order of the cases: the cube
    sequence's frames are one scene, a scaled or turned copy is its pair's, an object cut into
    clutter and the cube moved by hand are scenes of their own."""
    names = ["cube-20", "cube-79@x0.5", "text@90deg", "leuven@x2", "cube-40@clutter", "aloe", "cube-object",
             "cube-object-100@x2"]
    assert [scene_of(n) for n in names] == ["cube", "cube", "text", "leuven", "clutter", "aloe", "moved cube",
                                            "moved cube"]


def test_unrelated_cases_pair_each_scene_with_every_other():
    try:
        cases = unrelated_cases(VALIDATION_UNRELATED)
    except FileNotFoundError:
        pytest.skip("no data/pairs: run `python -m models.prep_data --opencv`")
    names = [tuple(c.name.split("/")) for c in cases]
    scene = {n: n.split("-")[0] for n in VALIDATION_UNRELATED}  # cube-20, cube-40 and cube-79 are one scene
    assert len(set(scene.values())) == len(VALIDATION_UNRELATED)
    n = len(VALIDATION_UNRELATED)
    assert len(set(names)) == len(cases) == n * (n - 1) and all(scene[a] != scene[b] for a, b in names)
    assert all(c.truth(np.array([[10.0, 10.0]]))[1].all() for c in cases[:1])  # known: every answer wrong


def test_answers_of_several_calls_merge_use_by_use():
    first = {"sparse": (np.array([0.1]), np.array([True]))}
    out = merged(first, {"sparse": (np.array([0.2, 0.3]), np.array([False, True])),
                         "dense": (np.array([1.0]), np.array([False]))})
    assert out["sparse"][0].tolist() == [0.1, 0.2, 0.3] and out["sparse"][1].tolist() == [True, False, True]
    assert out["dense"][1].dtype == bool and out["dense"][1].tolist() == [False]


def test_answers_without_a_geometry_are_read_as_served():
    """Matches of answers that fit no geometry are read off the curve of answers that failed to
    verify, the others off the method's: the served column differs from the one curve's only there."""
    curves = CURVES | {"sparse-unverified": {"score": [0.0, 1.0], "p": [0.0, 0.0]}}
    data = {"sparse": (np.array([1.0, 1.0]), np.array([True, True])),
            "sparse-no-scene": (np.array([1.0, 1.0]), np.array([False, False]))}
    row = without_geometry(curves, {"validation": data})[2]
    # served: 0.9 for the two right, 0 for the two wrong; the one curve: 0.9 for all four
    assert row.startswith("| sparse, validation (4, 50 % right) | 0.005 / 0.410 |") and row.endswith(" 2 / 4 |")


def test_matches_the_scenes_geometry_does_not_explain_are_read_off_their_own_curve_against_one_fitted_on_both():
    """Without a geometry, the explained matches (all right) read the method's curve and the rest (all
    wrong) their own, as served; the one curve is fitted on both kinds of the answers that fit one."""
    curves = CURVES | {"sparse": {"score": [0.0, 1.0], "p": [1.0, 1.0]},
                       "sparse-unexplained": {"score": [0.0, 1.0], "p": [0.0, 0.0]}}
    data = {"sparse": (np.full(30, 0.9), np.ones(30, bool)),
            "sparse-unexplained": (np.full(30, 0.9), np.zeros(30, bool))}
    row = without_geometry(curves, {"validation": data}, data)[2]
    # served: 1 for the right, 0 for the wrong; one curve of the same score over both: their share right, a half
    assert row.startswith("| sparse, validation (60, 50 % right) | 0.000 / 0.250 |"), row


def test_transfers_are_fitted_by_their_guidance_on_windows_of_the_stereo_pair():
    """Consistent points searched along epipolar lines get a curve of their own, fitted with the
    windows of the validation stereo pair (parts of a scene with depth, as eval.depth sends), and
    points carried along the MRF's fields one of theirs."""
    plane = np.array([True, False, False])  # put by a homography beside a fundamental matrix, or found on a line
    back = np.array([True, True, False])  # whether each came back
    assert transfer_uses("fundamental", plane, back).tolist() == ["transfer", "transfer-fundamental",
                                                                  "transfer-inconsistent"]
    assert transfer_uses("homography", plane, back).tolist() == ["transfer", "transfer", "transfer-inconsistent"]
    assert transfer_uses("align", plane, back).tolist() == ["transfer-align"] * 3  # told apart by the miss
    low = np.array([False, True, False])  # among sparse matches the field mostly does not explain
    assert transfer_uses("align", plane, back, None, low).tolist() == ["transfer-align", "transfer-align-unsupported",
                                                                       "transfer-align"]
    answer = {"guidance": "align", "keypoints": [{"support": 0.75}, {"support": 0.25}, {"support": 0.5}]}
    assert unsupported(answer).tolist() == [False, True, False]
    assert unsupported({"guidance": "align", "keypoints": [{"support": None}]}) is None  # no matches at hand
    far = np.array([True, False, True])  # put by a narrow homography far from its inliers
    assert transfer_uses("homography", plane, back, far).tolist() == ["transfer-extrapolated", "transfer",
                                                                     "transfer-inconsistent"]
    alone = transfer_uses("fundamental", plane, back, far, None, "transfer-dense")  # a guide of dense matches alone
    assert alone.tolist() == ["transfer-dense", "transfer-dense", "transfer-dense-inconsistent"]
    assert own_curves(["ids carry features only and no keypoints cached, so the geometry was fitted to the dense "
                       "matches alone, which miss scale and rotation"]) == "transfer-dense"
    assert own_curves(["b shows a at 0.6x, turned -90 degrees, but the points were not searched in copies brought "
                       "onto each other"]) == "transfer-uncopied"
    assert own_curves(["2 of 3 points lie outside image b"]) is None
    try:
        cut = windows("aloe")
    except FileNotFoundError:
        pytest.skip("no data/pairs: run `python -m models.prep_data --opencv`")
    assert len(cut) == 10 and all(scene_of(p.name) == "aloe" for p in cut)
    assert all(p.a.shape == p.b.shape and p.a.size < 0.6 * 1282 * 1110 for p in cut)


def test_the_stored_curves_are_the_default_models_as_the_service_reads_them():
    from models.export_patch import MANIFEST
    from service.config import Settings
    from service.manifest import Manifest, ManifestEntry
    curves, settings = stored_curves(), Settings()
    listed = Manifest.model_validate_json(MANIFEST.read_text()).models
    entries = {e.name: e for e in map(ManifestEntry.model_validate, listed)}
    dense = ("dense", "transfer", "transfer-inconsistent", "transfer-dense", "transfer-align")
    for model, uses in ((settings.default_descriptor_model, ("sparse", "sparse-inlier")),
                        (settings.default_dense_model, dense)):
        for use in uses:
            assert curves[use] == entries[model].calibration[use].model_dump(), (model, use)


def test_confidence_as_served_is_read_as_is():
    """--as-shipped bins the confidence each match was served with, the rows of SHOWN included."""
    data = {"sparse": (np.array([0.9, 0.9, 0.1]), np.array([True, True, False])),
            "sparse-no-scene": (np.array([0.9, 0.7]), np.array([False, False]))}
    assert errors(AS_SERVED, data, tuple(AS_SERVED))[2:] == [
        "| sparse | 3 | 67 % | 0.63 | 10.0 % |", "| sparse-no-scene | 2 | 0 % | 0.80 | 80.0 % |"]


def test_a_few_answers_alone_at_the_top_do_not_make_the_curve_read_one():
    value = np.r_[np.linspace(0.0, 0.6, 60), 0.9]
    right = np.r_[np.zeros(60, bool), True]  # one right answer, the highest score: a step of its own
    p = fit(value, right)["p"]
    assert p[-1] == pytest.approx((1 + PRIOR * right.mean()) / (1 + PRIOR), abs=1e-3)  # drawn towards 1 in 61
    assert p[-1] < 0.5 and p[0] < 0.05
    assert np.all(np.diff(p) >= 0)


def test_with_many_answers_the_curve_is_the_share_right():
    rng = np.random.default_rng(0)
    value = rng.uniform(0, 1, 20_000)
    right = rng.uniform(0, 1, value.size) < value  # the share right is the score itself
    curve = fit(value, right)
    assert np.allclose(curve["p"][4:-4], curve["score"][4:-4], atol=0.05)
    assert np.all(np.diff(curve["p"]) >= 0)
    falling = fit(-value, right, increasing=False)  # a value that falls as the share right rises
    assert np.all(np.diff(falling["p"]) <= 0)
    assert np.allclose(falling["p"][4:-4], -np.array(falling["score"][4:-4]), atol=0.05)


def test_the_round_trips_curve_falls_with_the_miss_and_resolves_where_most_misses_lie():
    """Most round trips of points along the MRF's fields miss by under a pixel, a few by hundreds:
    knots spread evenly over that range would read 0.3 px and 3 px alike."""
    rng = np.random.default_rng(0)
    miss = np.r_[rng.uniform(0, 4, 9_000), rng.uniform(4, 500, 1_000)]
    right = rng.uniform(0, 1, miss.size) < np.clip(1 - miss / 4, 0.05, 1)  # right less often the more it missed
    curve = curve_of("transfer-align", miss, right)
    assert np.all(np.diff(curve["p"]) <= 0) and np.all(np.diff(curve["score"]) > 0)
    near, far, off = on_curve(curve, np.array([0.3, 3.0, 300.0]))
    assert near > 0.85 and far < 0.4 and off < 0.1, (near, far, off)


def test_each_scene_is_read_off_curves_fitted_on_the_others():
    rng = np.random.default_rng(0)

    def answers(flip: bool, n: int = 40) -> dict:
        score = rng.uniform(0, 1, n)
        return {"sparse": (score, (score > 0.5) != flip)}

    alike = [("a", answers(False)), ("b", answers(False)), ("c", answers(False))]
    assert scene_brier(alike, 0)["sparse"] < 0.05
    # a scene that contradicts the others is read off their curve, not its own
    assert scene_brier(alike + [("d", answers(True))], 0)["sparse"] > 0.2
    few = [("a", answers(False, 10)), ("b", answers(False, 10))]  # 10 answers to fit on each time
    assert "sparse" not in scene_brier(few, 0)
    assert scene_brier(alike, 5)["sparse"] != scene_brier(alike, 0)["sparse"]


def test_every_shipped_l2_descriptor_carries_the_curves_the_default_one_does():
    """Any of them may be named DEFAULT_DESCRIPTOR_MODEL or SPARSE_FAST_MODEL, and a use whose curve
    is missing reads another's (matches no geometry explains would read the method's own curve)."""
    entries = {e["name"]: e for e in json.loads(MANIFEST.read_text())["models"]}
    default = set(entries[Settings().default_descriptor_model]["calibration"])
    assert {"sparse", "sparse-unexplained", "sparse-inlier", "sparse-outlier"} <= default
    for name, e in entries.items():
        if e["kind"] == "descriptor" and e.get("metric") == "l2":
            assert set(e.get("calibration", {})) == default, name
