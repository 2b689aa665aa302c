"""Safe image decoding: an allow-list of formats, byte and pixel limits checked before any pixel
is decoded, decompression-bomb warnings as errors, EXIF orientation applied, any mode to grey.

Conversions (documented in the README): palette, alpha and colour images become luminance (alpha
is ignored); CMYK goes through RGB; 16-bit and float images are scaled by their type's range.
"""
from __future__ import annotations

import base64
import binascii
import io
import re
import threading
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from service.errors import BadImage, InvalidInput, ServiceError, TooLarge, UnsupportedImage

ALLOWED_FORMATS = ("PNG", "JPEG", "BMP", "TIFF", "WEBP", "PPM", "GIF")


URL_LIKE = re.compile(r"^(https?|ftp|file|s3|gs)://", re.I)
WRAPPING = re.compile(r"[\r\n\t ]+")


def b64decode(text: str, max_bytes: int) -> bytes:
    """base64 -> bytes; 413 past max_bytes. Accepted as the tools print it: the standard or the
    URL-safe alphabet, padded or not, wrapped in lines (``base64`` wraps at 76 characters), with
    or without a data-URL prefix. A URL is refused by name: nothing is ever fetched."""
    if text.startswith("data:") and "," in text[:100]:
        text = text.split(",", 1)[1]
    if URL_LIKE.match(text):
        raise InvalidInput("image is a URL; the service fetches nothing: send the image's bytes, base64-encoded")
    text = WRAPPING.sub("", text)
    if len(text) > (max_bytes * 4) // 3 + 4:
        raise TooLarge(f"image is larger than {max_bytes} bytes")
    if "-" in text or "_" in text:
        text = text.replace("-", "+").replace("_", "/")
    text += "=" * (-len(text) % 4)
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        bad = next((c for c in text if not (c.isalnum() or c in "+/=")), None)
        why = f"the character {bad!r} is not base64" if bad else "its length or padding is wrong"
        raise InvalidInput(f"image is not valid base64: {why} (send the image file's bytes, base64-encoded)") from None


def to_grey(im: Image.Image) -> np.ndarray:
    """A loaded Pillow image in any mode -> grey uint8 (H, W); 16-bit values in integers (a
    float64 copy of a 36-megapixel image would be 288 MB)."""
    if im.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        arr = np.asarray(im)
        if im.mode.startswith("I;16") or arr.max() > 255:
            return ((arr.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
        return np.clip(arr, 0, 255).astype(np.uint8)
    if im.mode == "F":
        arr = np.asarray(im, dtype=np.float64)
        top = 1.0 if arr.max() <= 1.0 else 255.0
        return np.clip(arr / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
    if im.mode == "CMYK":
        im = im.convert("RGB")
    return np.asarray(im.convert("L"))


@dataclass
class Decoded:
    """A decoded image: ``pixels`` grey uint8, possibly smaller than the image as sent (decoded
    within a budget, see ``decode``); ``width`` x ``height`` the image as sent, after its EXIF
    orientation."""
    pixels: np.ndarray
    width: int
    height: int

    def to_sent(self) -> np.ndarray:
        """(3, 3): ``pixels``' coordinates -> the sent image's (pixel centres kept)."""
        ph, pw = self.pixels.shape
        return resized(self.width / pw, self.height / ph)


def resized(rx: float, ry: float) -> np.ndarray:
    """(3, 3): an image's pixel coordinates -> those of the image resized ``rx`` times across and
    ``ry`` times down, pixel centres kept (OpenCV's resize: x' = (x + 0.5) * rx - 0.5)."""
    return np.array([[rx, 0, 0.5 * rx - 0.5], [0, ry, 0.5 * ry - 0.5], [0, 0, 1]])


def decode(data: bytes, max_bytes: int, max_pixels: int) -> np.ndarray:
    """Image bytes -> grey uint8 (H, W), at full size (see ``decode_within``)."""
    return decode_within(data, max_bytes, max_pixels).pixels


def decode_within(data: bytes, max_bytes: int, max_pixels: int, reduce_to: int | None = None) -> Decoded:
    """Image bytes -> ``Decoded``. 413 over the limits (checked from the header, before
    decoding), 415 for anything outside the allow-list, 400 for truncated or corrupt data.
    With ``reduce_to``, an image at least twice that on its long side is decoded no larger than
    needed: a JPEG at a reduced scale by its decoder, anything else reduced by a whole factor
    right after decoding, before any conversion, so one request holds one decoded frame at most;
    where the factor does not divide a side, resampled as the whole image resized (``resized_whole``)."""
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
            orientation = im.getexif().get(0x0112, 1)
            sent = (h, w) if orientation in (5, 6, 7, 8) else (w, h)
            if reduce_to and max(w, h) >= 2 * reduce_to:
                drafted = im.draft("L", (w * reduce_to // max(w, h), h * reduce_to // max(w, h))) \
                    if im.format == "JPEG" else None
                im.load()
                k = max(1, max(im.size) // reduce_to)
                if k >= 2:
                    im = im.reduce(k)
                # a pixel of ``im`` spans whole x whole pixels as sent: the decoder's scale times k
                whole = round(w / drafted[1][2]) * k if drafted else k
                flat = Image.fromarray(resized_whole(to_grey(im), whole, (w, h)))
                flat.getexif()[0x0112] = orientation  # turned as the file says, after the resize
                return Decoded(np.asarray(ImageOps.exif_transpose(flat)), *sent)
            im.load()
            im = ImageOps.exif_transpose(im)
            return Decoded(to_grey(im), *sent)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise TooLarge("image has too many pixels") from None
        except Exception:
            raise BadImage("image data is truncated or corrupt") from None


def resized_whole(pixels: np.ndarray, whole: int, sent: tuple[int, int]) -> np.ndarray:
    """An image of ``sent`` size (w, h) reduced by boxes of ``whole`` x ``whole`` pixels from its
    top-left corner (``pixels``; the last boxes partial where ``whole`` does not divide a side),
    as the whole image resized to w / whole x h / whole, rounded: x' = (x + 0.5) * w' / w - 0.5 on
    each axis, as ``Decoded`` promises. Where ``whole`` divides both sides that is ``pixels``;
    elsewhere their own size would put the sent image's far edge up to ``whole`` - 1 pixels off."""
    (w, h), (pw, ph) = sent, pixels.shape[::-1]
    if (pw * whole, ph * whole) == (w, h):
        return pixels
    size = (max(1, round(w / whole)), max(1, round(h / whole)))
    # the sent image's part of the reduced one, resampled (Pillow's filter widens as it shrinks)
    box = (0.0, 0.0, w / whole, h / whole)
    return np.asarray(Image.fromarray(pixels).resize(size, Image.Resampling.BILINEAR, box=box))


def decode_checked(data: bytes | str, where: str, max_bytes: int, max_pixels: int, min_side: int,
                   max_aspect: float, noun: str = "image", reduce_to: int | None = None) -> Decoded:
    """``decode_within`` (of bytes, or of base64 text) plus the shape rules every endpoint
    applies: 422 below ``min_side`` or beyond ``max_aspect``. Error messages start with ``where``.
    At most ``DECODERS`` images are decoded at once (``limit_decoders``): each may hold a large
    frame for a moment."""
    try:
        raw = b64decode(data, max_bytes) if isinstance(data, str) else data
        with DECODERS:
            img = decode_within(raw, max_bytes, max_pixels, reduce_to)
    except ServiceError as exc:
        exc.detail = f"{where}: {exc.detail}"
        raise
    fault = shape_fault(img.width, img.height, min_side, max_aspect, noun)
    if fault is not None:
        raise InvalidInput(f"{where}: {fault}")
    return img


def shape_fault(w: int, h: int, min_side: int, max_aspect: float, noun: str = "image") -> str | None:
    """What the shape rules say of a ``w`` x ``h`` image (``decode_checked``); None where it passes."""
    if min(h, w) < min_side:
        return f"a {w}x{h} {noun} is smaller than {min_side} pixels"
    if max(h, w) / min(h, w) > max_aspect:
        return f"a {w}x{h} {noun} is too elongated (aspect ratio over {max_aspect:g})"
    return None


DECODERS = threading.BoundedSemaphore(2)


def unit(pixels: np.ndarray) -> np.ndarray:
    """uint8 pixels as the networks take them: float32 in [0, 1]."""
    out = pixels.astype(np.float32)
    out /= 255.0
    return out


def limit_decoders(n: int) -> None:
    """At most ``n`` images decoding, or in the sparse detector, at once in this process
    (MAX_CONCURRENT_DECODES)."""
    global DECODERS
    DECODERS = threading.BoundedSemaphore(n)
