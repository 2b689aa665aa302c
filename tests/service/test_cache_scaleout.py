"""Scale-out: the cache on a real three-node Redis Cluster, and Sentinel URLs."""
import time

import numpy as np
import pytest
import redis

from service.cache import RedisCache
from service.feature_map import FeatureMap
from service.redis_conn import connect
from tests.conftest import encode, make_client, until
from tests.redis_server import RedisClusterServers


@pytest.fixture()
def cluster(tmp_path):
    c = RedisClusterServers(tmp_path).start()
    yield c
    c.stop()


def test_cache_on_a_real_redis_cluster(cluster):
    cache = RedisCache(cluster.url, ttl_s=60, timeout_s=1.0)
    maps = {f"feat:ucn:v:{k:02d}": FeatureMap(np.full((4, 5, 6), k, np.float16), 24, 20, 1.0, 4) for k in range(20)}
    for key, fm in maps.items():
        cache.put(key, fm.encode())
    assert cache.stats.errors == 0
    for key, fm in maps.items():
        assert cache.get(key) == fm.encode()
    # the keys really are spread over the three nodes
    per_node = [redis.Redis(port=n.port).dbsize() for n in cluster.nodes]
    assert sum(per_node) == 20 and sum(1 for c in per_node if c) >= 2


def test_values_read_with_their_list_across_the_nodes_of_a_cluster(cluster):
    cache = RedisCache(cluster.url, ttl_s=60, timeout_s=1.0)
    copies = [f"feat:ucn:v:img:copy:{k:02d}" for k in range(6)]  # spread over the nodes, as the list is
    for key in copies:  # each one's tombstone and its parent's read together, on their nodes
        cache.put(key, key.encode(), time.time(), under="feat:ucn:v:img")
    assert all(cache.get(key, "feat:ucn:v:img") == key.encode() for key in copies)
    cache.client.delete("derived:feat:ucn:v:img")
    assert all(cache.get(key, "feat:ucn:v:img") is None for key in copies) and cache.stats.errors == 0
    assert not any(cache.client.exists(key) for key in copies)


def test_app_serves_on_a_cluster(cluster, coffee):
    with make_client(redis_url=cluster.url) as one:
        assert one.post("/v1/images", files={"image": ("a.png", encode(coffee))}).json()["cached"] is False
        assert one.get("/readyz").json()["cache"] == "ok"
    with make_client(redis_url=cluster.url) as two:
        assert two.post("/v1/images", files={"image": ("a.png", encode(coffee))}).json()["cached"] is True


def test_sentinel_urls_are_understood():
    client = connect("redis+sentinel://:pw@127.0.0.1:26379,127.0.0.1:26380/mymaster/2", 0.2)
    assert client.connection_pool.service_name == "mymaster"
    assert [tuple(s.connection_pool.connection_kwargs[k] for k in ("host", "port"))
            for s in client.connection_pool.sentinel_manager.sentinels] == [("127.0.0.1", 26379), ("127.0.0.1", 26380)]
    with pytest.raises(ValueError):
        connect("redis+sentinel://127.0.0.1:26379", 0.2)


def test_unreachable_cluster_is_a_miss_not_a_crash():
    cache = RedisCache("redis+cluster://127.0.0.1:1", ttl_s=60, timeout_s=0.2)
    assert cache.get("k") is None and cache.stats.errors == 1 and not cache.healthy


def test_a_deletion_reaches_the_other_replicas_tiers_on_a_cluster(cluster):
    """Pub/sub and the tombstones (pipelined reads across the nodes, and the times puts read)
    work on a Cluster too."""
    one, two, late = (RedisCache(cluster.url, ttl_s=60, timeout_s=1.0, local_bytes=1 << 20) for _ in range(3))
    try:
        keys = [f"feat:ucn:v:{k:02d}" for k in range(6)]  # spread over the nodes
        for key in keys:
            one.put(key, b"x" * 64)
            late.local.put(key, b"x" * 64)  # held before late talked to Redis
            assert two.get(key) == b"x" * 64
        assert until(two.listener.subscribed.is_set)
        since = time.time()
        assert all(one.delete(key) for key in keys)
        assert until(lambda: not two.local.keys(), 2.0) and two.stats.invalidated == len(keys)
        assert late.get("feat:ucn:v:elsewhere") is None and until(late.listener.subscribed.is_set)
        assert not late.local.keys() and late.stats.invalidated == len(keys)
        for key in keys:  # computed from before the deletion: stored nowhere (the tombstones' times)
            late.put(key, b"y" * 64, since)
        assert not late.local.keys() and all(two.get(key) is None for key in keys)
    finally:
        one.close(), two.close(), late.close()


def test_a_copy_computed_before_its_images_deletion_stays_out_of_a_cluster(cluster):
    cache = RedisCache(cluster.url, ttl_s=60, timeout_s=1.0)
    parent, since = "feat:ucn:v:pic", time.time()
    cache.put(parent, b"features")
    assert cache.delete(parent)
    copies = [f"{parent}:copy:{k:02d}" for k in range(6)]  # on other nodes than the parent's tombstone
    for key in copies:
        cache.put(key, key.encode(), since, under=parent)
    assert not any(cache.client.exists(key) for key in copies) and cache.stats.errors == 0
    cache.put(copies[0], b"again", time.time(), under=parent)  # computed after: kept
    assert cache.get(copies[0], parent) == b"again"
