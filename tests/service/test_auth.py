"""Optional API keys, the rate limit and the throttle on failed authentication."""
from types import SimpleNamespace

import pytest

from service import auth
from service.auth import MAX_BUCKETS, WINDOW_S, LocalCounter
from tests.conftest import make_client


@pytest.fixture()
def one_window(monkeypatch):
    """The limiter's clock held in the middle of one window, so a test's requests never straddle
    the minute's end (where the counts start again)."""
    monkeypatch.setattr(auth, "time", SimpleNamespace(time=lambda: 1000 * WINDOW_S + WINDOW_S / 2))


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


def test_rate_limit_per_key_with_retry_after(one_window):
    """Each answer says where the key's bucket stands (RateLimit-Limit, -Remaining, -Reset: the
    window is held at its middle, 30 s to go), the refusals too; exempt routes are not counted."""
    with make_client(api_keys="a,b", rate_limit_per_minute=3) as c:
        answers = [c.get("/v1/models", headers={"X-API-Key": "a"}) for _ in range(5)]
        assert [r.status_code for r in answers] == [200] * 3 + [429, 429]
        quota = [(r.headers["ratelimit-limit"], r.headers["ratelimit-remaining"], r.headers["ratelimit-reset"])
                 for r in answers]
        assert quota == [("3", "2", "30"), ("3", "1", "30"), ("3", "0", "30"), ("3", "0", "30"), ("3", "0", "30")]
        r = c.get("/v1/models", headers={"X-API-Key": "a"})
        assert int(r.headers["retry-after"]) >= 1
        other = c.get("/v1/models", headers={"X-API-Key": "b"})
        assert other.status_code == 200 and other.headers["ratelimit-remaining"] == "2"  # its own bucket
        assert "ratelimit-limit" not in c.get("/healthz").headers


def test_made_up_keys_buy_nothing_when_keys_are_off(one_window):
    """Without API keys the limit follows the client's address, whatever key it presents."""
    with make_client(rate_limit_per_minute=5) as c:
        codes = [c.get("/v1/models", headers={"X-API-Key": f"random-{i}"}).status_code for i in range(8)]
    assert codes[:5] == [200] * 5 and codes[5:] == [429] * 3


def test_wrong_keys_are_throttled_by_address(one_window):
    with make_client(api_keys="good", auth_failures_per_minute=10) as c:
        codes = [c.get("/v1/models", headers={"X-API-Key": f"guess-{i}"}).status_code for i in range(14)]
        assert codes[:10] == [401] * 10 and set(codes[10:]) == {429}
        refused = c.get("/v1/models", headers={"X-API-Key": "guess"})
        assert refused.headers["retry-after"] and "ratelimit-limit" not in refused.headers  # not the key's quota
        assert c.get("/v1/models", headers={"X-API-Key": "good"}).status_code == 200  # a valid key still passes


def test_the_bucket_table_is_bounded():
    counter = LocalCounter()
    for i in range(MAX_BUCKETS + 500):
        counter.hit(f"addr:{i}")
    assert len(counter.counts) <= MAX_BUCKETS


def test_the_limit_is_shared_by_replicas_through_redis(redis_server, one_window):
    settings = {"rate_limit_per_minute": 4, "redis_url": redis_server.url, "redis_timeout_s": 5}
    with make_client(**settings) as one, make_client(**settings) as two:
        answers = [(one if i % 2 else two).get("/v1/models") for i in range(6)]
        unavailable = [c.get("/metrics").text for c in (one, two)]
    assert all("corr_ratelimit_unavailable_total 0.0" in text for text in unavailable)  # none failed open
    assert [r.status_code for r in answers] == [200] * 4 + [429, 429]
    assert [r.headers["ratelimit-remaining"] for r in answers] == ["3", "2", "1", "0", "0", "0"]


def test_the_limit_fails_open_and_counts_it_when_redis_is_down():
    with make_client(rate_limit_per_minute=1, redis_url="redis://127.0.0.1:1/0", redis_timeout_s=0.1) as c:
        answers = [c.get("/v1/models") for _ in range(3)]
        assert [r.status_code for r in answers] == [200] * 3
        assert not any("ratelimit-remaining" in r.headers for r in answers)  # not counted: nothing to say
        assert "corr_ratelimit_unavailable_total 3.0" in c.get("/metrics").text


def test_metrics_can_be_protected():
    with make_client(api_keys="k", metrics_public=False) as c:
        assert c.get("/metrics").status_code == 401
        assert c.get("/metrics", headers={"X-API-Key": "k"}).status_code == 200
    with make_client(api_keys="k") as c:
        assert c.get("/metrics").status_code == 200
