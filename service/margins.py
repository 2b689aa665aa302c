"""An image's uniform margins (a letterboxed frame's black bars, a scan's or a product photo's
white border) and the noise the dense network is shown there instead.

UCN standardises each image by its own mean and spread (``models/ucn.py``): a wide white border
around a dark street set the photo's contrast apart from the same street sent without one, and
method=dense matched nothing on it. Noise of the picture's own mean and spread keeps its
standardisation and looks like nothing. The sparse method needs no fill (each patch is normalised
alone, and a uniform bar has no keypoints), but where an image is larger than SPARSE_MAX_SIDE its
detector reads the picture inside the margins (``dense.sparse_picture``), which then get no share
of the working size's pixels."""
from __future__ import annotations

import zlib

import numpy as np

TOLERANCE = 8  # grey levels a margin's pixels may stray from its edge's grey (JPEG's ringing, dust)
MIN_WIDTH = 4  # px of the pixels looked at: thinner margins are left as they are (a dense feature cell is 4 px)
# margins are filled only where they move the picture's standardisation by more than this: its
# mean by a share of the frame's spread, or its spread by a factor. A page's own white paper
# or a render's grey backdrop reaching the edges moves neither by a tenth (and is part of the scene)
SHIFT, STRETCH = 0.3, 1.25
# and only margins as flat as a frame drawn around a picture: their pixels BAND px or more from the
# picture (JPEG rings nearer) spread less than FLAT grey levels. A dark board's grain spreads 2-3
# (ViSP's paper ellipse lying on one: its edge columns were board, which is the scene)
FLAT, BAND = 1.0, 8


def run_of(lines: np.ndarray) -> int:
    """How many of ``lines`` (N, L) uint8, from the first on, lie within TOLERANCE of the first's
    median grey (a photo's first line mostly does not: then only it is read)."""
    grey = float(np.median(lines[0]))
    if np.abs(lines[0].astype(np.float32) - grey).max() > TOLERANCE:
        return 0
    near = (lines.max(axis=1) <= grey + TOLERANCE) & (lines.min(axis=1) >= grey - TOLERANCE)
    return len(near) if near.all() else int(np.argmin(near))


def margins(pixels: np.ndarray) -> tuple[int, int, int, int]:
    """The uniform rows at the top and bottom and columns at the left and right of ``pixels``
    (H, W) uint8, each at most half the image and 0 where thinner than MIN_WIDTH (a column counts
    between the top and bottom runs, so corners where bars of two greys meet do not hide one);
    (0, 0, 0, 0) where the picture is all one grey."""
    h, w = pixels.shape
    if h < 2 or w < 2:
        return 0, 0, 0, 0
    top, bottom = run_of(pixels[: h // 2]), run_of(pixels[::-1][: h // 2])
    if top + bottom >= h:
        return 0, 0, 0, 0
    between = pixels[top: h - bottom].T
    left, right = run_of(between[: w // 2]), run_of(between[::-1][: w // 2])
    if left + right >= w:
        return 0, 0, 0, 0
    return tuple(m if m >= MIN_WIDTH else 0 for m in (top, bottom, left, right))


def noise_in(out: np.ndarray, where: np.ndarray, seen: np.ndarray, seed: int) -> np.ndarray:
    """``out`` (H, W) uint8 with the pixels ``where`` (H, W) bool drawn from Gaussian noise of the
    mean and spread of the grey levels ``seen``; the same ``seed``, the same draw."""
    seen = seen.astype(np.float64)
    return noise_of(out, where, seen.mean(), seen.std(), seed)


def noise_of(out: np.ndarray, where: np.ndarray, mean: float, spread: float, seed: int) -> np.ndarray:
    """``out`` (H, W) uint8 with the pixels ``where`` drawn from Gaussian noise of ``mean`` and
    ``spread`` (clipped to grey levels); the same ``seed``, the same draw."""
    noise = np.random.default_rng(seed).normal(mean, spread, int(where.sum()))
    out[where] = np.clip(np.rint(noise), 0, 255).astype(np.uint8)
    return out


def standardised_as(copy: np.ndarray, reached: np.ndarray, like: np.ndarray) -> tuple[float, float]:
    """The mean and spread of noise that, filling ``copy`` (H, W) uint8 where it is not ``reached``
    (part of it, bool), give the whole frame the mean and spread by which the network standardises
    ``copy``'s reached pixels as it standardises ``like``'s there (``like``: the frame's own image,
    (H, W) uint8): ``like``'s mean and spread, through the gain and offset that take ``like``'s
    reached pixels' mean and spread to ``copy``'s. Noise of the copy's own grey levels standardised
    a part of a photo (a crop, a zoomed view) by that part's own: a dark corner's grey came out
    bright, and its dense features matched the photo's nowhere. Where no spread of noise can (the
    reached part alone spreads wider than the frame must), the noise has that mean and no spread."""
    seen, there, whole = (x.astype(np.float64) for x in (copy[reached], like[reached], like))
    gain = (seen.std() + 1.0) / (there.std() + 1.0)  # a grey level each: flat parts carry no gain
    mean = seen.mean() + gain * (whole.mean() - there.mean())
    p = float(reached.mean())
    fill = (mean - p * seen.mean()) / (1 - p)
    second = ((gain * whole.std()) ** 2 + mean ** 2 - p * (seen.var() + seen.mean() ** 2)) / (1 - p)
    return float(fill), float(np.sqrt(max(second - fill ** 2, 0.0)))


def apart(mean: float, spread: float, frame_mean: float, frame_spread: float) -> bool:
    """Whether grey levels of ``mean`` and ``spread``, standardised by a frame's instead of their
    own, shift by over SHIFT of the frame's spread or scale by over STRETCH."""
    shift = abs(mean - frame_mean) / (frame_spread + 1e-3)
    stretch = (spread + 1e-3) / (frame_spread + 1e-3)
    return shift > SHIFT or not 1 / STRETCH <= stretch <= STRETCH


def moved(picture: np.ndarray, pixels: np.ndarray) -> bool:
    """Whether standardising the whole frame ``pixels`` instead of the ``picture`` inside its
    margins shifts the picture's mean by over SHIFT of the frame's spread or scales its spread by
    over STRETCH."""
    return apart(float(picture.mean()), float(picture.std()), float(pixels.mean()), float(pixels.std()))


def filled(pixels: np.ndarray) -> np.ndarray:
    """``pixels`` (H, W) uint8 with its margins (``margins``) replaced by noise of the
    picture's mean and spread where they are flat (FLAT) and move its standardisation (``moved``);
    ``pixels`` itself where they are not or there is none. The draw is seeded by the picture, so
    the same image gets the same features every time and two images with margins of one size do
    not match each other's noise."""
    top, bottom, left, right = margins(pixels)
    if not top + bottom + left + right:
        return pixels
    h, w = pixels.shape
    inside = np.zeros((h, w), bool)
    inside[top: h - bottom, left: w - right] = True
    near = np.zeros((h, w), bool)
    near[max(0, top - BAND): h - max(0, bottom - BAND), max(0, left - BAND): w - max(0, right - BAND)] = True
    far = pixels[~near] if (~near).any() else pixels[~inside]
    picture = pixels[inside]
    if far.std() >= FLAT or not moved(picture, pixels):
        return pixels
    return noise_in(pixels.copy(), ~inside, picture, zlib.crc32(picture.tobytes()))
