"""Two motions in one real scene: ViSP's castle sequence (Debian's ``visp-images-data``,
``ViSP-images/mbt-depth/castel``), 30 frames of a still RGB-D camera (an SR300: grey frames and
depth in eighths of a millimetre) before a castle model turned by hand on a table, among things
that stay where they are. The package ships both cameras' intrinsics (``chateau.xml``,
``chateau_depth.xml``) and the depth camera's pose relative to the grey one (``depth_M_color.txt``).

Truth for frame 0 against a later one: each pixel of frame 0 with depth (registered to the grey
camera) is a 3-D point, and lies in the later frame where one of two motions puts it: the castle's
(PnP with RANSAC on the SIFT matches that moved, refined on its inliers) or none (the still
background). A pixel takes the motion the later frame's depth agrees with, within 1 cm; one where
neither does, or where its depth is not smooth (an edge), has no truth. Checked against SIFT's
matches: the castle's motion leaves them a median 0.5 px off at frame 10 and 1 px at frames 20-29,
where the depth's noise, carried through a turn of 10-17 degrees, makes the truth a pixel or two
loose: good for judging within 5 px, too loose for 3. Evaluation only: never trained on.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from models.data import rigid
from models.data.synth import PointMap, nearest_pixel

UNIT = 1 / 8000  # m a step of the SR300's depth
AGREE = 0.01  # m: a motion holds for a pixel where the later frame's depth is this close to it
SMOOTH = 0.005  # m: the most a pixel's 3x3 neighbourhood may span in depth to be given a truth
MOVED = 3.0  # px: SIFT matches that moved this far are the castle's, for its PnP
FRAMES = 30
FAR = 1e3  # m: no depth, in a minimum


@dataclass
class Castle:
    """The sequence's folder and cameras: grey (``k``), depth (``k_depth``), and the map taking
    the depth camera's points to the grey camera's (4, 4)."""
    folder: Path
    k: np.ndarray
    k_depth: np.ndarray
    depth_to_grey: np.ndarray

    @classmethod
    def at(cls, folder: Path) -> Castle:
        return cls(folder, rigid.camera(folder / "chateau.xml"), rigid.camera(folder / "chateau_depth.xml"),
                   np.linalg.inv(np.loadtxt(folder / "depth_M_color.txt")))

    def image(self, i: int) -> np.ndarray:
        img = cv2.imread(str(self.folder / f"image_{i:04d}.pgm"), cv2.IMREAD_GRAYSCALE)
        if img is None:
            raise FileNotFoundError(f"{self.folder}: run `python -m models.prep_data --opencv` first")
        return img

    def depth(self, i: int) -> np.ndarray:
        """Frame i's depth in metres, in the grey camera's pixels (``registered``; 0: none)."""
        raw = (self.folder / f"depth_image_{i:04d}.bin").read_bytes()
        h, w = np.frombuffer(raw[:8], np.uint32)
        d = np.frombuffer(raw[8:], np.uint16).reshape(h, w).astype(np.float64) * UNIT
        return registered(d, self.k_depth, self.k, self.depth_to_grey)


def registered(depth: np.ndarray, k_depth: np.ndarray, k: np.ndarray, depth_to_grey: np.ndarray) -> np.ndarray:
    """A depth map (H, W) in metres (0: none) seen by another camera of the same size: each pixel's
    3-D point moved by ``depth_to_grey`` and projected with ``k`` to its nearest pixel, the nearest
    point kept where several land; an empty pixel beside a filled one takes its nearest neighbour's
    depth (the depth camera's pixels are larger than the grey one's)."""
    v, u = np.nonzero(depth > 0)
    points = (np.linalg.inv(k_depth) @ np.vstack([u, v, np.ones_like(u)]) * depth[v, u])
    moved = depth_to_grey[:3, :3] @ points + depth_to_grey[:3, 3:4]
    p = k @ moved
    with np.errstate(divide="ignore", invalid="ignore"):
        xi, yi = np.round(p[0] / p[2]), np.round(p[1] / p[2])
    h, w = depth.shape
    ok = (moved[2] > 0) & (xi >= 0) & (xi < w) & (yi >= 0) & (yi < h)
    out = np.full((h, w), np.inf)
    np.minimum.at(out, (yi[ok].astype(int), xi[ok].astype(int)), moved[2][ok])
    hole = ~np.isfinite(out)
    nearest = cv2.erode(np.where(hole, FAR, out).astype(np.float32), np.ones((3, 3))).astype(np.float64)
    fill = hole & (nearest < FAR)
    out[fill] = nearest[fill]
    out[~np.isfinite(out)] = 0
    return out


def motion(pa: np.ndarray, pb: np.ndarray, depth_a: np.ndarray, k: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """The castle's motion from frame a to frame b (R (3, 3), t (3,), inliers) from matches
    between them (pa, pb (M, 2)): those that moved more than MOVED px, their points from a's
    depth, PnP with RANSAC at 3 px, refined on the inliers."""
    z = depth_a[np.round(pa[:, 1]).astype(int), np.round(pa[:, 0]).astype(int)]
    use = (z > 0) & (np.linalg.norm(pa - pb, axis=1) > MOVED)
    points = np.ascontiguousarray((np.linalg.inv(k) @ np.c_[pa[use], np.ones(use.sum())].T * z[use]).T)
    seen = np.ascontiguousarray(pb[use])
    ok, rvec, tvec, inl = cv2.solvePnPRansac(points, seen, k, None, reprojectionError=3.0, iterationsCount=5000,
                                             confidence=0.9999)
    if not ok or inl is None or len(inl) < 8:
        raise ValueError("the castle's motion was not found")
    inl = inl.ravel()
    rvec, tvec = cv2.solvePnPRefineLM(points[inl], seen[inl], k, None, rvec, tvec)
    return cv2.Rodrigues(rvec)[0], tvec.ravel(), len(inl)


def labels(depth_a: np.ndarray, depth_b: np.ndarray, r: np.ndarray, t: np.ndarray, k: np.ndarray
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Where each pixel of a lies in b (H, W, 2) under the moving part's motion (r, t), and which
    pixels move with it and which stay (H, W) bool each: a motion holds where b's depth agrees
    with it (AGREE); a pixel both hold for is the moving part's where it moves under 2 px (the two
    places are one), else neither's; pixels without smooth depth (SMOOTH) are neither's."""
    h, w = depth_a.shape
    yy, xx = np.mgrid[:h, :w].astype(np.float64)
    span = cv2.dilate(depth_a.astype(np.float32), np.ones((3, 3))) - cv2.erode(
        np.where(depth_a > 0, depth_a, FAR).astype(np.float32), np.ones((3, 3)))
    smooth = (depth_a > 0) & (span < SMOOTH)
    points = np.stack([(xx - k[0, 2]) / k[0, 0], (yy - k[1, 2]) / k[1, 1], np.ones_like(xx)], -1) * depth_a[..., None]
    moved = points @ r.T + t
    q = moved @ k.T
    with np.errstate(divide="ignore", invalid="ignore"):
        to = np.stack([q[..., 0] / q[..., 2], q[..., 1] / q[..., 2]], -1)
    inside = np.isfinite(to).all(-1) & (to[..., 0] > -0.5) & (to[..., 0] < w - 0.5) & (to[..., 1] > -0.5) & (
        to[..., 1] < h - 0.5)
    xi = np.clip(np.round(np.nan_to_num(to[..., 0])).astype(int), 0, w - 1)
    yi = np.clip(np.round(np.nan_to_num(to[..., 1])).astype(int), 0, h - 1)
    there = depth_b[yi, xi]
    with_it = smooth & inside & (there > 0) & (np.abs(there - moved[..., 2]) < AGREE)
    still = smooth & (depth_b > 0) & (np.abs(depth_b - depth_a) < AGREE)
    short = np.hypot(to[..., 0] - xx, to[..., 1] - yy) < 2
    return to, with_it & (~still | short), still & ~with_it


def point_map(to: np.ndarray, moving: np.ndarray, still: np.ndarray) -> PointMap:
    """Where a's points (K, 2) lie in b by ``labels``' answer (each point read at its nearest
    pixel): under the motion for the moving part, in place for the still one, NaN (no truth)
    elsewhere. The Jacobians are left the identity: the pair judges answers, it cuts no patches."""

    def apply(xy: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        at = nearest_pixel(xy, moving.shape)
        mov, sta = moving[at], still[at]
        out = np.where(mov[:, None], to[at], np.where(sta[:, None], xy, np.nan))
        return out, np.repeat(np.eye(2)[None], len(xy), 0), mov | sta
    return apply
