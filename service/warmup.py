"""Start-up warm-up: before the service says it is ready, one synthetic pair goes through the path of a
cold ``method=sparse`` request: PNG decoding, the DoG detector, the patches, the fast and the
default descriptor networks in their batching workers, and mutual matching. The first request of a
process otherwise pays for what happens only once: the decoders' and the matching code's first use,
the threads' start, OpenCV's and ONNX Runtime's first runs, the arena's first growth, and FastAPI's
building of its routes (a fresh server's first cold 640x480 pair took 199 ms without it and 114 with
it, its second 109 and 101, medians of 8 starts; with the default descriptor alone, 311 and 247;
``python -m eval.latency``, the rows of a server just started; what it grows is kept for the first
requests: ``memory.Heap.settle``). Its features go into a cache of its own, not the service's; its
forward passes count in the inference metrics like any other. A failure is logged and the service
starts as it would have without it (WARM_UP=false skips it).

``routes`` then walks the app's routes once, as a request for a path none of them has does: FastAPI
builds an included router's routes (their dependencies, parameters and response fields) at the first
request that reaches them, which put 45-60 ms on the first request after the pair's warm-up.
"""
from __future__ import annotations

import asyncio
import logging
import time

import cv2
import numpy as np
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp

from service import dense, sparse
from service.cache import MemoryCache
from service.config import Settings
from service.correspond import fast_descriptor
from service.registry import Registry

log = logging.getLogger(__name__)
UNROUTED = "/.warm-up/no-route-has-this-path"
SIZE = (480, 640)  # rows, columns of the synthetic image: the size the latency figures use
CACHE_BYTES = 16 << 20


def texture(seed: int) -> np.ndarray:
    """Blurred noise, grey uint8 (SIZE): detail everywhere, so the detector keeps keypoints up
    to its limit (the warm-up's: one full batch an image, MAX_BATCH, which is what the worker's
    arena grows to)."""
    noise = np.random.default_rng(seed).integers(0, 256, SIZE, dtype=np.uint8)
    return cv2.GaussianBlur(noise, (0, 0), 2.0)


async def warm_up(reg: Registry, settings: Settings) -> float | None:
    """Run the synthetic pair through the sparse path, with the fast descriptor that answers
    first (SPARSE_FAST_MODEL, where it is loaded) and the default one; seconds it took, None when
    it could not (the default descriptor not loaded, or any error: logged, never raised)."""
    model = reg.models.get(settings.default_descriptor_model)
    if model is None:
        log.warning("warm-up skipped: the default descriptor %s is not loaded", settings.default_descriptor_model)
        return None
    fast = fast_descriptor(settings, reg)
    nets = [model] if fast is None else [fast, model]
    t = time.perf_counter()
    try:
        cache = MemoryCache(CACHE_BYTES)
        one_batch = settings.model_copy(update={"sparse_keypoints": min(settings.sparse_keypoints, settings.max_batch)})
        pngs = [cv2.imencode(".png", texture(seed))[1].tobytes() for seed in (0, 1)]
        # each network finds the keypoints again, unlike a request answered twice: with them found once
        # (half the detector's runs, in fewer worker threads) a fresh server's first cold pair took
        # 84-95 ms against 73-78 (medians of 6 starts, three alternations)
        for net in nets:
            (fa, _, _), (fb, _, _) = await asyncio.gather(  # side by side, as a request's two images
                *(dense.sparse_features(png, net, cache, one_batch, "warm-up") for png in pngs))
            await run_in_threadpool(sparse.match, fa, fb)
    except Exception:  # the service runs without it, as it would have
        log.exception("warm-up failed")
        return None
    seconds = time.perf_counter() - t
    log.info("warm-up: a synthetic pair through method=sparse with %s in %.2f s", " and ".join(n.name for n in nets),
             seconds)
    return seconds


async def routes(router: ASGIApp) -> int | None:
    """Send ``router`` (the app's router, not the app: no middleware, metric or access log sees it)
    one GET of UNROUTED; the status it answered (404), None on any error (logged, never raised)."""
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
             "path": UNROUTED, "raw_path": UNROUTED.encode(), "root_path": "", "query_string": b"", "headers": [],
             "client": ("127.0.0.1", 0), "server": ("127.0.0.1", 0)}
    answered: list[int] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        if message["type"] == "http.response.start":
            answered.append(message["status"])

    try:
        await router(scope, receive, send)
    except Exception:
        log.exception("warm-up of the routes failed")
        return None
    return answered[0] if answered else None
