"""service.warmup: a synthetic pair goes through the sparse path before the first request, in a
cache of its own; off, nothing runs; a failure leaves the service starting as it would have."""
from __future__ import annotations

import pytest

from service import warmup
from tests.conftest import make_client


def descriptor_items(c) -> int:
    settings = c.app.state.settings
    return c.app.state.registry.models[settings.default_descriptor_model].main.stats.items


def test_the_default_descriptor_has_run_before_the_first_request():
    with make_client() as c:
        assert c.app.state.warm_up_s > 0
        full = c.app.state.settings.max_batch  # a full batch an image (the detector may keep a tie more)
        assert 2 * full <= descriptor_items(c) <= 2 * full + 8
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


@pytest.mark.parametrize("seed", [0, 1])
def test_the_texture_has_detail_everywhere(seed):
    img = warmup.texture(seed)
    assert img.shape == warmup.SIZE and img.std() > 5
    assert (warmup.texture(seed) == img).all()
