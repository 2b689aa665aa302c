"""service.warmup: a synthetic pair goes through the sparse path before the first request, in a
cache of its own, and the app's routes are built; off, nothing runs; a failure leaves the service
starting as it would have."""
from __future__ import annotations

import asyncio

import fastapi.routing
import pytest

from service import warmup
from tests.conftest import make_client


def descriptor_items(c, name: str | None = None) -> int:
    settings = c.app.state.settings
    return c.app.state.registry.models[name or settings.default_descriptor_model].main.stats.items


def test_the_default_and_fast_descriptors_have_run_before_the_first_request():
    with make_client() as c:
        assert c.app.state.warm_up_s > 0
        full = c.app.state.settings.max_batch  # a full batch an image (the detector may keep a tie more)
        for name in (c.app.state.settings.sparse_fast_model, None):
            assert 2 * full <= descriptor_items(c, name) <= 2 * full + 8
        assert c.app.state.cache.stats.bytes_written == 0  # its features stayed out of the service's cache


def test_off_nothing_runs():
    with make_client(warm_up=False) as c:
        assert descriptor_items(c) == 0 and not hasattr(c.app.state, "warm_up_s")
        assert c.get("/readyz").status_code == 200


def test_a_failed_warm_up_leaves_the_service_ready(monkeypatch):
    async def broken(*_args, **_kw):
        raise RuntimeError("no")
    monkeypatch.setattr(warmup.dense, "sparse_features", broken)
    with make_client() as c:
        assert c.app.state.warm_up_s is None
        assert c.get("/readyz").status_code == 200


@pytest.fixture()
def route_builds(monkeypatch) -> list:
    """Every route FastAPI builds for an included router (it does so at the first request that
    reaches the router), as it builds it."""
    built = []
    build = fastapi.routing._IncludedRouter._build_effective_context

    def counted(self, route):
        built.append(route)
        return build(self, route)
    monkeypatch.setattr(fastapi.routing._IncludedRouter, "_build_effective_context", counted)
    return built


@pytest.mark.parametrize("warm_up", [True, False])
def test_the_routes_are_built_before_the_first_request(route_builds, warm_up):
    with make_client(warm_up=warm_up) as c:
        at_start = len(route_builds)
        assert c.get("/v1/keypoint-models").status_code == 200  # in the last router included
        assert c.get("/no/such/path").status_code == 404  # one walks them all
        if warm_up:
            assert c.app.state.warm_up_routes == 404 and at_start > 0
            assert len(route_builds) == at_start  # nothing was left for a request to build
        else:
            assert at_start == 0 and len(route_builds) > 0


def test_routes_that_fail_are_logged_not_raised(caplog):
    async def broken(scope, receive, send):
        raise RuntimeError("no")
    assert asyncio.run(warmup.routes(broken)) is None
    assert "warm-up of the routes failed" in caplog.text


@pytest.mark.parametrize("seed", [0, 1])
def test_the_texture_has_detail_everywhere(seed):
    img = warmup.texture(seed)
    assert img.shape == warmup.SIZE and img.std() > 5
    assert (warmup.texture(seed) == img).all()
