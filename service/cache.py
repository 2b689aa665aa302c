"""The image cache: one interface (``FeatureCache``), two backends. Values are bytes (records of
``service.feature_map``, and the images ``/v1/images`` keeps; checked by whoever reads them).

- ``MemoryCache``: an in-process LRU bounded by bytes, each value gone a TTL after it was put
  (the embedded default, and the tier in front of Redis).
- ``RedisCache``: redis-py with short socket timeouts and a TTL; works with a Redis that evicts
  by LRU. Any Redis failure (down, slow, full) is logged and counted and reads as a miss, so
  requests keep succeeding by computing features. After a failure Redis is left alone for
  ``retry_s`` (no request pays a timeout meanwhile), then tried again: it reconnects by itself.
"""
from __future__ import annotations

import hashlib
import json
import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import redis
from cachetools import LRUCache, TTLCache
from redis.cluster import RedisCluster

from service.invalidation import Listener, delete_everywhere, deleted_since, derived
from service.redis_conn import REDIS_ERRORS, connect

log = logging.getLogger("service.cache")
DELETIONS_KEPT = 1 << 16  # how many deletions a MemoryCache remembers (for ``put``'s ``since``)


def cache_key(image_sha256: str, model: str, version: str, params: dict) -> str:
    """sha256 of the image bytes + model name + version + preprocessing parameters."""
    p = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:12]
    return f"feat:{model}:{version}:{p}:{image_sha256}"


class CacheUnavailable(Exception):
    """The cache could not be reached to do what must not fail silently (a deletion)."""


@dataclass
class CacheStats:
    hits: int = 0
    misses: int = 0
    errors: int = 0
    rejected: int = 0  # values read that did not fit their model (see ``service.feature_map``)
    invalidated: int = 0  # copies a replica's tier dropped because the value was deleted (``service.invalidation``)
    bytes_read: int = 0
    bytes_written: int = 0

    def read(self, data: bytes | None) -> None:
        """Count one lookup's outcome."""
        if data is None:
            self.misses += 1
        else:
            self.hits += 1
            self.bytes_read += len(data)


class FeatureCache(Protocol):
    """What the service needs of a cache. ``get`` returns None on a miss and on any failure of
    the backend; ``put`` never raises for the backend's sake, and with ``since`` (the
    ``time.time()`` at which the caller found the key missing) stores nothing if the key was
    deleted since: a value computed from an image deleted meanwhile does not bring it back;
    ``reject`` drops a value that did not fit its model. ``get``'s ``under``: the key the value
    was put under; a value no longer listed under it (the list lost: evicted, expired) is not
    answered, as a deletion of that key could no longer find it."""

    backend: str
    stats: CacheStats

    @property
    def healthy(self) -> bool: ...

    @property
    def held_bytes(self) -> int: ...

    def ping(self) -> bool: ...

    def get(self, key: str, under: str | None = None) -> bytes | None: ...

    def put(self, key: str, data: bytes, since: float | None = None, under: str | None = None) -> None: ...

    def expires_in(self, key: str) -> float | None: ...

    def reject(self, key: str) -> None: ...

    def delete(self, key: str) -> bool: ...

    def touch(self, key: str) -> bool: ...

    def close(self) -> None: ...


class MemoryCache:
    """Thread-safe LRU bounded by the total size of its values; with ``ttl_s``, a value is gone
    that long after it was put (as Redis's are), whether or not it was read since. It remembers
    when keys were deleted (the last ``DELETIONS_KEPT``, for ``ttl_s`` or an hour) for ``put``'s
    ``since``. Each value is held with the ``clock()`` (``time.monotonic`` unless a test moves its
    own) it was put at (``expires_in``) and the ``time.time()`` it is as of (``since``, or when it
    was put), which ``delete``'s ``at`` reads."""

    backend = "memory"

    def __init__(self, max_bytes: int, ttl_s: float | None = None, clock: Callable[[], float] = time.monotonic):
        self.max_bytes, self.ttl, self.clock = max_bytes, ttl_s, clock
        def size(held: tuple[bytes, float]) -> int:
            return len(held[0])
        self._data: LRUCache = (TTLCache(max_bytes, ttl_s, timer=clock, getsizeof=size) if ttl_s
                                else LRUCache(max_bytes, getsizeof=size))
        kept = ttl_s or 3600.0
        self._deleted: TTLCache = TTLCache(DELETIONS_KEPT, kept, timer=clock)  # key -> time.time() of its deletion
        self._derived: TTLCache = TTLCache(DELETIONS_KEPT, kept, timer=clock)  # key -> keys put ``under`` it
        self._lock = threading.Lock()
        self.stats = CacheStats()

    @property
    def healthy(self) -> bool:
        return True

    @property
    def held_bytes(self) -> int:
        """The size of the values held now: a TTLCache drops the expired before it counts, so a
        scrape of /metrics also frees what an idle service would hold until its next put."""
        with self._lock:
            return int(self._data.currsize)

    def ping(self) -> bool:
        """Whether the cache answers now (for /readyz): an in-process LRU always does."""
        return True

    def get(self, key: str, under: str | None = None) -> bytes | None:
        with self._lock:
            held = self._data.get(key)  # a read makes it the most recent; an expired value is a miss
            if held is not None and under and key not in self._derived.get(under, ()):  # read: the most recent
                del self._data[key]  # its record gone, a deletion of ``under`` would miss it
                held = None
        data = None if held is None else held[0]
        self.stats.read(data)
        return data

    def expires_in(self, key: str) -> float | None:
        """Seconds until ``key`` expires (inf without a TTL); None where it is not held."""
        with self._lock:
            held = self._data.get(key)
        if held is None:
            return None
        return held[1] + self.ttl - self.clock() if self.ttl else math.inf

    def put(self, key: str, data: bytes, since: float | None = None, under: str | None = None) -> None:
        if len(data) > self.max_bytes:
            return
        with self._lock:
            if since is not None and any(self._gone_since(k, since) for k in (key, under) if k):
                return
            # evicts the least recent (and the expired) to make room
            self._data[key] = (data, self.clock(), time.time() if since is None else since)
            if under:  # set again, so the record lasts as long as the last value put under it
                self._derived[under] = self._derived.get(under, frozenset()) | {key}
        self.stats.bytes_written += len(data)

    def reject(self, key: str) -> None:
        """Drop a value that did not fit its model (not a deletion: what replaces it is welcome)."""
        self.stats.rejected += 1
        with self._lock:
            self._data.pop(key, None)

    def delete(self, key: str, at: float | None = None) -> bool:
        """Drop ``key`` and the values put under it, and note when; whether any was dropped (an
        expired value was not there). ``at``: when the deletion was made (``time.time()``, on
        another replica; default now): a value as of a later time (put since) stays."""
        with self._lock:
            at, held = time.time() if at is None else at, False
            for k in (key, *self._derived.pop(key, ())):
                self._deleted[k] = max(at, self._deleted.get(k, at))
                value = self._data.get(k)
                if value is not None and value[2] <= at:
                    held = self._data.pop(k) is not None or held
            return held

    def deleted_since(self, key: str, since: float) -> bool:
        """Whether ``key`` was deleted here at or after ``since`` (``time.time()``)."""
        with self._lock:
            return self._gone_since(key, since)

    def _gone_since(self, key: str, since: float) -> bool:  # ``deleted_since`` with the lock held
        return self._deleted.get(key, -1.0) >= since

    def keys(self) -> list[str]:
        with self._lock:
            return list(self._data.keys())

    def touch(self, key: str) -> bool:
        """Start ``key``'s TTL again, as if it had just been put; whether it was there."""
        with self._lock:
            held = self._data.get(key)
            if held is not None:
                self._data[key] = (held[0], self.clock(), held[2])
            return held is not None

    def close(self) -> None:
        self._data.clear()


class RedisCache:
    """Redis (one server, a Cluster or a Sentinel-managed master; see ``connect``) with timeouts
    of ``timeout_s``, behind an in-process LRU of ``local_bytes`` (0: none): what this replica
    computed stays at hand when Redis is slow, down, or restarted empty, for at most the TTL, and
    a deletion on any replica reaches it (``service.invalidation``)."""

    backend = "redis"

    def __init__(self, url: str, ttl_s: int, timeout_s: float = 0.25, retry_s: float = 1.0, local_bytes: int = 0):
        self.local = MemoryCache(local_bytes, ttl_s) if local_bytes else None
        self.stats = CacheStats()
        self.listener = Listener(lambda: self.client, self.local, retry_s, self.stats) if self.local else None
        self.url, self.timeout = url, timeout_s
        self._client = None
        self.ttl, self.retry_s = ttl_s, retry_s
        self._down_until = 0.0
        self._last_error = ""
        self._lock = threading.Lock()

    @property
    def client(self) -> redis.Redis | RedisCluster:
        """Created on first use: a cluster client contacts its nodes when made, and Redis may
        not be up yet when the service starts."""
        if self._client is None:
            self._client = connect(self.url, self.timeout)
            if self.listener is not None:
                self.listener.start()
        return self._client

    @property
    def held_bytes(self) -> int:
        """What the in-process tier holds (Redis's memory is Redis's INFO)."""
        return self.local.held_bytes if self.local else 0

    @property
    def healthy(self) -> bool:
        return time.monotonic() >= self._down_until and not self._last_error

    def _failed(self, op: str, exc: Exception) -> None:
        self.stats.errors += 1
        with self._lock:
            first = not self._last_error
            self._last_error = f"{op}: {exc.__class__.__name__}"
            self._down_until = time.monotonic() + self.retry_s
        (log.warning if first else log.debug)("redis %s failed (%s); serving without it for %.1f s",
                                              op, exc.__class__.__name__, self.retry_s)

    def _ok(self) -> None:
        if self._last_error:
            log.info("redis is back")
        self._last_error = ""

    def ping(self) -> bool:
        """Try Redis now (used by /readyz), whatever the back-off says."""
        try:
            self.client.ping()
            self._ok()
            self._down_until = 0.0
            return True
        except REDIS_ERRORS as exc:
            self._failed("ping", exc)
            return False

    def get(self, key: str, under: str | None = None) -> bytes | None:
        """The value, from the tier or Redis; with ``under``, read with a look at its list there
        (``derived(under)``, in one round trip), which keeps the list as recently used as its values
        (allkeys-lru evicts the least recent): a value whose list is gone is dropped, a miss."""
        data = self.local.get(key, under) if self.local else None
        if data is not None:
            self.stats.hits += 1
            return data
        if time.monotonic() < self._down_until:
            self.stats.misses += 1
            return None
        since = time.time()  # a deletion heard after this keeps what is read out of the tier
        try:
            if under:
                pipe = self.client.pipeline(transaction=False)
                data, listed = pipe.get(key).sismember(derived(under), key).execute()
                if data is not None and not listed:
                    self.client.delete(key)
                    data = None
            else:
                data = self.client.get(key)
            self._ok()
        except REDIS_ERRORS as exc:
            self._failed("get", exc)
            self.stats.misses += 1
            return None
        self.stats.read(data)
        if data is not None and self.local:
            self.local.put(key, data, since, under)
        return data

    def reject(self, key: str) -> None:
        """Drop a value that did not fit its model, here and (if it answers) in Redis."""
        self.stats.rejected += 1
        if self.local:
            self.local.reject(key)
        if time.monotonic() >= self._down_until:
            try:
                self.client.delete(key)
            except REDIS_ERRORS as exc:
                self._failed("delete", exc)

    def delete(self, key: str) -> bool:
        """Drop ``key`` and the values put under it here, in Redis and in every replica's tier (tried
        whatever the back-off says); whether this tier or Redis held any. Raises
        ``CacheUnavailable`` when Redis cannot be reached: a deletion does not fail silently."""
        here = self.local.delete(key) if self.local else False
        try:
            below = sorted(k.decode() for k in self.client.smembers(derived(key)))
            there = any([delete_everywhere(self.client, k, self.ttl) for k in (key, *below)])
            self.client.delete(derived(key))
            self._ok()
        except REDIS_ERRORS as exc:
            self._failed("delete", exc)
            raise CacheUnavailable(str(exc.__class__.__name__)) from exc
        return here or there

    def expires_in(self, key: str) -> float | None:
        """Seconds until ``key`` expires, here or in Redis, whichever holds it longer (Redis asked
        whatever the back-off says, as a deletion is); None where neither holds it. Raises
        ``CacheUnavailable`` where Redis cannot be reached and the tier does not hold it: not
        held cannot be told from not known."""
        here = self.local.expires_in(key) if self.local else None
        try:
            ms = self.client.pttl(key)  # -2: absent, -1: no expiry
            self._ok()
        except REDIS_ERRORS as exc:
            self._failed("pttl", exc)
            if here is None:
                raise CacheUnavailable(str(exc.__class__.__name__)) from exc
            return here
        there = None if ms == -2 else math.inf if ms == -1 else ms / 1e3
        return max((t for t in (here, there) if t is not None), default=None)

    def touch(self, key: str) -> bool:
        """Start ``key``'s TTL again, here and in Redis (if it answers); whether either held it. A
        failure reads as a miss, as a read's does."""
        here = self.local.touch(key) if self.local else False
        if time.monotonic() < self._down_until:
            return here
        try:
            there = bool(self.client.expire(key, self.ttl))
            self._ok()
        except REDIS_ERRORS as exc:
            self._failed("expire", exc)
            return here
        return here or there

    def put(self, key: str, data: bytes, since: float | None = None, under: str | None = None) -> None:
        """Store ``data`` in Redis and the tier; with ``since``, not if any replica deleted ``key``
        (or ``under``) since (their tombstones' times, read first: a deletion between that read and
        the write, a round trip or two, still loses to the write); ``under``: the key this value was
        derived from, whose deletion drops it too (listed in ``derived(under)``, for the TTL). Three
        round trips at most: the tombstones, the list, the value."""
        if time.monotonic() >= self._down_until:
            try:
                if since is not None and deleted_since(self.client, [k for k in (key, under) if k], since):
                    return
                if under:  # listed before it is written (its own round trip), so a deletion that sees it finds it
                    self.client.pipeline(transaction=False).sadd(derived(under), key).expire(
                        derived(under), self.ttl).execute()
                self.client.set(key, data, ex=self.ttl)
                self.stats.bytes_written += len(data)
                self._ok()
            except REDIS_ERRORS as exc:  # OOM on a full Redis lands here too
                self._failed("set", exc)
        if self.local:
            self.local.put(key, data, since, under)

    def close(self) -> None:
        if self.listener is not None:
            self.listener.close()
        if self._client is not None:
            self._client.close()
