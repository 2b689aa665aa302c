"""Brown-style patch pairs synthesised from real photos (Winder & Brown's protocol, re-enacted).

A photo is warped by a random homography with photometric changes (gain, gamma, blur, noise,
JPEG). DoG keypoints are detected independently in both images; a keypoint in image 1 matches one
in image 2 when its ground-truth projection agrees within Brown's tolerances: ``TOL_PX`` pixels
(or, for a large keypoint, ``TOL_FRAC`` of its patch region), a quarter octave of scale and pi/8
of orientation. Each keypoint gives a 64x64 patch normalised for its own detected scale and
orientation, so detector noise stays in the positives as it does in Brown's data, and each
positive records its offset (``PatchSet.offset``, a fraction of the region) so that evaluations
can report FPR95 by how far off the detector was. Training sets add, for every point, a second
view jittered as a detector errs (``jitter``): up to ``TOL_FRAC`` of the region off, a quarter
octave and pi/8. Negatives are random other points plus hard ones: nearby, overlapping points
beyond the positives' tolerance and, for training, points that look alike under SIFT.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import cv2
import numpy as np
from scipy.spatial import cKDTree

PATCH = 64
REGION = 6.0  # patch side = REGION * keypoint diameter: the region SIFT's descriptor covers
MIN_SIZE = 2.0  # smallest keypoint diameter kept, in pixels
# Brown's tolerances (5 px, a quarter octave, pi/8); the position's tolerance grows with large
# keypoints to a fifth of their patch region, the localisation error of a detector at that scale
TOL_PX, TOL_FRAC, TOL_OCT, TOL_ANG = 5.0, 0.2, 0.25, np.pi / 8
# A "nearby" negative is a different point whose patch still overlaps: its offset is beyond the
# positives' tolerance by a quarter (at least a quarter of the region, and 1.25 * TOL_PX), less
# than the whole region. Both bounds grow with scale, so that a shift called "the same point" in a
# small patch is never called "another point" in a large one.
NEAR_FRAC = 1.25 * TOL_FRAC


def tolerance(size: np.ndarray) -> np.ndarray:
    """The positives' position tolerance in pixels for keypoints of diameter ``size`` (K,)."""
    return np.maximum(TOL_PX, TOL_FRAC * REGION * size)


PointMap = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray]]


def nearest_pixel(xy: np.ndarray, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """The (rows, columns) of each point's (K, 2) nearest pixel of an image of ``shape``, clipped
    into it: where a point map reads its per-pixel truth."""
    return (np.clip(np.round(xy[:, 1]).astype(int), 0, shape[0] - 1),
            np.clip(np.round(xy[:, 0]).astype(int), 0, shape[1] - 1))


@dataclass
class Keypoints:
    """DoG detections: xy (K, 2) float32 pixels, size (K,) diameter, angle (K,) radians, where the
    direction (cos a, sin a) is in pixel coordinates (y down), as OpenCV reports it."""
    xy: np.ndarray
    size: np.ndarray
    angle: np.ndarray

    def take(self, idx: np.ndarray) -> Keypoints:
        return Keypoints(self.xy[idx], self.size[idx], self.angle[idx])


@dataclass
class PatchSet:
    """Patches and labelled pairs. patches (N, 64, 64) uint8; point (N,) int64, equal for views
    of one physical point; pos (P, 2) and neg (Q, 2) int64 index pairs into ``patches``; offset
    (P,) float32, how far the second view of each positive lies from the first's ground-truth
    position, as a fraction of its patch region (NaN where unknown). Optionally which photo each
    patch comes from: photo (N,) int64 into photo_names (both empty when unknown); both patches of
    a pair come from one photo."""
    patches: np.ndarray = field(default_factory=lambda: np.zeros((0, PATCH, PATCH), np.uint8))
    point: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    pos: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), np.int64))
    neg: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), np.int64))
    photo: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    photo_names: tuple[str, ...] = ()
    offset: np.ndarray | None = None
    offset_px: np.ndarray | None = None  # (P,) float32, the same offset in pixels of the second image

    def __post_init__(self) -> None:
        unknown = np.full(len(self.pos), np.nan, np.float32)
        self.offset = unknown if self.offset is None else np.asarray(self.offset, np.float32)
        self.offset_px = unknown.copy() if self.offset_px is None else np.asarray(self.offset_px, np.float32)

    def save(self, path: str) -> None:
        np.savez(path, patches=self.patches, point=self.point, pos=self.pos, neg=self.neg, offset=self.offset,
                 offset_px=self.offset_px, photo=self.photo, photo_names=np.array(self.photo_names, dtype=str))

    @classmethod
    def load(cls, path: str) -> PatchSet:
        z = np.load(path)
        ps = cls(z["patches"], z["point"], z["pos"], z["neg"], offset=z["offset"] if "offset" in z else None,
                 offset_px=z["offset_px"] if "offset_px" in z else None)
        if "photo" in z and len(z["photo"]) == len(ps.patches):  # sets built before this lack it
            ps.photo, ps.photo_names = z["photo"], tuple(z["photo_names"].tolist())
        return ps

    @classmethod
    def by_photo(cls, parts: list[PatchSet], names: list[str]) -> PatchSet:
        """The sets of photos ``names`` (one part each) as one set that knows each patch's photo."""
        out = cls.concat(parts)
        out.photo = np.repeat(np.arange(len(parts)), [len(p.patches) for p in parts])
        out.photo_names = tuple(names)
        return out

    @classmethod
    def concat(cls, parts: list[PatchSet]) -> PatchSet:
        out, first, pid = cls(), 0, 0
        pa, pt, ps, ng = [out.patches], [out.point], [out.pos], [out.neg]
        for p in parts:
            pa.append(p.patches)
            pt.append(p.point + pid)
            ps.append(p.pos + first)
            ng.append(p.neg + first)
            first += len(p.patches)
            pid += int(p.point.max()) + 1 if len(p.point) else 0
        return cls(np.concatenate(pa), np.concatenate(pt), np.concatenate(ps), np.concatenate(ng),
                   offset=np.concatenate([out.offset, *(p.offset for p in parts)]),
                   offset_px=np.concatenate([out.offset_px, *(p.offset_px for p in parts)]))


def detect(img: np.ndarray, n: int = 1500) -> Keypoints:
    """DoG keypoints of a grey uint8 image (OpenCV SIFT's detector), smallest ones dropped."""
    kps = cv2.SIFT_create(nfeatures=n).detect(img, None)
    kp = Keypoints(np.float32([k.pt for k in kps]).reshape(-1, 2), np.float32([k.size for k in kps]),
                   np.deg2rad(np.float32([k.angle for k in kps])))
    return kp.take(np.flatnonzero(kp.size >= MIN_SIZE))


def extract(img: np.ndarray, kp: Keypoints) -> np.ndarray:
    """Scale- and orientation-normalised patches: (K, 64, 64) uint8. Large regions are sampled
    from a Gaussian pyramid level so that downsampling does not alias."""
    pyramid = [img]
    while min(pyramid[-1].shape) > 2 * PATCH:
        pyramid.append(cv2.pyrDown(pyramid[-1]))
    out = np.empty((len(kp.xy), PATCH, PATCH), np.uint8)
    for i, ((x, y), d, a) in enumerate(zip(kp.xy, kp.size, kp.angle, strict=True)):
        s = REGION * d / PATCH  # image pixels per patch pixel
        level = int(np.clip(np.floor(np.log2(max(s, 1.0))), 0, len(pyramid) - 1))
        f = 2.0 ** level
        c, sn = np.cos(a) * s / f, np.sin(a) * s / f
        # patch (u, v) -> image: centre + R(a) * s * ((u, v) - centre of patch)
        m = np.float32([[c, -sn, 0], [sn, c, 0]])
        m[:, 2] = (np.float32([x, y]) + 0.5) / f - 0.5 - m[:, :2] @ np.float32([(PATCH - 1) / 2, (PATCH - 1) / 2])
        out[i] = cv2.warpAffine(pyramid[level], m, (PATCH, PATCH),
                                flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REFLECT)
    return out


def homography_map(h: np.ndarray, shape: tuple[int, int]) -> PointMap:
    """Point map of a homography: xy (K, 2) -> (xy' (K, 2), Jacobians (K, 2, 2), valid (K,))."""
    def apply(xy: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        p = np.c_[xy, np.ones(len(xy))] @ h.T
        z = p[:, 2:3]
        out = p[:, :2] / z
        jac = (h[None, :2, :2] - out[:, :, None] * h[None, 2:3, :2]) / z[:, :, None]
        ok = (z[:, 0] > 0) & (out[:, 0] >= 0) & (out[:, 1] >= 0) & (out[:, 0] < shape[1]) & (out[:, 1] < shape[0])
        return out, jac, ok
    return apply


def match(kp1: Keypoints, kp2: Keypoints, point_map: PointMap) -> tuple[np.ndarray, np.ndarray, Keypoints]:
    """Ground-truth matches within Brown's tolerances, one-to-one, closest first.
    Returns pairs (M, 2) of indices into kp1, kp2 and where each keypoint of kp1 should be seen in
    image 2: its projection, scale and orientation there (NaN positions where the map is undefined)."""
    proj, jac, ok = point_map(kp1.xy.astype(np.float64))
    proj = np.where(ok[:, None], proj, np.nan)
    scale = np.sqrt(np.abs(np.linalg.det(jac)))
    direction = np.einsum("kij,kj->ki", jac, np.c_[np.cos(kp1.angle), np.sin(kp1.angle)])
    truth = Keypoints(proj.astype(np.float32), (kp1.size * scale).astype(np.float32),
                      np.arctan2(direction[:, 1], direction[:, 0]).astype(np.float32))
    if not ok.any() or not len(kp2.xy):
        return np.zeros((0, 2), np.int64), truth
    tree = cKDTree(kp2.xy)
    cand = []
    for i in np.flatnonzero(ok):
        for j in tree.query_ball_point(proj[i], tolerance(truth.size[i])):
            d_oct = abs(np.log2(kp2.size[j] / truth.size[i]))
            d_ang = abs((kp2.angle[j] - truth.angle[i] + np.pi) % (2 * np.pi) - np.pi)
            if d_oct <= TOL_OCT and d_ang <= TOL_ANG:
                cand.append((np.linalg.norm(kp2.xy[j] - proj[i]), i, j))
    used1, used2, pairs = set(), set(), []
    for _, i, j in sorted(cand):
        if i not in used1 and j not in used2:
            used1.add(i)
            used2.add(j)
            pairs.append((i, j))
    return np.array(pairs, np.int64).reshape(-1, 2), truth


def jittered(truth: Keypoints, rng: np.random.Generator) -> Keypoints:
    """Keypoints off their true position, scale and orientation as a detector errs: up to
    TOL_FRAC of the patch region in a random direction, TOL_OCT octaves and TOL_ANG radians."""
    n = len(truth.xy)
    r = TOL_FRAC * REGION * truth.size * rng.uniform(0, 1, n)
    t = rng.uniform(0, 2 * np.pi, n)
    xy = truth.xy + np.c_[r * np.cos(t), r * np.sin(t)]
    return Keypoints(xy.astype(np.float32), (truth.size * 2.0 ** rng.uniform(-TOL_OCT, TOL_OCT, n)).astype(np.float32),
                     (truth.angle + rng.uniform(-TOL_ANG, TOL_ANG, n)).astype(np.float32))


def sift_describe(patches: np.ndarray) -> np.ndarray:
    """SIFT descriptors of normalised patches, the descriptor window covering the patch, upright.
    (K, 64, 64) uint8 -> (K, 128) float32. This is the classic baseline on patch benchmarks."""
    sift = cv2.SIFT_create()
    kp = [cv2.KeyPoint((PATCH - 1) / 2, (PATCH - 1) / 2, PATCH / REGION, 0)]
    out = np.empty((len(patches), 128), np.float32)
    for i, p in enumerate(patches):
        _, d = sift.compute(p, kp)
        out[i] = d[0]
    return out


def mine_pairs(img1: np.ndarray, img2: np.ndarray, point_map: PointMap, rng: np.random.Generator,
               n_kp: int = 1500, max_pos: int = 400, similar: bool = True, n_near: int = 1,
               jitter: bool = False) -> PatchSet:
    """All labelled pairs one image pair yields. Patches k*i .. k*i+k-1 are the views of point i:
    its view in image 1, its detected view in image 2 and, with ``jitter``, a view in image 2 off
    the truth as ``jittered`` says (k = 3; else k = 2); each view in image 2 is a positive of the
    view in image 1. Negatives per point: one random other point, ``n_near`` nearby points
    (overlapping patches beyond the positives' tolerance; fewer where there are fewer) and, if
    ``similar``, the most SIFT-alike other point."""
    kp1, kp2 = detect(img1, n_kp), detect(img2, n_kp)
    pairs, truth = match(kp1, kp2, point_map)
    if len(pairs) > max_pos:
        pairs = pairs[rng.choice(len(pairs), max_pos, replace=False)]
    if len(pairs) < 2:
        return PatchSet()
    m, k = len(pairs), 3 if jitter else 2
    views2 = [kp2.take(pairs[:, 1])] + ([jittered(truth.take(pairs[:, 0]), rng)] if jitter else [])
    p1 = extract(img1, kp1.take(pairs[:, 0]))
    patches = np.stack([p1, *(extract(img2, v) for v in views2)], axis=1).reshape(-1, PATCH, PATCH)
    point = np.repeat(np.arange(m), k)
    pos = np.concatenate([np.stack([k * np.arange(m), k * np.arange(m) + v], axis=1) for v in range(1, k)])
    region = REGION * truth.size[pairs[:, 0]]
    off_px = np.concatenate([np.linalg.norm(v.xy - truth.xy[pairs[:, 0]], axis=1) for v in views2])
    # a's view in image 1 against b's detected view in image 2, for points a != b
    dist = np.linalg.norm(truth.xy[pairs[:, 0]][:, None] - kp2.xy[pairs[:, 1]][None], axis=2)
    distinct = dist > 1.25 * tolerance(truth.size[pairs[:, 0]])[:, None]
    other = (np.arange(m) + rng.integers(1, m, m)) % m  # a random different point of this pair
    neg = [(k * a, k * b + 1) for a, b in enumerate(other)]
    for a in range(m):
        near = np.flatnonzero(distinct[a] & (dist[a] < REGION * kp2.size[pairs[:, 1]]))
        if len(near) and n_near == 1:
            neg.append((k * a, k * rng.choice(near) + 1))
        elif len(near):
            neg += [(k * a, k * b + 1) for b in rng.choice(near, min(n_near, len(near)), replace=False)]
    p2 = patches.reshape(m, k, PATCH, PATCH)[:, 1]
    if similar:  # never the same point, nor a near-duplicate of it
        neg += alike_pairs(p1, p2, distinct, k)
    return PatchSet(patches, point, pos, np.array(neg, np.int64).reshape(-1, 2),
                    offset=off_px / np.tile(region, k - 1), offset_px=off_px)


def alike_pairs(views1: np.ndarray, views2: np.ndarray, allowed: np.ndarray, k: int = 2) -> list[tuple[int, int]]:
    """For each point a, (a's patch in image 1, the detected patch in image 2 of the allowed point
    b whose view is most SIFT-alike to a's), as patch-index pairs for ``k`` views a point."""
    dd = np.linalg.norm(sift_describe(views1)[:, None] - sift_describe(views2)[None], axis=2)
    dd[~allowed] = np.inf
    best = dd.argmin(axis=1)
    return [(k * a, k * b + 1) for a, b in enumerate(best) if np.isfinite(dd[a, b])]


def random_homography(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """A random viewpoint change about the image centre: rotation (any angle), scale (half to
    double, slightly anisotropic), shear, perspective tilt and a shift. (3, 3) float64."""
    h, w = shape
    c = np.array([[1, 0, -w / 2], [0, 1, -h / 2], [0, 0, 1]], float)
    t = rng.uniform(-np.pi, np.pi)
    s = 2.0 ** rng.uniform(-1, 1)
    aniso = 2.0 ** rng.uniform(-0.25, 0.25)
    shear = rng.uniform(-0.2, 0.2)
    a = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]]) @ np.array([[s * aniso, shear], [0, s / aniso]])
    m = np.eye(3)
    m[:2, :2] = a
    m[2, :2] = rng.uniform(-0.6, 0.6, 2) / max(h, w)
    back = np.array([[1, 0, w / 2 + rng.uniform(-0.1, 0.1) * w], [0, 1, h / 2 + rng.uniform(-0.1, 0.1) * h], [0, 0, 1]])
    return back @ m @ c


def photometric(img: np.ndarray, rng: np.random.Generator, strength: float = 1.0) -> np.ndarray:
    """Gain, gamma, blur, sensor noise and JPEG, each drawn at random. uint8 (H, W) -> same."""
    x = img.astype(np.float32) / 255.0
    x = np.clip(x * 2.0 ** rng.uniform(-0.6, 0.6) * strength + x * (1 - strength), 0, 1)
    x = x ** (2.0 ** rng.uniform(-0.6 * strength, 0.6 * strength))
    if rng.random() < 0.5 * strength:
        x = cv2.GaussianBlur(x, (0, 0), rng.uniform(0.3, 1.5))
    x = x + rng.normal(0, rng.uniform(0, 0.03 * strength), x.shape).astype(np.float32)
    out = np.clip(x * 255 + 0.5, 0, 255).astype(np.uint8)
    if rng.random() < 0.5 * strength:
        _, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(30, 95))])
        out = cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE)
    return out


def warped_pair(img: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(image 1, image 2, H) with image 2 = H(image 1) plus independent photometric changes."""
    hmat = random_homography(rng, img.shape)
    img2 = cv2.warpPerspective(img, hmat, (img.shape[1], img.shape[0]), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_CONSTANT)
    return photometric(img, rng, 0.5), photometric(img2, rng), hmat


def from_photos(images: list[np.ndarray], warps: int, seed: int, similar: bool = True,
                max_pos: int = 400, n_near: int = 1, jitter: bool = False) -> PatchSet:
    """Pairs from ``warps`` random warps of every photo; reproducible from ``seed``; ``n_near``
    nearby negatives per positive and ``jitter``ed positives: see ``mine_pairs``."""
    rng = np.random.default_rng(seed)
    parts = []
    for img in images:
        for _ in range(warps):
            a, b, hmat = warped_pair(img, rng)
            parts.append(mine_pairs(a, b, homography_map(hmat, b.shape), rng, max_pos=max_pos, similar=similar,
                                    n_near=n_near, jitter=jitter))
    return PatchSet.concat(parts)
