"""POST /v1/align: dense MRF alignment of image b to image a (multipart)."""
from __future__ import annotations

import asyncio
import base64
import io
import time
from typing import Annotated

import cv2
import numpy as np
from fastapi import APIRouter, Depends, File, Form, Response, UploadFile
from starlette.concurrency import run_in_threadpool

from service import align
from service import render as pictures
from service.correspond import FEATURES_ONLY, alignment, dense_map
from service.deps import ContextDep, SettingsDep
from service.errors import InvalidInput
from service.imaging import Decoded
from service.routes import forms
from service.routes.forms import ERRORS, PNG, ImageId, ModelField, Render, drawable, multipart_only, picture, side
from service.schemas import AlignResponse, Grid, NpyArray

router = APIRouter(prefix="/v1", tags=["alignment"], responses=ERRORS,
                   dependencies=[Depends(multipart_only)])


def npy(arr: np.ndarray) -> NpyArray:
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    return NpyArray(dtype=str(arr.dtype), shape=list(arr.shape), data=base64.b64encode(buf.getvalue()).decode())


def warped_png(img: Decoded, al: align.Alignment, width: int, height: int) -> str:
    ok, buf = cv2.imencode(".png", align.warp(img.pixels, al, width, height, img.to_sent()))
    return base64.b64encode(buf.tobytes()).decode()


@router.post("/align", response_model=AlignResponse, responses=PNG)
async def align_images(
    settings: SettingsDep, ctx: ContextDep,
    image_a: Annotated[UploadFile | None, File()] = None, image_b: Annotated[UploadFile | None, File()] = None,
    image_a_id: ImageId = None, image_b_id: ImageId = None, model: ModelField = None,
    warp: Annotated[bool, Form(description="also return image b warped into a's frame (needs image_b's bytes, "
                                                "sent or kept by /v1/images)")] = False,
    alpha: Annotated[float, forms.Number(ge=0, le=10, description="smoothness weight")] = align.Params.alpha,
    truncation: Annotated[float, forms.Number(gt=0, le=10, description="smoothness truncation")] = align.Params.d,
    radius: Annotated[int, Form(ge=1, le=16, description="coarsest-level search radius, cells")] = align.Params.radius,
    iterations: Annotated[int, Form(ge=1, le=20)] = align.Params.iterations,
    supersample: Annotated[int, Form(ge=0, le=1, description="1: solve one level finer than the feature grid "
                                                             "(half the step; about 3x the time)")] = 0,
    render: Render = "json",
) -> AlignResponse | Response:
    """Where every cell of image a lies in image b, by an MRF over feature displacements (data
    term, truncated L1 smoothness, small-displacement term) solved coarse to fine by loopy belief
    propagation. With both images' bytes, b is first brought onto a by the geometry its sparse
    matches agree on, if any beyond a shift (``prealigned``), and the MRF solves the rest. The
    field comes back as a .npy array on a's feature grid."""
    t0 = time.perf_counter()
    m = ctx.model("dense", model)
    a = await side(image_a, image_a_id, "image_a", ctx)
    b = await side(image_b, image_b_id, "image_b", ctx)
    if warp and b.data is None:
        raise InvalidInput(f"warp=true needs image_b's bytes: {FEATURES_ONLY}")
    if render == "png":
        drawable(a, b)
    p = align.Params(alpha=alpha, d=truncation, radius=radius, iterations=iterations, supersample=supersample)
    img_b = await b.pixels(settings) if warp else None
    fa, fb = await asyncio.gather(dense_map(a, m, ctx), dense_map(b, m, ctx))
    out = await alignment(a, b, fa, fb, m, p, ctx)
    al, pre = out.solved, out.pre
    t2 = time.perf_counter()
    if render == "png":
        img_a, img_b = await a.pixels(settings), await b.pixels(settings)

        def draw() -> bytes:
            return pictures.alignment(img_a, align.warp(img_b.pixels, al, fa.width, fa.height, img_b.to_sent()),
                                      al.flow)
        return picture(await run_in_threadpool(draw), levels=al.levels, energy=round(al.energy["total"], 4),
                       prealigned=pre.described if pre else None, seen_from_side=out.seen_from_side,
                       warnings=" | ".join(out.warnings))
    png = await run_in_threadpool(warped_png, img_b, al, fa.width, fa.height) if warp else None
    h, w, _ = al.flow.shape
    return AlignResponse(model=m.name, grid=Grid(width=w, height=h, step_x=al.step[0], step_y=al.step[1]),
                         flow=npy(al.flow), energy=al.energy, levels=al.levels, params=align.params_dict(p),
                         warped_png=png, prealigned=pre.described if pre else None,
                         warnings=out.warnings, one_scene=out.one_scene, seen_from_side=out.seen_from_side,
                         timing_ms={"align": 1e3 * (t2 - t0), "warp": 1e3 * (time.perf_counter() - t2)})
