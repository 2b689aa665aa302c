"""Optional API keys and the per-key rate limit."""
from tests.conftest import make_client


def test_open_without_keys():
    with make_client() as c:
        assert c.get("/v1/models").status_code == 200


def test_keys_required_when_configured_health_exempt(tmp_path):
    keyfile = tmp_path / "keys"
    keyfile.write_text("# ops\nfile-key\n")
    with make_client(api_keys="k1, k2", api_keys_file=keyfile) as c:
        r = c.get("/v1/models")
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer" and r.json()["code"] == "unauthorized"
        assert c.get("/v1/models", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert c.get("/v1/models", headers={"Authorization": "Bearer k2"}).status_code == 200
        assert c.get("/v1/models", headers={"X-API-Key": "file-key"}).status_code == 200
        assert c.get("/healthz").status_code == 200 and c.get("/metrics").status_code == 200


def test_rate_limit_per_key_with_retry_after():
    with make_client(api_keys="a,b", rate_limit_per_minute=3) as c:
        codes = [c.get("/v1/models", headers={"X-API-Key": "a"}).status_code for _ in range(5)]
        assert codes[:3] == [200] * 3 and codes[3:] == [429, 429]
        r = c.get("/v1/models", headers={"X-API-Key": "a"})
        assert int(r.headers["retry-after"]) >= 1
        assert c.get("/v1/models", headers={"X-API-Key": "b"}).status_code == 200  # its own bucket
