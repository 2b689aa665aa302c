"""The feature cache, both backends, against a real Redis server."""
import threading
import time

import numpy as np
import pytest
import redis

from service.cache import MemoryCache, RedisCache, cache_key
from service.feature_map import FeatureMap
from service.invalidation import derived, heard
from tests.conftest import until
from tests.redis_server import RedisServer


def fmap(seed=0, shape=(32, 30, 40)) -> bytes:
    f = np.random.default_rng(seed).standard_normal(shape).astype(np.float16)
    return FeatureMap(f, 160, 120, 1.0, 4).encode()


def test_key_depends_on_content_model_version_and_params():
    base = cache_key("ab" * 32, "ucn", "v1", {"max_side": 1024})
    assert base != cache_key("cd" * 32, "ucn", "v1", {"max_side": 1024})
    assert base != cache_key("ab" * 32, "ucn", "v2", {"max_side": 1024})
    assert base != cache_key("ab" * 32, "ucn", "v1", {"max_side": 512})


def test_memory_lru_is_bounded_by_bytes():
    one = len(fmap())
    cache = MemoryCache(max_bytes=int(2.5 * one))
    for k in range(3):
        cache.put(f"k{k}", fmap(k))
    assert cache.get("k0") is None and cache.get("k2") is not None
    assert cache.stats.hits == 1 and cache.stats.misses == 1 and cache.held_bytes == 2 * one


class Clock:
    """A monotonic clock the test moves (the TTL's arithmetic, whatever the machine's load)."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_memory_values_expire_after_the_ttl_read_or_not():
    clock = Clock()
    cache = MemoryCache(1 << 24, ttl_s=4, clock=clock)
    cache.put("a", fmap(0))
    clock.now += 2.5
    assert cache.get("a") is not None  # a read does not renew it (as Redis's GET does not)
    assert cache.expires_in("a") == 1.5
    cache.put("b", fmap(1))
    clock.now += 2.5
    assert cache.get("a") is None and cache.get("b") is not None and cache.delete("a") is False
    clock.now += 2.5
    assert cache.held_bytes == 0  # the expired are dropped when asked, with no put since


def test_redis_roundtrip_ttl_and_corrupt_entry(redis_server):
    cache = RedisCache(redis_server.url, ttl_s=60)
    cache.put("k", fmap())
    assert cache.get("k") == fmap()
    raw = redis.Redis.from_url(redis_server.url)
    assert 0 < raw.ttl("k") <= 60
    cache.reject("k")  # a value that did not fit its model is dropped, there too
    assert raw.get("k") is None and cache.get("k") is None and cache.stats.rejected == 1


def test_redis_absent_reads_as_miss_fast_and_reconnects():
    server = RedisServer()  # not started yet: absent at start-up
    cache = RedisCache(server.url, ttl_s=60, timeout_s=0.2, retry_s=0.3)
    t = time.perf_counter()
    assert cache.get("k") is None
    cache.put("k", fmap())
    assert time.perf_counter() - t < 1.0 and not cache.healthy and cache.stats.errors >= 1
    server.start()
    try:
        time.sleep(0.35)
        cache.put("k", fmap())
        assert cache.get("k") is not None and cache.healthy
    finally:
        server.stop()


def test_redis_full_is_logged_not_raised():
    server = RedisServer("--maxmemory", "1mb", "--maxmemory-policy", "noeviction").start()
    try:
        cache = RedisCache(server.url, ttl_s=60)
        for k in range(30):  # ~77 kB each: OOM partway
            cache.put(f"k{k}", fmap(k))
        assert cache.stats.errors >= 1
    finally:
        server.stop()


@pytest.mark.parametrize("backend", ["memory", "redis"])
def test_both_backends_share_one_interface(backend, redis_server):
    cache = MemoryCache(1 << 24) if backend == "memory" else RedisCache(redis_server.url, 60)
    assert cache.get("missing") is None
    cache.put("x", fmap(3))
    assert cache.get("x") == fmap(3)
    assert cache.stats.bytes_read > 0 and cache.stats.bytes_written > 0
    assert cache.delete("x") is True and cache.get("x") is None and cache.delete("x") is False
    assert cache.stats.rejected == 0  # a deletion is not a refusal


def test_touch_starts_a_memory_values_ttl_again():
    clock = Clock()
    cache = MemoryCache(1 << 24, ttl_s=10, clock=clock)
    cache.put("t", fmap(4))
    clock.now += 6
    assert cache.touch("t") is True and cache.touch("never put") is False
    clock.now += 6  # 12 s after the put, 6 after the touch
    assert cache.get("t") == fmap(4) and cache.expires_in("t") == 4
    clock.now += 4
    assert cache.get("t") is None


def test_touch_starts_a_redis_values_ttl_again(redis_server):
    cache = RedisCache(redis_server.url, 60)
    raw = redis.Redis.from_url(redis_server.url)
    cache.put("t", fmap(4))
    raw.expire("t", 5)  # as if put 55 s ago
    assert cache.touch("t") is True and cache.touch("never put") is False
    assert 55 < raw.ttl("t") <= 60 and cache.get("t") == fmap(4)


def test_a_deleted_value_frees_its_room_in_the_memory_lru():
    one = len(fmap())
    cache = MemoryCache(max_bytes=int(2.5 * one))
    cache.put("a", fmap(0))
    cache.put("b", fmap(1))
    cache.delete("a")
    cache.put("c", fmap(2))
    assert cache.get("b") is not None and cache.get("c") is not None  # nothing evicted


@pytest.mark.parametrize("backend", ["memory", "redis"])
def test_a_value_computed_from_before_a_deletion_is_not_stored(backend, redis_server):
    """``put`` with ``since`` (when the caller found the key missing) stores nothing where the key
    was deleted since; a value looked up after the deletion is stored, and a rejected value (not a
    deletion) does not keep its replacement out."""
    cache = MemoryCache(1 << 24, 60) if backend == "memory" else RedisCache(redis_server.url, ttl_s=60)
    since = time.time()
    cache.put("k", fmap(1))
    assert cache.delete("k")
    cache.put("k", fmap(2), since)
    assert cache.get("k") is None
    cache.put("k", fmap(3), time.time())
    assert cache.get("k") == fmap(3)
    since = time.time()
    cache.reject("k")
    cache.put("k", fmap(4), since)
    assert cache.get("k") == fmap(4)
    cache.close()


def test_a_deletion_on_one_replica_keeps_anothers_computation_out_of_redis_and_its_tier(redis_server):
    """A replica still computing a value when another deletes its key stores it neither in Redis
    nor in its own tier (the tombstone holds the deletion's time)."""
    one, two = (RedisCache(redis_server.url, ttl_s=60, local_bytes=1 << 24) for _ in range(2))
    try:
        one.put("k", fmap(9))
        since = time.time()  # two misses... (its lookup) ...and computes while one deletes
        assert one.delete("k")
        two.put("k", fmap(9), since)
        assert two.local.get("k") is None and two.client.get("k") is None and one.get("k") is None
        two.put("k", fmap(9), time.time())  # sent again after the deletion: kept
        assert one.get("k") == fmap(9) and two.local.get("k") == fmap(9)
    finally:
        one.close(), two.close()


def test_a_deletions_message_that_lands_late_drops_only_what_is_older_than_the_deletion(redis_server):
    """The message of a deletion reaches another replica's tier after that replica stored a
    value: one read before the deletion goes, one computed after it stays (the message carries
    the deletion's time), and so does a key deleted before it was stored."""
    one, two = (RedisCache(redis_server.url, ttl_s=60, local_bytes=1 << 24) for _ in range(2))
    try:
        assert two.get("warm-up") is None and until(two.listener.subscribed.is_set)
        gate, delete = threading.Event(), two.local.delete

        def late(*deletion):  # the listener's thread waits here until the puts are made
            gate.wait(5.0)
            return delete(*deletion)
        two.local.delete = late
        one.put("old", fmap(1))
        read = time.time()  # two reads "old" before one deletes it...
        assert one.delete("old") and not one.delete("new")
        two.local.put("old", fmap(1), read)  # ...and stores it before the message lands
        two.put("new", fmap(2), time.time())  # computed after "new" was deleted
        gate.set()
        assert until(lambda: two.local.deleted_since("old", read) and two.local.deleted_since("new", read))
        assert two.local.get("old") is None and two.stats.invalidated == 1
        assert two.local.get("new") == fmap(2) and one.get("new") == fmap(2)
    finally:
        one.close(), two.close()


def test_a_subscribing_replica_drops_only_the_copies_older_than_their_tombstones(redis_server):
    one, two = (RedisCache(redis_server.url, ttl_s=60, local_bytes=1 << 24) for _ in range(2))
    try:
        assert two.get("warm-up") is None and until(two.listener.subscribed.is_set)
        two.listener.close()  # deaf to the deletions below, as while cut off from Redis
        two.local.put("old", fmap(3), time.time())
        assert not one.delete("old") and not one.delete("new")
        two.local.put("new", fmap(4), time.time())
        two.listener.sweep(two.client)  # what it does when it subscribes again
        assert two.local.get("old") is None and two.local.get("new") == fmap(4)
    finally:
        one.close(), two.close()


@pytest.mark.parametrize("backend", ["memory", "redis"])
def test_deleting_a_key_drops_the_values_put_under_it(backend, redis_server):
    """Values put ``under`` a key (features of an image's copies, under the image's) go with it and
    are not stored again from a computation begun before; values under another key stay."""
    cache = MemoryCache(1 << 24, 60) if backend == "memory" else RedisCache(redis_server.url, ttl_s=60)
    try:
        since = time.time()
        cache.put("img", fmap(1))
        for i, (key, parent) in enumerate((("img:copy:1", "img"), ("img:copy:2", "img"), ("other:copy", "other"))):
            cache.put(key, fmap(i + 2), under=parent)
        assert cache.delete("img")
        assert [cache.get(k) is None for k in ("img", "img:copy:1", "img:copy:2", "other:copy")] == [
            True, True, True, False]
        cache.put("img:copy:3", fmap(5), since, under="img")  # computing when the image was deleted
        assert cache.get("img:copy:3") is None
        cache.put("img:copy:3", fmap(5), time.time(), under="img")  # sent again afterwards: kept
        assert cache.get("img:copy:3") == fmap(5)
        assert cache.delete("img") and cache.get("img:copy:3") is None  # only a copy left: still found
    finally:
        cache.close()


def test_a_deletion_drops_the_values_under_its_key_from_every_replicas_tier(redis_server):
    one, two = (RedisCache(redis_server.url, ttl_s=60, local_bytes=1 << 24) for _ in range(2))
    try:
        one.put("pic", fmap(6))
        one.put("pic:copy", fmap(7), under="pic")
        assert two.get("pic:copy") == fmap(7) and until(two.listener.subscribed.is_set)
        assert one.delete("pic")
        assert until(lambda: two.local.get("pic:copy") is None, 2.0)  # not the TTL's 60 s
        assert two.get("pic:copy") is None and not one.client.exists("derived:pic")
    finally:
        one.close(), two.close()


def test_local_tier_keeps_this_replicas_maps_when_redis_restarts_empty(redis_server):
    cache = RedisCache(redis_server.url, ttl_s=60, timeout_s=0.2, retry_s=0.0, local_bytes=1 << 24)
    cache.put("k", fmap(5))
    redis_server.stop()
    redis_server.start()  # empty: no persistence
    assert cache.get("k") == fmap(5)
    other = RedisCache(redis_server.url, ttl_s=60)  # another replica, without the map
    assert other.get("k") is None


def test_a_deletion_on_one_replica_reaches_the_others_tiers(redis_server):
    one, two = (RedisCache(redis_server.url, ttl_s=60, local_bytes=1 << 24) for _ in range(2))
    try:
        one.put("k", fmap(6))
        assert two.get("k") == fmap(6) and two.local.get("k") is not None  # read into two's tier
        assert until(two.listener.subscribed.is_set)
        assert one.delete("k")
        assert until(lambda: two.local.get("k") is None, 2.0)  # not the TTL's 60 s
        assert two.get("k") is None and two.stats.invalidated == 1
    finally:
        one.close(), two.close()


def test_a_read_that_races_a_deletion_keeps_its_value_out_of_the_tier(redis_server):
    """Read from Redis just before another replica deletes the key, the value reaches this tier
    after the deletion's message did: the tier must not keep it for the TTL."""
    one, two = (RedisCache(redis_server.url, ttl_s=60, local_bytes=1 << 24) for _ in range(2))
    try:
        one.put("k", fmap(8))
        assert two.get("other") is None and until(two.listener.subscribed.is_set)
        read = two.client.get

        def read_then_deleted(key):
            value = read(key)
            assert one.delete(key) and until(lambda: two.local.deleted_since(key, 0.0), 2.0)
            return value
        two.client.get = read_then_deleted
        assert two.get("k") == fmap(8)  # the request that read it before the deletion gets it...
        assert two.local.get("k") is None  # ...but the tier does not keep it
    finally:
        one.close(), two.close()


def test_a_replica_subscribing_after_a_deletion_drops_its_copy(redis_server):
    """Pub/sub reaches only those listening: a replica that was not (cut off, or not yet started)
    drops the copies whose tombstone the deletion left, and keeps the rest."""
    late = RedisCache(redis_server.url, ttl_s=60, local_bytes=1 << 24)
    other = RedisCache(redis_server.url, ttl_s=60)  # a replica without a tier
    try:
        for key in ("gone", "kept"):
            other.put(key, fmap(7))
            late.local.put(key, fmap(7))  # held before late talked to Redis (its listener not started)
        assert other.delete("gone")
        assert late.get("elsewhere") is None  # its first use of Redis subscribes, and sweeps
        assert until(late.listener.subscribed.is_set)
        assert late.local.get("gone") is None and late.local.get("kept") == fmap(7)
        assert late.stats.invalidated == 1
    finally:
        late.close(), other.close()


def test_a_deletions_message_names_its_key_and_time_and_one_without_a_time_is_a_deletion_now():
    assert heard(b"1700000000.25 sha:model:v1") == ("sha:model:v1", 1700000000.25)
    key, at = heard(b"sha:model:v1")  # as replicas that did not send the time publish
    assert key == "sha:model:v1" and abs(at - time.time()) < 5


@pytest.mark.parametrize("backend", ["memory", "redis"])
def test_a_value_no_longer_listed_under_its_key_is_not_answered(backend, redis_server):
    """A deletion finds the values put under a key by its list of them; where the list is lost
    (Redis evicted it, allkeys-lru; the tier's record of it expired), a value it named is not
    answered and is dropped: a later deletion could not find it."""
    cache = MemoryCache(1 << 24, 60) if backend == "memory" else RedisCache(redis_server.url, ttl_s=60)
    try:
        cache.put("img", fmap(1))
        cache.put("img:copy:1", fmap(2), under="img")
        cache.put("img:copy:2", fmap(3), under="img")
        assert cache.get("img:copy:1", "img") == fmap(2)
        if backend == "memory":
            cache._derived.pop("img")
        else:
            cache.client.delete(derived("img"))
        assert cache.get("img:copy:1", "img") is None and cache.get("img:copy:2", "img") is None
        assert cache.get("img:copy:1") is None  # dropped, not merely hidden
        cache.put("img:copy:1", fmap(2), under="img")  # computed again: listed again
        assert cache.get("img:copy:1", "img") == fmap(2) and cache.get("img") == fmap(1)
    finally:
        cache.close()


def test_reading_a_value_keeps_its_list_as_recently_used_in_redis(redis_server):
    """allkeys-lru evicts the keys idle longest: a list read with its values is no idler than they."""
    cache = RedisCache(redis_server.url, ttl_s=60)
    try:
        cache.put("pic:copy", fmap(4), under="pic")
        time.sleep(1.1)  # Redis counts idle time in seconds
        assert cache.client.object("idletime", derived("pic")) >= 1
        assert cache.get("pic:copy", "pic") == fmap(4)
        assert cache.client.object("idletime", derived("pic")) == 0
    finally:
        cache.close()


def test_a_copy_is_put_in_three_round_trips_its_list_before_it(redis_server, monkeypatch):
    """The tombstones of the value and of what it was derived from in one round trip, its list
    (added to and its TTL set) in another, the value last."""
    cache = RedisCache(redis_server.url, ttl_s=60)
    try:
        assert cache.ping()
        sent: list[bytes] = []
        send = redis.connection.Connection.send_packed_command

        def counted(conn, command, *args, **kwargs):
            sent.append(b"".join(command) if isinstance(command, list) else command)
            return send(conn, command, *args, **kwargs)
        monkeypatch.setattr(redis.connection.Connection, "send_packed_command", counted)
        cache.put("pic:copy", fmap(4), time.time(), under="pic")
        assert len(sent) == 3, sent
        assert b"deleted:pic:copy" in sent[0] and b"deleted:pic" in sent[0].replace(b"deleted:pic:copy", b"")
        assert b"SADD" in sent[1] and b"EXPIRE" in sent[1] and b"SET" in sent[2]
        monkeypatch.undo()
        assert cache.get("pic:copy", "pic") == fmap(4) and cache.client.ttl(derived("pic")) > 0
    finally:
        cache.close()
