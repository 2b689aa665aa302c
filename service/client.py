"""A typed Python client for the service, for other services to import (and behind ``corr``,
the command-line client).

    from service.client import CorrespondenceClient
    with CorrespondenceClient("http://localhost:8000", api_key=None) as c:
        scores = c.similarity(patches_a, patches_b)                  # (N,) float32
        m = c.correspondences(img_a, img_b, geometry="homography")   # Correspondences
        print(m.method, len(m.score), m.inliers.sum(), m.warnings)
        pts_b = c.transfer(img_a, img_b, np.array([[10.0, 20.0]])).xy
        png = c.picture("/v1/correspondences", img_a, img_b, geometry="homography")  # bytes

Images go in as numpy arrays (grey or RGB uint8), encoded bytes or ids from ``add_image``;
numbers come back as numpy. Retries with exponential backoff (honouring Retry-After) on 503, 429
and connection errors; other 4xx raise ``ServiceError`` with the server's code and detail at once.
"""
from __future__ import annotations

import base64
import io
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import cv2
import httpx
import numpy as np

Image = np.ndarray | bytes


class ServiceError(Exception):
    """An error answer; ``request_id`` is the service's id of the request (quote it when reporting)."""

    def __init__(self, status: int, code: str, detail: object, request_id: str | None = None):
        super().__init__(f"{status} {code}: {detail}" + (f" (request {request_id})" if request_id else ""))
        self.status, self.code, self.detail, self.request_id = status, code, detail, request_id


@dataclass
class Correspondences:
    xy_a: np.ndarray  # (M, 2) float32 pixels of image a
    xy_b: np.ndarray  # (M, 2)
    score: np.ndarray  # (M,)
    model: np.ndarray | None  # 3x3 homography or fundamental matrix, if asked for and found
    inliers: np.ndarray | None  # (M,) bool
    method: str = ""  # the method that ran: sparse or dense
    warnings: list[str] = field(default_factory=list)
    confidence: np.ndarray | None = None  # (M,) float32 calibrated, if the model carries curves
    ratio: np.ndarray | None = None  # (M,) float32 Lowe's ratio, for sparse matches
    prealigned: dict | None = None  # dense: b's scale and rotation_deg undone first
    one_scene: bool | None = None  # without a geometry: whether the matches fit one (False: maybe unrelated images)
    coverage: float | None = None  # with a geometry: the share of image a RANSAC's inliers span
    network: str = ""  # the network whose features answered (the answer's ``model``): scores are its own
    timing_ms: dict = field(default_factory=dict)  # the server's steps; ``first_try`` where answered twice
    geometry: str | None = None  # "homography" or "fundamental": what verified the matches (geometry=auto: chosen)
    explained: np.ndarray | None = None  # (M,) bool, without a geometry where one_scene: the scene geometry fits it


@dataclass
class Transferred:
    xy: np.ndarray  # (K, 2) float32 pixels of image b
    score: np.ndarray  # (K,)
    consistent: np.ndarray  # (K,) bool
    guidance: str = "none"
    warnings: list[str] = field(default_factory=list)
    confidence: np.ndarray | None = None  # (K,) float32 calibrated, if the model carries curves
    cycle_error: np.ndarray | None = None  # (K,) float32 pixels of image a between a point and its round trip
    in_view: np.ndarray | None = None  # (K,) bool, with a homography guiding: inside image b
    prealigned: dict | None = None  # b's scale and rotation_deg undone before the search
    support: np.ndarray | None = None  # (K,) share of the nearest sparse matches the placing geometry explains
    second_motion: np.ndarray | None = None  # (K,) bool, where a second motion was found: placed by it
    by_plane: np.ndarray | None = None  # (K,) bool, a fundamental matrix guiding and a plane holding: put by the plane
    local_warp: np.ndarray | None = None  # (K,) bool, a homography spanning little of a: placed by a local map
    one_scene: bool | None = None  # method="align": whether the images' sparse matches fit a geometry
    coverage: float | None = None  # a homography guiding: the share of image a its inliers span


def column(rows: list[dict], key: str, dtype: type = np.float32) -> np.ndarray | None:
    """One optional field of every row as an (N,) array, or None where the answer leaves it out."""
    if not rows or any(r.get(key) is None for r in rows):
        return None
    return np.asarray([r[key] for r in rows], dtype)


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
        return self._send(path, **kw).json()

    def _send(self, path: str, method: str = "POST", done_if_retried: frozenset[int] = frozenset(),
              **kw) -> httpx.Response:
        """The answer, after retries; ``done_if_retried``: statuses that mean success on a retry (a
        DELETE's 404, the first try having deleted though its answer was lost or a 503)."""
        for attempt in range(self.retries + 1):
            try:
                r = self.http.request(method, path, **kw)
            except (httpx.ConnectError, httpx.ReadTimeout, httpx.RemoteProtocolError):
                if attempt == self.retries:
                    raise
                time.sleep(self.backoff * 2 ** attempt)
                continue
            if r.status_code in self.RETRY and attempt < self.retries:
                wait = float(r.headers.get("retry-after", 0) or 0)
                time.sleep(max(wait, self.backoff * 2 ** attempt))
                continue
            if r.status_code >= 400 and not (attempt and r.status_code in done_if_retried):
                try:
                    body = r.json()
                except ValueError:
                    body = {"code": "http_error", "detail": r.text[:200]}
                raise ServiceError(r.status_code, body.get("code", "http_error"), body.get("detail"),
                                   r.headers.get("x-request-id"))
            return r
        raise AssertionError("unreachable")

    def models(self) -> list[dict]:
        return self._send("/v1/models", "GET").json()["models"]

    def similarity(self, a: list[Image], b: list[Image], model: str | None = None, chunk: int = 256,
                   progress: Callable[[int], None] | None = None) -> np.ndarray:
        """Scores (N,) of the pairs (a[i], b[i]); higher = more similar. Sent ``chunk`` pairs a
        request (the service caps a request at MAX_PAIRS); ``progress(n)`` after each chunk."""
        out = []
        for s in range(0, len(a), chunk):
            body = {"pairs": [{"a": b64(x), "b": b64(y)} for x, y in zip(a[s:s + chunk], b[s:s + chunk], strict=True)]}
            if model:
                body["model"] = model
            out.append(np.asarray(self._post("/v1/patches/similarity", json=body)["scores"], np.float32))
            if progress:
                progress(len(out[-1]))
        return np.concatenate(out) if out else np.zeros(0, np.float32)

    def descriptors(self, patches: list[Image], model: str | None = None) -> np.ndarray:
        """(N, D) float32 descriptors."""
        body = {"patches": [b64(p) for p in patches]} | ({"model": model} if model else {})
        return np.asarray(self._post("/v1/patches/descriptors", json=body)["descriptors"], np.float32)

    def add_image(self, image: Image) -> str:
        """Compute and cache an image's features (both methods') and keep its bytes; returns its id,
        which later calls take in place of the image."""
        return self._post("/v1/images", files={"image": ("image.png", encode(image))})["image_id"]

    def delete_image(self, image_id: str) -> None:
        """Drop what ``add_image`` cached (``ServiceError`` 404 where there is nothing under the id,
        but not on a retry: a try that failed midway, or whose answer was lost, may have deleted it)."""
        self._send(f"/v1/images/{image_id}", "DELETE", done_if_retried=frozenset({404}))

    def picture(self, path: str, a: Image, b: Image | None = None, **fields: object) -> bytes:
        """The PNG the service draws of an answer (``render=png``): ``path`` one of
        /v1/correspondences, /v1/keypoints/transfer, /v1/align, /v1/keypoint-models/{id}/predict."""
        files, data = self._images(a, b) if b is not None else ({"image": ("image.png", encode(a))}, {})
        data |= {k: (json.dumps(v) if isinstance(v, list | tuple) else str(v).lower() if isinstance(v, bool)
                     else str(v)) for k, v in fields.items() if v is not None} | {"render": "png"}
        return self._send(path, files=files or None, data=data).content

    def align(self, a: Image | str, b: Image | str, warp: bool = False, **params: float) -> dict:
        """The MRF alignment of b to a: {"flow": (h, w, 2) float32, "grid", "energy", "prealigned"
        (how b was scaled and turned onto a first, or None), "warnings", "one_scene" (whether
        their sparse matches fit a geometry), "warped"? (grey image b
        warped into a's frame, uint8)}."""
        files, data = self._images(a, b)
        data |= {"warp": str(warp).lower()} | {k: str(v) for k, v in params.items()}
        out = self._post("/v1/align", files=files or None, data=data)
        flow = np.load(io.BytesIO(base64.b64decode(out["flow"]["data"])), allow_pickle=False)
        res = {"flow": flow, "grid": out["grid"], "energy": out["energy"], "prealigned": out.get("prealigned"),
               "warnings": out.get("warnings", []), "one_scene": out.get("one_scene")}
        if out.get("warped_png"):
            png = np.frombuffer(base64.b64decode(out["warped_png"]), np.uint8)
            res["warped"] = cv2.imdecode(png, cv2.IMREAD_GRAYSCALE)
        return res

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
                        model: str | None = None, method: str | None = None) -> Correspondences:
        """``a`` and ``b``: images, or ids from ``add_image``."""
        files, data = self._images(a, b)
        data |= {"mutual": str(mutual).lower(), "geometry": geometry}
        for key, value in (("max_matches", max_matches), ("ratio", ratio), ("model", model), ("method", method)):
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
                               np.asarray(inl, bool) if inl is not None else None, out["method"], out["warnings"],
                               column(m, "confidence"), column(m, "ratio"), out.get("prealigned"), out.get("one_scene"),
                               out.get("coverage"), out.get("model", ""), out.get("timing_ms", {}),
                               out.get("geometry"),
                               np.asarray(out["explained"], bool) if out.get("explained") is not None else None)

    def transfer(self, a: Image | str, b: Image | str, keypoints: np.ndarray, model: str | None = None,
                 geometry: str = "auto", method: str = "nearest") -> Transferred:
        """Keypoints (K, 2) of image a, found in image b; ``geometry``: "auto", "homography" or
        "fundamental" (a scene with depth), the geometry that guides the search; ``method``:
        "nearest" (that search) or "align" (along the MRF's field, as ``align`` answers it)."""
        files, data = self._images(a, b)
        data["keypoints"] = json.dumps(np.asarray(keypoints, float).tolist())
        if model:
            data["model"] = model
        if geometry != "auto":
            data["geometry"] = geometry
        if method != "nearest":
            data["method"] = method
        out = self._post("/v1/keypoints/transfer", files=files or None, data=data)
        k = out["keypoints"]
        return Transferred(np.asarray([[p["x"], p["y"]] for p in k], np.float32).reshape(-1, 2),
                           np.asarray([p["score"] for p in k], np.float32), np.asarray([p["consistent"] for p in k]),
                           out["guidance"], out["warnings"], column(k, "confidence"), column(k, "cycle_error"),
                           column(k, "in_view", bool), out.get("prealigned"), column(k, "support"),
                           column(k, "second_motion", bool), column(k, "by_plane", bool),
                           column(k, "local_warp", bool), out.get("one_scene"), out.get("coverage"))
