"""Safe decoding: allow-list, limits before pixels, conversions of every common mode."""
import io
import struct
import time
import zlib

import numpy as np
import pytest
from PIL import Image

from service import imaging
from service.errors import BadImage, InvalidInput, TooLarge, UnsupportedImage
from tests.conftest import encode

LIMITS = {"max_bytes": 1 << 24, "max_pixels": 40_000_000}


def png_header_only(w: int, h: int) -> bytes:
    """A tiny PNG whose header claims w x h pixels (a decompression bomb's calling card)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def grad(h=40, w=60) -> np.ndarray:
    return (np.arange(h * w).reshape(h, w) % 251).astype(np.uint8)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "BMP", "TIFF", "WEBP", "PPM", "GIF"])
def test_allowed_formats_decode_to_grey(fmt):
    out = imaging.decode(encode(np.dstack([grad()] * 3), fmt), **LIMITS)
    assert out.shape == (40, 60) and out.dtype == np.uint8


@pytest.mark.parametrize("data", [
    b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n",
    b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"></svg>',
    b"8BPS\x00\x01" + b"\x00" * 40,
    b"SIMPLE  =                    T" + b" " * 50 + b"BITPIX  =                    8" + b" " * 2800,
    bytes(np.random.default_rng(0).integers(0, 256, 1000, dtype=np.uint8)),
])
def test_formats_outside_the_allow_list_are_415(data):
    with pytest.raises(UnsupportedImage):
        imaging.decode(data, **LIMITS)


def test_truncated_png_and_jpeg_are_400():
    for fmt in ("PNG", "JPEG"):
        data = encode(np.dstack([grad(200, 200)] * 3), fmt)
        with pytest.raises(BadImage):
            imaging.decode(data[: len(data) // 2], **LIMITS)


def test_decompression_bomb_is_refused_from_the_header_fast():
    data = png_header_only(50_000, 50_000)
    t = time.perf_counter()
    with pytest.raises(TooLarge):
        imaging.decode(data, **LIMITS)
    assert time.perf_counter() - t < 0.5


def test_byte_limit():
    with pytest.raises(TooLarge):
        imaging.decode(encode(grad()), max_bytes=100, max_pixels=10**6)


def test_cmyk_16bit_palette_alpha_convert():
    g = grad()
    buf = io.BytesIO()
    Image.fromarray(np.dstack([g] * 3)).convert("CMYK").save(buf, format="JPEG", quality=95)
    np.testing.assert_allclose(imaging.decode(buf.getvalue(), **LIMITS), g, atol=6)
    sixteen = (g.astype(np.uint16) * 257)
    out = imaging.decode(encode(sixteen, "PNG"), **LIMITS)
    np.testing.assert_allclose(out, g, atol=1)
    pal = Image.fromarray(np.dstack([g] * 3)).convert("P")
    assert imaging.to_grey(pal).shape == (40, 60)
    rgba = np.dstack([g, g, g, np.full_like(g, 128)])
    np.testing.assert_allclose(imaging.decode(encode(rgba), **LIMITS), g, atol=1)


def test_exif_orientation_is_applied():
    g = grad()
    im = Image.fromarray(g)
    exif = im.getexif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    buf = io.BytesIO()
    im.save(buf, format="JPEG", exif=exif, quality=95)
    out = imaging.decode(buf.getvalue(), **LIMITS)
    assert out.shape == (60, 40)


def test_base64_data_urls_and_what_is_not_base64():
    assert imaging.b64decode("aGk=", 10) == b"hi"
    assert imaging.b64decode("data:image/png;base64,aGk=", 10) == b"hi"
    for bad in ("http://example.com/cat.png", "a!b=", "abcde"):
        with pytest.raises(InvalidInput):
            imaging.b64decode(bad, 100)
    with pytest.raises(TooLarge):
        imaging.b64decode("A" * 1000, 100)


def test_zero_pixel_image_is_refused():
    with pytest.raises((InvalidInput, UnsupportedImage, BadImage)):
        imaging.decode(png_header_only(0, 0), **LIMITS)
