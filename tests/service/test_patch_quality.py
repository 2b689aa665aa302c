"""The shipped patch networks, through the service, on pairs they never saw: synthesised from a
held-back photo with a seed of their own, scored by FPR95 beside SIFT on the same pairs."""
import base64

import cv2
import numpy as np
import pytest

from models.data import photos, synth
from models.metrics import fpr_at_recall


@pytest.fixture(scope="module")
def pairs():
    ps = synth.from_photos([photos.load("rocket"), photos.load("coffee")], 4, seed=2024, similar=False)
    idx = np.r_[ps.pos, ps.neg]
    labels = np.r_[np.ones(len(ps.pos)), np.zeros(len(ps.neg))]
    return ps.patches, idx, labels


def scores_via_api(client, patches, idx, model):
    enc = [base64.b64encode(cv2.imencode(".png", p)[1].tobytes()).decode() for p in patches]
    out = []
    for s in range(0, len(idx), 512):
        body = {"model": model, "pairs": [{"a": enc[i], "b": enc[j]} for i, j in idx[s:s + 512]]}
        r = client.post("/v1/patches/similarity", json=body)
        assert r.status_code == 200, r.text
        out += r.json()["scores"]
    return np.array(out)


def sift_fpr95(patches, idx, labels):
    d = synth.sift_describe(patches)
    return fpr_at_recall(-np.linalg.norm(d[idx[:, 0]] - d[idx[:, 1]], axis=1), labels)


@pytest.mark.parametrize("model", ["2ch-2stream", "2ch-2stream-views8", "2ch-2stream-views8-sift", "2ch-deep",
                                   "siam-2stream-l2"])
def test_shipped_network_beats_sift_on_held_back_pairs(client, pairs, model):
    patches, idx, labels = pairs
    assert len(labels) > 1000
    net = fpr_at_recall(scores_via_api(client, patches, idx, model), labels)
    assert net < sift_fpr95(patches, idx, labels)
