"""A typed Python client for the service, for other services to import.

    from service.client import CorrespondenceClient
    with CorrespondenceClient("http://localhost:8000", api_key=None) as c:
        scores = c.similarity(patches_a, patches_b)                  # (N,) float32
        m = c.correspondences(img_a, img_b, geometry="homography")   # Correspondences
        pts_b = c.transfer(img_a, img_b, np.array([[10.0, 20.0]])).xy

Images go in as numpy arrays (grey or RGB uint8) or encoded bytes; numbers come back as numpy.
Retries with exponential backoff (honouring Retry-After) on 503, 429 and connection errors; other
4xx raise ``ServiceError`` with the server's code and detail at once.
"""
from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass

import cv2
import httpx
import numpy as np

Image = np.ndarray | bytes


class ServiceError(Exception):
    def __init__(self, status: int, code: str, detail: object):
        super().__init__(f"{status} {code}: {detail}")
        self.status, self.code, self.detail = status, code, detail


@dataclass
class Correspondences:
    xy_a: np.ndarray  # (M, 2) float32 pixels of image a
    xy_b: np.ndarray  # (M, 2)
    score: np.ndarray  # (M,)
    model: np.ndarray | None  # 3x3 homography or fundamental matrix, if asked for and found
    inliers: np.ndarray | None  # (M,) bool


@dataclass
class Transferred:
    xy: np.ndarray  # (K, 2) float32 pixels of image b
    score: np.ndarray  # (K,)
    consistent: np.ndarray  # (K,) bool


def encode(image: Image) -> bytes:
    if isinstance(image, bytes):
        return image
    arr = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".png", arr)
    if not ok:
        raise ValueError("cannot encode image")
    return buf.tobytes()


def b64(image: Image) -> str:
    return base64.b64encode(encode(image)).decode()


class CorrespondenceClient:
    RETRY = {429, 503}

    def __init__(self, base_url: str, api_key: str | None = None, timeout: float = 30.0, retries: int = 4,
                 backoff: float = 0.25, transport: httpx.BaseTransport | None = None):
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.http = httpx.Client(base_url=base_url, timeout=timeout, headers=headers, transport=transport)
        self.retries, self.backoff = retries, backoff

    def __enter__(self) -> CorrespondenceClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.http.close()

    def _post(self, path: str, **kw) -> dict:
        for attempt in range(self.retries + 1):
            try:
                r = self.http.post(path, **kw)
            except (httpx.ConnectError, httpx.ReadTimeout, httpx.RemoteProtocolError):
                if attempt == self.retries:
                    raise
                time.sleep(self.backoff * 2 ** attempt)
                continue
            if r.status_code in self.RETRY and attempt < self.retries:
                wait = float(r.headers.get("retry-after", 0) or 0)
                time.sleep(max(wait, self.backoff * 2 ** attempt))
                continue
            if r.status_code >= 400:
                try:
                    body = r.json()
                except ValueError:
                    body = {"code": "http_error", "detail": r.text[:200]}
                raise ServiceError(r.status_code, body.get("code", "http_error"), body.get("detail"))
            return r.json()
        raise AssertionError("unreachable")

    def models(self) -> list[dict]:
        r = self.http.get("/v1/models")
        r.raise_for_status()
        return r.json()["models"]

    def similarity(self, a: list[Image], b: list[Image], model: str | None = None) -> np.ndarray:
        """Scores (N,) of the pairs (a[i], b[i]); higher = more similar."""
        body = {"pairs": [{"a": b64(x), "b": b64(y)} for x, y in zip(a, b, strict=True)]}
        if model:
            body["model"] = model
        return np.asarray(self._post("/v1/patches/similarity", json=body)["scores"], np.float32)

    def descriptors(self, patches: list[Image], model: str | None = None) -> np.ndarray:
        """(N, D) float32 descriptors."""
        body = {"patches": [b64(p) for p in patches]} | ({"model": model} if model else {})
        return np.asarray(self._post("/v1/patches/descriptors", json=body)["descriptors"], np.float32)

    def add_image(self, image: Image) -> str:
        """Compute and cache an image's features; returns its id for later calls."""
        return self._post("/v1/images", files={"image": ("image.png", encode(image))})["image_id"]

    @staticmethod
    def _images(a: Image | str, b: Image | str) -> tuple[dict, dict]:
        files, data = {}, {}
        for name, img in (("image_a", a), ("image_b", b)):
            if isinstance(img, str):
                data[f"{name}_id"] = img
            else:
                files[name] = (f"{name}.png", encode(img))
        return files, data

    def correspondences(self, a: Image | str, b: Image | str, *, max_matches: int | None = None,
                        mutual: bool = True, ratio: float | None = None, geometry: str = "none",
                        model: str | None = None) -> Correspondences:
        """``a`` and ``b``: images, or ids from ``add_image``."""
        files, data = self._images(a, b)
        data |= {"mutual": str(mutual).lower(), "geometry": geometry}
        for key, value in (("max_matches", max_matches), ("ratio", ratio), ("model", model)):
            if value is not None:
                data[key] = str(value)
        out = self._post("/v1/correspondences", files=files or None, data=data)
        m = out["matches"]
        xy_a = np.asarray([[x["xa"], x["ya"]] for x in m], np.float32).reshape(-1, 2)
        xy_b = np.asarray([[x["xb"], x["yb"]] for x in m], np.float32).reshape(-1, 2)
        geo = out.get("homography") or out.get("fundamental")
        inl = out.get("inliers")
        return Correspondences(xy_a, xy_b, np.asarray([x["score"] for x in m], np.float32),
                               np.asarray(geo) if geo is not None else None,
                               np.asarray(inl, bool) if inl is not None else None)

    def transfer(self, a: Image | str, b: Image | str, keypoints: np.ndarray, model: str | None = None) -> Transferred:
        """Keypoints (K, 2) of image a, found in image b."""
        files, data = self._images(a, b)
        data["keypoints"] = json.dumps(np.asarray(keypoints, float).tolist())
        if model:
            data["model"] = model
        k = self._post("/v1/keypoints/transfer", files=files or None, data=data)["keypoints"]
        return Transferred(np.asarray([[p["x"], p["y"]] for p in k], np.float32).reshape(-1, 2),
                           np.asarray([p["score"] for p in k], np.float32), np.asarray([p["consistent"] for p in k]))
