"""Prometheus metrics: request counts and latency per route (middleware), and, read at scrape
time, the inference workers (batches, items, seconds, queue depth, batch sizes), the cache
(up, hits, misses, errors, bytes) and how the fast descriptor's first answers ended."""
from __future__ import annotations

import time
from collections.abc import Iterator

from fastapi import FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from service.worker import BATCH_BUCKETS


class ServiceCollector(Collector):
    def __init__(self, app: FastAPI):
        self.app = app

    def collect(self) -> Iterator:
        reg = getattr(self.app.state, "registry", None)
        cache = getattr(self.app.state, "cache", None)
        batches = CounterMetricFamily("corr_inference_batches", "forward passes", labels=["model"])
        items = CounterMetricFamily("corr_inference_items", "items inferred", labels=["model"])
        secs = CounterMetricFamily("corr_inference_seconds", "time in forward passes", labels=["model"])
        depth = GaugeMetricFamily("corr_queue_depth", "items waiting for a forward pass", labels=["model"])
        sizes = HistogramMetricFamily("corr_batch_size", "items per forward pass", labels=["model"])
        provider = GaugeMetricFamily("corr_model_info", "loaded models", labels=["model", "kind", "provider"])
        for m in (reg.models.values() if reg else []):
            for w in filter(None, (m.main, m.decision)):
                st = w.stats
                batches.add_metric([w.name], st.batches)
                items.add_metric([w.name], st.items)
                secs.add_metric([w.name], st.seconds)
                depth.add_metric([w.name], w.pending)
                buckets = list(zip([*map(str, BATCH_BUCKETS), "+Inf"], st.bucket_counts, strict=True))
                sizes.add_metric([w.name], buckets, st.items)
            provider.add_metric([m.name, m.kind, m.provider], 1)
        yield from (batches, items, secs, depth, sizes, provider)
        if cache is not None:
            up = GaugeMetricFamily("corr_cache_up", "1 when the cache answers, 0 when degraded", labels=["backend"])
            up.add_metric([cache.backend], 1.0 if cache.healthy else 0.0)
            yield up
            held = GaugeMetricFamily("corr_cache_held_bytes", "bytes this process's cache holds (the in-process "
                                     "cache, or its tier in front of Redis)", labels=["backend"])
            held.add_metric([cache.backend], cache.held_bytes)
            yield held
            listener = getattr(cache, "listener", None)
            if listener is not None:  # a tier in front of Redis: does it hear other replicas' deletions?
                yield GaugeMetricFamily("corr_cache_invalidation_up", "1 while this replica's tier in front of Redis "
                                        "hears other replicas' deletions", value=float(listener.subscribed.is_set()))
            for name in ("hits", "misses", "errors", "rejected", "invalidated", "bytes_read", "bytes_written"):
                c = CounterMetricFamily(f"corr_cache_{name}", f"image cache (features and kept bytes) "
                                        f"{name.replace('_', ' ')}",
                                        labels=["backend"])
                c.add_metric([cache.backend], getattr(cache.stats, name))
                yield c
        store = getattr(self.app.state, "model_store", None)
        if store is not None:
            yield CounterMetricFamily("corr_store_rejected", "stored keypoint models or summaries refused as "
                                      "malformed", value=store.rejected)
        tries = getattr(self.app.state, "first_tries", None)
        if tries is not None:
            c = CounterMetricFamily("corr_sparse_first_try", "sparse answers the fast descriptor gave first, by "
                                    "how they ended (SPARSE_FAST_MODEL)", labels=["outcome"])
            for outcome, n in vars(tries).items():
                c.add_metric([outcome], n)
            yield c
        pool = getattr(self.app.state, "match_pool", None)
        if pool is not None:
            yield GaugeMetricFamily("corr_matching_waiting", "matching jobs waiting for a worker (MATCHING_QUEUE)",
                                    value=pool.waiting)
            yield CounterMetricFamily("corr_matching_refused", "matching jobs refused with 503: the queue full or "
                                      "no worker free within MATCHING_WAIT_S", value=pool.refused)
        counter = getattr(self.app.state, "rate_counter", None)
        if counter is not None:
            yield CounterMetricFamily("corr_ratelimit_unavailable", "requests let through because the shared "
                                      "rate-limit store did not answer", value=counter.unavailable)


def install(app: FastAPI) -> None:
    registry = CollectorRegistry()
    requests = Counter("corr_requests", "HTTP requests", ["route", "method", "status"], registry=registry)
    latency = Histogram("corr_request_seconds", "HTTP request latency", ["route"], registry=registry,
                        buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
    registry.register(ServiceCollector(app))

    @app.middleware("http")
    async def measure(request: Request, call_next):
        t = time.perf_counter()
        status = 500
        try:
            response = await call_next(request)
            status = response.status_code
            return response
        finally:
            route = request.scope.get("route")
            path = getattr(route, "path", "unmatched")
            requests.labels(path, request.method, str(status)).inc()
            latency.labels(path).observe(time.perf_counter() - t)

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
