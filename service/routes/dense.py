"""POST /v1/correspondences and /v1/keypoints/transfer (multipart)."""
from __future__ import annotations

import time
from typing import Annotated, Literal

import numpy as np
from fastapi import APIRouter, Depends, File, Form, Response, UploadFile
from starlette.concurrency import run_in_threadpool

from service import correspond, keypoint_transfer
from service import render as pictures
from service.deps import ContextDep, SettingsDep
from service.errors import InvalidInput
from service.routes import forms
from service.routes.forms import ERRORS, PNG, ImageId, ModelField, Render, drawable, multipart_only, picture, side
from service.schemas import CorrespondencesResponse, Match, TransferredPoint, TransferResponse, pixels

router = APIRouter(prefix="/v1", tags=["dense"], responses=ERRORS,
                   dependencies=[Depends(multipart_only)])
Method = Annotated[Literal["dense", "sparse"] | None, Form(
    description="sparse: DoG keypoints described by the learned descriptor (any rotation, large scale changes); "
                "dense: UCN feature maps (many more matches; pre-aligned by the sparse consensus when needed). "
                "Default: DEFAULT_METHOD")]


def listed(values: np.ndarray | None, n: int) -> list:
    """Per-answer values as a list, or n Nones where there are none (a model without calibration,
    a value the method does not measure)."""
    return values.tolist() if values is not None else [None] * n


@router.post("/correspondences", response_model=CorrespondencesResponse, response_model_exclude_none=True,
             responses=PNG)
async def correspondences(
    settings: SettingsDep, ctx: ContextDep,
    image_a: Annotated[UploadFile | None, File()] = None, image_b: Annotated[UploadFile | None, File()] = None,
    image_a_id: ImageId = None, image_b_id: ImageId = None, model: ModelField = None, method: Method = None,
    max_matches: Annotated[int | None, Form(ge=1, description="the most matches returned, the best first: every "
                                            "match is found and verified before the cut")] = None,
    mutual: Annotated[bool, Form()] = True,
    ratio: Annotated[float | None, forms.Number(gt=0, le=1, description="Lowe's ratio test; default: sparse 0.9 "
                                                "without a geometry and none with one (RANSAC sorts the matches; 0.9 "
                                                "again when it verifies none), dense none")] = None,
    geometry: Annotated[Literal["none", "homography", "fundamental", "auto"], Form(
        description="the geometry RANSAC verifies the matches by; auto: the one that fits best (a homography for "
                    "a plane or a turning camera, a fundamental matrix for a scene with depth), named in the "
                    "answer's geometry; name homography for a plane or a turning camera known as such: in "
                    "repeated structure auto may choose a fundamental matrix through look-alikes")] = "none",
    consistency: Annotated[bool, Form(description="dense: keep only matches that their neighbours agree with "
                                      "(a local affine fit), moved towards that fit")] = True,
    render: Render = "json",
) -> CorrespondencesResponse | Response:
    """Matches between two images: mutual nearest neighbours of learned features, optionally
    ratio-tested and verified by RANSAC. The answer says which method ran and warns when no
    geometry verified the matches."""
    t0 = time.perf_counter()
    a = await side(image_a, image_a_id, "image_a", ctx)
    b = await side(image_b, image_b_id, "image_b", ctx)
    if render == "png":
        drawable(a, b)
    cap = min(max_matches or settings.max_matches, settings.max_matches)
    opts = correspond.Options(cap, mutual, ratio, consistency, geometry)
    found = await correspond.correspondences(a, b, method or settings.default_method, model, opts, ctx)
    m = found.matches
    if render == "png":
        status = np.full(len(m.score), pictures.UNVERIFIED)
        if found.matrix is not None:
            status = np.where(found.inliers, pictures.VERIFIED, pictures.REJECTED)
        elif found.explained is not None:  # the scene's geometry leaves these out: drawn as rejected
            status = np.where(found.explained, pictures.UNVERIFIED, pictures.REJECTED)
        body = await run_in_threadpool(pictures.matches, await a.pixels(settings), await b.pixels(settings),
                                       m.xy_a, m.xy_b, status)
        return picture(body, method=found.method, matches=len(m.score), geometry=found.geometry,
                       inliers=int(found.inliers.sum()) if found.matrix is not None else None,
                       explained=None if found.explained is None else int(found.explained.sum()),
                       coverage=None if found.coverage is None else round(found.coverage, 4),
                       seen_from_side=found.seen_from_side, warnings=" | ".join(found.warnings))
    out = CorrespondencesResponse(
        model=found.model, method=found.method, warnings=found.warnings, prealigned=found.prealigned,
        seen_from_side=found.seen_from_side, one_scene=found.one_scene,
        coverage=None if found.coverage is None else round(found.coverage, 4),
        matches=[Match(xa=p[0], ya=p[1], xb=q[0], yb=q[1], score=s, ratio=r, confidence=c)
                 for p, q, s, r, c in zip(m.xy_a.tolist(), m.xy_b.tolist(), m.score.tolist(),
                                          listed(m.ratio, len(m.score)), listed(found.confidence, len(m.score)),
                                          strict=True)],
        timing_ms=found.timing_ms | {"total": 1e3 * (time.perf_counter() - t0)})
    if found.matrix is not None:
        out.geometry = found.geometry
        setattr(out, found.geometry, found.matrix.tolist())
    if geometry != "none":
        out.inliers = found.inliers.tolist()
    if found.explained is not None:
        out.explained = found.explained.tolist()
    return out


@router.post("/keypoints/transfer", response_model=TransferResponse, response_model_exclude_none=True,
             responses=PNG)
async def keypoints_transfer(
    settings: SettingsDep, ctx: ContextDep, keypoints: Annotated[str, Form(
        description="JSON [[x, y], ...]: " + pixels("a", "each point") + "; each within [0, width - 1] x "
                    "[0, height - 1] (else 422)")],
    image_a: Annotated[UploadFile | None, File()] = None, image_b: Annotated[UploadFile | None, File()] = None,
    image_a_id: ImageId = None, image_b_id: ImageId = None, model: ModelField = None,
    guided: Annotated[bool, Form(description="search near the pair's estimated geometry")] = True,
    geometry: Annotated[Literal["auto", "homography", "fundamental"], Form(
        description="the geometry to estimate with guided=true: auto chooses (a homography for a plane or a "
                    "turning camera, else a fundamental matrix); fundamental for a scene with depth, where a "
                    "homography would carry points off its plane astray; homography for a plane or a turning "
                    "camera known as such: in repeated structure (a facade's windows) auto may choose a "
                    "fundamental matrix whose epipolar lines run through look-alikes")] = "auto",
    method: Annotated[Literal["nearest", "align"], Form(
        description="nearest: nearest neighbour in features; align: along the MRF alignment (/v1/align)")] = "nearest",
    render: Render = "json",
) -> TransferResponse | Response:
    """Each keypoint of image a, found in image b: one answer per point, in order.

    method=nearest (the default): with ``guided`` (the default) the pair's geometry is estimated
    first (RANSAC on the sparse matches when both images are sent, which survive rotation and
    scale; on dense matches for image ids: a homography, else a fundamental matrix) and each point
    is searched near its predicted position or along its epipolar line, in a copy of b turned and
    scaled to meet a when they differ (``prealigned``); without a usable geometry the search is
    global, and the answer warns. ``geometry`` names the geometry instead of letting the pair's
    matches choose: ``fundamental`` when the scene has depth (a stereo rig, objects in a room).
    method=align: the points follow the MRF alignment field of b to
    a that /v1/align answers (with both images' bytes, solved in a copy of b brought onto a by the
    sparse matches' geometry when that fits better: ``prealigned``), and the cycle check follows
    the reverse alignment, in the same frame; ``confidence`` reads how far the round trip missed."""
    t0 = time.perf_counter()
    a = await side(image_a, image_a_id, "image_a", ctx)
    b = await side(image_b, image_b_id, "image_b", ctx)
    if render == "png":
        drawable(a, b)
    if geometry != "auto" and not (guided and method == "nearest"):
        raise InvalidInput("geometry applies to guided=true with method=nearest; send geometry=auto otherwise")
    out = await keypoint_transfer.transfer(a, b, keypoints, method, guided, model, ctx, geometry)
    tr = out.transfer
    if render == "png":
        body = await run_in_threadpool(pictures.transfer, await a.pixels(settings), await b.pixels(settings),
                                       out.points, tr.xy, out.confidence, tr.consistent)
        return picture(body, guidance=tr.guidance, points=len(tr.xy), seen_from_side=out.seen_from_side,
                       warnings=" | ".join(out.warnings))
    points = zip(tr.xy.tolist(), tr.score.tolist(), tr.consistent.tolist(), tr.cycle_error.tolist(),
                 listed(out.confidence, len(tr.xy)), listed(out.in_view, len(tr.xy)), listed(tr.by_plane, len(tr.xy)),
                 listed(out.support, len(tr.xy)), listed(out.second_motion, len(tr.xy)),
                 listed(out.local_warp, len(tr.xy)), strict=True)
    return TransferResponse(model=out.model, guidance=tr.guidance, warnings=out.warnings, prealigned=out.prealigned,
                            coverage=out.coverage, one_scene=out.one_scene, seen_from_side=out.seen_from_side,
                            timing_ms=out.timing_ms | {"total": 1e3 * (time.perf_counter() - t0)},
                            keypoints=[TransferredPoint(x=p[0], y=p[1], score=s, consistent=c, cycle_error=e,
                                                        confidence=k, in_view=v, by_plane=n, support=u,
                                                        second_motion=m, local_warp=w)
                                       for p, s, c, e, k, v, n, u, m, w in points])
