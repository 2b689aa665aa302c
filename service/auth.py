"""Optional API-key authentication and a per-key rate limit, as ASGI middleware.

Keys come from API_KEYS (comma-separated) and/or API_KEYS_FILE (one per line); with neither, the
service is open. Clients send ``Authorization: Bearer <key>`` or ``X-API-Key: <key>``. Keys are
compared in constant time against their sha256 digests. Health, readiness and metrics are exempt.
Each key gets RATE_LIMIT_PER_MINUTE requests (a token bucket); beyond that 429 with Retry-After.
"""
from __future__ import annotations

import hashlib
import hmac
import math
import threading
import time

from starlette.types import ASGIApp, Receive, Scope, Send

from service.config import Settings
from service.errors import error_response

EXEMPT = ("/healthz", "/readyz", "/metrics")


def load_keys(settings: Settings) -> list[bytes]:
    keys = [k.strip() for k in (settings.api_keys or "").split(",") if k.strip()]
    if settings.api_keys_file:
        keys += [line.strip() for line in settings.api_keys_file.read_text().splitlines()
                 if line.strip() and not line.startswith("#")]
    return [hashlib.sha256(k.encode()).digest() for k in keys]


class TokenBucket:
    def __init__(self, per_minute: int):
        self.rate, self.capacity = per_minute / 60.0, float(per_minute)
        self.tokens: dict[bytes, tuple[float, float]] = {}
        self.lock = threading.Lock()

    def take(self, key: bytes) -> float:
        """0 when a request may go ahead, else the seconds until one may."""
        now = time.monotonic()
        with self.lock:
            tokens, last = self.tokens.get(key, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - last) * self.rate)
            if tokens >= 1.0:
                self.tokens[key] = (tokens - 1.0, now)
                return 0.0
            self.tokens[key] = (tokens, now)
            return (1.0 - tokens) / self.rate


class ApiKeys:
    def __init__(self, app: ASGIApp, settings: Settings):
        self.app = app
        self.keys = load_keys(settings)
        self.bucket = TokenBucket(settings.rate_limit_per_minute) if settings.rate_limit_per_minute else None

    def _presented(self, scope: Scope) -> str | None:
        headers = dict(scope["headers"])
        auth = headers.get(b"authorization", b"").decode("latin-1")
        if auth.lower().startswith("bearer "):
            return auth[7:].strip()
        key = headers.get(b"x-api-key")
        return key.decode("latin-1").strip() if key else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in EXEMPT or not (self.keys or self.bucket):
            return await self.app(scope, receive, send)
        presented = self._presented(scope)
        digest = hashlib.sha256(presented.encode()).digest() if presented else b""
        if self.keys:
            ok = False
            for k in self.keys:  # compare with every key, so timing says nothing about which matched
                ok |= hmac.compare_digest(digest, k)
            if not ok:
                return await error_response(401, "unauthorized", "a valid API key is required",
                                            {"WWW-Authenticate": "Bearer"})(scope, receive, send)
        if self.bucket:
            client = scope.get("client") or ("?", 0)
            wait = self.bucket.take(digest or client[0].encode())
            if wait > 0:
                return await error_response(429, "rate_limited", "too many requests for this key",
                                            {"Retry-After": str(math.ceil(wait))})(scope, receive, send)
        await self.app(scope, receive, send)
