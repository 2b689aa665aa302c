"""SIGTERM under load (shared/RELIABILITY.md row 20): in-flight requests finish, then new ones
are refused cleanly; a real uvicorn process."""
import base64
import re
import signal
import threading
import time

import cv2
import httpx
import pytest

from eval.latency import serve


def wait_until_in_flight(url: str, pairs: int, within_s: float = 30.0) -> None:
    """Until the server holds ``pairs`` pairs of work, queued or done: every request is in flight
    (a request still being sent when SIGTERM arrives is a new one, and refused)."""
    end = time.monotonic() + within_s
    while time.monotonic() < end:
        text = httpx.get(url + "/metrics").text
        held = sum(float(v) for v in re.findall(r'^corr_(?:queue_depth|inference_items_total)\{[^}]*\} (\S+)$',
                                                text, re.M))
        if held >= pairs:
            return
        time.sleep(0.02)
    raise AssertionError(f"the requests did not reach the server within {within_s} s")


def test_sigterm_lets_in_flight_requests_finish(coffee):
    patch = base64.b64encode(cv2.imencode(".png", coffee[100:164, 200:264])[1].tobytes()).decode()
    body = {"pairs": [{"a": patch, "b": patch}] * 1000}  # about a second of work
    proc, url = serve({"MAX_BATCH": "8", "MAX_WAIT_MS": "0"})
    results = []

    def call():
        try:
            results.append(httpx.post(url + "/v1/patches/similarity", json=body, timeout=60).status_code)
        except httpx.HTTPError as exc:
            results.append(type(exc).__name__)

    threads = [threading.Thread(target=call) for _ in range(3)]
    try:
        for t in threads:
            t.start()
        wait_until_in_flight(url, 3 * len(body["pairs"]))
        proc.send_signal(signal.SIGTERM)
        for t in threads:
            t.join(60)
        assert results == [200, 200, 200]
        # uvicorn re-raises the signal once it has shut down gracefully
        assert proc.wait(30) in (0, -signal.SIGTERM)
        try:
            httpx.get(url + "/healthz", timeout=2)
            refused = False
        except httpx.ConnectError:
            refused = True
        assert refused
    finally:
        if proc.poll() is None:
            proc.kill()


def test_client_disconnect_frees_its_queued_work(coffee):
    """A 4000-pair request in batches of 8, abandoned after 0.3 s: most of it is never computed."""
    patch = base64.b64encode(cv2.imencode(".png", coffee[100:164, 200:264])[1].tobytes()).decode()
    body = {"pairs": [{"a": patch, "b": patch}] * 4000}
    proc, url = serve({"MAX_BATCH": "8", "MAX_WAIT_MS": "0", "MAX_PAIRS": "4000"})
    try:
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(url + "/v1/patches/similarity", json=body, timeout=httpx.Timeout(30, read=0.3))
        time.sleep(1.5)
        metrics = httpx.get(url + "/metrics").text
        counted = r'corr_inference_items_total{model="2ch-2stream-views8-sift"} ([0-9.e+]+)'  # the default scorer
        done = float(re.search(counted, metrics).group(1))
        assert done < 2000, f"{done} of 4000 pairs computed for a client that left"
        assert httpx.post(url + "/v1/patches/similarity", json={"pairs": body["pairs"][:2]}).status_code == 200
    finally:
        proc.terminate()
        proc.wait(20)
