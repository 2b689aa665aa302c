"""Shared fixtures: images as bytes and base64, the app on the shipped models."""
from __future__ import annotations

import asyncio
import base64
import io
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import cv2
import httpx
import numpy as np
import pytest
import uvicorn
from fastapi.testclient import TestClient
from PIL import Image

from models.data import pairs, photos
from service.config import Settings
from service.main import create_app
from tests.redis_server import RedisServer


def encode(arr: np.ndarray, fmt: str = "PNG", **kw) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format=fmt, **kw)
    return buf.getvalue()


def real(pair: Callable[[], pairs.Pair]) -> pairs.Pair:
    """A validation pair (``pair()``), or the test skipped where prep_data has not unpacked them."""
    try:
        return pair()
    except FileNotFoundError:
        pytest.skip("no data/pairs: run `python -m models.prep_data --opencv`")


def b64(data: bytes | np.ndarray) -> str:
    if isinstance(data, np.ndarray):
        data = encode(data)
    return base64.b64encode(data).decode()


@pytest.fixture(scope="session")
def coffee() -> np.ndarray:
    """A held-back photo: grey uint8 (H, W)."""
    return photos.load("coffee")


@pytest.fixture(scope="session")
def noise(coffee) -> np.ndarray:
    """Blurred noise the size of the coffee photo: an image that shows nothing of it, every match
    between the two wrong."""
    return cv2.GaussianBlur(np.random.default_rng(5).integers(0, 255, coffee.shape, dtype=np.uint8), (0, 0), 1.5)


@pytest.fixture(scope="session")
def client() -> TestClient:
    with TestClient(create_app(Settings())) as c:
        yield c


def make_client(**overrides) -> TestClient:
    return TestClient(create_app(Settings(**overrides)))


@pytest.fixture()
def redis_server():
    server = RedisServer().start()
    yield server
    server.stop()


@contextmanager
def live_server(settings: Settings) -> Iterator[str]:
    """The app served by uvicorn on a free loopback port, in a thread; yields its URL."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(create_app(settings), port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    wait_ready(f"http://127.0.0.1:{port}")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        srv.should_exit = True
        thread.join(10)


def until(condition, seconds: float = 5.0) -> bool:
    """Whether ``condition()`` holds within ``seconds`` (polled)."""
    end = time.monotonic() + seconds
    while not condition() and time.monotonic() < end:
        time.sleep(0.02)
    return condition()


async def eventually(condition, seconds: float = 5.0) -> bool:
    """``until`` for a test on an event loop: polled between awaits, so the loop runs meanwhile."""
    end = time.monotonic() + seconds
    while not condition() and time.monotonic() < end:
        await asyncio.sleep(0.02)
    return condition()


async def busy(pool) -> tuple[threading.Event, asyncio.Future]:
    """A matching pool's worker (``service.match_pool``) taken by a job that holds it until the
    returned event is set; the job's future beside it."""
    gate, taken = threading.Event(), threading.Event()

    def hold() -> None:
        taken.set()
        gate.wait(60)
    job = asyncio.ensure_future(pool.run(hold))
    assert await eventually(taken.is_set, 10)
    return gate, job


def wait_ready(url: str, path: str = "/readyz", seconds: float = 30.0) -> None:
    """Until the server at ``url`` answers 200 on ``path`` (or ``seconds`` pass)."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            if httpx.get(url + path).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)


@pytest.fixture(scope="session")
def turned_block():
    """coffee with a block of astronaut pasted on it; in b the block is turned 25 degrees and moved
    by (70, 45), the rest as it was: a thing moved before a still camera. -> (a, b, the block's
    points of a, where they are in b, points of the still rest)."""
    a = photos.load("coffee").copy()
    block = photos.load("astronaut")[40:260, 140:360]
    turn = cv2.getRotationMatrix2D((110, 110), 25, 1.0)
    b = a.copy()
    a[60:280, 60:280] = block
    b[105:325, 130:350] = cv2.warpAffine(block, turn, (220, 220), borderMode=cv2.BORDER_REFLECT)
    rng = np.random.default_rng(0)
    inside = np.c_[rng.uniform(90, 250, 20), rng.uniform(90, 250, 20)]
    there = (inside - 60) @ turn[:, :2].T + turn[:, 2] + [130, 105]
    still = np.c_[rng.uniform(380, 580, 20), rng.uniform(30, 370, 20)]
    return a, b, inside, there, still
