"""What the multipart routes share: their form fields, reading uploads within limits, the image
sides of a request."""
from __future__ import annotations

from typing import Annotated

from fastapi import Form, UploadFile

from service.correspond import Side
from service.errors import InvalidInput, TooLarge
from service.names import IMAGE_ID, MODEL_NAME
from service.schemas import ErrorBody

ERRORS = {s: {"model": ErrorBody} for s in (400, 401, 404, 413, 415, 422, 429, 503, 504)}
ImageId = Annotated[str | None, Form(pattern=IMAGE_ID, description="an image_id from /v1/images")]
ModelField = Annotated[str | None, Form(pattern=MODEL_NAME)]


async def read(upload: UploadFile, limit: int) -> bytes:
    data = await upload.read(limit + 1)
    if len(data) > limit:
        raise TooLarge(f"{upload.filename or 'image'} is larger than {limit} bytes")
    return data


async def side(upload: UploadFile | None, image_id: str | None, field: str, limit: int) -> Side:
    """One image of a request, sent as a file or named by its id (exactly one of the two)."""
    if (upload is None) == (image_id is None):
        raise InvalidInput(f"send exactly one of {field} (a file) or {field}_id")
    return Side(field, await read(upload, limit) if upload is not None else None, image_id)
