"""What the typed clients (``service.client``) hand back: the answers as numpy, and the images
they send encoded."""
from __future__ import annotations

import base64
import io
from dataclasses import dataclass, field

import cv2
import numpy as np

Image = np.ndarray | bytes


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
    seen_from_side: dict | None = None  # found (dense: its guide) in a copy of a squeezed ``tilt`` times across


@dataclass
class Transferred:
    xy: np.ndarray  # (K, 2) float32 pixels of image b
    score: np.ndarray  # (K,)
    consistent: np.ndarray  # (K,) bool
    guidance: str = "none"
    warnings: list[str] = field(default_factory=list)
    confidence: np.ndarray | None = None  # (K,) float32 calibrated, if the model carries curves
    cycle_error: np.ndarray | None = None  # (K,) float32 pixels of image a between a point and its round trip
    in_view: np.ndarray | None = None  # (K,) bool, with a homography guiding or method=align: inside image b
    prealigned: dict | None = None  # b's scale and rotation_deg undone before the search
    support: np.ndarray | None = None  # (K,) share of the nearest sparse matches the placing geometry explains
    second_motion: np.ndarray | None = None  # (K,) bool, where a second motion was found: placed by it
    by_plane: np.ndarray | None = None  # (K,) bool, a fundamental matrix guiding and a plane holding: put by the plane
    local_warp: np.ndarray | None = None  # (K,) bool, a homography spanning little of a: placed by a local map
    one_scene: bool | None = None  # method="align": whether the images' sparse matches fit a geometry
    coverage: float | None = None  # a homography guiding: the share of image a its inliers span
    seen_from_side: dict | None = None  # the guide was found in a copy of a squeezed ``tilt`` times along a direction


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


def correspondences_of(out: dict) -> Correspondences:
    """A /v1/correspondences answer as arrays."""
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
                           np.asarray(out["explained"], bool) if out.get("explained") is not None else None,
                           out.get("seen_from_side"))


def transferred_of(out: dict) -> Transferred:
    """A /v1/keypoints/transfer answer as arrays."""
    k = out["keypoints"]
    return Transferred(np.asarray([[p["x"], p["y"]] for p in k], np.float32).reshape(-1, 2),
                       np.asarray([p["score"] for p in k], np.float32), np.asarray([p["consistent"] for p in k]),
                       out["guidance"], out["warnings"], column(k, "confidence"), column(k, "cycle_error"),
                       column(k, "in_view", bool), out.get("prealigned"), column(k, "support"),
                       column(k, "second_motion", bool), column(k, "by_plane", bool),
                       column(k, "local_warp", bool), out.get("one_scene"), out.get("coverage"),
                       out.get("seen_from_side"))


def aligned_of(out: dict) -> dict:
    """A /v1/align answer: {"flow": (h, w, 2) float32, "grid", "energy", "prealigned" (how b was
    scaled and turned onto a first, or None), "warnings", "one_scene" (whether their sparse matches
    fit a geometry), "seen_from_side" (where their geometry was found in a copy of a seen from the
    side, or None), "warped"? (grey image b warped into a's frame, uint8)}."""
    flow = np.load(io.BytesIO(base64.b64decode(out["flow"]["data"])), allow_pickle=False)
    res = {"flow": flow, "grid": out["grid"], "energy": out["energy"], "prealigned": out.get("prealigned"),
           "warnings": out.get("warnings", []), "one_scene": out.get("one_scene"),
           "seen_from_side": out.get("seen_from_side")}
    if out.get("warped_png"):
        png = np.frombuffer(base64.b64decode(out["warped_png"]), np.uint8)
        res["warped"] = cv2.imdecode(png, cv2.IMREAD_GRAYSCALE)
    return res
