"""The sparse detector's pyramid holds several times an image for a moment: at most
MAX_CONCURRENT_DECODES images are run through it at once, however many requests arrive."""
from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
import pytest

from service import sparse
from tests.conftest import encode, make_client


@pytest.mark.parametrize("bound", [1, 2])
def test_concurrent_requests_run_the_detector_at_most_the_bound_at_once(monkeypatch, bound):
    running, most, lock = [0], [0], threading.Lock()
    detect = sparse.detect

    def counted(*args, **kwargs):
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.05)  # long enough for the other requests' images to arrive meanwhile
        try:
            return detect(*args, **kwargs)
        finally:
            with lock:
                running[0] -= 1

    monkeypatch.setattr(sparse, "detect", counted)
    rng = np.random.default_rng(0)
    pages = [encode(cv2.GaussianBlur(rng.integers(0, 255, (160, 200), np.uint8), (0, 0), 1.2)) for _ in range(8)]
    with make_client(max_concurrent_decodes=bound, sparse_keypoints=200) as c:
        def ask(k: int) -> int:
            files = {"image_a": ("a.png", pages[2 * k]), "image_b": ("b.png", pages[2 * k + 1])}
            return c.post("/v1/correspondences", files=files).status_code
        with ThreadPoolExecutor(4) as pool:
            codes = list(pool.map(ask, range(4)))
    assert codes == [200] * 4 and most[0] == bound
