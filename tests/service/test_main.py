"""``python -m service`` (what ``make run`` starts): HOST and PORT honoured, bad settings refused."""
import os
import subprocess
import sys
from pathlib import Path

import httpx

from tests.conftest import wait_ready
from tests.redis_server import free_port

ROOT = Path(__file__).parents[2]


def test_python_m_service_listens_on_host_and_port():
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "service"], cwd=ROOT,
                            env=os.environ | {"HOST": "127.0.0.1", "PORT": str(port)},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_ready(f"http://127.0.0.1:{port}")
        assert httpx.get(f"http://127.0.0.1:{port}/healthz").json() == {"status": "ok"}
    finally:
        proc.terminate()
        proc.wait(30)


def test_a_bad_setting_stops_it_with_a_message():
    out = subprocess.run([sys.executable, "-m", "service"], cwd=ROOT, env=os.environ | {"PORT": "eighty"},
                         capture_output=True, text=True, timeout=60)
    assert out.returncode != 0 and "invalid settings" in out.stderr and "port" in out.stderr
    assert "Traceback" not in out.stderr
