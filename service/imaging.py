"""Safe image decoding: an allow-list of formats, byte and pixel limits checked before any pixel
is decoded, decompression-bomb warnings as errors, EXIF orientation applied, any mode to grey.

Conversions (documented in the README): palette, alpha and colour images become luminance (alpha
is ignored); CMYK goes through RGB; 16-bit and float images are scaled by their type's range.
"""
from __future__ import annotations

import base64
import binascii
import io
import warnings

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from service.errors import BadImage, InvalidInput, ServiceError, TooLarge, UnsupportedImage

ALLOWED_FORMATS = ("PNG", "JPEG", "BMP", "TIFF", "WEBP", "PPM", "GIF")


def b64decode(text: str, max_bytes: int) -> bytes:
    """Strict base64 (standard alphabet, optional data-URL prefix) -> bytes; 413 past max_bytes."""
    if text.startswith("data:") and "," in text[:100]:
        text = text.split(",", 1)[1]
    if len(text) > (max_bytes * 4) // 3 + 4:
        raise TooLarge(f"image is larger than {max_bytes} bytes")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput("image is not valid base64 (send the image bytes, base64-encoded, not a URL)") from None


def to_grey(im: Image.Image) -> np.ndarray:
    """A loaded Pillow image in any mode -> grey uint8 (H, W)."""
    if im.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        arr = np.asarray(im, dtype=np.float64)
        top = 65535.0 if im.mode.startswith("I;16") or arr.max() > 255 else 255.0
        return np.clip(arr / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
    if im.mode == "F":
        arr = np.asarray(im, dtype=np.float64)
        top = 1.0 if arr.max() <= 1.0 else 255.0
        return np.clip(arr / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
    if im.mode == "CMYK":
        im = im.convert("RGB")
    return np.asarray(im.convert("L"))


def decode(data: bytes, max_bytes: int, max_pixels: int) -> np.ndarray:
    """Image bytes -> grey uint8 (H, W). 413 over the limits (checked from the header, before
    decoding), 415 for anything outside the allow-list, 400 for truncated or corrupt data."""
    if len(data) > max_bytes:
        raise TooLarge(f"image is larger than {max_bytes} bytes")
    if not data:
        raise InvalidInput("image is empty")
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            im = Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS)
        except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            if isinstance(exc, (Image.DecompressionBombError, Image.DecompressionBombWarning)):
                raise TooLarge("image has too many pixels") from None
            raise UnsupportedImage(f"not an image in an accepted format ({', '.join(ALLOWED_FORMATS)})") from None
        except Exception:
            raise BadImage("image header is corrupt") from None
        w, h = im.size
        if w * h > max_pixels:
            raise TooLarge(f"image has {w}x{h} pixels, more than the limit of {max_pixels}")
        if w < 1 or h < 1:
            raise InvalidInput("image has no pixels")
        try:
            im.load()
            im = ImageOps.exif_transpose(im)
            return to_grey(im)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise TooLarge("image has too many pixels") from None
        except Exception:
            raise BadImage("image data is truncated or corrupt") from None


def decode_checked(data: bytes | str, where: str, max_bytes: int, max_pixels: int, min_side: int,
                   max_aspect: float, noun: str = "image") -> np.ndarray:
    """``decode`` (of bytes, or of base64 text) plus the shape rules every endpoint applies:
    422 below ``min_side`` or beyond ``max_aspect``. Error messages start with ``where``."""
    try:
        raw = b64decode(data, max_bytes) if isinstance(data, str) else data
        img = decode(raw, max_bytes, max_pixels)
    except ServiceError as exc:
        exc.detail = f"{where}: {exc.detail}"
        raise
    h, w = img.shape
    if min(h, w) < min_side:
        raise InvalidInput(f"{where}: a {w}x{h} {noun} is smaller than {min_side} pixels")
    if max(h, w) / min(h, w) > max_aspect:
        raise InvalidInput(f"{where}: a {w}x{h} {noun} is too elongated (aspect ratio over {max_aspect:g})")
    return img
