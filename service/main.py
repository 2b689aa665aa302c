"""The FastAPI application. Run it with ``make run`` or
``uvicorn service.main:create_app --factory``."""
from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from service import correspond, docs, errors, imaging, logs, metrics, registry, request_id, warmup, web
from service.auth import ApiKeys, make_counter
from service.cache import FeatureCache, MemoryCache, RedisCache
from service.config import Settings
from service.disconnect import CancelOnDisconnect
from service.limits import BodyLimit
from service.match_pool import MatchPool
from service.memory import Heap, TrimWhenIdle, tune_heaps
from service.model_store import MemoryStore, RedisStore
from service.routes import align, dense, health, images, keypoint_models, patches
from service.threads import limit_blas, limit_opencv

VERSION = "0.1.0"
DESCRIPTION = ("Correspondences between images, match scores of patch pairs, keypoint transfer and alignment, from "
               "learned networks. Coordinates are pixels of the images as sent, as a viewer shows them (an "
               "image's EXIF orientation applied). With API keys on, send one as X-API-Key or Authorization: Bearer. "
               "Every answer carries X-Request-ID (the caller's own, if it sends a short token): quote it when "
               "reporting a failure.")


def make_cache(settings: Settings) -> FeatureCache:
    """Redis when REDIS_URL is set (it need not be up yet), else the in-process LRU; either keeps a
    value CACHE_TTL_S."""
    if settings.redis:
        return RedisCache(settings.redis, settings.cache_ttl_s, settings.redis_timeout_s, settings.redis_retry_s,
                          local_bytes=settings.local_cache_bytes)
    return MemoryCache(settings.cache_max_bytes, settings.cache_ttl_s)


def make_store(settings: Settings) -> MemoryStore:
    """Keypoint models: in Redis when REDIS_URL is set (shared by replicas), else in process."""
    if settings.redis:
        return RedisStore(settings.redis, settings.redis_timeout_s, settings.max_keypoint_models)
    return MemoryStore(settings.max_keypoint_models)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    tune_heaps()
    limit_blas(settings.blas_threads)
    limit_opencv(settings.opencv_threads)
    imaging.limit_decoders(settings.max_concurrent_decodes)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.cache = make_cache(settings)
        app.state.model_store = make_store(settings)
        # matching holds a block of similarities per job: a pool sized to the cores bounds memory
        app.state.match_pool = MatchPool(settings.matching_workers or os.cpu_count() or 1, settings.matching_queue,
                                         settings.matching_wait_s)
        app.state.registry = await run_in_threadpool(registry.load, settings)
        # what loading the models left free goes back; what the warm-up grows stays (service.memory)
        await run_in_threadpool(app.state.heap.settle)
        if settings.warm_up:  # before the first request is taken: see service.warmup
            app.state.warm_up_s = await warmup.warm_up(app.state.registry, settings)
            app.state.warm_up_routes = await warmup.routes(app.router)
        try:
            yield
        finally:
            app.state.registry.close()
            app.state.cache.close()
            app.state.model_store.close()
            app.state.match_pool.shutdown()

    logs.install(settings.log_format == "json")
    app = FastAPI(title="Image correspondence service", version=VERSION, lifespan=lifespan, docs_url=None,
                  redoc_url=None, description=DESCRIPTION)
    app.state.settings = settings
    app.state.first_tries = correspond.FirstTries()
    errors.install(app)
    docs.install(app, keys_on=bool(settings.api_keys or settings.api_keys_file or settings.admin_api_keys),
                 limited=bool(settings.rate_limit_per_minute))
    web.install(app)  # after the documentation's assets: /static/docs is theirs
    metrics.install(app)
    app.add_middleware(CancelOnDisconnect)
    app.state.heap = Heap()
    app.add_middleware(TrimWhenIdle, keep=settings.memory_keep_mb << 20, heap=app.state.heap)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.state.rate_counter = make_counter(settings)
    app.add_middleware(ApiKeys, settings=settings, counter=app.state.rate_counter)  # before any body is read
    app.add_middleware(errors.CatchAll)  # runs around everything but the request id
    app.add_middleware(request_id.RequestId)  # added last: runs first, so every answer and log line has the id
    app.include_router(health.router)
    app.include_router(patches.router)
    app.include_router(images.router)
    app.include_router(dense.router)
    app.include_router(align.router)
    app.include_router(keypoint_models.router)
    return app
