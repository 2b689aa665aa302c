"""Two lenses' projections of one view, with where each pixel goes: hugin-data's help pictures show
panoramas remapped to several projections. Medinet Habu's court as an equidistant fisheye (a pixel
r from the centre sees the ray θ = r / f from the axis) and as a stereographic image (r = 2 f
tan(θ / 2)), 600 x 600; Big Ben as a full-frame fisheye and as a rectilinear image (r = f tan θ),
300 x 300: what undistorting a fisheye camera's frames asks. No homography or epipolar geometry
holds: validation pairs for keypoint transfer (``eval.lenses``).

Truth: both optical axes at the images' centres and the two focal lengths fitted to SIFT's
matches (Lowe's 0.8): the pair on a grid (``GRID``) that puts the most within ``KEPT_PX``, then
least squares on those it puts within it, twice. Medinet: 102 of 175 kept, 0.44 px from it
(median); the nave: 88 of 101, 0.26 px; checked by eye (``python -m models.data.lenses`` draws a
grid of a's points and where the truth puts them in b). Points are known within the radius of a
that the kept matches reach (Medinet's 296 px, 134 degrees from the axis; there the stereographic
image stretches the fisheye up to three times as much along the radius as across it).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
import numpy as np
from scipy.optimize import least_squares

from models.data.pairs import PAIRS_DIR, Pair, grey

LENSES = PAIRS_DIR / "lenses"  # unpacked by prep_data
# name: ((a's file, its projection), (b's file, its projection))
FILES = {"medinet": (("Medinet_habu_horizontal_fisheye.jpg", "fisheye"),
                     ("Medinet_habu_horizontal_stereographic.jpg", "stereographic")),
         "bigben": (("Big_ben_ff_fisheye.jpg", "fisheye"), ("Big_ben_rectilinear.jpg", "rectilinear"))}
KEPT_PX = 3.0
GRID = np.geomspace(20, 2000, 81)  # focal lengths tried, pixels
MARGIN = 8  # px: points no nearer b's border

ANGLE = {"fisheye": lambda r, f: r / f, "stereographic": lambda r, f: 2 * np.arctan(r / (2 * f)),
         "rectilinear": lambda r, f: np.arctan(r / f)}
RADIUS = {"fisheye": lambda t, f: f * t, "stereographic": lambda t, f: 2 * f * np.tan(t / 2),
          "rectilinear": lambda t, f: f * np.tan(t)}


@dataclass
class LensPair:
    a: np.ndarray  # grey uint8
    b: np.ndarray
    kinds: tuple[str, str]
    focal: tuple[float, float]  # pixels
    reach: float  # pixels from a's centre within which the truth is known
    kept: int  # SIFT matches the fit kept
    residual: float  # their median distance from it, pixels

    def to_b(self, xy: np.ndarray) -> np.ndarray:
        """Where points (N, 2) of a are in b (NaN where the ray leaves b's projection)."""
        return carried(xy, self.kinds, self.focal, centre(self.a), centre(self.b))

    def known(self, xy: np.ndarray) -> np.ndarray:
        """(N,) bool: the points of a within ``reach`` that land inside b, ``MARGIN`` from its border."""
        t = self.to_b(xy)
        h, w = self.b.shape
        inside = np.isfinite(t).all(1) & (np.nan_to_num(t, nan=-1) >= MARGIN).all(1) & (
            np.nan_to_num(t, nan=1e9) <= [w - 1 - MARGIN, h - 1 - MARGIN]).all(1)
        return inside & (np.linalg.norm(xy - centre(self.a), axis=1) <= self.reach)


def centre(img: np.ndarray) -> np.ndarray:
    return (np.array(img.shape[::-1], np.float64) - 1) / 2


def carried(xy: np.ndarray, kinds: tuple[str, str], focal: tuple[float, float], ca: np.ndarray,
            cb: np.ndarray) -> np.ndarray:
    """Points (N, 2) of a projection ``kinds[0]`` (focal length ``focal[0]``, axis at ``ca``) where
    the other (``kinds[1]``, ``focal[1]``, ``cb``) shows them; NaN beyond a rectilinear image's 90
    degrees."""
    d = np.asarray(xy, np.float64) - ca
    r = np.linalg.norm(d, axis=1)
    theta = ANGLE[kinds[0]](r, focal[0])
    rb = np.where(theta < np.pi / 2, RADIUS[kinds[1]](theta, focal[1]), np.nan) if kinds[1] == "rectilinear" else \
        RADIUS[kinds[1]](theta, focal[1])
    scale = np.where(r > 0, rb / np.maximum(r, 1e-9), focal[1] / focal[0])
    return d * scale[:, None] + cb


def sift_matches(a: np.ndarray, b: np.ndarray, ratio: float = 0.8) -> tuple[np.ndarray, np.ndarray]:
    sift = cv2.SIFT_create()
    ka, da = sift.detectAndCompute(a, None)
    kb, db = sift.detectAndCompute(b, None)
    good = [p[0] for p in cv2.BFMatcher().knnMatch(da, db, k=2)
            if len(p) == 2 and p[0].distance < ratio * p[1].distance]
    return (np.array([ka[g.queryIdx].pt for g in good], np.float64).reshape(-1, 2),
            np.array([kb[g.trainIdx].pt for g in good], np.float64).reshape(-1, 2))


@functools.cache
def load(name: str) -> LensPair:
    """The pair ``name`` of FILES with its fitted truth (see the module's note)."""
    (fa, ka), (fb, kb) = FILES[name]
    a, b = grey(LENSES / fa), grey(LENSES / fb)
    pa, pb = sift_matches(a, b)
    ca, cb = centre(a), centre(b)

    def off(f: np.ndarray, keep: np.ndarray | slice = slice(None)) -> np.ndarray:
        return np.nan_to_num(carried(pa[keep], (ka, kb), tuple(f), ca, cb) - pb[keep], nan=1e3)

    def err(f: np.ndarray) -> np.ndarray:
        return np.linalg.norm(off(f), axis=1)
    f = max(((x, y) for x in GRID for y in GRID), key=lambda f: int((err(np.array(f)) < KEPT_PX).sum()))
    for _ in range(2):
        f = least_squares(lambda f, keep: off(f, keep).ravel(), f, args=(err(np.array(f)) < KEPT_PX,)).x
    e = err(f)
    keep = e < KEPT_PX
    reach = float(np.linalg.norm(pa[keep] - ca, axis=1).max())
    return LensPair(a, b, (ka, kb), (float(f[0]), float(f[1])), reach, int(keep.sum()), float(np.median(e[keep])))


def points(pair: LensPair, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Up to n of a's SIFT keypoints (DoG detections: what a user transfers) where the truth is
    known, drawn without replacement: ((n, 2) their places, (n, 2) where they are in b)."""
    xy = np.array([k.pt for k in cv2.SIFT_create().detect(pair.a, None)], np.float64).reshape(-1, 2)
    xy = np.unique(np.round(xy, 2), axis=0)
    xy = xy[pair.known(xy)]
    xy = xy[rng.choice(len(xy), min(n, len(xy)), replace=False)]
    return xy, pair.to_b(xy)


def as_pair(name: str) -> Pair:
    """The pair ``name`` as ``pairs.Pair`` (its truth known where ``LensPair.known``; no geometry
    holds, so its Jacobians are not given), for evaluations that take those."""
    p = load(name)

    def point_map(xy: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return np.nan_to_num(p.to_b(xy), nan=-1.0), np.full((len(xy), 2, 2), np.nan), p.known(xy)
    return Pair(f"lens-{name}", p.a, p.b, point_map)


def main() -> None:
    """Draw each pair's kept matches and a grid carried over by the truth, for the eye."""
    for name in FILES:
        p = load(name)
        print(f"{name}: focal lengths {p.focal[0]:.2f}, {p.focal[1]:.2f} px; {p.kept} matches kept, "
              f"{p.residual:.2f} px from the truth (median); known within {p.reach:.0f} px of a's centre")
        h, w = p.a.shape
        grid = np.array([(x, y) for x in range(20, w, 40) for y in range(20, h, 40)], np.float64)
        grid = grid[p.known(grid)]
        a, b = cv2.cvtColor(p.a, cv2.COLOR_GRAY2BGR), cv2.cvtColor(p.b, cv2.COLOR_GRAY2BGR)
        for q, t in zip(grid, p.to_b(grid), strict=True):
            cv2.circle(a, tuple(int(v) for v in q), 3, (0, 255, 0), -1)
            cv2.circle(b, tuple(int(v) for v in t), 3, (0, 255, 0), -1)
        out = np.zeros((max(h, p.b.shape[0]), w + p.b.shape[1], 3), np.uint8)
        out[:h, :w], out[:p.b.shape[0], w:] = a, b
        cv2.imwrite(f"lenses-{name}.png", out)


if __name__ == "__main__":
    main()
