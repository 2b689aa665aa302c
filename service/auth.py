"""Optional API keys, the rate limit and the throttle on failed authentication, as ASGI middleware.

Keys come from API_KEYS (comma-separated) and/or API_KEYS_FILE (one per line), and ADMIN_API_KEYS
(keys that also see every key's keypoint models); with none, the service is open. Clients send
``Authorization: Bearer <key>`` or ``X-API-Key: <key>``. Keys are compared in constant time
against their sha256 digests. Health, readiness, the API's documentation and the web page are
exempt, and so is ``/metrics`` unless METRICS_PUBLIC=false.

Each request is counted against one bucket: the key's when it presented a valid one, else the
client's address, so made-up keys buy nothing. RATE_LIMIT_PER_MINUTE requests a minute per
bucket, then 429 with Retry-After. Every counted answer says where its bucket stands:
``RateLimit-Limit`` (requests a window), ``RateLimit-Remaining`` and ``RateLimit-Reset`` (seconds
until the window ends), as the IETF's draft on rate-limit header fields names them. Failed
authentications count against the address too (AUTH_FAILURES_PER_MINUTE), so guessing keys is
throttled. With REDIS_URL the counts live in Redis and every replica shares them; if Redis fails,
the limit fails open (counted in ``corr_ratelimit_unavailable``, and the answer has no
``RateLimit-*`` fields). Without Redis the counts are per process, in a bounded table.

The request's ``state`` gets ``owner`` (a short hash of the key: the namespace of the caller's
image ids and keypoint models; "" when the service is open) and ``admin``.
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import math
import threading
import time
from typing import NamedTuple

from cachetools import TTLCache
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from service.config import Settings
from service.errors import error_response
from service.redis_conn import REDIS_ERRORS, connect
from service.request_id import with_headers

log = logging.getLogger("service.auth")
OPEN_PATHS = ("/healthz", "/readyz", "/docs", "/openapi.json", "/", "/favicon.ico")
OPEN_PREFIXES = ("/static/", "/docs/")
WINDOW_S = 60
MAX_BUCKETS = 100_000  # the per-process table never holds more


def digests(text: str | None) -> list[bytes]:
    return [hashlib.sha256(k.strip().encode()).digest() for k in (text or "").split(",") if k.strip()]


def load_keys(settings: Settings) -> tuple[list[bytes], list[bytes]]:
    """(digests of every valid key, digests of the admin keys)."""
    keys = digests(settings.api_keys)
    if settings.api_keys_file:
        keys += digests(",".join(line for line in settings.api_keys_file.read_text().splitlines()
                                 if line.strip() and not line.startswith("#")))
    admins = digests(settings.admin_api_keys)
    return keys + admins, admins


class Hit(NamedTuple):
    """A request counted against a bucket: its count in the window (None: the count could not be
    kept, and the request goes ahead) and the seconds until the window ends."""
    count: int | None
    reset_s: float

    def over(self, limit: int) -> bool:
        return self.count is not None and self.count > limit

    @property
    def wait_s(self) -> int:
        """The seconds until the window ends, as header fields give them (whole, at least 1)."""
        return max(1, math.ceil(self.reset_s))

    def headers(self, limit: int) -> dict[str, str]:
        """Where the bucket stands, as ``RateLimit-*`` header fields (none when not counted)."""
        if self.count is None:
            return {}
        return {"RateLimit-Limit": str(limit), "RateLimit-Remaining": str(max(0, limit - self.count)),
                "RateLimit-Reset": str(self.wait_s)}


def counted(n: int | None, now: float) -> Hit:
    return Hit(n, (int(now // WINDOW_S) + 1) * WINDOW_S - now)


class LocalCounter:
    """Fixed one-minute windows in a bounded table (buckets idle for a window fall out).
    ``hit(bucket)``: count one request against ``bucket``."""

    unavailable = 0

    def __init__(self) -> None:
        self.counts: TTLCache = TTLCache(MAX_BUCKETS, ttl=2 * WINDOW_S)
        self.lock = threading.Lock()

    def hit(self, bucket: str) -> Hit:
        now = time.time()
        window = int(now // WINDOW_S)
        with self.lock:
            n = self.counts.get((bucket, window), 0) + 1
            self.counts[(bucket, window)] = n
        return counted(n, now)


class RedisCounter:
    """The same windows in Redis (INCR and EXPIRE), shared by every replica; fails open."""

    def __init__(self, url: str, timeout_s: float):
        self.url, self.timeout = url, timeout_s
        self._client = None
        self.unavailable = 0

    def hit(self, bucket: str) -> Hit:
        now = time.time()
        window = int(now // WINDOW_S)
        key = f"ratelimit:{bucket}:{window}"
        try:
            if self._client is None:
                self._client = connect(self.url, self.timeout)
            pipe = self._client.pipeline(transaction=False)
            pipe.incr(key)
            pipe.expire(key, 2 * WINDOW_S)
            n = pipe.execute()[0]
        except REDIS_ERRORS as exc:
            self.unavailable += 1
            log.debug("rate limit store unavailable (%s): request let through", exc.__class__.__name__)
            return counted(None, now)
        return counted(n, now)


def make_counter(settings: Settings) -> LocalCounter | RedisCounter:
    """Shared through Redis when REDIS_URL is set, else this process's own."""
    return RedisCounter(settings.redis, settings.redis_timeout_s) if settings.redis else LocalCounter()


class ApiKeys:
    def __init__(self, app: ASGIApp, settings: Settings, counter: LocalCounter | RedisCounter):
        self.app = app
        self.keys, self.admins = load_keys(settings)
        self.limit = settings.rate_limit_per_minute
        self.failures = settings.auth_failures_per_minute
        self.metrics_public = settings.metrics_public
        self.counter = counter

    def _presented(self, scope: Scope) -> str | None:
        headers = dict(scope["headers"])
        auth = headers.get(b"authorization", b"").decode("latin-1")
        if auth.lower().startswith("bearer "):
            return auth[7:].strip()
        key = headers.get(b"x-api-key")
        return key.decode("latin-1").strip() if key else None

    def _open(self, path: str) -> bool:
        return path in OPEN_PATHS or path.startswith(OPEN_PREFIXES) or (path == "/metrics" and self.metrics_public)

    async def _count(self, bucket: str) -> Hit:
        if isinstance(self.counter, RedisCounter):  # a network call: never on the event loop
            return await run_in_threadpool(self.counter.hit, bucket)
        return self.counter.hit(bucket)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self._open(scope["path"]) or not (self.keys or self.limit):
            return await self.app(scope, receive, send)
        address = (scope.get("client") or ("unknown", 0))[0]
        owner, admin = "", not self.keys
        if self.keys:
            presented = self._presented(scope)
            digest = hashlib.sha256(presented.encode()).digest() if presented else b""
            ok = is_admin = False
            for k in self.keys:  # compare with every key, so timing says nothing about which matched
                ok |= hmac.compare_digest(digest, k)
            for k in self.admins:
                is_admin |= hmac.compare_digest(digest, k)
            if not ok:
                hit = await self._count(f"authfail:{address}")
                if hit.over(self.failures):
                    return await self._limited(hit, "too many failed authentications from this address")(
                        scope, receive, send)
                return await error_response(401, "unauthorized", "a valid API key is required",
                                            {"WWW-Authenticate": "Bearer"})(scope, receive, send)
            owner, admin = digest.hex()[:16], is_admin
        quota: dict[str, str] = {}
        if self.limit:
            hit = await self._count(f"key:{owner}" if owner else f"addr:{address}")
            if hit.over(self.limit):
                return await self._limited(hit, "too many requests for this key or address",
                                           hit.headers(self.limit))(scope, receive, send)
            quota = hit.headers(self.limit)
        scope.setdefault("state", {}).update(owner=owner, admin=admin)
        await self.app(scope, receive, with_headers(send, quota) if quota else send)

    @staticmethod
    def _limited(hit: Hit, why: str, quota: dict[str, str] | None = None):
        return error_response(429, "rate_limited", why, {"Retry-After": str(hit.wait_s)} | (quota or {}))
