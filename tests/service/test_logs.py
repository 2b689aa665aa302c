"""Log lines under ``python -m service``: text lines end with the request id, uvicorn's access
lines too; with LOG_FORMAT=json every line is a JSON object with the id and, for an error, its
traceback."""
import json
import logging
import os
import re
import signal
import subprocess
import sys

import httpx

from eval.latency import ROOT, free_port
from service.logs import JsonLines
from tests.conftest import wait_ready


def served_lines(**env: str) -> list[str]:
    """What ``python -m service`` wrote (both streams) while serving a GET /healthz whose caller
    sent X-Request-ID probe-42, and a 404."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "service"], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "PORT": str(port), "WARM_UP": "false", **env})
    try:
        wait_ready(f"http://127.0.0.1:{port}")
        assert httpx.get(f"http://127.0.0.1:{port}/healthz", headers={"X-Request-ID": "probe-42"}).status_code == 200
        assert httpx.get(f"http://127.0.0.1:{port}/nowhere").status_code == 404
    finally:
        proc.send_signal(signal.SIGTERM)
        out = proc.communicate(timeout=30)[0]
    return out.splitlines()


def test_text_lines_end_with_the_request_id():
    lines = served_lines()
    assert any(re.search(r'"GET /healthz HTTP/1.1" 200 OK \[probe-42\]$', line) for line in lines), lines
    assert any(re.search(r'"GET /nowhere HTTP/1.1" 404 Not Found \[[0-9a-f]{32}\]$', line) for line in lines), lines
    assert any(re.search(r"INFO service.registry: .* \[-\]$", line) for line in lines), lines  # outside a request


def test_json_lines_are_objects_with_the_request_id():
    lines = served_lines(LOG_FORMAT="json")
    objects = [json.loads(line) for line in lines]  # every line, uvicorn's own included
    access = [o for o in objects if o["logger"] == "uvicorn.access" and o["path"] == "/healthz"]
    assert access and access[0]["request_id"] == "probe-42" and access[0]["status"] == 200
    assert access[0]["method"] == "GET" and access[0]["client"].startswith("127.0.0.1")
    assert any(o["logger"] == "service.registry" and o["request_id"] == "-" for o in objects)
    assert all({"time", "level", "logger", "message", "request_id"} <= set(o) for o in objects)
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00", o["time"]) for o in objects)


def test_a_json_line_carries_an_errors_traceback():
    try:
        raise RuntimeError("a bug")
    except RuntimeError:
        record = logging.getLogger("service").makeRecord("service", logging.ERROR, __file__, 1, "unhandled error on %s",
                                                         ("GET /boom",), sys.exc_info())
    record.request_id = "r-1"
    line = json.loads(JsonLines().format(record))
    assert line["message"] == "unhandled error on GET /boom" and line["request_id"] == "r-1"
    assert "RuntimeError: a bug" in line["exception"] and line["level"] == "ERROR"
