"""The dense feature cache: one interface, two backends.

- ``MemoryCache``: an in-process LRU bounded by bytes (the embedded default).
- ``RedisCache``: redis-py with short socket timeouts and a TTL; works with a Redis that evicts
  by LRU. Any Redis failure (down, slow, full) is logged and counted and reads as a miss, so
  requests keep succeeding by computing features. After a failure Redis is left alone for
  ``retry_s`` (no request pays a timeout meanwhile), then tried again: it reconnects by itself.

Values: ``MAGIC``, a 4-byte header length, a JSON header (dtype, shape, stride, image size and
scale), then the float16 map. The header is checked on read; any mismatch is a miss.
"""
from __future__ import annotations

import hashlib
import json
import logging
import struct
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from urllib.parse import urlsplit

import numpy as np
import redis
from redis.cluster import RedisCluster
from redis.sentinel import Sentinel

log = logging.getLogger("service.cache")
MAGIC = b"UCNF1"
REDIS_ERRORS = (redis.RedisError, redis.exceptions.RedisClusterException, OSError)


@dataclass
class FeatureMap:
    """Dense features of one image. features (D, h, w) float16, unit length along D; the
    network saw the image resized by ``scale`` (network pixels = sent pixels * scale)."""
    features: np.ndarray
    width: int
    height: int
    scale: float
    stride: int

    def encode(self) -> bytes:
        header = json.dumps({"dtype": "float16", "shape": list(self.features.shape), "width": self.width,
                             "height": self.height, "scale": self.scale, "stride": self.stride}).encode()
        return MAGIC + struct.pack(">I", len(header)) + header + self.features.astype(np.float16).tobytes()

    @classmethod
    def decode(cls, data: bytes) -> FeatureMap | None:
        """None for anything that is not a well-formed entry (stale format, truncation, corruption)."""
        try:
            if not data.startswith(MAGIC):
                return None
            (n,) = struct.unpack(">I", data[len(MAGIC):len(MAGIC) + 4])
            start = len(MAGIC) + 4
            head = json.loads(data[start:start + n])
            shape = tuple(int(s) for s in head["shape"])
            payload = data[start + n:]
            if head["dtype"] != "float16" or len(shape) != 3 or len(payload) != 2 * int(np.prod(shape)):
                return None
            feats = np.frombuffer(payload, np.float16).reshape(shape)
            return cls(feats, int(head["width"]), int(head["height"]), float(head["scale"]), int(head["stride"]))
        except (ValueError, KeyError, TypeError, struct.error):
            return None


def cache_key(image_sha256: str, model: str, version: str, params: dict) -> str:
    """sha256 of the image bytes + model name + version + preprocessing parameters."""
    p = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:12]
    return f"feat:{model}:{version}:{p}:{image_sha256}"


@dataclass
class CacheStats:
    hits: int = 0
    misses: int = 0
    errors: int = 0
    bytes_read: int = 0
    bytes_written: int = 0


class MemoryCache:
    """Thread-safe LRU bounded by the total size of its values."""

    backend = "memory"

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self._data: OrderedDict[str, bytes] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()
        self.stats = CacheStats()

    @property
    def healthy(self) -> bool:
        return True

    def ping(self) -> bool:
        """Whether the cache answers now (for /readyz): an in-process LRU always does."""
        return True

    def get(self, key: str) -> FeatureMap | None:
        with self._lock:
            data = self._data.get(key)
            if data is not None:
                self._data.move_to_end(key)
        fm = FeatureMap.decode(data) if data is not None else None
        self._count(fm, data)
        return fm

    def _count(self, fm: FeatureMap | None, data: bytes | None) -> None:
        if fm is None:
            self.stats.misses += 1
        else:
            self.stats.hits += 1
            self.stats.bytes_read += len(data)

    def set(self, key: str, fm: FeatureMap) -> None:
        self.put(key, fm.encode())

    def put(self, key: str, data: bytes) -> None:
        """Store an already encoded map (``FeatureMap.encode``)."""
        if len(data) > self.max_bytes:
            return
        with self._lock:
            if key in self._data:
                self._size -= len(self._data.pop(key))
            self._data[key] = data
            self._size += len(data)
            while self._size > self.max_bytes:
                _, old = self._data.popitem(last=False)
                self._size -= len(old)
        self.stats.bytes_written += len(data)

    def close(self) -> None:
        self._data.clear()


def connect(url: str, timeout_s: float) -> redis.Redis | RedisCluster:
    """A client for any of:
    - ``redis://[:password@]host:port/db``, ``rediss://...``, ``unix:///path.sock``: one server;
    - ``redis+cluster://[:password@]host:port``: a Redis Cluster, discovered from that node;
    - ``redis+sentinel://[:password@]host:port[,host:port...]/service_name[/db]``: the master that
      Sentinel names, followed through fail-overs."""
    opts = {"socket_timeout": timeout_s, "socket_connect_timeout": timeout_s}
    parts = urlsplit(url)
    if parts.scheme in ("redis+cluster", "rediss+cluster"):
        base = url.replace("+cluster", "", 1)
        return RedisCluster.from_url(base, **opts)
    if parts.scheme in ("redis+sentinel", "rediss+sentinel"):
        hosts = [h.rsplit(":", 1) for h in parts.netloc.rsplit("@", 1)[-1].split(",")]
        path = [p for p in parts.path.split("/") if p]
        if not path:
            raise ValueError("a sentinel URL needs the service name: redis+sentinel://host:26379/mymaster")
        sentinel = Sentinel([(h, int(p)) for h, p in hosts], sentinel_kwargs=opts, password=parts.password,
                            ssl=parts.scheme.startswith("rediss"), **opts)
        return sentinel.master_for(path[0], db=int(path[1]) if len(path) > 1 else 0)
    return redis.Redis.from_url(url, health_check_interval=0, retry_on_timeout=False, **opts)


class RedisCache(MemoryCache):
    """Redis (one server, a Cluster or a Sentinel-managed master; see ``connect``) with timeouts
    of ``timeout_s``, behind an in-process LRU of ``local_bytes`` (0: none): what this replica
    computed stays at hand when Redis is slow, down, or restarted empty."""

    backend = "redis"

    def __init__(self, url: str, ttl_s: int, timeout_s: float = 0.25, retry_s: float = 1.0, local_bytes: int = 0):
        self.local = MemoryCache(local_bytes) if local_bytes else None
        self.url, self.timeout = url, timeout_s
        self._client = None
        self.ttl, self.retry_s = ttl_s, retry_s
        self.stats = CacheStats()
        self._down_until = 0.0
        self._last_error = ""
        self._lock = threading.Lock()

    @property
    def client(self) -> redis.Redis | RedisCluster:
        """Created on first use: a cluster client contacts its nodes when made, and Redis may
        not be up yet when the service starts."""
        if self._client is None:
            self._client = connect(self.url, self.timeout)
        return self._client

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

    def get(self, key: str) -> FeatureMap | None:
        fm = self.local.get(key) if self.local else None
        if fm is not None:
            self.stats.hits += 1
            return fm
        if time.monotonic() < self._down_until:
            self.stats.misses += 1
            return None
        try:
            data = self.client.get(key)
            self._ok()
        except REDIS_ERRORS as exc:
            self._failed("get", exc)
            self.stats.misses += 1
            return None
        fm = FeatureMap.decode(data) if data is not None else None
        self._count(fm, data)
        if fm is not None and self.local:
            self.local.set(key, fm)
        return fm

    def set(self, key: str, fm: FeatureMap) -> None:
        data = fm.encode()
        if self.local:
            self.local.put(key, data)
        if time.monotonic() < self._down_until:
            return
        try:
            self.client.set(key, data, ex=self.ttl)
            self.stats.bytes_written += len(data)
            self._ok()
        except REDIS_ERRORS as exc:  # OOM on a full Redis lands here too
            self._failed("set", exc)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
