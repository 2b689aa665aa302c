"""Deletions that reach every replica's in-process tier at once.

A ``RedisCache`` keeps what it read or computed in an in-process tier in front of Redis. A deletion
drops the value in Redis, leaves a tombstone there for the cache's TTL, and publishes the key and
the deletion's time on ``CHANNEL`` (in that order); every replica listens (``Listener``: a daemon
thread on redis-py's pub/sub) and drops the key's value from its tier unless it is as of a later
time (computed or read since, so a message that lands late does not drop a newer value). Pub/sub
delivers only to those connected, so whenever a replica subscribes (at first, and again after Redis
was down, restarted or cut off) it also drops the copies older than their key's tombstone: the
deletions it may have missed meanwhile. A copy
outlives a deletion only on a replica that cannot reach Redis, and at most until its TTL.

The tombstone holds the deletion's time, so that what was computed or read from before it is not
stored again afterwards (``deleted_since``: a request still computing an image's features when the
image is deleted, on any replica); the tier keeps its own record of the deletions it heard
(``MemoryCache.deleted_since``), which also keeps out a value read from Redis just before a deletion
whose message came first. Times are each replica's wall clock: replicas whose clocks disagree by
more than a request's duration would let such a value through (or keep a fresh one out).
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import redis
from redis.cluster import RedisCluster

from service.redis_conn import REDIS_ERRORS

log = logging.getLogger("service.invalidation")
CHANNEL = "corr:deleted"
POLL_S = 0.1  # how often the listener looks up from waiting (and sees that it should stop)


def tombstone(key: str) -> str:
    return f"deleted:{key}"


def derived(key: str) -> str:
    """The set of the keys put under ``key`` (``FeatureCache.put``'s ``under``), deleted with it."""
    return f"derived:{key}"


def delete_everywhere(client: redis.Redis | RedisCluster, key: str, ttl_s: int) -> bool:
    """Drop ``key`` in Redis, leave its tombstone for ``ttl_s`` and tell the listening replicas;
    whether Redis held it. Raises what redis-py raises. Three calls, not a pipeline: a Cluster's
    pipeline refuses PUBLISH."""
    held, at = bool(client.delete(key)), repr(time.time())
    client.set(tombstone(key), at, ex=ttl_s)
    client.publish(CHANNEL, f"{at} {key}")
    return held


def stamp_time(stamp: bytes | str, key: str) -> float:
    """The time a tombstone or message holds; one that is not a time (written by something else)
    counts as a deletion now."""
    try:
        return float(stamp)
    except ValueError:
        log.warning("deletion of %s does not say when; taken as a deletion now", key)
        return time.time()


def heard(message: bytes) -> tuple[str, float]:
    """The key a message on ``CHANNEL`` names and when it was deleted; a message of a key alone
    (as replicas before the time was sent publish) is a deletion now."""
    text = message.decode()
    stamp, _, key = text.partition(" ")
    return (key, stamp_time(stamp, key)) if key else (text, time.time())


def deleted_since(client: redis.Redis | RedisCluster, keys: list[str], since: float) -> bool:
    """Whether any of ``keys`` was deleted at or after ``since`` (``time.time()``), by their
    tombstones, read in one round trip (a pipeline: on a Cluster, one per node they lie on)."""
    pipe = client.pipeline(transaction=False)
    for key in keys:
        pipe.get(tombstone(key))
    return any(stamp is not None and stamp_time(stamp, key) >= since
               for key, stamp in zip(keys, pipe.execute(), strict=True))


class Listener:
    """Drops from ``local`` (a ``MemoryCache``) the keys published on ``CHANNEL`` and, on each
    subscription, those with a tombstone, counting them in ``stats.invalidated``. ``client``
    gives the Redis client (made on first use); after a failure the listener rests ``retry_s`` and
    subscribes again."""

    def __init__(self, client: Callable[[], redis.Redis | RedisCluster], local, retry_s: float, stats):
        self.client, self.local, self.retry_s, self.stats = client, local, retry_s, stats
        self.subscribed = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        """Listen in a daemon thread, unless one is listening already or the listener was closed."""
        with self._lock:
            if self._stop.is_set() or (self._thread is not None and self._thread.is_alive()):
                return
            self._thread = threading.Thread(target=self._run, name="cache-invalidation", daemon=True)
            self._thread.start()

    def close(self) -> None:
        """Stop listening; returns when the thread has (within ``POLL_S``), so the client can be closed."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(POLL_S + 2 * self.retry_s + 1)

    def _drop(self, deletions: list[tuple[str, float]]) -> None:
        """Drop each key's value from the tier unless it is as of a later time than the deletion;
        the tier notes when (so a read or computation begun before cannot put it back:
        ``MemoryCache.deleted_since``)."""
        self.stats.invalidated += sum(self.local.delete(k, at) for k, at in deletions)

    def sweep(self, client: redis.Redis | RedisCluster) -> None:
        """Drop the held copies older than their key's tombstone in Redis."""
        keys = self.local.keys()
        if not keys:
            return
        pipe = client.pipeline(transaction=False)
        for k in keys:
            pipe.get(tombstone(k))
        stamps = zip(keys, pipe.execute(), strict=True)
        self._drop([(k, stamp_time(stamp, k)) for k, stamp in stamps if stamp is not None])

    def _run(self) -> None:
        pubsub, failed = None, False
        while not self._stop.is_set():
            try:
                if pubsub is None:
                    client = self.client()
                    pubsub = client.pubsub(ignore_subscribe_messages=True)
                    pubsub.subscribe(CHANNEL)
                    self.sweep(client)
                    self.subscribed.set()
                message = pubsub.get_message(timeout=POLL_S)
                if message is not None and message["type"] == "message":
                    self._drop([heard(message["data"])])
            except REDIS_ERRORS as exc:
                (log.warning if self.subscribed.is_set() or not failed else log.debug)(
                    "deletions by other replicas do not reach this one's tier (%s: %s); subscribing again in %.1f s",
                    exc.__class__.__name__, exc, self.retry_s)
                self.subscribed.clear()
                failed = True
                pubsub = self._closed(pubsub)
                self._stop.wait(self.retry_s)
        self._closed(pubsub)

    @staticmethod
    def _closed(pubsub) -> None:
        if pubsub is not None:
            try:
                pubsub.close()
            except REDIS_ERRORS:
                pass
        return None
