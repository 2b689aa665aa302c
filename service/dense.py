"""Dense features of an image, through the cache: the key is sha256(image bytes) + model name +
version + preprocessing parameters, so a new model version or setting never reads stale maps."""
from __future__ import annotations

import hashlib

import cv2
import numpy as np
from starlette.concurrency import run_in_threadpool

from service import imaging
from service.cache import FeatureMap, MemoryCache, cache_key
from service.config import Settings
from service.errors import NotFound
from service.registry import LoadedModel

MAX_ASPECT = 16.0


def key_for(image_id: str, model: LoadedModel, settings: Settings) -> str:
    return cache_key(image_id, model.name, model.entry["version"], {"max_side": settings.dense_max_side})


def working_size(h: int, w: int, max_side: int) -> tuple[int, int]:
    """(W', H') at which the network sees an H x W image: downscaled so that its long side is at
    most ``max_side``, never upscaled."""
    scale = min(1.0, max_side / max(h, w))
    return (w, h) if scale >= 1.0 else (max(1, round(w * scale)), max(1, round(h * scale)))


def decode(data: bytes, settings: Settings, where: str) -> np.ndarray:
    """Image bytes -> grey uint8 (H, W) as sent (after its EXIF orientation), under the dense limits."""
    return imaging.decode_checked(data, where, settings.max_image_bytes, settings.max_image_pixels,
                                  settings.dense_min_side, MAX_ASPECT)


def prepare(img: np.ndarray, settings: Settings) -> tuple[np.ndarray, float, int, int]:
    """Grey uint8 (H, W) -> (grey float32 (1, 1, H', W') for the network, scale = H'/H, W, H),
    where the long side H' or W' is at most DENSE_MAX_SIDE."""
    h, w = img.shape
    size = working_size(h, w, settings.dense_max_side)
    if size != (w, h):
        img = cv2.resize(img, size, interpolation=cv2.INTER_AREA)
    return img[None, None].astype(np.float32) / 255.0, size[1] / h, w, h


async def features(data: bytes, model: LoadedModel, cache: MemoryCache, settings: Settings,
                   where: str = "image", image: np.ndarray | None = None) -> tuple[FeatureMap, str, bool]:
    """(feature map, image id, whether it came from the cache). ``image``: ``data`` already
    decoded (by ``decode``), for a caller that needs the pixels too."""
    def lookup() -> tuple[str, str, FeatureMap | None]:
        # hashing up to MAX_IMAGE_BYTES is work for a thread, not the event loop
        image_id = hashlib.sha256(data).hexdigest()
        key = key_for(image_id, model, settings)
        return image_id, key, cache.get(key)

    image_id, key, cached = await run_in_threadpool(lookup)
    if cached is not None:
        return cached, image_id, True
    x, scale, width, height = await run_in_threadpool(
        lambda: prepare(decode(data, settings, where) if image is None else image, settings))
    out = await model.main.run({"image": x})
    fm = FeatureMap(out[0].astype(np.float16), width, height, scale, int(model.entry.get("stride", 4)))
    await run_in_threadpool(cache.set, key, fm)
    return fm, image_id, False


async def by_id(image_id: str, model: LoadedModel, cache: MemoryCache, settings: Settings) -> FeatureMap:
    fm = await run_in_threadpool(cache.get, key_for(image_id, model, settings))
    if fm is None:
        raise NotFound(f"no cached features for image {image_id} with model {model.name}: POST it to /v1/images")
    return fm
