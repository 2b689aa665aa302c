"""The whitening map appended to an L2 descriptor: known answers of the fit, and its export."""
import json

import numpy as np
import onnxruntime as ort
import pytest

from models import health, whiten
from models.export_patch import Whitening, export
from models.patchnet import build
from tests.models.test_export import checkpoint
from tests.models.test_health import ENTRIES, WEIGHTS


def correlated(n=20000, seed=0):
    """Samples of a 6-d Gaussian with variances 16, 9, 4, 1, 0.25, 0.01 along a random rotation."""
    rng = np.random.default_rng(seed)
    rot, _ = np.linalg.qr(rng.normal(size=(6, 6)))
    z = rng.normal(size=(n, 6)) * np.sqrt([16, 9, 4, 1, 0.25, 0.01])
    return z @ rot.T + 3.0, rot


def test_full_whitening_keeps_the_largest_directions_with_unit_variance():
    x, rot = correlated()
    mean, proj, kept = whiten.fit(x, 3, 0.5)
    y = (x - mean) @ proj
    np.testing.assert_allclose(np.cov(y.T), np.eye(3), atol=1e-6)
    # its directions are the three largest of the rotation, in order
    cos = np.abs((proj / np.linalg.norm(proj, axis=0)).T @ rot[:, :3])
    np.testing.assert_allclose(np.diag(cos), 1.0, atol=0.01)
    assert kept == pytest.approx(29 / 30.26, abs=0.005)


def test_power_zero_only_projects_and_a_half_power_evens_variances_out_by_their_root():
    x, _ = correlated()
    _, proj, _ = whiten.fit(x, 4, 0.0)
    np.testing.assert_allclose(proj.T @ proj, np.eye(4), atol=1e-9)
    mean, proj, _ = whiten.fit(x, 4, 0.25)
    sd = np.sqrt(np.diag(np.cov(((x - mean) @ proj).T)))
    np.testing.assert_allclose(sd, [2, np.sqrt(3), np.sqrt(2), 1], rtol=0.03)
    with pytest.raises(ValueError):
        whiten.fit(x, 7, 0.5)


def test_whitened_export_gives_unit_descriptors_of_the_fitted_dims(tmp_path):
    probe = health.probe_pairs(64)
    patches = np.round(probe.reshape(-1, 64, 64) * 255).astype(np.uint8)
    np.savez(tmp_path / "set.npz", patches=patches)
    entry = export(checkpoint(tmp_path, "siam-2stream-l2"), tmp_path / "w",
                   whitening=Whitening(16, 0.5, tmp_path / "set.npz", 100))
    assert entry["descriptor_dim"] == 16 and entry["outputs"]["descriptors"] == ["batch", 16]
    assert entry["whitening"]["dims"] == 16 and entry["whitening"]["fitted_on"] == "100 patches of set.npz"
    json.dumps(entry)  # the manifest can hold it
    sess = ort.InferenceSession(str(tmp_path / "w" / entry["file"]), providers=["CPUExecutionProvider"])
    dec = ort.InferenceSession(str(tmp_path / "w" / entry["decision_file"]), providers=["CPUExecutionProvider"])
    d = sess.run(None, {"patches": probe[:, :1]})[0]
    np.testing.assert_allclose(np.linalg.norm(d, axis=1), 1.0, atol=1e-5)
    e = sess.run(None, {"patches": probe[:, 1:]})[0]
    np.testing.assert_allclose(dec.run(None, {"a": d, "b": e})[0], -np.linalg.norm(d - e, axis=1), atol=1e-5)
    # whitened: the fitted patches' descriptors spread along all 16 directions, none dominating
    fitted = sess.run(None, {"patches": patches[:100, None].astype(np.float32) / 255.0})[0]
    share = np.linalg.eigvalsh(np.cov(fitted.T))[::-1]
    assert share[0] / share.sum() < 0.25


def test_whitening_is_for_l2_descriptors_only(tmp_path):
    np.savez(tmp_path / "set.npz", patches=np.zeros((4, 64, 64), np.uint8))
    with pytest.raises(ValueError):
        export(checkpoint(tmp_path, "siam"), tmp_path / "w", whitening=Whitening(8, 0.5, tmp_path / "set.npz", 4))
    with pytest.raises(ValueError):
        whiten.Whitened(build("siam"), np.zeros(2), np.eye(2))


WHITENED = [m for m in ENTRIES if "whitening" in m]


@pytest.mark.parametrize("entry", WHITENED, ids=[m["name"] for m in WHITENED])
def test_each_shipped_descriptor_spreads_real_patches_over_many_directions(entry):
    """Whitened, no handful of directions decides the distances between real patches: their
    participation ratio (sum of variances squared over the sum of their squares, the number of
    equally strong directions that would give the same spread) is in the hundreds. The network's
    own 768 numbers give about 11."""
    assert entry["whitening"]["dims"] == entry["descriptor_dim"]
    sess = ort.InferenceSession(str(WEIGHTS / entry["file"]), providers=["CPUExecutionProvider"])
    d = sess.run(None, {"patches": health.probe_pairs(512).reshape(-1, 1, 64, 64)})[0]
    var = np.linalg.eigvalsh(np.cov(d.T))
    assert var.sum() ** 2 / (var ** 2).sum() > 64


def test_both_shipped_descriptors_are_whitened():
    assert {m["name"] for m in WHITENED} >= {"siam-2stream-l2", "siam-2stream-l2-w0.25"}
