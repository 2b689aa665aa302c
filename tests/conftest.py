"""Shared fixtures: images as bytes and base64, the app on the shipped models."""
from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from models.data import photos
from service.config import Settings
from service.main import create_app


def encode(arr: np.ndarray, fmt: str = "PNG", **kw) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format=fmt, **kw)
    return buf.getvalue()


def b64(data: bytes | np.ndarray) -> str:
    if isinstance(data, np.ndarray):
        data = encode(data)
    return base64.b64encode(data).decode()


@pytest.fixture(scope="session")
def coffee() -> np.ndarray:
    """A held-back photo: grey uint8 (H, W)."""
    return photos.load("coffee")


@pytest.fixture(scope="session")
def client() -> TestClient:
    with TestClient(create_app(Settings())) as c:
        yield c


def make_client(**overrides) -> TestClient:
    return TestClient(create_app(Settings(**overrides)))


@pytest.fixture()
def redis_server():
    from tests.redis_server import RedisServer
    server = RedisServer().start()
    yield server
    server.stop()
