"""Keypoint models: train from exemplars, list, read, delete, predict keypoints, classify points."""
from __future__ import annotations

import hashlib
import logging
import time
from typing import Annotated

import numpy as np
from fastapi import APIRouter, Depends, File, Form, Path, Response, UploadFile
from starlette.concurrency import run_in_threadpool

from service import imaging, keypoints
from service import render as pictures
from service.config import Settings
from service.correspond import Context, Side, dense_map
from service.deps import Caller, CallerDep, ContextDep, RegistryDep, SettingsDep, StoreDep
from service.errors import InvalidInput, NotFound
from service.feature_map import BadRecord, FeatureMap
from service.model_store import MemoryStore
from service.names import KEYPOINT_MODEL_ID
from service.points import inside, read_points, span
from service.registry import LoadedModel, Registry
from service.routes.forms import ERRORS, PNG, ImageId, Number, Render, drawable, multipart_only, picture, side
from service.schemas import (
    ClassifiedPoint,
    ClassifyResponse,
    ExemplarIn,
    KeypointModelInfo,
    KeypointModelList,
    KeypointModelRequest,
    PredictedKeypoint,
    PredictResponse,
)

log = logging.getLogger("service.routes.keypoint_models")
router = APIRouter(prefix="/v1/keypoint-models", tags=["keypoint models"], responses=ERRORS)
ModelId = Annotated[str, Path(pattern=KEYPOINT_MODEL_ID, description="an id from POST /v1/keypoint-models")]


def check_exemplars(exemplars: list[ExemplarIn], settings: Settings) -> list[str]:
    """The names every exemplar carries; 422 for a set one cannot train on."""
    n = len(exemplars)
    if n < settings.min_exemplars:
        raise InvalidInput(f"a keypoint model needs at least {settings.min_exemplars} exemplars; got {n}")
    if n > settings.max_exemplars:
        raise InvalidInput(f"{n} exemplars; the limit is {settings.max_exemplars}")
    names = sorted(exemplars[0].keypoints)
    for i, e in enumerate(exemplars):
        if (e.image is None) == (e.image_id is None):
            raise InvalidInput(f"exemplar {i}: send exactly one of image (base64) or image_id")
        if not e.keypoints:
            raise InvalidInput(f"exemplar {i} has no keypoints")
        if sorted(e.keypoints) != names:
            missing, extra = sorted(set(names) - set(e.keypoints)), sorted(set(e.keypoints) - set(names))
            raise InvalidInput(f"exemplar {i}'s keypoint names differ from exemplar 0's "
                               f"(missing: {missing}, extra: {extra}); every exemplar must name the same keypoints")
    if len(names) > settings.max_keypoint_names:
        raise InvalidInput(f"{len(names)} keypoint names; the limit is {settings.max_keypoint_names}")
    if n * len(names) > settings.max_exemplar_keypoints:
        raise InvalidInput(f"{n} exemplars of {len(names)} keypoint names each make {n * len(names)} exemplar "
                           f"keypoints to train on; the limit is {settings.max_exemplar_keypoints}: send fewer "
                           "exemplars or names")
    return names


async def exemplar_map(i: int, e: ExemplarIn, m: LoadedModel, ctx: Context) -> FeatureMap:
    where = f"exemplar {i}"
    if e.image_id is not None:
        return await dense_map(Side(where, image_id=e.image_id), m, ctx)
    try:
        data = imaging.b64decode(e.image, ctx.settings.max_image_bytes)
    except InvalidInput as exc:
        exc.detail = f"{where}: {exc.detail}"
        raise
    fm = await dense_map(Side(where, data), m, ctx)
    for name, (x, y) in e.keypoints.items():
        if not (0 <= x <= fm.width - 1 and 0 <= y <= fm.height - 1):
            raise InvalidInput(f"{where}: keypoint {name!r} ({x:g}, {y:g}) lies outside the image: "
                               + span(fm.width, fm.height))
    return fm


async def stored(store: MemoryStore, model_id: str, caller: Caller) -> tuple[bytes, dict]:
    """A stored model the caller may see, read off the event loop; otherwise the same 404 as for
    one that does not exist, so another key's models cannot even be probed for."""
    hit = await run_in_threadpool(store.get, model_id)
    if hit is None or not caller.may_see(hit[1]):
        raise NotFound(f"no keypoint model {model_id}")
    return hit


async def load(store: MemoryStore, registry: Registry, model_id: str, caller: Caller
               ) -> tuple[keypoints.KeypointModel, dict, LoadedModel]:
    payload, info = await stored(store, model_id, caller)
    m = registry.get(info["feature_model"], ("dense",))
    if m.entry.version != info["feature_version"]:
        raise InvalidInput(f"keypoint model {model_id} was trained on {info['feature_model']} version "
                           f"{info['feature_version']}, but {m.entry.version} is loaded; train it again")
    try:
        return await run_in_threadpool(keypoints.KeypointModel.from_bytes, payload), info, m
    except BadRecord as exc:
        store.rejected += 1
        log.warning("keypoint model %s refused: %s", model_id, exc)
        raise NotFound(f"no keypoint model {model_id}") from None


@router.post("", response_model=KeypointModelInfo, status_code=201)
async def create(body: KeypointModelRequest, settings: SettingsDep, registry: RegistryDep, store: StoreDep,
                 ctx: ContextDep, caller: CallerDep) -> KeypointModelInfo:
    """Train one linear SVM per named keypoint on the exemplars' dense features (hard negative
    mining), and store the model with the exemplars' global descriptors for the location prior.
    With API keys on, the model belongs to the key that created it."""
    names = check_exemplars(body.exemplars, settings)
    m = registry.get(body.model or settings.default_dense_model, ("dense",))
    maps = [await exemplar_map(i, e, m, ctx) for i, e in enumerate(body.exemplars)]
    exemplars = [keypoints.Exemplar(fm, dict(e.keypoints)) for fm, e in zip(maps, body.exemplars, strict=True)]
    model = await ctx.on_pool(keypoints.train, exemplars)
    payload = model.to_bytes()
    tag = f"{m.name}:{m.entry.version}:{caller.owner}".encode()
    model_id = hashlib.sha256(payload + tag).hexdigest()[:24]
    info = KeypointModelInfo(id=model_id, label=body.label, names=names, exemplars=len(exemplars),
                             feature_model=m.name, feature_version=m.entry.version, created=time.time(),
                             training=model.meta["training"])
    await run_in_threadpool(store.put, model_id, payload, info.model_dump() | {"owner": caller.owner})
    return info


@router.get("", response_model=KeypointModelList)
async def list_models(store: StoreDep, caller: CallerDep) -> KeypointModelList:
    """The keypoint models this key created (an admin key: every key's)."""
    found = await run_in_threadpool(store.list)
    return KeypointModelList(models=[KeypointModelInfo(**i) for i in found if caller.may_see(i)])


@router.get("/{model_id}", response_model=KeypointModelInfo)
async def read_model(model_id: ModelId, store: StoreDep, caller: CallerDep) -> KeypointModelInfo:
    return KeypointModelInfo(**(await stored(store, model_id, caller))[1])


@router.delete("/{model_id}", status_code=204)
async def delete_model(model_id: ModelId, store: StoreDep, caller: CallerDep) -> Response:
    await stored(store, model_id, caller)
    if not await run_in_threadpool(store.delete, model_id):
        raise NotFound(f"no keypoint model {model_id}")
    return Response(status_code=204)


@router.post("/{model_id}/predict", response_model=PredictResponse, dependencies=[Depends(multipart_only)],
             responses=PNG)
async def predict(
    model_id: ModelId, settings: SettingsDep, registry: RegistryDep, store: StoreDep, ctx: ContextDep,
    caller: CallerDep,
    image: Annotated[UploadFile | None, File()] = None,
    image_id: ImageId = None,
    prior_sigma: Annotated[float, Number(ge=0.01, le=1, description="the prior's spread, a fraction of the "
                                                                  "diagonal (0.01 to 1)")] = (
        keypoints.PRIOR_SIGMA),
    prior_weight: Annotated[float, Number(ge=0, le=100, description="0: the SVM alone")] = keypoints.PRIOR_WEIGHT,
    render: Render = "json",
) -> PredictResponse | Response:
    """Each named keypoint in the image: the cell maximising the SVM response plus a Gaussian
    prior centred where the nearest exemplar (by global appearance) has it."""
    t0 = time.perf_counter()
    model, _, m = await load(store, registry, model_id, caller)
    img = await side(image, image_id, "image", ctx, bytes_first=render == "png")
    if render == "png":
        drawable(img)
    fm = await dense_map(img, m, ctx)
    pred = await ctx.on_pool(keypoints.predict, model, fm, prior_sigma, prior_weight)
    if render == "png":
        body = await run_in_threadpool(pictures.keypoints, await img.pixels(settings), model.names, pred.xy)
        return picture(body, exemplar=pred.exemplar, keypoints=len(model.names))
    pts = [PredictedKeypoint(name=n, x=float(xy[0]), y=float(xy[1]), score=float(s), svm=float(v))
           for n, xy, s, v in zip(model.names, pred.xy, pred.score, pred.svm, strict=True)]
    return PredictResponse(id=model_id, exemplar=pred.exemplar, keypoints=pts,
                           timing_ms={"total": 1e3 * (time.perf_counter() - t0)})


@router.post("/{model_id}/classify", response_model=ClassifyResponse, dependencies=[Depends(multipart_only)])
async def classify(
    model_id: ModelId, settings: SettingsDep, registry: RegistryDep, store: StoreDep, ctx: ContextDep,
    caller: CallerDep,
    points: Annotated[str, Form(description="JSON [[x, y], ...] in pixels of the image")],
    image: Annotated[UploadFile | None, File()] = None,
    image_id: ImageId = None,
) -> ClassifyResponse:
    """Which named keypoint lies at each point: every SVM's response there, and the best one
    when it responds above 0 (otherwise the point is background: label null)."""
    model, _, m = await load(store, registry, model_id, caller)
    pts = read_points(points, settings.max_keypoints, "points")
    fm = await dense_map(await side(image, image_id, "image", ctx, bytes_first=False), m, ctx)
    pts = inside(pts, fm.width, fm.height, "points", "the image")
    scores = keypoints.classify(model, fm, pts)
    out = []
    for (x, y), row in zip(pts.tolist(), scores.tolist(), strict=True):
        best = int(np.argmax(row))
        out.append(ClassifiedPoint(x=x, y=y, label=model.names[best] if row[best] > 0 else None,
                                   scores=dict(zip(model.names, row, strict=True))))
    return ClassifyResponse(id=model_id, points=out)

