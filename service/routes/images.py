"""POST /v1/images (an image's features, and its bytes, cached under its id), GET
/v1/images/{image_id} (what is held under it, and for how long) and DELETE /v1/images/{image_id}
(all of it dropped)."""
from __future__ import annotations

import time
from functools import partial
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, File, Form, Path, Response, UploadFile
from starlette.concurrency import run_in_threadpool

from service import dense
from service.cache import CacheUnavailable
from service.correspond import Context, Side
from service.deps import CacheDep, ContextDep, SettingsDep
from service.errors import NotFound, NotReady
from service.names import IMAGE_ID
from service.routes.forms import ERRORS, ModelField, multipart_only, read
from service.schemas import HeldImage, ImageInfo

router = APIRouter(prefix="/v1/images", tags=["images"], responses=ERRORS)


@router.post("", response_model=ImageInfo, dependencies=[Depends(multipart_only)])
async def images(image: Annotated[UploadFile, File()], settings: SettingsDep, cache: CacheDep, ctx: ContextDep,
                 model: ModelField = None, method: Annotated[Literal["dense", "sparse"] | None, Form(
                     description="the features to cache; default: both kinds, so the id serves every route "
                                 "(with ``model``, that model's kind)")] = None) -> ImageInfo:
    """Compute and cache an image's features, and keep its bytes (KEEP_IMAGES), so later calls can
    refer to it by id and be answered as if they had sent it. A DELETE of the id while this runs
    wins: nothing this request computed is kept."""
    since = time.time()
    if model is not None and method is None:
        method = "dense" if ctx.registry.get(model, ("dense", "descriptor")).kind == "dense" else "sparse"
    methods = [method] if method else ["dense", "sparse"]
    img = Side("image", await read(image, settings.max_image_bytes))  # decoded once, and only on a miss
    models, cached, feats, image_id = {}, [], None, ""
    for kind in methods:
        # sparse without a model named: the fast descriptor's features, and the default's for the
        # answers it leaves in doubt (see correspond.correspondences)
        fast, m = ctx.first_try(kind, model), ctx.model(kind, model)
        tries = {kind: m} if fast is None else {kind: fast, f"{kind}_second_try": m}
        # the descriptors share the keypoints and patches, found once
        compute = dense.features if kind == "dense" else partial(dense.sparse_features,
                                                                   points=partial(img.points, settings))
        for label, net in tries.items():
            feats, image_id, hit = await compute(img.data, net, cache, settings, "image",
                                                 partial(img.pixels, settings), ctx.owner, await img.digest())
            if hit:  # posted again: the id answers for expires_in_s from now, features and all
                await run_in_threadpool(cache.touch, dense.key_for(image_id, net, settings, ctx.owner))
            models[label] = net.name
            cached.append(hit)
    if settings.keep_images:  # requests by id then answer as with the bytes (correspond.with_bytes)
        await dense.keep(cache, image_id, img.data, ctx.owner, since)
    return ImageInfo(image_id=image_id, width=feats.width, height=feats.height, cached=all(cached),
                     expires_in_s=settings.cache_ttl_s, model=next(iter(models.values())), models=models)


ImageId = Annotated[str, Path(pattern=IMAGE_ID, description="an id from POST /v1/images")]


def served(ctx: Context) -> dict:
    """The served networks whose features /v1/images caches (every dense and descriptor network)."""
    return {m.name: m for m in ctx.registry.models.values() if m.kind in ("dense", "descriptor")}


@router.get("/{image_id}", response_model=HeldImage)
async def held_image(image_id: ImageId, cache: CacheDep, ctx: ContextDep) -> HeldImage:
    """What the cache holds under the id for the caller: which served networks' features (under
    the settings in force), whether the bytes are kept, and how long the id answers; 404 where
    nothing is (never posted, expired, deleted, or posted by another key)."""
    def look() -> tuple[dict[str, float], float | None]:
        left = {name: cache.expires_in(dense.key_for(image_id, m, ctx.settings, ctx.owner))
                for name, m in served(ctx).items()}
        return {k: v for k, v in left.items() if v is not None}, cache.expires_in(dense.image_key(image_id, ctx.owner))
    try:
        networks, kept = await run_in_threadpool(look)
    except CacheUnavailable as exc:
        raise NotReady(f"the cache cannot be reached to look up image {image_id}: try again") from exc
    if not networks and kept is None:
        raise NotFound(f"no cached image {image_id}")
    longest = max([*networks.values(), *([] if kept is None else [kept])])
    return HeldImage(image_id=image_id, networks=sorted(networks), bytes_kept=kept is not None,
                     expires_in_s=max(0, int(min(longest, ctx.settings.cache_ttl_s))))


@router.delete("/{image_id}", status_code=204)
async def delete_image(image_id: ImageId, cache: CacheDep, ctx: ContextDep) -> Response:
    """Drop what /v1/images cached under the id for the caller: the image's bytes and every served
    network's features of it (under the settings in force), with the features of the copies of it
    that pairs were brought onto each other by, in Redis and in every replica's in-process tier."""
    keys = [dense.image_key(image_id, ctx.owner)] + [
        dense.key_for(image_id, m, ctx.settings, ctx.owner) for m in served(ctx).values()]
    try:
        dropped = await run_in_threadpool(lambda: sum(cache.delete(k) for k in keys))
    except CacheUnavailable as exc:
        raise NotReady(f"the cache cannot be reached to delete image {image_id}: try again") from exc
    if not dropped:
        raise NotFound(f"no cached image {image_id}")
    return Response(status_code=204)
