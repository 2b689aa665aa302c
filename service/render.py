"""Answers as pictures (``render=png``): what a person checks by eye before trusting numbers.

- ``matches``: image a and image b (laid out as below), each match a line between its two ends: green
  when the verified geometry keeps it, faint red when it rejects it (drawn first, under the
  rest, as the web page draws them), yellow when nothing verified it.
- ``transfer``: each point of a (white ring) and where it landed in b, coloured by its calibrated
  confidence from red (0) through yellow to green (1), grey where it carries none (nothing
  verified it); a cross where the round trip did not come back.
- ``alignment``: image a, the flow as a colour wheel (hue: direction, brightness: length), and
  image b warped into a's frame laid over a.
- ``keypoints``: an image with each predicted keypoint and its name, grey as a point without a
  confidence is (the SVM accepts nearly every prediction, right or wrong, so its verdict is not
  drawn as one).

Pictures are laid out as they show larger on a screen of ``ROOM`` (width, height) pixels: side by
side at one height (at most ``HEIGHT``), or, for wide images such as panorama strips, one above
the other at one width (at most ``WIDTH``). All coordinates come in pixels of the images as sent.
"""
from __future__ import annotations

import cv2
import numpy as np

from service.imaging import Decoded, resized
from service.matching import project

HEIGHT = 600  # side by side, the shown height at most
WIDTH = 1600  # one above the other, the shown width at most
ROOM = (WIDTH, HEIGHT)  # the screen a layout is chosen for
GREEN, RED, YELLOW, WHITE, GREY = (40, 200, 40), (40, 40, 230), (0, 215, 235), (255, 255, 255), (150, 150, 150)
VERIFIED, REJECTED, UNVERIFIED = 1, 2, 0
FAINT = 0.45  # the opacity of rejected matches' lines and ends


def png(img: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", img)
    return buf.tobytes()


def stacked(panels: list[tuple[int, int]], room: tuple[float, float] = ROOM) -> bool:
    """Whether pictures of sizes ``panels`` (width, height) show more of their pixels one above the
    other at one width than side by side at one height, each layout fitted into ``room`` (width,
    height) and none enlarged past the largest (an enlarged picture counts at its own size): wide
    pictures such as panorama strips stack; others, and ties, lie side by side."""
    (room_w, room_h), aspect = room, [w / h for w, h in panels]
    across = min(room_h, max(h for _, h in panels), room_w / sum(aspect))  # the one height side by side
    down = min(room_w, max(w for w, _ in panels), room_h / sum(1 / r for r in aspect))  # the one width stacked

    def seen(scales: list[float]) -> float:
        return sum(min(1.0, k) ** 2 * w * h for k, (w, h) in zip(scales, panels, strict=True))
    return seen([down / w for w, _ in panels]) > seen([across / h for _, h in panels])


def shown(img: Decoded, height: int | None = None, width: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The image at ``height`` (or at ``width``) in colour, and the (3, 3) map from sent pixels to
    shown ones."""
    h, w = img.pixels.shape
    size = (max(1, round(w * height / h)), height) if height else (width, max(1, round(h * width / w)))
    pix = cv2.resize(img.pixels, size, interpolation=cv2.INTER_AREA if size[1] < h else cv2.INTER_LINEAR)
    m = resized(size[0] / img.width, size[1] / img.height)  # the sent image's pixels -> shown ones
    return cv2.cvtColor(pix, cv2.COLOR_GRAY2BGR), m


def place(m: np.ndarray, xy: np.ndarray, at: tuple[int, int] = (0, 0)) -> np.ndarray:
    """Sent pixels (K, 2) -> integer shown pixels of a picture whose top-left corner is ``at``."""
    return np.round(project(m, np.asarray(xy)) + at).astype(np.int32).reshape(-1, 2)


def sizes(*images: Decoded) -> list[tuple[int, int]]:
    return [(im.pixels.shape[1], im.pixels.shape[0]) for im in images]


def at_one_size(images: list[Decoded], down: bool) -> list[tuple[np.ndarray, np.ndarray]]:
    """Each image shown (``shown``) at one height, at most HEIGHT, to lie side by side; or, with
    ``down``, at one width, at most WIDTH, to lie one above the other."""
    if down:
        width = min(WIDTH, max(w for w, _ in sizes(*images)))
        return [shown(im, width=width) for im in images]
    height = min(HEIGHT, max(h for _, h in sizes(*images)))
    return [shown(im, height) for im in images]


def pair(a: Decoded, b: Decoded) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[int, int]]:
    """The canvas with a and b side by side (or a above b, ``stacked``), their maps, and b's
    top-left corner."""
    down = stacked(sizes(a, b))
    (ia, ma), (ib, mb) = at_one_size([a, b], down)
    return (np.vstack if down else np.hstack)([ia, ib]), ma, mb, (0, ia.shape[0]) if down else (ia.shape[1], 0)


def matches(a: Decoded, b: Decoded, xy_a: np.ndarray, xy_b: np.ndarray, status: np.ndarray) -> bytes:
    """Matches (M, 2) -> (M, 2) with each one's ``status`` (VERIFIED, REJECTED or UNVERIFIED)."""
    canvas, ma, mb, at_b = pair(a, b)
    pa, pb = place(ma, xy_a), place(mb, xy_b, at_b)
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


def confidence_colour(s: float) -> tuple[int, int, int]:
    """Red at 0, yellow at 0.5, green at 1 (B, G, R); grey where there is none (NaN). The web page
    draws a clicked point's transfer alike (``confidenceColour`` in static/app.js)."""
    if not np.isfinite(s):
        return GREY
    s = float(np.clip(s, 0, 1))
    return 40, int(round(215 * min(1.0, 2 * s))), int(round(230 * min(1.0, 2 * (1 - s))))


def transfer(a: Decoded, b: Decoded, points: np.ndarray, xy_b: np.ndarray, confidence: np.ndarray | None,
             consistent: np.ndarray) -> bytes:
    """``confidence``: (K,) the points' calibrated confidence (NaN where a point has none), or None
    where the answer carries none."""
    canvas, ma, mb, at_b = pair(a, b)
    pa, pb = place(ma, points), place(mb, xy_b, at_b)
    shade = np.full(len(points), np.nan) if confidence is None else np.asarray(confidence, float)
    for p, q, s, ok in zip(pa, pb, shade, consistent, strict=True):
        c = confidence_colour(s)
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
    """a | its flow field in colour | b warped into a's frame over a (half and half), side by side
    or one above the other (``stacked``). ``warped_b`` grey (H, W) in a's sent frame."""
    down = stacked(sizes(a) * 3)
    [(ia, _)] = at_one_size([a], down)
    size = (ia.shape[1], ia.shape[0])
    colours = cv2.resize(flow_colours(flow), size, interpolation=cv2.INTER_NEAREST)
    wb = cv2.cvtColor(cv2.resize(warped_b, size, interpolation=cv2.INTER_AREA), cv2.COLOR_GRAY2BGR)
    over = cv2.addWeighted(ia, 0.5, wb, 0.5, 0)
    return png((np.vstack if down else np.hstack)([ia, colours, over]))


def keypoints(img: Decoded, names: list[str], xy: np.ndarray) -> bytes:
    canvas, m = shown(img, min(HEIGHT, img.pixels.shape[0]))
    for name, p in zip(names, place(m, xy), strict=True):
        at, label = tuple(map(int, p)), (int(p[0]) + 8, int(p[1]) - 6)
        cv2.circle(canvas, at, 6, GREY, -1, cv2.LINE_AA)
        cv2.circle(canvas, at, 7, WHITE, 1, cv2.LINE_AA)
        for colour, width in (((0, 0, 0), 3), (WHITE, 1)):  # white letters edged in black, legible anywhere
            cv2.putText(canvas, name, label, cv2.FONT_HERSHEY_SIMPLEX, 0.5, colour, width, cv2.LINE_AA)
    return png(canvas)
