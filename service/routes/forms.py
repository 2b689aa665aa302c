"""What the multipart routes share: their form fields, reading uploads within limits, the image
sides of a request."""
from __future__ import annotations

import json
from typing import Annotated, Literal

from fastapi import Form, Request, Response, UploadFile
from fastapi import params as fastapi_params

from service.correspond import FEATURES_ONLY, Context, Side, with_bytes
from service.errors import InvalidInput, TooLarge
from service.names import IMAGE_ID, MODEL_NAME
from service.schemas import ErrorBody

ERRORS = {s: {"model": ErrorBody} for s in (400, 401, 404, 413, 415, 422, 429, 503, 504)}
ImageId = Annotated[str | None, Form(pattern=IMAGE_ID, description="an image_id from /v1/images")]
ModelField = Annotated[str | None, Form(pattern=MODEL_NAME)]
Render = Annotated[Literal["json", "png"], Form(description="png: the answer drawn (needs the images' bytes)")]


def Number(**bounds) -> fastapi_params.Form:
    """A float form field within ``bounds``; NaN and infinity are refused as not finite (a 422
    that says so) before any bound is checked."""
    return Form(allow_inf_nan=False, **bounds)


PNG = {200: {"content": {"image/png": {}}, "description": "the answer, or with render=png its picture"}}


async def read(upload: UploadFile, limit: int) -> bytes:
    data = await upload.read(limit + 1)
    if len(data) > limit:
        raise TooLarge(f"{upload.filename or 'image'} is larger than {limit} bytes")
    return data


async def side(upload: UploadFile | None, image_id: str | None, field: str, ctx: Context,
               bytes_first: bool = True) -> Side:
    """One image of a request, sent as a file or named by its id (exactly one of the two; by id,
    with its bytes where /v1/images kept them: ``correspond.with_bytes``; with ``bytes_first``
    False, where only its features are needed, they are read only if the features were evicted:
    ``correspond.dense_map``)."""
    if (upload is None) == (image_id is None):
        raise InvalidInput(f"send exactly one of {field} (a file) or {field}_id")
    if upload is not None:
        return Side(field, await read(upload, ctx.settings.max_image_bytes))
    by_id = Side(field, image_id=image_id)
    return await with_bytes(by_id, ctx) if bytes_first else by_id


async def multipart_only(request: Request) -> None:
    """What a multipart route checks before its fields are read, so a mistake gets a 422 that
    says what to send: a body that is not a form (JSON, say), a field the route does not take (a
    misspelling would be ignored and the answer silently lack what it asked for), or a file field
    sent as text (curl's -F name=path without the @)."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    route = request.scope["route"]
    fields = {f.alias: f for f in route.dependant.body_params}
    files = sorted(n for n, f in fields.items() if isinstance(f.field_info, fastapi_params.File))
    if kind not in ("multipart/form-data", "application/x-www-form-urlencoded"):
        example = " ".join(f"-F {n}=@{n}.jpg" for n in files[:2]) or "-F name=value"
        raise InvalidInput(f"this route takes multipart/form-data, not {kind or 'an empty body'}: "
                           f"send fields as a form, e.g. curl {example} ...")
    form = await request.form()
    unknown = sorted(set(form.keys()) - set(fields))
    if unknown:
        raise InvalidInput(f"unknown form field{'s' * (len(unknown) > 1)} {', '.join(unknown)}; "
                           f"this route takes {', '.join(sorted(fields))}")
    for name in files:
        if isinstance(form.get(name), str):
            raise InvalidInput(f"{name} must be a file, not text: with curl, -F {name}=@path/to/image "
                               "(the @ sends the file's contents)")


def picture(body: bytes, **summary: object) -> Response:
    """A rendered answer, its essentials in headers (X-Method, X-Matches, X-Warnings, ...; a dict
    as JSON: X-Seen-From-Side)."""
    headers = {f"X-{k.replace('_', '-').title()}": json.dumps(v) if isinstance(v, dict) else str(v)
               for k, v in summary.items() if v not in (None, "")}
    return Response(body, media_type="image/png", headers=headers)


def drawable(*sides: Side) -> None:
    if any(s.data is None for s in sides):
        raise InvalidInput(f"render=png draws the images, so it needs their bytes: {FEATURES_ONLY}")
