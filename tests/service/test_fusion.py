"""The fused patch scorer: the network's score and SIFT's distance of the same pixels, combined as
the manifest's regression says, through the API."""
import base64

import cv2
import numpy as np

from models.data import synth
from service import fusion


def patches(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.stack([cv2.GaussianBlur((rng.random((64, 64)) * 255).astype(np.uint8), (0, 0), 2.0)
                     for _ in range(n)])


def test_the_service_describes_patches_as_the_training_sets_sift_baseline_does():
    p = patches(5)
    assert np.array_equal(fusion.sift_describe(p), synth.sift_describe(p))


def test_combine_is_the_regressions_log_odds():
    f = fusion.Fusion(score_weight=2.0, sift_weight=-4.0, bias=1.0)
    got = f.combine(np.float32([0.5, -1.0]), np.float32([256.0, 0.0]))
    assert np.allclose(got, [2 * 0.5 - 4 * 0.5 + 1, 2 * -1.0 + 1])


def similarity(client, model: str, pairs: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    enc = [[base64.b64encode(cv2.imencode(".png", x)[1].tobytes()).decode() for x in pair] for pair in pairs]
    r = client.post("/v1/patches/similarity", json={"model": model, "pairs": [{"a": a, "b": b} for a, b in enc]})
    assert r.status_code == 200, r.text
    assert r.json()["model"] == model
    return np.array(r.json()["scores"])


def test_the_fused_model_adds_sifts_distance_to_its_networks_score(client):
    p = patches(6, seed=1)
    shifted = np.roll(p[0], 2, axis=1)
    pairs = [(p[0], p[0]), (p[0], shifted), (p[0], p[1]), (p[2], p[3]), (p[4], p[5])]
    entry = client.app.state.registry.get("2ch-2stream-views8-sift", ("patch",)).entry
    net = similarity(client, "2ch-2stream-views8", pairs)
    d = fusion.sift_distances(np.stack([np.stack(pair) for pair in pairs]))
    got = similarity(client, "2ch-2stream-views8-sift", pairs)
    assert np.allclose(got, entry.fusion.combine(net, d), atol=1e-4)
    assert d[0] == 0 and got[0] > got[1] > max(got[2:])


def test_flat_patches_get_a_finite_fused_score(client):
    """SIFT finds no gradient in a flat patch: its descriptor is all zeros, and the score stays a number."""
    flat, white = np.zeros((64, 64), np.uint8), np.full((64, 64), 255, np.uint8)
    got = similarity(client, "2ch-2stream-views8-sift", [(flat, flat), (flat, white), (flat, patches(1)[0])])
    assert np.isfinite(got).all()
