"""Readers for real correspondence benchmarks a user may own, and our own held-back pairs, all as
(image a, image b, ground-truth map) with the map taking a's pixels (K, 2) to b's (K, 2) plus a
validity mask.

- HPatches-style sequence folder: ``1.ppm`` ... ``6.ppm`` and ``H_1_2`` ... ``H_1_6`` (3x3 text).
- Middlebury-style stereo folder: ``im0.png``, ``im1.png`` and ``disp0GT.pfm`` (or a PNG
  disparity ``disp0.png`` divided by ``png_scale``); left pixel (x, y) is right (x - d, y).
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from models.data import dense_pairs, photos, stereo
from models.data.synth import photometric

GroundTruth = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


@dataclass
class EvalPair:
    name: str
    a: np.ndarray  # grey uint8 (H, W)
    b: np.ndarray
    gt: GroundTruth  # xy_a (K, 2) -> (xy_b (K, 2), valid (K,))


def homography_gt(h: np.ndarray, shape_b: tuple[int, int]) -> GroundTruth:
    def apply(xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        p = np.c_[xy, np.ones(len(xy))] @ h.T
        out = p[:, :2] / p[:, 2:3]
        ok = (p[:, 2] > 0) & (out >= 0).all(1) & (out[:, 0] <= shape_b[1] - 1) & (out[:, 1] <= shape_b[0] - 1)
        return out, ok
    return apply


def disparity_gt(disp: np.ndarray) -> GroundTruth:
    pm = stereo.disparity_map(disp, disp.shape[1])

    def apply(xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        out, _, ok = pm(xy.astype(np.float64))
        return out, ok
    return apply


def read_pfm(path: Path) -> np.ndarray:
    """A PFM image (H, W) float32, top row first; infinities stay (unknown disparity)."""
    with open(path, "rb") as f:
        kind = f.readline().strip()
        if kind not in (b"Pf", b"PF"):
            raise ValueError(f"{path} is not a PFM file")
        w, h = (int(v) for v in f.readline().split())
        scale = float(f.readline())
        data = np.fromfile(f, "<f4" if scale < 0 else ">f4")
    channels = 3 if kind == b"PF" else 1
    return np.flipud(data.reshape(h, w, channels)[..., 0]).astype(np.float32)


def grey(path: Path) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if img is None:
        raise FileNotFoundError(path)
    return img


def hpatches(folder: Path) -> Iterator[EvalPair]:
    folder = Path(folder)
    a = grey(folder / "1.ppm")
    for k in range(2, 7):
        if (folder / f"H_1_{k}").exists():
            b = grey(folder / f"{k}.ppm")
            yield EvalPair(f"{folder.name}/1-{k}", a, b, homography_gt(np.loadtxt(folder / f"H_1_{k}"), b.shape))


def middlebury(folder: Path, png_scale: float = 1.0) -> Iterator[EvalPair]:
    folder = Path(folder)
    if (folder / "disp0GT.pfm").exists():
        disp = read_pfm(folder / "disp0GT.pfm")
    else:
        disp = cv2.imread(str(folder / "disp0.png"), cv2.IMREAD_UNCHANGED).astype(np.float32) / png_scale
        disp[disp <= 0] = np.inf
    yield EvalPair(folder.name, grey(folder / "im0.png"), grey(folder / "im1.png"), disparity_gt(disp))


def motorcycle() -> Iterator[EvalPair]:
    left, right, disp = stereo.motorcycle()
    yield EvalPair("motorcycle", left, right, disparity_gt(disp))


def heldout_homographies(per_photo: int = 3, seed: int = 0) -> Iterator[EvalPair]:
    """Held-back photos under the dense network's family of homographies (rotation within 45
    degrees, scale 0.7-1.4, shear, tilt) with photometric changes; never trained on."""
    return homographies("heldout", per_photo, seed)


def homographies(split: str, per_photo: int, seed: int) -> Iterator[EvalPair]:
    """The photos of ``split`` (see ``photos.split``) under the family of homographies above."""
    rng = np.random.default_rng(seed)
    for name in photos.split(split):
        img = photos.load(name)
        for k in range(per_photo):
            h, w = img.shape
            side = min(h, w)
            hm = dense_pairs.moderate_homography(rng, side)
            shift = np.array([[1, 0, (w - side) / 2], [0, 1, (h - side) / 2], [0, 0, 1]])
            hm = shift @ hm @ np.linalg.inv(shift)
            b = cv2.warpPerspective(img, hm, (w, h), flags=cv2.INTER_LINEAR)
            yield EvalPair(f"{name}/{k}", photometric(img, rng, 0.7), photometric(b, rng, 0.7),
                           homography_gt(hm, b.shape))
