"""The per-image feature records the cache holds, their byte format and their checks.

- ``FeatureMap``: dense features of one image (UCN), (D, h, w) float16 unit vectors.
- ``SparseFeatures``: DoG keypoints of one image and their learned descriptors.

Bytes: ``MAGIC`` (which record and format), a 4-byte header length, a JSON header, then the
arrays. ``decode`` checks every field against what the model and the settings say it must be
(``Expect``): dimension, stride, the map's shape for the image's size and scale, finiteness and
unit length of the features, the payload's size. A record that parses but lies is refused with
the reason, never served (a cache entry is shared, so one bad writer must not mislead readers).
"""
from __future__ import annotations

import json
import math
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property

import numpy as np

DENSE_MAGIC, SPARSE_MAGIC = b"UCNF2", b"SPRS1"
MAX_SIDE = 1 << 16  # no image the service accepts is larger than this on a side


class BadRecord(ValueError):
    """A cached record that does not fit its model or its settings."""


@dataclass(frozen=True)
class Expect:
    """What a record must hold: the network's feature dimension and stride and, for a dense map,
    the longest side the network sees (``DENSE_MAX_SIDE``)."""
    dim: int
    stride: int = 4
    max_side: int = 1024


class Record:
    """What both records share: ``decode`` runs a record's own ``_decode`` and turns malformed
    headers into BadRecord."""

    @classmethod
    def decode(cls, data: bytes, expect: Expect):
        """The record a cached value holds, checked against ``expect``; BadRecord if it does not fit."""
        with malformed():
            return cls._decode(data, expect)


@dataclass
class FeatureMap(Record):
    """Dense features of one image. features (D, h, w) float16, unit length along D; the
    network saw the image resized by ``scale`` (network pixels = sent pixels * scale), to
    ``working`` (W', H') pixels. Positions convert by ``to_cells`` and ``from_cells``."""
    features: np.ndarray
    width: int
    height: int
    scale: float
    stride: int
    working: tuple[int, int] | None = None  # None: (width, height) * scale

    @cached_property
    def factor(self) -> np.ndarray:
        """Working pixels a sent pixel along x and along y (W'/W, H'/H: resized to whole pixels,
        the two axes scale a little differently; ``scale`` is H'/H)."""
        w, h = self.working or (self.width * self.scale, self.height * self.scale)
        return np.array([w / self.width, h / self.height])

    def to_cells(self, xy: np.ndarray) -> np.ndarray:
        """Positions (N, 2) in the sent image -> in cells of the map (N, 2) float64. Pixel centres
        lie at whole coordinates in either image (the resize is centre-aligned), and cell j on the
        working image's pixel j * stride."""
        return ((np.asarray(xy, np.float64) + 0.5) * self.factor - 0.5) / self.stride

    def from_cells(self, g: np.ndarray) -> np.ndarray:
        """Positions (N, 2) in cells of the map -> in the sent image (N, 2) float64."""
        return (np.asarray(g, np.float64) * self.stride + 0.5) / self.factor - 0.5

    @cached_property
    def grid(self) -> np.ndarray:
        """The features as (h, w, D) float32, contiguous: the layout the sub-pixel search samples,
        made once a map (it had been made anew at each search, about 6 ms for a 640x480 image's)."""
        return np.ascontiguousarray(self.features.transpose(1, 2, 0), np.float32)

    def encode(self) -> bytes:
        header = {"shape": list(self.features.shape), "width": self.width, "height": self.height,
                  "scale": self.scale, "stride": self.stride}
        return pack(DENSE_MAGIC, header, self.features.astype(np.float16).tobytes())

    @classmethod
    def _decode(cls, data: bytes, expect: Expect) -> FeatureMap:
        head, payload = unpack(data, DENSE_MAGIC)
        width, height, scale, stride = size(head, "width"), size(head, "height"), float(head["scale"]), head["stride"]
        if stride != expect.stride:
            raise BadRecord(f"stride {stride} where the model's is {expect.stride}")
        if not (math.isfinite(scale) and 0 < scale <= 1):
            raise BadRecord(f"scale {scale}")
        want = working_size(height, width, expect.max_side)
        if not math.isclose(scale, want[1] / height, rel_tol=1e-6):
            raise BadRecord(f"scale {scale} where a {width}x{height} image is seen at {want[1] / height}")
        shape = tuple(head["shape"])
        grid = (expect.dim, -(-want[1] // stride), -(-want[0] // stride))
        if shape != grid:
            raise BadRecord(f"shape {shape} where the model gives {grid}")
        feats = array(payload, shape)
        norms = np.linalg.norm(feats.astype(np.float32), axis=0)
        if not np.all(np.abs(norms - 1) < 0.05):
            raise BadRecord("features that are not unit vectors")
        return cls(feats, width, height, scale, stride, want)


@dataclass
class SparseFeatures(Record):
    """Keypoints of one image and their descriptors: xy (K, 2) float32 in pixels of the image as
    sent, size (K,) float32 diameters in those pixels, angle (K,) float32 radians (the direction
    (cos, sin) in pixel coordinates, y down), descriptors (K, D) float16 unit rows."""
    xy: np.ndarray
    size: np.ndarray
    angle: np.ndarray
    descriptors: np.ndarray
    width: int
    height: int

    def encode(self) -> bytes:
        k, d = self.descriptors.shape
        header = {"keypoints": k, "dim": d, "width": self.width, "height": self.height}
        body = np.c_[self.xy, self.size, self.angle].astype(np.float32).tobytes()
        return pack(SPARSE_MAGIC, header, body + self.descriptors.astype(np.float16).tobytes())

    @classmethod
    def _decode(cls, data: bytes, expect: Expect) -> SparseFeatures:
        head, payload = unpack(data, SPARSE_MAGIC)
        width, height, k, d = size(head, "width"), size(head, "height"), head["keypoints"], head["dim"]
        if d != expect.dim:
            raise BadRecord(f"descriptor dimension {d} where the model's is {expect.dim}")
        if not isinstance(k, int) or k < 0:
            raise BadRecord(f"keypoints {k!r}")
        if len(payload) != 16 * k + 2 * k * d:
            raise BadRecord(f"{len(payload)} payload bytes for {k} keypoints")
        geo = np.frombuffer(payload[:16 * k], np.float32).reshape(k, 4)
        desc = array(payload[16 * k:], (k, d))
        if not np.isfinite(geo).all():
            raise BadRecord("keypoints that are not finite")
        xy = geo[:, :2]
        if ((xy < 0) | (xy > [width - 1, height - 1])).any() or (geo[:, 2] <= 0).any():
            raise BadRecord("keypoints outside the image")
        if k and not np.all(np.abs(np.linalg.norm(desc.astype(np.float32), axis=1) - 1) < 0.05):
            raise BadRecord("descriptors that are not unit vectors")
        return cls(xy, geo[:, 2], geo[:, 3], desc, width, height)


@contextmanager
def malformed() -> Iterator[None]:
    """Header fields of the wrong type or missing read as a bad record."""
    try:
        yield
    except (KeyError, TypeError, OverflowError) as exc:
        raise BadRecord(f"malformed header ({exc.__class__.__name__}: {exc})") from None


def working_size(h: int, w: int, max_side: int) -> tuple[int, int]:
    """(W', H') at which the network sees an H x W image: downscaled so that its long side is at
    most ``max_side``, never upscaled."""
    scale = min(1.0, max_side / max(h, w))
    return (w, h) if scale >= 1.0 else (max(1, round(w * scale)), max(1, round(h * scale)))


def pack(magic: bytes, header: dict, body: bytes) -> bytes:
    head = json.dumps(header).encode()
    return magic + struct.pack(">I", len(head)) + head + body


def unpack(data: bytes, magic: bytes) -> tuple[dict, bytes]:
    """(header, payload) of a record, or BadRecord."""
    if not data.startswith(magic):
        raise BadRecord("not a record of this kind or format")
    try:
        (n,) = struct.unpack(">I", data[len(magic):len(magic) + 4])
        start = len(magic) + 4
        head = json.loads(data[start:start + n])
    except (struct.error, ValueError) as exc:
        raise BadRecord(f"unreadable header ({exc.__class__.__name__})") from None
    if not isinstance(head, dict):
        raise BadRecord("header is not an object")
    return head, data[start + n:]


def size(head: dict, key: str) -> int:
    v = head.get(key)
    if not isinstance(v, int) or isinstance(v, bool) or not 1 <= v <= MAX_SIDE:
        raise BadRecord(f"{key} {v!r}")
    return v


def array(payload: bytes, shape: tuple[int, ...]) -> np.ndarray:
    """float16 values of ``shape`` from exactly as many bytes, all finite."""
    if not all(isinstance(s, int) and s > 0 for s in shape) and np.prod(shape) != 0:
        raise BadRecord(f"shape {shape}")
    if len(payload) != 2 * int(np.prod(shape)):
        raise BadRecord(f"{len(payload)} payload bytes for shape {shape}")
    a = np.frombuffer(payload, np.float16).reshape(shape)
    if not np.isfinite(a).all():
        raise BadRecord("values that are not finite")
    return a
