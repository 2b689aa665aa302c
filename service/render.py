"""Answers as pictures (``render=png``): what a person checks by eye before trusting numbers.

- ``matches``: image a and image b side by side, each match a line between its two ends: green
  when the verified geometry keeps it, faint red when it rejects it (drawn first, under the
  rest, as the web page draws them), yellow when nothing verified it.
- ``transfer``: each point of a (white ring) and where it landed in b, coloured by its score from
  red (0 or less) through yellow to green (1); a cross where the round trip did not come back.
- ``alignment``: image a, the flow as a colour wheel (hue: direction, brightness: length), and
  image b warped into a's frame laid over a.
- ``keypoints``: an image with each named keypoint, green where its SVM accepts the point.

Both images are shown at one height (at most ``HEIGHT`` pixels); all coordinates come in pixels
of the images as sent.
"""
from __future__ import annotations

import cv2
import numpy as np

from service.imaging import Decoded, resized

HEIGHT = 600
GREEN, RED, YELLOW, WHITE = (40, 200, 40), (40, 40, 230), (0, 215, 235), (255, 255, 255)
VERIFIED, REJECTED, UNVERIFIED = 1, 2, 0
FAINT = 0.45  # the opacity of rejected matches' lines and ends


def png(img: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", img)
    return buf.tobytes()


def shown(img: Decoded, height: int) -> tuple[np.ndarray, np.ndarray]:
    """The image at ``height`` in colour, and the (3, 3) map from sent pixels to shown ones."""
    h, w = img.pixels.shape
    size = (max(1, round(w * height / h)), height)
    pix = cv2.resize(img.pixels, size, interpolation=cv2.INTER_AREA if height < h else cv2.INTER_LINEAR)
    m = resized(size[0] / img.width, size[1] / img.height)  # the sent image's pixels -> shown ones
    return cv2.cvtColor(pix, cv2.COLOR_GRAY2BGR), m


def place(m: np.ndarray, xy: np.ndarray, dx: float = 0.0) -> np.ndarray:
    """Sent pixels (K, 2) -> integer shown pixels, shifted right by ``dx``."""
    q = np.c_[xy, np.ones(len(xy))] @ m.T
    return np.round(q[:, :2] / q[:, 2:] + [dx, 0]).astype(np.int32).reshape(-1, 2)


def pair(a: Decoded, b: Decoded) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """The canvas with a and b side by side, their maps, and b's left edge."""
    height = min(HEIGHT, max(a.pixels.shape[0], b.pixels.shape[0]))
    (ia, ma), (ib, mb) = shown(a, height), shown(b, height)
    return np.hstack([ia, ib]), ma, mb, ia.shape[1]


def matches(a: Decoded, b: Decoded, xy_a: np.ndarray, xy_b: np.ndarray, status: np.ndarray) -> bytes:
    """Matches (M, 2) -> (M, 2) with each one's ``status`` (VERIFIED, REJECTED or UNVERIFIED)."""
    canvas, ma, mb, dx = pair(a, b)
    pa, pb = place(ma, xy_a), place(mb, xy_b, dx)
    colour = {VERIFIED: GREEN, REJECTED: RED, UNVERIFIED: YELLOW}
    for s in (REJECTED, UNVERIFIED, VERIFIED):  # the verified ones on top
        layer = canvas.copy() if s == REJECTED else canvas
        for p, q in zip(pa[status == s], pb[status == s], strict=True):
            cv2.line(layer, tuple(map(int, p)), tuple(map(int, q)), colour[s], 1, cv2.LINE_AA)
            cv2.circle(layer, tuple(map(int, p)), 3, colour[s], -1, cv2.LINE_AA)
            cv2.circle(layer, tuple(map(int, q)), 3, colour[s], -1, cv2.LINE_AA)
        if s == REJECTED:
            canvas = cv2.addWeighted(layer, FAINT, canvas, 1 - FAINT, 0)
    return png(canvas)


def score_colour(s: float) -> tuple[int, int, int]:
    """Red at 0 (or less), yellow at 0.5, green at 1: (B, G, R)."""
    s = float(np.clip(s, 0, 1))
    return 40, int(round(215 * min(1.0, 2 * s))), int(round(230 * min(1.0, 2 * (1 - s))))


def transfer(a: Decoded, b: Decoded, points: np.ndarray, xy_b: np.ndarray, score: np.ndarray,
             consistent: np.ndarray) -> bytes:
    canvas, ma, mb, dx = pair(a, b)
    pa, pb = place(ma, points), place(mb, xy_b, dx)
    for p, q, s, ok in zip(pa, pb, score, consistent, strict=True):
        c = score_colour(s)
        cv2.line(canvas, tuple(map(int, p)), tuple(map(int, q)), c, 1, cv2.LINE_AA)
        cv2.circle(canvas, tuple(map(int, p)), 5, WHITE, 2, cv2.LINE_AA)
        cv2.circle(canvas, tuple(map(int, q)), 5, c, -1, cv2.LINE_AA)
        if not ok:
            cv2.drawMarker(canvas, tuple(map(int, q)), RED, cv2.MARKER_TILTED_CROSS, 14, 2, cv2.LINE_AA)
    return png(canvas)


def flow_colours(flow: np.ndarray) -> np.ndarray:
    """(h, w, 2) displacements -> (h, w, 3) uint8 BGR: hue is the direction, brightness the length
    (the longest in the field at full brightness)."""
    mag, ang = cv2.cartToPolar(np.ascontiguousarray(flow[..., 0]), np.ascontiguousarray(flow[..., 1]),
                               angleInDegrees=True)
    hsv = np.zeros((*flow.shape[:2], 3), np.uint8)
    hsv[..., 0] = (ang / 2).astype(np.uint8)
    hsv[..., 1] = 255
    hsv[..., 2] = np.clip(255 * mag / max(float(mag.max()), 1e-6), 0, 255).astype(np.uint8)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)


def alignment(a: Decoded, warped_b: np.ndarray, flow: np.ndarray) -> bytes:
    """a | its flow field in colour | b warped into a's frame over a (half and half). ``warped_b``
    grey (H, W) in a's sent frame."""
    height = min(HEIGHT, a.pixels.shape[0])
    ia, _ = shown(a, height)
    size = (ia.shape[1], height)
    colours = cv2.resize(flow_colours(flow), size, interpolation=cv2.INTER_NEAREST)
    wb = cv2.cvtColor(cv2.resize(warped_b, size, interpolation=cv2.INTER_AREA), cv2.COLOR_GRAY2BGR)
    over = cv2.addWeighted(ia, 0.5, wb, 0.5, 0)
    return png(np.hstack([ia, colours, over]))


def keypoints(img: Decoded, names: list[str], xy: np.ndarray, accepted: np.ndarray) -> bytes:
    canvas, m = shown(img, min(HEIGHT, img.pixels.shape[0]))
    for name, p, ok in zip(names, place(m, xy), accepted, strict=True):
        c = GREEN if ok else RED
        cv2.circle(canvas, tuple(map(int, p)), 6, c, -1, cv2.LINE_AA)
        cv2.putText(canvas, name, (int(p[0]) + 8, int(p[1]) - 6), cv2.FONT_HERSHEY_SIMPLEX, 0.5, c, 1, cv2.LINE_AA)
    return png(canvas)
