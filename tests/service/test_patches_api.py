"""POST /v1/patches/*: happy paths on the shipped networks and every bad input of the issue."""
import numpy as np
import pytest

from tests.conftest import b64, encode, make_client
from tests.service.test_imaging import png_header_only

SIM, DESC = "/v1/patches/similarity", "/v1/patches/descriptors"


@pytest.fixture(scope="module")
def patches(coffee):
    """Three 64x64 patches: a, a seen 2 px shifted and brighter, and an unrelated one."""
    a = coffee[100:164, 200:264]
    shifted = np.clip(coffee[102:166, 201:265].astype(int) * 1.2 + 10, 0, 255).astype(np.uint8)
    other = coffee[300:364, 450:514]
    return a, shifted, other


def error(r, status):
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"detail", "code", "request_id"} and body["request_id"] == r.headers["x-request-id"]
    return body


def test_models_lists_the_shipped_networks(client):
    models = {m["name"]: m for m in client.get("/v1/models").json()["models"]}
    assert {"2ch-2stream", "2ch-2stream-views8", "2ch-2stream-views8-sift", "2ch-deep",
            "siam-2stream-l2"} <= set(models)
    best = models["2ch-2stream-views8-sift"]
    assert best["kind"] == "patch" and "similarity" in best["default_for"] and not models["2ch-2stream"]["default_for"]
    assert not models["2ch-2stream-views8"]["default_for"]
    assert best["views"] == 8 and models["2ch-2stream"]["views"] == 1 and best["metrics"]["fpr95_heldout"] > 0
    assert models["siam-2stream-l2"]["kind"] == "descriptor"
    assert all(m["provider"] == "CPUExecutionProvider" and len(m["sha256"]) == 64 for m in models.values())
    assert not any(m["io_binding"] for m in models.values())  # automatic: on a GPU only


def test_health_and_readiness(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    r = client.get("/readyz")
    assert r.status_code == 200 and r.json()["status"] == "ready"


@pytest.mark.parametrize("model", [None, "2ch-2stream", "2ch-2stream-views8", "2ch-2stream-views8-sift", "2ch-deep",
                                   "siam-2stream-l2"])
def test_similarity_ranks_the_same_point_above_another(client, patches, model):
    a, shifted, other = patches
    body = {"pairs": [{"a": b64(a), "b": b64(shifted)}, {"a": b64(a), "b": b64(other)}]} | (
        {"model": model} if model else {})
    r = client.post(SIM, json=body)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["model"] == (model or "2ch-2stream-views8-sift")
    assert len(out["scores"]) == 2 and out["scores"][0] > out["scores"][1]


def test_other_sizes_and_colour_are_converted(client, coffee):
    big = np.dstack([coffee[100:228, 200:328]] * 3)  # 128x128 colour -> 64x64 grey
    r = client.post(SIM, json={"pairs": [{"a": b64(big), "b": b64(coffee[100:164, 200:264])}]})
    assert r.status_code == 200 and len(r.json()["scores"]) == 1


def test_descriptors_shape_order_and_l2_meaning(client, patches):
    a, shifted, other = patches
    r = client.post(DESC, json={"patches": [b64(a), b64(shifted), b64(other), b64(a)]})
    assert r.status_code == 200, r.text
    out = r.json()
    d = np.array(out["descriptors"])
    assert out["model"] == "siam-2stream-l2" and out["metric"] == "l2" and d.shape == (4, out["dim"])
    np.testing.assert_allclose(d[0], d[3])
    np.testing.assert_allclose(np.linalg.norm(d, axis=1), 1, atol=1e-4)
    assert np.linalg.norm(d[0] - d[1]) < np.linalg.norm(d[0] - d[2])


def test_descriptor_scores_agree_with_similarity(client, patches):
    a, shifted, _ = patches
    d = np.array(client.post(DESC, json={"patches": [b64(a), b64(shifted)]}).json()["descriptors"])
    s = client.post(SIM, json={"model": "siam-2stream-l2", "pairs": [{"a": b64(a), "b": b64(shifted)}]}).json()
    assert s["scores"][0] == pytest.approx(-np.linalg.norm(d[0] - d[1]), abs=1e-4)


# ---- bad input -------------------------------------------------------------------------------

@pytest.mark.parametrize("body", [None, {}, {"pairs": []}, {"pairs": "x"}, {"pairs": [{"a": "aGk="}]},
                                  {"pairs": [{"a": 1, "b": 2}]}, {"patches": []}])
def test_malformed_bodies_are_422(client, body):
    r = client.post(SIM, json=body) if body is not None else client.post(SIM)
    error(r, 422)


def test_non_json_content_is_422(client):
    error(client.post(SIM, content=b"\x00\x01 not json", headers={"content-type": "text/plain"}), 422)
    error(client.post(SIM, content=b"{bad json", headers={"content-type": "application/json"}), 422)


def test_wrong_base64_and_urls_are_422_and_never_fetched(client, patches):
    ok = b64(patches[0])
    for bad in ("not base64!", "http://127.0.0.1:9/x.png", "file:///etc/passwd"):
        body = error(client.post(SIM, json={"pairs": [{"a": bad, "b": ok}]}), 422)
        assert "pair 0, a" in body["detail"]


def test_undecodable_and_truncated_images(client, patches):
    ok = b64(patches[0])
    error(client.post(SIM, json={"pairs": [{"a": ok, "b": b64(b"\x00garbage" * 20)}]}), 415)
    png = encode(np.dstack([patches[0]] * 3))
    error(client.post(SIM, json={"pairs": [{"a": ok, "b": b64(png[: len(png) // 2])}]}), 400)
    error(client.post(DESC, json={"patches": [b64(b"%!PS-Adobe-3.0 EPSF-3.0\n")]}), 415)


def test_bombs_and_oversize_patches_are_413(client, patches):
    ok = b64(patches[0])
    error(client.post(SIM, json={"pairs": [{"a": ok, "b": b64(png_header_only(50_000, 50_000))}]}), 413)
    error(client.post(SIM, json={"pairs": [{"a": ok, "b": b64(np.zeros((600, 600), np.uint8))}]}), 413)


def test_tiny_and_elongated_patches_are_422(client, patches):
    ok = b64(patches[0])
    for arr in (np.zeros((1, 1), np.uint8), np.zeros((4, 64), np.uint8), np.zeros((20, 200), np.uint8)):
        error(client.post(SIM, json={"pairs": [{"a": ok, "b": b64(arr)}]}), 422)


def test_unknown_and_unsafe_model_names(client, patches):
    pair = [{"a": b64(patches[0]), "b": b64(patches[1])}]
    assert "2ch-2stream" in error(client.post(SIM, json={"model": "nope", "pairs": pair}), 404)["detail"]
    error(client.post(SIM, json={"model": "../../etc/passwd", "pairs": pair}), 422)
    error(client.post(DESC, json={"model": "2ch-2stream", "patches": [b64(patches[0])]}), 404)


def test_batch_caps_come_from_settings(patches):
    pair = {"a": b64(patches[0]), "b": b64(patches[1])}
    with make_client(max_pairs=2, max_patches=1) as c:
        assert c.post(SIM, json={"pairs": [pair] * 2}).status_code == 200
        assert "limit is 2" in error(c.post(SIM, json={"pairs": [pair] * 3}), 422)["detail"]
        error(c.post(DESC, json={"patches": [pair["a"]] * 2}), 422)


def test_unknown_fields_are_refused(client, patches):
    error(client.post(SIM, json={"pairs": [{"a": b64(patches[0]), "b": b64(patches[1])}], "url": "x"}), 422)


def test_batches_mix_patch_sizes_for_spp_and_fixed_networks(client, coffee):
    """Pairs of different sizes in one request: fixed-size networks resize them all, and the
    answer keeps the request's order."""
    small, big = coffee[100:148, 200:248], coffee[100:196, 200:296]
    pairs = [{"a": b64(small), "b": b64(small)}, {"a": b64(big), "b": b64(big)}, {"a": b64(small), "b": b64(big)}]
    r = client.post(SIM, json={"pairs": pairs})
    assert r.status_code == 200
    alone = [client.post(SIM, json={"pairs": [p]}).json()["scores"][0] for p in pairs]
    np.testing.assert_allclose(r.json()["scores"], alone, atol=1e-5)


def test_the_largest_batch_answers_within_the_deadline(client, coffee):
    """MAX_PAIRS pairs (1024) through the default 8-view scorer: 200, well inside the 30 s deadline."""
    import time
    pairs = [{"a": b64(coffee[y:y + 64, x:x + 64]), "b": b64(coffee[y + 2:y + 66, x + 3:x + 67])}
             for y in range(0, 320, 40) for x in range(0, 512, 4)][:1024]
    assert len(pairs) == 1024
    t = time.perf_counter()
    r = client.post("/v1/patches/similarity", json={"pairs": pairs})
    assert r.status_code == 200 and len(r.json()["scores"]) == 1024 and time.perf_counter() - t < 20
