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


def blob(w: int, h: int, at: tuple[float, float]) -> np.ndarray:
    """A w x h image, dark but for a bright Gaussian spot (sigma 12 px) centred at ``at``."""
    yy, xx = np.mgrid[0:h, 0:w]
    return (20 + 220 * np.exp(-((xx - at[0]) ** 2 + (yy - at[1]) ** 2) / (2 * 12.0 ** 2))).astype(np.uint8)


def spot(img: imaging.Decoded) -> np.ndarray:
    """Where the spot's centre lies in the image as sent, from the decoded pixels (``to_sent``)."""
    p = img.pixels.astype(np.float64) - 20
    p[p < 10] = 0
    yy, xx = np.mgrid[0:p.shape[0], 0:p.shape[1]]
    at = np.array([(p * xx).sum(), (p * yy).sum(), p.sum()])
    return (img.to_sent() @ (at / at[2]))[:2]


@pytest.mark.parametrize("size", [(3089, 2057), (3072, 2048), (2049, 1537), (2048, 1366)])
@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
@pytest.mark.parametrize("orientation", [1, 6, 3])
def test_a_large_image_decoded_reduced_keeps_every_point_where_it_was_sent(size, fmt, orientation):
    """An image decoded smaller (reduced by a whole factor, a JPEG also by its decoder) is the sent
    image resized whole, so a point near its far corner maps back to where it was sent. Sides no
    factor divides had put it 0.5-0.7 px off (the reduced image's last pixels are partial)."""
    w, h = size
    at = (w - 300.0, h - 250.0)
    shown = Image.fromarray(blob(w, h, at))
    stored = shown.transpose({1: None, 6: Image.Transpose.ROTATE_90, 3: Image.Transpose.ROTATE_180}[orientation]) \
        if orientation != 1 else shown
    exif = stored.getexif()
    exif[0x0112] = orientation  # the file's pixels turned as a camera stores them
    buf = io.BytesIO()
    stored.save(buf, format=fmt, exif=exif, **({"quality": 98} if fmt == "JPEG" else {}))
    whole = imaging.decode_within(buf.getvalue(), **LIMITS)
    reduced = imaging.decode_within(buf.getvalue(), **LIMITS, reduce_to=1024)
    assert (whole.width, whole.height) == (reduced.width, reduced.height) == (w, h)
    assert 1024 <= max(reduced.pixels.shape) < 2048
    assert spot(whole) == pytest.approx(at, abs=0.05)
    assert spot(reduced) == pytest.approx(at, abs=0.1)
