"""Faults from shared/RELIABILITY.md: Redis absent or slow, no GPU, overload."""
import asyncio
import base64
import logging
import time

import cv2
import httpx
import numpy as np
import pytest
import redis

from service import registry
from service.cache import RedisCache
from service.config import Settings
from service.feature_map import FeatureMap
from service.main import create_app
from tests.conftest import busy, eventually, make_client, until
from tests.redis_server import RedisServer


def png(arr):
    return cv2.imencode(".png", arr)[1].tobytes()


def test_redis_absent_at_start_up_service_answers_and_says_degraded(coffee):
    url = RedisServer().url  # nothing listens there
    with make_client(redis_url=url) as c:
        ready = c.get("/readyz")
        assert ready.status_code == 200 and ready.json()["cache"] == "degraded"
        r = c.post("/v1/images", files={"image": ("a.png", png(coffee))})
        assert r.status_code == 200 and r.json()["cached"] is False


def test_slow_redis_is_capped_by_the_timeout_and_read_as_a_miss(redis_server):
    cache = RedisCache(redis_server.url, ttl_s=60, timeout_s=0.2, retry_s=0.0)
    cache.put("k", FeatureMap(np.zeros((4, 3, 3), np.float16), 12, 12, 1.0, 4).encode())
    # in effect once it answers (a thread's DEBUG SLEEP needs a head start): every command waits 1.5 s
    redis.Redis.from_url(redis_server.url).execute_command("CLIENT", "PAUSE", 1500)
    t = time.perf_counter()
    assert cache.get("k") is None
    assert time.perf_counter() - t < 1.0 and cache.stats.errors == 1
    assert until(lambda: cache.get("k") is not None)  # read again once Redis answers


def test_no_gpu_falls_back_to_cpu_and_says_so_once(caplog):
    with caplog.at_level(logging.INFO, logger="service.registry"):
        assert registry.choose_providers("cuda") == ["CPUExecutionProvider"]
    notes = [r for r in caplog.records if "running on the CPU" in r.getMessage()]
    assert len(notes) == 1 and notes[0].levelno == logging.WARNING
    assert registry.choose_providers("cpu") == ["CPUExecutionProvider"]


def test_a_gpu_provider_that_cannot_start_is_reported_as_the_cpu_it_fell_back_to(monkeypatch, caplog):
    """onnxruntime-gpu runs on the CPU by itself when its CUDA libraries are missing (here, with no
    GPU: as in an image whose CUDA is another major version than the provider was built for)."""
    if registry.gpu_driver_present():
        pytest.skip("a GPU is here: its CUDA provider may well start")
    monkeypatch.setattr(registry, "choose_providers", lambda _: ["CUDAExecutionProvider", "CPUExecutionProvider"])
    with caplog.at_level(logging.INFO, logger="service.registry"):
        reg = registry.load(Settings(provider="cuda"))
    try:
        assert reg.models and {m.provider for m in reg.models.values()} == {"CPUExecutionProvider"}
        notes = [r.getMessage() for r in caplog.records if "could not start" in r.getMessage()]
        assert len(notes) == 1 and "CUDAExecutionProvider" in notes[0]
        assert any(r.getMessage().endswith("models on CPUExecutionProvider") for r in caplog.records)
    finally:
        reg.close()


def test_burst_beyond_capacity_gets_503_with_retry_after(coffee):
    """A queue of 4 items and 24 concurrent requests of 2 pairs each: some are refused at once."""
    patch = base64.b64encode(png(coffee[100:164, 200:264])).decode()
    body = {"pairs": [{"a": patch, "b": patch}] * 2}
    app = create_app(Settings(max_queue=4, max_batch=2, max_wait_ms=20))

    async def go():
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                return await asyncio.gather(*(client.post("/v1/patches/similarity", json=body) for _ in range(24)))

    responses = asyncio.run(go())
    codes = [r.status_code for r in responses]
    assert 200 in codes and 503 in codes and set(codes) <= {200, 503}
    refused = next(r for r in responses if r.status_code == 503)
    assert refused.headers["retry-after"] == "1" and refused.json()["code"] == "overloaded"


def test_a_burst_beyond_the_matching_pool_gets_503_with_retry_after(coffee):
    """One matching worker, busy (as with a long alignment), and room for one job waiting: of 6
    requests for a pair, the first to need the worker waits and is answered once it is free, the
    others are refused at once; a job that waits past MATCHING_WAIT_S is refused too."""
    sent = {"image_a": ("a.png", png(coffee)), "image_b": ("b.png", png(cv2.flip(coffee, 1)))}
    app = create_app(Settings(matching_workers=1, matching_queue=1, matching_wait_s=60, warm_up=False))

    async def go():
        async with app.router.lifespan_context(app):
            pool = app.state.match_pool
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t", timeout=120) as client:
                gate, job = await busy(pool)
                asked = [asyncio.ensure_future(client.post("/v1/correspondences", files=sent)) for _ in range(6)]
                # each request refused, or its job waiting for the worker
                await eventually(lambda: sum(a.done() for a in asked) + pool.waiting == len(asked), 60)
                while_held = [a.result().status_code for a in asked if a.done()]
                gate.set()
                await job
                codes = [r.status_code for r in await asyncio.gather(*asked)]
                gate, job = await busy(pool)
                pool.wait_s = 0.2
                late = await client.post("/v1/correspondences", files=sent)
                gate.set()
                await job
                metrics = (await client.get("/metrics")).text
                return while_held, codes, late, metrics

    while_held, codes, late, metrics = asyncio.run(go())
    assert while_held == [503] * 5 and sorted(codes) == [200] + [503] * 5, (while_held, codes)
    refused = late.json()
    assert late.status_code == 503 and late.headers["retry-after"] == "1", late.text
    assert refused["code"] == "overloaded" and "within 0.2 s" in refused["detail"], refused
    assert "corr_matching_refused_total 6.0" in metrics and "corr_matching_waiting 0.0" in metrics


def test_onnx_runtime_threads_do_not_spin_unless_asked():
    """A spinning intra-op thread takes a core while a batch is being collected; the setting
    turns spinning on where a machine is dedicated to the service."""
    for spinning, expected in ((False, "0"), (True, "1")):
        reg = registry.load(Settings(ort_spinning=spinning))
        try:
            opts = reg.models["2ch-2stream"].main.session.get_session_options()
            assert opts.get_session_config_entry("session.intra_op.allow_spinning") == expected
        finally:
            reg.close()
