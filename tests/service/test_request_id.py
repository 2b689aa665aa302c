"""Request ids: on every answer (header, and the error body), kept from a caller that sends one,
and on every log record made while the request is served, in its threads too (the lines:
test_logs.py)."""
import logging
import re

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from service.deps import ContextDep
from tests.conftest import make_client

MADE = re.compile(r"[0-9a-f]{32}")
UNKNOWN = "/v1/images/" + "ab" * 32


def test_every_answer_carries_an_id_and_an_error_body_the_same():
    with make_client(warm_up=False) as c:
        ok, again = c.get("/healthz"), c.get("/healthz")
        assert MADE.fullmatch(ok.headers["x-request-id"]) and MADE.fullmatch(again.headers["x-request-id"])
        assert ok.headers["x-request-id"] != again.headers["x-request-id"]
        missing = c.delete(UNKNOWN)
        assert missing.status_code == 404 and missing.json()["request_id"] == missing.headers["x-request-id"]


def test_a_callers_id_is_kept_and_one_that_is_not_a_short_token_replaced():
    with make_client(warm_up=False) as c:
        kept = c.delete(UNKNOWN, headers={"X-Request-ID": "trace-7f3a:2.b_9"})
        assert kept.headers["x-request-id"] == kept.json()["request_id"] == "trace-7f3a:2.b_9"
        for bad in ("has space", "x" * 129, "a/b", ""):
            r = c.get("/healthz", headers={"X-Request-ID": bad})
            assert MADE.fullmatch(r.headers["x-request-id"]), bad


def test_refusals_before_any_route_carry_it_too():
    with make_client(warm_up=False, api_keys="k1", max_body_bytes=1000, max_image_bytes=1000) as c:
        denied = c.get("/v1/models")
        assert denied.status_code == 401 and denied.json()["request_id"] == denied.headers["x-request-id"]
        big = c.post("/v1/patches/similarity", content=b"x" * 5000, headers={"X-API-Key": "k1"})
        assert big.status_code == 413 and big.json()["request_id"] == big.headers["x-request-id"]


def test_log_lines_of_a_request_carry_the_id_the_caller_got(caplog):
    """In the request's task, in starlette's thread pool and on the matching pool, and the 500's
    own line: an operator finds a caller's failure by the id in its answer."""
    async def boom(request: Request, ctx: ContextDep) -> None:
        log = logging.getLogger("service.test")
        log.warning("in the task")
        await run_in_threadpool(log.warning, "in the thread pool")
        await ctx.on_pool(log.warning, "on the matching pool")
        raise RuntimeError("a bug")

    with make_client(warm_up=False) as c:
        c.app.add_api_route("/boom", boom)
        with caplog.at_level(logging.INFO):
            r = c.get("/boom")
            other = c.get("/healthz").headers["x-request-id"]
    assert r.status_code == 500 and r.json()["request_id"] == r.headers["x-request-id"] != other
    lines = {rec.getMessage(): rec.request_id for rec in caplog.records}
    for message in ("in the task", "in the thread pool", "on the matching pool", "unhandled error on GET /boom"):
        assert lines[message] == r.headers["x-request-id"], message
    assert "a bug" not in r.text
