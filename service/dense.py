"""Per-image features through the cache: dense maps (UCN) and sparse keypoints with learned
descriptors. The key is sha256(image bytes) + model name + version + preprocessing parameters, so a
new model version or setting never reads stale entries; every value read is checked against the
model and the settings (``service.feature_map``) and one that does not fit is dropped, logged and
counted, then computed afresh."""
from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import TypeVar

import cv2
import numpy as np
from starlette.concurrency import run_in_threadpool

from service import imaging, margins, sparse
from service.cache import FeatureCache, cache_key
from service.config import Settings
from service.errors import NotFound
from service.feature_map import BadRecord, Expect, FeatureMap, SparseFeatures, working_size
from service.registry import LoadedModel

log = logging.getLogger("service.dense")
MAX_ASPECT = 16.0
R = TypeVar("R", FeatureMap, SparseFeatures)
MARGINS = "noise"  # what the dense network sees in an image's uniform margins (``margins.filled``), in its cache key


def params(model: LoadedModel, settings: Settings) -> dict:
    """The settings a model's cached features depend on."""
    if model.kind == "dense":
        return {"max_side": settings.dense_max_side, "margins": MARGINS}
    return {"max_side": settings.sparse_max_side, "keypoints": settings.sparse_keypoints, "blur": settings.sparse_blur,
            "first_octave": settings.sparse_first_octave, "detector": sparse.DETECTOR, "margins": "cut"}


def key_for(image_id: str, model: LoadedModel, settings: Settings, owner: str = "") -> str:
    """The cache key of an image's features; with API keys on, in the namespace of the key that
    sent the image (``owner``), so no key can learn what another uploaded by probing ids."""
    return cache_key(image_id, model.name, model.entry.version, params(model, settings) | (
        {"owner": owner} if owner else {}))


def expect(model: LoadedModel, settings: Settings) -> Expect:
    return Expect(model.entry.dim, model.entry.stride, settings.dense_max_side)


def decode(data: bytes, settings: Settings, where: str) -> imaging.Decoded:
    """Image bytes -> the image decoded no larger than the features need (the larger of
    DENSE_MAX_SIDE and SPARSE_MAX_SIDE), with its size as sent (after its EXIF orientation),
    under the dense limits."""
    return imaging.decode_checked(data, where, settings.max_image_bytes, settings.max_image_pixels,
                                  settings.dense_min_side, MAX_ASPECT,
                                  reduce_to=max(settings.dense_max_side, settings.sparse_max_side))


def servable(w: int, h: int, settings: Settings) -> bool:
    """Whether a ``w`` x ``h`` image passes the shape rules ``decode`` applies."""
    return imaging.shape_fault(w, h, settings.dense_min_side, MAX_ASPECT) is None


def prepare(img: imaging.Decoded, max_side: int) -> tuple[np.ndarray, float, int, int]:
    """A decoded image -> (grey uint8 (H', W') as the networks see it, scale = H'/H, W, H), where
    the long side H' or W' is at most ``max_side`` and W x H is the size as sent."""
    w, h = img.width, img.height
    size = working_size(h, w, max_side)
    pixels = img.pixels
    if size != pixels.shape[::-1]:
        pixels = cv2.resize(pixels, size, interpolation=cv2.INTER_AREA)
    return pixels, size[1] / h, w, h


def lookup(cache: FeatureCache, key: str, kind: Callable[[bytes, Expect], R], want: Expect,
           under: str | None = None) -> R | None:
    """The checked record under ``key``, or None (a miss, or a value that did not fit: dropped);
    ``under``: see ``FeatureCache.get``."""
    data = cache.get(key, under)
    if data is None:
        return None
    try:
        return kind(data, want)
    except BadRecord as exc:
        log.warning("cache entry %s refused: %s", key, exc)
        cache.reject(key)
        return None


async def cached(data: bytes, model: LoadedModel, cache: FeatureCache, settings: Settings,
                 kind: Callable[[bytes, Expect], R], owner: str = "", known: str | None = None,
                 under: str | None = None) -> tuple[str, str, R | None]:
    """(image id, cache key, the checked record or None), hashing off the event loop unless the
    caller ``known`` the bytes' sha256 already; ``under``: see ``FeatureCache.get``."""
    def find() -> tuple[str, str, R | None]:
        image_id = known or hashlib.sha256(data).hexdigest()
        key = key_for(image_id, model, settings, owner)
        return image_id, key, lookup(cache, key, kind, expect(model, settings), under)
    return await run_in_threadpool(find)


Pixels = Callable[[], Awaitable[imaging.Decoded]]


async def decoded(data: bytes, settings: Settings, where: str, image: Pixels | None) -> imaging.Decoded:
    """The image's pixels: from ``image`` (a caller that decodes once for several uses), or decoded here."""
    return await image() if image is not None else await run_in_threadpool(decode, data, settings, where)


async def features(data: bytes, model: LoadedModel, cache: FeatureCache, settings: Settings,
                   where: str = "image", image: Pixels | None = None, owner: str = "", known: str | None = None,
                   under: str | None = None) -> tuple[FeatureMap, str, bool]:
    """(feature map, image id, whether it came from the cache). ``image``: where to get the
    pixels on a miss (see ``decoded``); ``owner``: see ``key_for``; ``known``: see ``cached``;
    ``under``: the key of what these features derive from (``FeatureCache.put``)."""
    since = time.time()  # deleted after this, the image's features computed here are not cached
    image_id, key, fm = await cached(data, model, cache, settings, FeatureMap.decode, owner, known, under)
    if fm is not None:
        return fm, image_id, True
    fm = await computed(await decoded(data, settings, where, image), model, settings)
    await run_in_threadpool(cache.put, key, fm.encode(), since, under)
    return fm, image_id, False


def warped_copy(pixels: np.ndarray, m: np.ndarray, size: tuple[int, int], behind: np.ndarray | None = None,
                like: np.ndarray | None = None) -> tuple[np.ndarray, str]:
    """``pixels`` under the (3, 3) map ``m`` on a frame of ``size`` (width, height), for the dense
    network, and what fills the frame where they do not reach (for the copy's cache key): noise
    (drawn the same each time) whose mean and spread give the frame the standardisation ``like``
    (the frame's own image, the frame's size) gives those pixels (``margins.standardised_as``), or
    without ``like``, of their own mean and spread. The network standardises each image by its own
    mean and spread: black there (a page's white paper meeting it) set the copy's contrast apart
    from the image it was to meet, and halves of the text pair sharing 75 % matched nothing;
    mirrored there, look-alikes of a facade's bricks led a homography 27 px astray. Noise looks
    like nothing; the image's own uniform margins are noise too (``margins.filled``), as in its
    features. With ``behind`` (the frame's own image), its pixels there instead: a copy made for
    the MRF (``correspond.alignment``) then reads as the image of the frame does, which noise of
    the copy's grey levels set apart in low-contrast areas (a crop's copy in a night sky)."""
    out = cv2.warpPerspective(margins.filled(pixels), m, size)
    reached = cv2.warpPerspective(np.full_like(pixels, 255), m, size) == 255
    if reached.all() or not reached.any():
        return out, "none"
    if behind is not None:
        return np.where(reached, out, behind), "image"
    if like is None:
        seen = out[reached].astype(np.float64)
        mean, spread = seen.mean(), seen.std()
    else:
        mean, spread = margins.standardised_as(out, reached, like)
    return margins.noise_of(out, ~reached, mean, spread, 0), f"noise {mean:.3f} {spread:.3f}"


async def copy_features(image_id: str, w: np.ndarray, size: tuple[int, int], copy: imaging.Decoded, fill: str,
                        model: LoadedModel, cache: FeatureCache, settings: Settings, owner: str = "") -> FeatureMap:
    """The dense features of ``copy``, a copy of an image (``image_id``: its bytes' sha256) brought
    by ``w`` (its pixels -> the frame's) onto a frame of ``size`` (width, height) to meet the other
    image of a pair, ``fill`` beyond it (``warped_copy``). Cached under the image, the map, the
    frame and the fill, so the pair sent again (more points to transfer, say) finds them, as it
    finds the images' own, and dropped with the image's features (DELETE of its id)."""
    async def made() -> imaging.Decoded:
        return copy
    frame = copy_frame(w, size, fill)
    fm, _, _ = await features(b"", model, cache, settings, "copy", made, owner, f"{image_id}:copy:{frame[:24]}",
                              key_for(image_id, model, settings, owner))
    return fm


def copy_frame(w: np.ndarray, size: tuple[int, int], fill: str) -> str:
    """What tells one copy of an image from another (sha256, hex): its map ``w`` (to 1e-9), its
    frame's ``size`` and what ``fill``s the frame beyond it."""
    return hashlib.sha256(np.round(np.asarray(w, np.float64), 9).tobytes() + repr((size, fill)).encode()).hexdigest()


async def computed(pixels: imaging.Decoded, model: LoadedModel, settings: Settings) -> FeatureMap:
    """The dense feature map of decoded pixels, computed (the cache is the caller's business): the
    network's float input is made in the worker thread, as megabytes cast on the event loop held
    up every other request."""
    def network_input() -> tuple[np.ndarray, float, int, int]:
        img, scale, width, height = prepare(pixels, settings.dense_max_side)
        return imaging.unit(margins.filled(img)[None, None]), scale, width, height

    x, scale, width, height = await run_in_threadpool(network_input)
    out = await model.main.run({"image": x})
    return FeatureMap(out[0].astype(np.float16), width, height, scale, model.entry.stride, x.shape[:1:-1])


def sparse_input(img: np.ndarray, settings: Settings) -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
    """A grey working image's input to the descriptor network, (K, 1, 64, 64) float32: the patches
    of at most SPARSE_KEYPOINTS DoG keypoints, and those keypoints (xy, size, angle)."""
    found, patches = with_input(points_of(img, settings))
    return patches, (found.xy, found.size, found.angle)


@dataclass
class SparsePoints:
    """An image's DoG keypoints at its working size and their patches, (K, 64, 64) uint8: what
    every descriptor network describes, so a request that asks two of them finds these once."""
    patches: np.ndarray
    xy: np.ndarray
    size: np.ndarray
    angle: np.ndarray
    scale: np.ndarray = field(default_factory=lambda: np.ones(2))  # working size / the part read's as sent, (x, y)
    width: int = 0  # as sent
    height: int = 0
    origin: np.ndarray = field(default_factory=lambda: np.zeros(2))  # the part read's top-left, pixels as sent


def points_of(img: np.ndarray, settings: Settings) -> SparsePoints:
    """The keypoints and patches of a grey working image."""
    xy, size, angle = sparse.detect(img, settings.sparse_keypoints, settings.sparse_first_octave)
    cut = sparse.as_trained(xy, img.shape, settings.sparse_first_octave)
    return SparsePoints(sparse.patches(img, cut, size, angle, settings.sparse_blur), xy, size, angle)


PICTURE_GAIN = 1.1  # the picture inside its margins is read alone where that gives it this many times the pixels


def sparse_picture(pixels: imaging.Decoded, settings: Settings) -> tuple[imaging.Decoded, np.ndarray]:
    """What of a decoded image the detector reads, and its top-left corner in pixels as sent (x, y):
    where the image is larger than SPARSE_MAX_SIDE, the picture inside its uniform margins
    (``margins.margins``), so that the working size's pixels go to it and not to a frame (a photo
    in a frame three times its size was shrunk to a third), where that gives it PICTURE_GAIN as
    many; else the whole image (a spherical panorama's uniform zenith rows leave its long side as
    it was, and cutting them moved its answer for nothing)."""
    if max(pixels.width, pixels.height) <= settings.sparse_max_side:
        return pixels, np.zeros(2)
    top, bottom, left, right = margins.margins(pixels.pixels)
    if not top + bottom + left + right:
        return pixels, np.zeros(2)
    ph, pw = pixels.pixels.shape
    rx, ry = pixels.width / pw, pixels.height / ph
    size = (max(1, round((pw - left - right) * rx)), max(1, round((ph - top - bottom) * ry)))
    if max(pixels.width, pixels.height) < PICTURE_GAIN * max(max(size), settings.sparse_max_side) \
            or not servable(*size, settings):  # little of the long side to gain, or a sliver no image may be
        return pixels, np.zeros(2)
    inside = np.ascontiguousarray(pixels.pixels[top: ph - bottom, left: pw - right])
    return imaging.Decoded(inside, *size), np.array([left * rx, top * ry])


def find_points(pixels: imaging.Decoded, settings: Settings) -> SparsePoints:
    """The keypoints and patches of a decoded image, at its working size (``sparse_picture``'s)."""
    with imaging.DECODERS:  # the detector's pyramid holds several times the image for a moment
        picture, origin = sparse_picture(pixels, settings)
        img, _, width, height = prepare(picture, settings.sparse_max_side)
        return replace(points_of(img, settings), scale=np.array([img.shape[1] / width, img.shape[0] / height]),
                       width=pixels.width, height=pixels.height, origin=origin)


async def sparse_points(pixels: imaging.Decoded, settings: Settings) -> SparsePoints:
    """``find_points`` in a worker thread."""
    return await run_in_threadpool(find_points, pixels, settings)


def with_input(found: SparsePoints) -> tuple[SparsePoints, np.ndarray]:
    """The keypoints and the network's input, (K, 1, 64, 64) float32."""
    return found, imaging.unit(found.patches[:, None])


Points = Callable[[], Awaitable[SparsePoints]]


async def sparse_features(data: bytes, model: LoadedModel, cache: FeatureCache, settings: Settings,
                          where: str = "image", image: Pixels | None = None, owner: str = "",
                          known: str | None = None, points: Points | None = None
                          ) -> tuple[SparseFeatures, str, bool]:
    """(keypoints and their learned descriptors, image id, whether they came from the cache):
    at most SPARSE_KEYPOINTS DoG keypoints of the image at its working size, described by the
    descriptor network ``model``; ``known``: see ``cached``; ``points``: where to get the keypoints
    and patches on a miss (a caller that finds them once for several descriptors), else found here."""
    since = time.time()  # see ``features``
    image_id, key, sf = await cached(data, model, cache, settings, SparseFeatures.decode, owner, known)
    if sf is not None:
        return sf, image_id, True
    # the network's input is made in a worker thread too (see ``computed``): with the keypoints, unless
    # they were found for another descriptor as well
    if points is not None:
        found, patches = await run_in_threadpool(with_input, await points())
    else:
        pixels = await decoded(data, settings, where, image)
        found, patches = await run_in_threadpool(lambda: with_input(find_points(pixels, settings)))
    xy, size, angle, scale, width, height = found.xy, found.size, found.angle, found.scale, found.width, found.height
    origin = found.origin
    del found  # its uint8 patches go now, unless a caller keeps them for another descriptor
    desc = await model.main.run({"patches": patches}) if len(patches) else np.zeros((0, model.entry.dim), np.float32)
    del patches
    desc /= np.maximum(np.linalg.norm(desc, axis=1, keepdims=True), 1e-6)
    sent = np.clip((xy + 0.5) / scale - 0.5 + origin, 0, [width - 1, height - 1]).astype(np.float32)
    sf = SparseFeatures(sent, (size / scale.mean()).astype(np.float32), angle, desc.astype(np.float16), width, height)
    await run_in_threadpool(cache.put, key, sf.encode(), since)
    return sf, image_id, False


def image_key(image_id: str, owner: str = "") -> str:
    """The cache key of an image's own bytes (KEEP_IMAGES), in the namespace of the key that sent
    it, as its features' are (``key_for``)."""
    scope = hashlib.sha256(owner.encode()).hexdigest()[:12] if owner else "open"
    return f"image:{scope}:{image_id}"


async def keep(cache: FeatureCache, image_id: str, data: bytes, owner: str = "", since: float | None = None) -> None:
    """Keep an image's bytes (KEEP_IMAGES) under its id, beside its features; ``since``: when the
    request that sent them began (a deletion of the id after it wins)."""
    await run_in_threadpool(cache.put, image_key(image_id, owner), data, since)


async def kept(cache: FeatureCache, image_id: str, owner: str = "") -> bytes | None:
    """The bytes of an image kept under its id, or None (never kept, evicted, or not what the id
    names: dropped, as a feature record that does not fit its model is)."""
    def read() -> bytes | None:
        key = image_key(image_id, owner)
        data = cache.get(key)
        if data is None or hashlib.sha256(data).hexdigest() == image_id:
            return data
        log.warning("cache entry %s refused: its bytes are not the image %s", key, image_id)
        cache.reject(key)
        return None
    return await run_in_threadpool(read)


async def by_id(image_id: str, model: LoadedModel, cache: FeatureCache, settings: Settings,
                kind: Callable[[bytes, Expect], R] = FeatureMap.decode, owner: str = "") -> R:
    key = key_for(image_id, model, settings, owner)
    found = await run_in_threadpool(lookup, cache, key, kind, expect(model, settings))
    if found is None:
        raise NotFound(f"no cached features for image {image_id} with model {model.name}: POST it to /v1/images")
    return found
