"""Patch comparison and description: decode patches, bring them to the network's input size,
run them through the batching workers. Siamese (descriptor) networks describe each distinct
patch once and compare pairs with their decision part; a fused scorer adds SIFT's distance of the
same pixels (``service.fusion``)."""
from __future__ import annotations

import cv2
import numpy as np
from starlette.concurrency import run_in_threadpool

from service import imaging
from service.config import Settings
from service.errors import InvalidInput, TooLarge
from service.fusion import sift_distances
from service.registry import LoadedModel
from service.worker import BatchingSession

MAX_ASPECT = 4.0


def prepare(text: str, side: int | None, min_side: int, settings: Settings, where: str) -> np.ndarray:
    """base64 image -> grey float32 (H, W) in [0, 1], resized to side x side (or, for SPP
    networks, kept at its own size, at least ``min_side``)."""
    # a patch larger than MAX_PATCH_SIDE is refused from its header, before its pixels are decoded
    budget = min(settings.max_image_pixels, settings.max_patch_side ** 2)
    img = imaging.decode_checked(text, where, settings.max_image_bytes, budget, settings.min_patch_side, MAX_ASPECT,
                                 noun="patch").pixels
    h, w = img.shape
    if max(h, w) > settings.max_patch_side:
        raise TooLarge(f"{where}: a {w}x{h} patch is larger than {settings.max_patch_side} pixels")
    if side is None:
        side_h, side_w = max(h, min_side), max(w, min_side)
    else:
        side_h = side_w = side
    if (h, w) != (side_h, side_w):
        shrink = side_h * side_w < h * w
        img = cv2.resize(img, (side_w, side_h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    return imaging.unit(img)


def check_count(n: int, cap: int, what: str) -> None:
    if n > cap:
        raise InvalidInput(f"{n} {what} in one request; the limit is {cap}")


async def run_by_shape(worker: BatchingSession, name: str, items: list[np.ndarray]) -> np.ndarray:
    """Run items (each the network's input without its batch axis) through one worker: one call
    per distinct shape (SPP networks take any size), results back in the items' order."""
    out: np.ndarray | None = None
    for shape in {i.shape for i in items}:
        idx = [k for k, i in enumerate(items) if i.shape == shape]
        res = await worker.run({name: np.stack([items[k] for k in idx])})
        if out is None:
            out = np.empty((len(items), *res.shape[1:]), res.dtype)
        out[idx] = res
    return out


async def describe(model: LoadedModel, patches: list[str], settings: Settings) -> np.ndarray:
    """Descriptors (N, D) float32 of base64 patches, each distinct patch computed once."""
    first: dict[str, int] = {}
    for k, t in enumerate(patches):
        first.setdefault(t, k)  # where each distinct patch first appears, for error messages
    unique = list(first)
    imgs = await run_in_threadpool(
        lambda: [prepare(t, model.entry.fixed_side, model.entry.min_side, settings, f"patch {first[t]}")
                 for t in unique])
    out = await run_by_shape(model.main, "patches", [i[None] for i in imgs])
    pos = {t: k for k, t in enumerate(unique)}
    return out[[pos[t] for t in patches]]


async def similarity(model: LoadedModel, pairs: list[tuple[str, str]], settings: Settings) -> np.ndarray:
    """Scores (P,) float32 of base64 patch pairs; higher = more similar."""
    if model.kind == "descriptor":
        flat = [p for pair in pairs for p in pair]
        desc = await describe(model, flat, settings)
        return await model.decision.run({"a": desc[0::2], "b": desc[1::2]})

    def load_pairs() -> list[np.ndarray]:
        out = []
        for k, (a, b) in enumerate(pairs):
            ia = prepare(a, model.entry.fixed_side, model.entry.min_side, settings, f"pair {k}, a")
            ib = prepare(b, model.entry.fixed_side, model.entry.min_side, settings, f"pair {k}, b")
            if ib.shape != ia.shape:  # SPP: both channels at patch a's size
                ib = cv2.resize(ib, ia.shape[::-1], interpolation=cv2.INTER_AREA)
            out.append(np.stack([ia, ib]))
        return out

    items = await run_in_threadpool(load_pairs)
    scores = await run_by_shape(model.main, "pairs", items)
    fusion = model.entry.fusion
    if fusion is None:
        return scores
    pixels = np.rint(np.stack(items) * 255).astype(np.uint8)  # SIFT's own input, as the fit saw it
    return fusion.combine(scores, await run_in_threadpool(sift_distances, pixels))
