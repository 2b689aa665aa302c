"""Where eval.calibrate stores its curves: on the models that served the answers they were fitted on."""
import pytest

from eval.calibrate import store

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
