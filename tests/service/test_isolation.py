"""With API keys on, what a key creates is its own: another key gets the same 404 as for something
that does not exist, for keypoint models and for image ids alike; an admin key sees all."""
import base64

import numpy as np
import pytest

from tests.conftest import encode, make_client

A, B, ADMIN = ({"X-API-Key": k} for k in ("key-a", "key-b", "key-admin"))


@pytest.fixture(scope="module")
def keyed(coffee):
    with make_client(api_keys="key-a,key-b", admin_api_keys="key-admin") as c:
        yield c


@pytest.fixture(scope="module")
def photo(coffee) -> bytes:
    return encode(coffee[:240, :320])


@pytest.fixture(scope="module")
def model_of_a(keyed, photo) -> str:
    ex = {"image": base64.b64encode(photo).decode(), "keypoints": {"rim": [175.0, 110.0], "spoon": [80.0, 60.0]}}
    r = keyed.post("/v1/keypoint-models", json={"exemplars": [ex, ex]}, headers=A)
    assert r.status_code == 201, r.text
    return r.json()["id"]


def test_another_key_cannot_list_read_use_or_delete_a_keys_models(keyed, model_of_a, photo):
    assert [m["id"] for m in keyed.get("/v1/keypoint-models", headers=A).json()["models"]] == [model_of_a]
    assert keyed.get("/v1/keypoint-models", headers=B).json()["models"] == []
    missing = "0" * 24
    for mid in (model_of_a, missing):
        got = [keyed.get(f"/v1/keypoint-models/{mid}", headers=B),
               keyed.delete(f"/v1/keypoint-models/{mid}", headers=B),
               keyed.post(f"/v1/keypoint-models/{mid}/predict", files={"image": ("p.png", photo)}, headers=B)]
        assert [(r.status_code, r.json()["code"]) for r in got] == [(404, "not_found")] * 3
        assert all(r.json()["detail"] == f"no keypoint model {mid}" for r in got)
    assert keyed.get(f"/v1/keypoint-models/{model_of_a}", headers=A).status_code == 200
    assert model_of_a in [m["id"] for m in keyed.get("/v1/keypoint-models", headers=ADMIN).json()["models"]]


def test_an_image_id_says_nothing_about_another_keys_uploads(keyed, photo):
    image_id = keyed.post("/v1/images", files={"image": ("p.png", photo)}, headers=A).json()["image_id"]
    never = "f" * 64
    by = {who: keyed.post("/v1/correspondences", data={"image_a_id": i, "image_b_id": i}, headers=key)
          for who, key, i in (("a", A, image_id), ("b", B, image_id), ("never", B, never))}
    assert by["a"].status_code == 200
    assert by["b"].status_code == 404 and by["never"].status_code == 404
    assert by["b"].json()["detail"].replace(image_id, "ID") == by["never"].json()["detail"].replace(never, "ID")


def test_keys_off_everyone_shares_one_namespace(client, coffee):
    data = encode(np.ascontiguousarray(coffee[:200, :200]))
    image_id = client.post("/v1/images", files={"image": ("p.png", data)}).json()["image_id"]
    r = client.post("/v1/correspondences", data={"image_a_id": image_id, "image_b_id": image_id})
    assert r.status_code == 200


def test_another_key_cannot_look_up_or_delete_a_keys_image(keyed, photo):
    image_id = keyed.post("/v1/images", files={"image": ("p.png", photo)}, headers=A).json()["image_id"]
    assert keyed.get(f"/v1/images/{image_id}", headers=A).status_code == 200
    for ask in (keyed.get, keyed.delete):
        by_b = ask(f"/v1/images/{image_id}", headers=B)
        never = ask(f"/v1/images/{'e' * 64}", headers=B)
        assert by_b.status_code == 404 and never.status_code == 404
        assert by_b.json()["detail"].replace(image_id, "ID") == never.json()["detail"].replace("e" * 64, "ID")
    r = keyed.post("/v1/correspondences", data={"image_a_id": image_id, "image_b_id": image_id}, headers=A)
    assert r.status_code == 200
    assert keyed.delete(f"/v1/images/{image_id}", headers=A).status_code == 204
