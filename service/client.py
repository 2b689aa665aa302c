"""Typed Python clients for the service, for other services to import (and behind ``corr``, the
command-line client): ``CorrespondenceClient`` blocks, ``AsyncCorrespondenceClient`` awaits (for
an asyncio service, whose event loop a blocking call would hold up). Both offer the same calls.

    from service.client import CorrespondenceClient
    with CorrespondenceClient("http://localhost:8000", api_key=None) as c:
        scores = c.similarity(patches_a, patches_b)                  # (N,) float32
        m = c.correspondences(img_a, img_b, geometry="homography")   # Correspondences
        print(m.method, len(m.score), m.inliers.sum(), m.warnings)
        pts_b = c.transfer(img_a, img_b, np.array([[10.0, 20.0]])).xy
        png = c.picture("/v1/correspondences", img_a, img_b, geometry="homography")  # bytes

    async with AsyncCorrespondenceClient("http://localhost:8000") as c:
        m = await c.correspondences(img_a, img_b, geometry="homography")

Images go in as numpy arrays (grey or RGB uint8), encoded bytes or ids from ``add_image``;
numbers come back as numpy (``service.client_answers``). Retries with exponential backoff
(honouring Retry-After) on 503, 429 and connection errors; other 4xx raise ``ServiceError`` with
the server's code and detail at once.

Each call is written once, as a generator that yields the requests it needs (``Call``) and reads
their answers; each client sends them its own way (``_run``).
"""
from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any

import httpx
import numpy as np

from service.client_answers import (  # the answers' types, importable from here as before
    Correspondences,
    Image,
    Transferred,
    aligned_of,
    b64,
    correspondences_of,
    encode,
    transferred_of,
)

RETRIED = (httpx.ConnectError, httpx.ReadTimeout, httpx.RemoteProtocolError)  # tried again, as a 503 is


class ServiceError(Exception):
    """An error answer; ``request_id`` is the service's id of the request (quote it when reporting)."""

    def __init__(self, status: int, code: str, detail: object, request_id: str | None = None):
        super().__init__(f"{status} {code}: {detail}" + (f" (request {request_id})" if request_id else ""))
        self.status, self.code, self.detail, self.request_id = status, code, detail, request_id


@dataclass
class Call:
    """One request; ``done_if_retried``: statuses that mean success on a retry (a DELETE's 404, the
    first try having deleted though its answer was lost or a 503); ``done_if_found``: error
    statuses that are an answer all the same (a lookup's 404)."""
    path: str
    method: str = "POST"
    kw: dict = field(default_factory=dict)
    done_if_retried: frozenset[int] = frozenset()
    done_if_found: frozenset[int] = frozenset()


Steps = Generator[Call, httpx.Response, Any]


def fields(v: object) -> str:
    """A form field's text: lists as JSON, booleans as true/false."""
    return json.dumps(v) if isinstance(v, list | tuple) else str(v).lower() if isinstance(v, bool) else str(v)


def images(a: Image | str, b: Image | str) -> tuple[dict, dict]:
    """Two images as the multipart files and form fields of a pair: ids as ``image_a_id``/``image_b_id``."""
    files, data = {}, {}
    for name, img in (("image_a", a), ("image_b", b)):
        if isinstance(img, str):
            data[f"{name}_id"] = img
        else:
            files[name] = (f"{name}.png", encode(img))
    return files, data


def post(path: str, files: dict | None = None, **kw) -> Call:
    return Call(path, kw=kw | ({"files": files} if files else {}))


class Calls:
    """The calls, for either client; ``_run`` sends a call's requests and returns what it reads
    (the async client: a coroutine of it)."""
    RETRY = {429, 503}

    def __init__(self, retries: int, backoff: float):
        self.retries, self.backoff = retries, backoff

    def _run(self, steps: Steps) -> Any:
        raise NotImplementedError

    def _wait(self, attempt: int, r: httpx.Response | None) -> float | None:
        """Seconds to wait before trying again, or None: this try stands (``r`` None: it failed to connect)."""
        if attempt == self.retries:
            return None
        if r is None:
            return self.backoff * 2 ** attempt
        if r.status_code in self.RETRY:
            return max(float(r.headers.get("retry-after", 0) or 0), self.backoff * 2 ** attempt)
        return None

    @staticmethod
    def _checked(call: Call, attempt: int, r: httpx.Response) -> httpx.Response:
        """``r``, or ``ServiceError`` where it is an error answer."""
        if r.status_code < 400 or r.status_code in call.done_if_found or (
                attempt and r.status_code in call.done_if_retried):
            return r
        try:
            body = r.json()
        except ValueError:
            body = {"code": "http_error", "detail": r.text[:200]}
        raise ServiceError(r.status_code, body.get("code", "http_error"), body.get("detail"),
                           r.headers.get("x-request-id"))

    def models(self) -> list[dict]:
        def steps() -> Steps:
            return (yield Call("/v1/models", "GET")).json()["models"]
        return self._run(steps())

    def similarity(self, a: list[Image], b: list[Image], model: str | None = None, chunk: int = 256,
                   progress: Callable[[int], None] | None = None) -> np.ndarray:
        """Scores (N,) of the pairs (a[i], b[i]); higher = more similar. Sent ``chunk`` pairs a
        request (the service caps a request at MAX_PAIRS); ``progress(n)`` after each chunk."""
        def steps() -> Steps:
            out = []
            for s in range(0, len(a), chunk):
                pairs = [{"a": b64(x), "b": b64(y)} for x, y in zip(a[s:s + chunk], b[s:s + chunk], strict=True)]
                body = {"pairs": pairs} | ({"model": model} if model else {})
                out.append(np.asarray((yield post("/v1/patches/similarity", json=body)).json()["scores"], np.float32))
                if progress:
                    progress(len(out[-1]))
            return np.concatenate(out) if out else np.zeros(0, np.float32)
        return self._run(steps())

    def descriptors(self, patches: list[Image], model: str | None = None) -> np.ndarray:
        """(N, D) float32 descriptors."""
        def steps() -> Steps:
            body = {"patches": [b64(p) for p in patches]} | ({"model": model} if model else {})
            return np.asarray((yield post("/v1/patches/descriptors", json=body)).json()["descriptors"], np.float32)
        return self._run(steps())

    def add_image(self, image: Image) -> str:
        """Compute and cache an image's features (both methods') and keep its bytes; returns its id,
        which later calls take in place of the image."""
        def steps() -> Steps:
            return (yield post("/v1/images", {"image": ("image.png", encode(image))})).json()["image_id"]
        return self._run(steps())

    def held_image(self, image_id: str) -> dict | None:
        """What the service holds under an id from ``add_image`` ({"networks", "bytes_kept",
        "expires_in_s"}), or None where nothing is (expired, deleted, never added)."""
        def steps() -> Steps:
            r = yield Call(f"/v1/images/{image_id}", "GET", done_if_found=frozenset({404}))
            return None if r.status_code == 404 else r.json()
        return self._run(steps())

    def delete_image(self, image_id: str) -> None:
        """Drop what ``add_image`` cached (``ServiceError`` 404 where there is nothing under the id,
        but not on a retry: a try that failed midway, or whose answer was lost, may have deleted it)."""
        def steps() -> Steps:
            yield Call(f"/v1/images/{image_id}", "DELETE", done_if_retried=frozenset({404}))
        return self._run(steps())

    def picture(self, path: str, a: Image, b: Image | None = None, **options: object) -> bytes:
        """The PNG the service draws of an answer (``render=png``): ``path`` one of
        /v1/correspondences, /v1/keypoints/transfer, /v1/align, /v1/keypoint-models/{id}/predict."""
        def steps() -> Steps:
            files, data = images(a, b) if b is not None else ({"image": ("image.png", encode(a))}, {})
            data |= {k: fields(v) for k, v in options.items() if v is not None} | {"render": "png"}
            return (yield post(path, files, data=data)).content
        return self._run(steps())

    def align(self, a: Image | str, b: Image | str, warp: bool = False, **params: float) -> dict:
        """The MRF alignment of b to a (``client_answers.aligned_of``)."""
        def steps() -> Steps:
            files, data = images(a, b)
            data |= {"warp": fields(warp)} | {k: str(v) for k, v in params.items()}
            return aligned_of((yield post("/v1/align", files, data=data)).json())
        return self._run(steps())

    def correspondences(self, a: Image | str, b: Image | str, *, max_matches: int | None = None,
                        mutual: bool = True, ratio: float | None = None, geometry: str = "none",
                        model: str | None = None, method: str | None = None) -> Correspondences:
        """``a`` and ``b``: images, or ids from ``add_image``."""
        def steps() -> Steps:
            files, data = images(a, b)
            data |= {"mutual": fields(mutual), "geometry": geometry}
            for key, value in (("max_matches", max_matches), ("ratio", ratio), ("model", model), ("method", method)):
                if value is not None:
                    data[key] = str(value)
            return correspondences_of((yield post("/v1/correspondences", files, data=data)).json())
        return self._run(steps())

    def transfer(self, a: Image | str, b: Image | str, keypoints: np.ndarray, model: str | None = None,
                 geometry: str = "auto", method: str = "nearest") -> Transferred:
        """Keypoints (K, 2) of image a, found in image b; ``geometry``: "auto", "homography" or
        "fundamental" (a scene with depth), the geometry that guides the search; ``method``:
        "nearest" (that search) or "align" (along the MRF's field, as ``align`` answers it)."""
        def steps() -> Steps:
            files, data = images(a, b)
            data["keypoints"] = json.dumps(np.asarray(keypoints, float).tolist())
            for key, value, default in (("model", model, None), ("geometry", geometry, "auto"),
                                        ("method", method, "nearest")):
                if value and value != default:
                    data[key] = value
            return transferred_of((yield post("/v1/keypoints/transfer", files, data=data)).json())
        return self._run(steps())


def headers(api_key: str | None) -> dict:
    return {"Authorization": f"Bearer {api_key}"} if api_key else {}


class CorrespondenceClient(Calls):
    def __init__(self, base_url: str, api_key: str | None = None, timeout: float = 30.0, retries: int = 4,
                 backoff: float = 0.25, transport: httpx.BaseTransport | None = None):
        super().__init__(retries, backoff)
        self.http = httpx.Client(base_url=base_url, timeout=timeout, headers=headers(api_key), transport=transport)

    def __enter__(self) -> CorrespondenceClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.http.close()

    def _send(self, call: Call) -> httpx.Response:
        for attempt in range(self.retries + 1):
            try:
                r = self.http.request(call.method, call.path, **call.kw)
            except RETRIED:
                if (wait := self._wait(attempt, None)) is None:
                    raise
                time.sleep(wait)
                continue
            if (wait := self._wait(attempt, r)) is None:
                return self._checked(call, attempt, r)
            time.sleep(wait)
        raise AssertionError("unreachable")

    def _run(self, steps: Steps) -> Any:
        answer = None
        try:
            while True:
                answer = self._send(steps.send(answer))
        except StopIteration as done:
            return done.value


class AsyncCorrespondenceClient(Calls):
    """As ``CorrespondenceClient``, each call a coroutine (``await c.correspondences(a, b)``)."""

    def __init__(self, base_url: str, api_key: str | None = None, timeout: float = 30.0, retries: int = 4,
                 backoff: float = 0.25, transport: httpx.AsyncBaseTransport | None = None):
        super().__init__(retries, backoff)
        self.http = httpx.AsyncClient(base_url=base_url, timeout=timeout, headers=headers(api_key),
                                      transport=transport)

    async def __aenter__(self) -> AsyncCorrespondenceClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self.http.aclose()

    async def _send(self, call: Call) -> httpx.Response:
        for attempt in range(self.retries + 1):
            try:
                r = await self.http.request(call.method, call.path, **call.kw)
            except RETRIED:
                if (wait := self._wait(attempt, None)) is None:
                    raise
                await asyncio.sleep(wait)
                continue
            if (wait := self._wait(attempt, r)) is None:
                return self._checked(call, attempt, r)
            await asyncio.sleep(wait)
        raise AssertionError("unreachable")

    async def _run(self, steps: Steps) -> Any:
        answer = None
        try:
            while True:
                answer = await self._send(steps.send(answer))
        except StopIteration as done:
            return done.value
