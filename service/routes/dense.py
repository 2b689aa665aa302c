"""POST /v1/images, /v1/correspondences and /v1/keypoints/transfer (multipart)."""
from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import Callable
from typing import Annotated, Literal, TypeVar

import numpy as np
from fastapi import APIRouter, File, Form, Request, UploadFile

from service import align, dense, matching
from service.cache import FeatureMap, MemoryCache
from service.config import Settings
from service.consensus import Consensus
from service.deps import CacheDep, RegistryDep, SettingsDep
from service.errors import InvalidInput, TooLarge
from service.registry import LoadedModel
from service.routes.patches import ERRORS
from service.schemas import CorrespondencesResponse, ImageInfo, Match, TransferredPoint, TransferResponse

router = APIRouter(prefix="/v1", tags=["dense"], responses=ERRORS)
T = TypeVar("T")


async def on_pool(request: Request, fn: Callable[..., T], *args: object) -> T:
    """Run matching work on the app's bounded matching pool, off the event loop."""
    return await asyncio.get_running_loop().run_in_executor(request.app.state.match_pool, fn, *args)
ImageId = Annotated[str | None, Form(pattern=r"^[0-9a-f]{64}$", description="an image_id from /v1/images")]
ModelField = Annotated[str | None, Form(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]


async def read(upload: UploadFile, limit: int) -> bytes:
    data = await upload.read(limit + 1)
    if len(data) > limit:
        raise TooLarge(f"{upload.filename or 'image'} is larger than {limit} bytes")
    return data


async def feature_map(upload: UploadFile | None, image_id: str | None, which: str, model: LoadedModel,
                      cache: MemoryCache, settings: Settings) -> FeatureMap:
    field = f"image_{which}" if which else "image"
    if (upload is None) == (image_id is None):
        raise InvalidInput(f"send exactly one of {field} (a file) or {field}_id")
    if upload is not None:
        fm, _, _ = await dense.features(await read(upload, settings.max_image_bytes), model, cache, settings, field)
        return fm
    return await dense.by_id(image_id, model, cache, settings)


@router.post("/images", response_model=ImageInfo)
async def images(image: Annotated[UploadFile, File()], settings: SettingsDep, registry: RegistryDep,
                 cache: CacheDep, model: ModelField = None) -> ImageInfo:
    """Compute and cache an image's dense features so later calls can refer to it by id."""
    m = registry.get(model or settings.default_dense_model, ("dense",))
    fm, image_id, cached = await dense.features(await read(image, settings.max_image_bytes), m, cache, settings)
    return ImageInfo(image_id=image_id, width=fm.width, height=fm.height, cached=cached, model=m.name)


@router.post("/correspondences", response_model=CorrespondencesResponse, response_model_exclude_none=True)
async def correspondences(
    request: Request, settings: SettingsDep, registry: RegistryDep, cache: CacheDep,
    image_a: Annotated[UploadFile | None, File()] = None, image_b: Annotated[UploadFile | None, File()] = None,
    image_a_id: ImageId = None, image_b_id: ImageId = None, model: ModelField = None,
    max_matches: Annotated[int | None, Form(ge=1)] = None, mutual: Annotated[bool, Form()] = True,
    ratio: Annotated[float | None, Form(gt=0, le=1)] = None,
    geometry: Annotated[Literal["none", "homography", "fundamental"], Form()] = "none",
    consistency: Annotated[bool, Form(description="keep only matches that their neighbours agree with "
                                      "(a local affine fit), moved towards that fit")] = True,
) -> CorrespondencesResponse:
    """Mutual nearest neighbours in feature space, optionally ratio-tested, filtered by their
    neighbours' consensus (the default) and verified by RANSAC."""
    t0 = time.perf_counter()
    m = registry.get(model or settings.default_dense_model, ("dense",))
    fa = await feature_map(image_a, image_a_id, "a", m, cache, settings)
    fb = await feature_map(image_b, image_b_id, "b", m, cache, settings)
    t1 = time.perf_counter()
    cap = min(max_matches or settings.max_matches, settings.max_matches)
    found = await on_pool(request, matching.match, fa, fb, settings.max_queries, mutual, ratio, cap,
                          Consensus() if consistency else None)
    t2 = time.perf_counter()
    out = CorrespondencesResponse(model=m.name, timing_ms={}, matches=[
        Match(xa=a[0], ya=a[1], xb=b[0], yb=b[1], score=s)
        for a, b, s in zip(found.xy_a.tolist(), found.xy_b.tolist(), found.score.tolist(), strict=True)])
    if geometry != "none":
        model_, inliers = await on_pool(request, matching.verify, found, geometry, settings.ransac_threshold_px)
        setattr(out, geometry, model_.tolist() if model_ is not None else None)
        out.inliers = inliers.tolist()
    t3 = time.perf_counter()
    out.timing_ms = {"features": 1e3 * (t1 - t0), "matching": 1e3 * (t2 - t1), "geometry": 1e3 * (t3 - t2)}
    return out


def parse_keypoints(text: str, fm: FeatureMap, cap: int, what: str = "keypoints",
                    image: str = "image a") -> np.ndarray:
    """JSON [[x, y], ...] in the image -> (K, 2) float32; 422 unless finite, inside and at most cap."""
    def refuse(constant: str) -> None:
        raise InvalidInput(f"{what} must be finite numbers, not {constant}")
    try:
        pts = json.loads(text, parse_constant=refuse)
    except ValueError:
        raise InvalidInput(f"{what} must be JSON: [[x, y], ...]") from None
    if not isinstance(pts, list) or not pts:
        raise InvalidInput(f"{what} must be a non-empty list of [x, y]")
    if len(pts) > cap:
        raise InvalidInput(f"{len(pts)} {what} in one request; the limit is {cap}")
    if not all(isinstance(p, list) and len(p) == 2 and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                                          and math.isfinite(v) for v in p) for p in pts):
        raise InvalidInput(f"each of the {what} must be [x, y] with finite numbers")
    arr = np.asarray(pts, np.float32)
    outside = (arr[:, 0] < 0) | (arr[:, 1] < 0) | (arr[:, 0] > fm.width - 1) | (arr[:, 1] > fm.height - 1)
    if outside.any():
        where = f"{image} ({fm.width}x{fm.height})"
        raise InvalidInput(f"point {int(np.argmax(outside))} of the {what} lies outside {where}")
    return arr


@router.post("/keypoints/transfer", response_model=TransferResponse)
async def keypoints_transfer(
    request: Request, settings: SettingsDep, registry: RegistryDep, cache: CacheDep, keypoints: Annotated[str, Form()],
    image_a: Annotated[UploadFile | None, File()] = None, image_b: Annotated[UploadFile | None, File()] = None,
    image_a_id: ImageId = None, image_b_id: ImageId = None, model: ModelField = None,
    guided: Annotated[bool, Form(description="search near the pair's estimated geometry")] = True,
    method: Annotated[Literal["nearest", "align"], Form(
        description="nearest: nearest neighbour in features; align: along the MRF alignment (/v1/align)")] = "nearest",
) -> TransferResponse:
    """Each keypoint of image a, found in image b: one answer per point, in order.

    method=nearest (the default): with ``guided`` (the default) the pair's geometry is estimated
    first (RANSAC on confident mutual matches: a homography, else a fundamental matrix) and each
    point is searched near its predicted position or along its epipolar line; without a usable
    geometry the search is global. method=align: the points follow the MRF alignment field of b
    to a (see /v1/align), and the cycle check follows the reverse alignment."""
    t0 = time.perf_counter()
    m = registry.get(model or settings.default_dense_model, ("dense",))
    fa = await feature_map(image_a, image_a_id, "a", m, cache, settings)
    pts = parse_keypoints(keypoints, fa, settings.max_keypoints)
    fb = await feature_map(image_b, image_b_id, "b", m, cache, settings)
    t1 = time.perf_counter()
    if method == "align":
        tr = await on_pool(request, align.transfer, fa, fb, pts, settings.cycle_tolerance_px)
    else:
        guide = None
        if guided:
            guide = await on_pool(request, matching.estimate_guide, fa, fb, settings.ransac_threshold_px)
        tr = await on_pool(request, matching.transfer, fa, fb, pts, settings.cycle_tolerance_px, guide)
    t2 = time.perf_counter()
    points = zip(tr.xy.tolist(), tr.score.tolist(), tr.consistent.tolist(), tr.cycle_error.tolist(), strict=True)
    timing = {"features": 1e3 * (t1 - t0), "transfer": 1e3 * (t2 - t1)}
    return TransferResponse(model=m.name, guidance=tr.guidance, timing_ms=timing,
                            keypoints=[TransferredPoint(x=p[0], y=p[1], score=s, consistent=c, cycle_error=e)
                                       for p, s, c, e in points])
