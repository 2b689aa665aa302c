"""Body limits before parsing, health endpoints, and a broken model file."""
import json
import shutil

from service.config import MODELS_DIR
from tests.conftest import make_client


def test_declared_body_over_limit_is_413_before_parsing():
    with make_client(max_body_bytes=1000, max_image_bytes=500) as c:
        r = c.post("/v1/patches/similarity", content=b"x" * 2000, headers={"content-type": "application/json"})
        assert r.status_code == 413 and r.json()["code"] == "too_large"


def test_streamed_body_over_limit_is_413():
    def chunks():
        for _ in range(10):
            yield b"x" * 500

    with make_client(max_body_bytes=1000, max_image_bytes=500) as c:
        r = c.post("/v1/patches/similarity", content=chunks(), headers={"content-type": "application/json"})
        assert r.status_code == 413


def test_malformed_content_length_is_400():
    with make_client() as c:
        for value in ("-5", "abc"):
            r = c.post("/v1/patches/similarity", content=b"{}", headers={"content-length": value})
            assert r.status_code == 400 and r.json()["code"] == "bad_content_length"


def test_corrupt_model_file_makes_readiness_503_and_others_still_serve(tmp_path):
    shutil.copytree(MODELS_DIR, tmp_path / "w")
    (tmp_path / "w" / "2ch-2stream-views8.onnx").write_bytes(b"corrupt")  # the default scorer's
    with make_client(models_dir=tmp_path / "w") as c:
        r = c.get("/readyz")
        assert r.status_code == 503 and "2ch-2stream-views8" in r.json()["errors"]
        names = [m["name"] for m in c.get("/v1/models").json()["models"]]
        assert "2ch-2stream-views8" not in names and {"2ch-2stream", "siam-2stream-l2"} <= set(names)


def test_missing_manifest_is_not_ready(tmp_path):
    with make_client(models_dir=tmp_path) as c:
        assert c.get("/healthz").status_code == 200
        assert c.get("/readyz").status_code == 503
        assert c.post("/v1/patches/similarity", json={"pairs": [{"a": "aGk=", "b": "aGk="}]}).status_code == 404


def test_openapi_documents_the_v1_routes():
    with make_client() as c:
        paths = json.loads(c.get("/openapi.json").text)["paths"]
    assert {"/v1/patches/similarity", "/v1/patches/descriptors", "/v1/models", "/healthz", "/readyz"} <= set(paths)
