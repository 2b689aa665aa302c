"""Keypoint-model records that lie (a summary that is not JSON, a field missing, a zip bomb, NaN
weights) are skipped or refused, never served; and with Redis stalled the store's waits stay off
the event loop."""
import base64
import io
import json
import os
import signal
import threading
import time
import zipfile

import httpx
import numpy as np
import pytest
import redis

from eval.latency import serve
from service.keypoints import KeypointModel
from tests.conftest import encode, make_client


@pytest.fixture(scope="module")
def photo(coffee) -> bytes:
    return encode(coffee[:240, :320])


def create(c, photo) -> dict:
    ex = {"image": base64.b64encode(photo).decode(), "keypoints": {"rim": [175.0, 110.0], "spoon": [80.0, 60.0]}}
    r = c.post("/v1/keypoint-models", json={"exemplars": [ex, ex]})
    assert r.status_code == 201, r.text
    return r.json()


def rejected(c) -> float:
    line = next(x for x in c.get("/metrics").text.splitlines() if x.startswith("corr_store_rejected_total"))
    return float(line.split()[-1])


def test_a_bad_summary_is_skipped_and_counted(redis_server, photo):
    with make_client(redis_url=redis_server.url) as c:
        good = create(c, photo)["id"]
        raw = redis.Redis.from_url(redis_server.url)
        raw.hset("kpmodels", "a" * 24, b"not json {")
        raw.hset("kpmodels", "b" * 24, json.dumps({"id": "b" * 24, "names": ["x"]}))  # fields missing
        r = c.get("/v1/keypoint-models")
        assert r.status_code == 200 and [m["id"] for m in r.json()["models"]] == [good]
        assert rejected(c) == 2
        assert c.get(f"/v1/keypoint-models/{'b' * 24}").status_code == 404


def bomb(size: int = 1 << 30) -> bytes:
    """An npz whose member says it holds a gigabyte of zeros (a megabyte on the wire)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        with zf.open("weights.npy", "w", force_zip64=True) as f:
            chunk = bytes(1 << 20)
            for _ in range(size >> 20):
                f.write(chunk)
        for name in ("bias", "global_desc", "locations", "header"):
            zf.writestr(f"{name}.npy", b"")
    return buf.getvalue()


def nan_model(good: bytes) -> bytes:
    m = KeypointModel.from_bytes(good)
    m.weights[0, 0] = np.nan
    return m.to_bytes()


@pytest.mark.parametrize("forge", ["bomb", "nan"])
def test_a_forged_model_is_refused_not_served(redis_server, photo, forge):
    with make_client(redis_url=redis_server.url) as c:
        mid = create(c, photo)["id"]
        raw = redis.Redis.from_url(redis_server.url)
        payload = bomb() if forge == "bomb" else nan_model(raw.get(f"kpmodel:{mid}"))
        raw.set(f"kpmodel:{mid}", payload)
        c.app.state.model_store._models.clear()  # this replica's copy gone: it must read the forged one
        t = time.perf_counter()
        r = c.post(f"/v1/keypoint-models/{mid}/predict", files={"image": ("p.png", photo)})
        assert r.status_code == 404 and time.perf_counter() - t < 5
        assert rejected(c) == 1


def test_a_stalled_redis_never_blocks_the_event_loop(redis_server):
    """Store calls wait out their timeouts in the thread pool: /healthz answers meanwhile."""
    proc, url = serve({"REDIS_URL": redis_server.url, "REDIS_TIMEOUT_S": "0.25"})
    try:
        os.kill(redis_server.proc.pid, signal.SIGSTOP)  # connected, but silent: every call times out
        slow: list[float] = []

        def lists() -> None:
            t = time.perf_counter()
            httpx.get(url + "/v1/keypoint-models", timeout=10)
            slow.append(time.perf_counter() - t)
        threads = [threading.Thread(target=lists) for _ in range(6)]
        for t in threads:
            t.start()
        health = []
        with httpx.Client(base_url=url) as c:
            c.get("/healthz")  # connected before the stall's requests are in flight
            time.sleep(0.1)
            for _ in range(5):
                t = time.perf_counter()
                assert c.get("/healthz").status_code == 200
                health.append(time.perf_counter() - t)
        for t in threads:
            t.join()
        assert max(slow) >= 0.25 and sorted(health)[2] < 0.05, (slow, health)
    finally:
        os.kill(redis_server.proc.pid, signal.SIGCONT)
        proc.terminate()
        proc.wait(10)
