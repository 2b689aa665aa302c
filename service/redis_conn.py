"""Connections to Redis: one server, a Cluster or a Sentinel-managed master, from one URL, with
short socket timeouts (a slow or absent Redis costs a request hundreds of milliseconds at most)."""
from __future__ import annotations

from urllib.parse import urlsplit

import redis
from redis.cluster import RedisCluster
from redis.sentinel import Sentinel

SCHEMES = ("redis", "rediss", "unix", "redis+cluster", "rediss+cluster", "redis+sentinel", "rediss+sentinel")
REDIS_ERRORS = (redis.RedisError, redis.exceptions.RedisClusterException, OSError)


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


def check_url(url: str) -> str:
    """``url`` if it is a Redis URL this service can use, else ValueError saying why (settings
    call this at start-up, so a typo stops the service instead of failing every request)."""
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES:
        raise ValueError(f"REDIS_URL must start with one of {', '.join(s + '://' for s in SCHEMES)}")
    if parts.scheme == "unix":
        if not parts.path:
            raise ValueError("a unix REDIS_URL needs the socket's path: unix:///run/redis.sock")
        return url
    hosts = parts.netloc.rsplit("@", 1)[-1]
    if not hosts:
        raise ValueError("REDIS_URL has no host: redis://host:6379/0")
    for host in hosts.split(","):
        name, _, port = host.rpartition(":") if ":" in host else (host, "", "")
        if not (name or not port) or (port and not (port.isdigit() and 0 < int(port) < 65536)):
            raise ValueError(f"REDIS_URL has a bad host or port: {host!r}")
    if "sentinel" in parts.scheme and not [p for p in parts.path.split("/") if p]:
        raise ValueError("a sentinel REDIS_URL needs the service name: redis+sentinel://host:26379/mymaster")
    if parts.scheme in ("redis", "rediss") and parts.path.strip("/") and not parts.path.strip("/").isdigit():
        raise ValueError(f"REDIS_URL's database must be a number, not {parts.path.strip('/')!r}")
    return url
