"""Points sent as JSON text in a multipart field, checked against the image they belong to."""
from __future__ import annotations

import json
import math

import numpy as np

from service.errors import InvalidInput


def read_points(text: str, cap: int, what: str = "keypoints") -> np.ndarray:
    """JSON [[x, y], ...] -> (K, 2) float32; 422 unless a non-empty list of finite pairs, at most
    cap. Checked before any image is decoded, so a malformed list costs no features."""
    def refuse(constant: str) -> None:
        raise InvalidInput(f"{what} must be finite numbers, not {constant}")
    try:
        pts = json.loads(text, parse_constant=refuse)
    except (ValueError, RecursionError):  # nested past the parser's depth: not [[x, y], ...] either
        raise InvalidInput(f"{what} must be JSON: [[x, y], ...]") from None
    if not isinstance(pts, list) or not pts:
        raise InvalidInput(f"{what} must be a non-empty list of [x, y]")
    if len(pts) > cap:
        raise InvalidInput(f"{len(pts)} {what} in one request; the limit is {cap}")
    if not all(isinstance(p, list) and len(p) == 2 and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                                          and math.isfinite(v) for v in p) for p in pts):
        raise InvalidInput(f"each of the {what} must be [x, y] with finite numbers")
    return np.asarray(pts, np.float32)


def inside(arr: np.ndarray, width: int, height: int, what: str = "keypoints", image: str = "image a") -> np.ndarray:
    """``arr`` (K, 2) itself; 422 unless every point lies inside the width x height image, between
    its first and last pixels' centres (``span``)."""
    outside = (arr[:, 0] < 0) | (arr[:, 1] < 0) | (arr[:, 0] > width - 1) | (arr[:, 1] > height - 1)
    if outside.any():
        k = int(np.argmax(outside))
        raise InvalidInput(f"point {k} of the {what}, ({arr[k, 0]:g}, {arr[k, 1]:g}), lies outside {image}: "
                           + span(width, height))
    return arr


def span(width: int, height: int) -> str:
    """What a point inside a width x height image is, for an error message."""
    return (f"x must lie in [0, {width - 1}] and y in [0, {height - 1}] for a {width}x{height} image "
            "(pixel centres: (0, 0) is the centre of the top-left pixel)")
