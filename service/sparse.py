"""Sparse correspondences, the way the patch paper's networks are meant to be used: DoG keypoints
with their scale and orientation (OpenCV's SIFT detector), each one's patch normalised as the
networks were trained (a square of ``REGION`` keypoint diameters, turned to the keypoint's
orientation, sampled to 64 x 64, then blurred to a least blur in its own pixels), described by a
learned descriptor network, then matched mutually with Lowe's ratio test. Scale and rotation are
undone per keypoint, so the matches survive any in-plane rotation and large changes of scale, as
SIFT's do.

The least blur makes the two views of a point alike whatever their scales. A keypoint at the
detector's smallest scale has a region of about a dozen pixels, so its patch is an enlargement and
smooth; the same point seen four times as large gives a sharp patch. Blurring every patch to the
same blur in its own pixels (as a scale space does) takes that difference away (the default and
its figures: docs/correspondences.md).
"""
from __future__ import annotations

import cv2
import numpy as np
from scipy.spatial import cKDTree

from service.feature_map import SparseFeatures
from service.matching import Matches, agreeing, among, distance, facing, lands_in, top2, top2_both

REGION = 6.0  # patch side in keypoint diameters: the region SIFT's descriptor covers
PATCH = 64
MIN_SIZE = 0.0  # smallest keypoint diameter kept, in pixels of the working image
CHUNK = 500  # patches a remap: its maps must stay under 32767 rows
RATIO = 0.9  # Lowe's ratio test on descriptor distances, the default
CAMERA = 0.5  # blur a pyramid level holds already, in its own pixels (SIFT's assumption for an image)
BLUR_STEP = 0.25  # patch pixels: patches whose added blur rounds alike are blurred in one call
CONTRAST = 0.04  # the detector's threshold on DoG responses (OpenCV's default) for an ordinary photo
# OpenCV doubles the image for SIFT's first octave with a resize that puts pixel u at u/2 - 0.25 yet
# reads it as u/2: every keypoint OFFSET detector pixels right of and below the feature. ``detect``
# takes it away; ``as_trained`` puts it back where patches are cut. DETECTOR is part of the cache key
# of sparse features (``service.dense.params``).
OFFSET = 0.25
DETECTOR = "dog-unbiased"
KNEE, LEAST = 96, 0.125  # grey levels an ordinary photo's middle 98 % spans at least; the lowest share kept
CHANNELS = 128  # patches a blur call takes at once, as the channels of one image (OpenCV takes no more)


def exposure(img: np.ndarray) -> float:
    """How much of the detector's contrast threshold a grey uint8 image keeps: 1 when the middle 98 %
    of its pixels span KNEE grey levels or more (any ordinary photo), less in proportion below that
    (dark, washed-out, foggy), down to LEAST. DoG responses scale with the image's contrast, so the
    threshold scaled with it finds in a dark photo the keypoints its brightened copy would give."""
    cum = np.cumsum(np.bincount(img.ravel(), minlength=256))
    lo, hi = np.searchsorted(cum, 0.01 * cum[-1]), np.searchsorted(cum, 0.99 * cum[-1])
    return float(np.clip((hi - lo) / KNEE, LEAST, 1.0))


def detect(img: np.ndarray, n: int, first_octave: float = -1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """At most ``n`` DoG keypoints of a grey uint8 image, the strongest first, none smaller than
    MIN_SIZE: (xy (K, 2), size (K,), angle (K,) radians), float32, in the image's pixels.

    ``first_octave`` -1 is SIFT's pyramid, which starts from the image doubled; 0 starts from the
    image itself (OpenCV's detector doubles whatever it is given, so it is given the image halved):
    about a quarter of the detector's work, without the finest keypoints; values between start
    between."""
    f = 2.0 ** (first_octave + 1)  # image pixels a pixel of what the detector is given
    src = img if f == 1 else cv2.resize(img, detector_size(img.shape, first_octave), interpolation=cv2.INTER_AREA)
    sift = cv2.SIFT_create(nfeatures=n, contrastThreshold=CONTRAST * exposure(img))
    kps = [k for k in sift.detect(src, None) if k.size * f >= MIN_SIZE]
    xy = (np.float32([k.pt for k in kps]).reshape(-1, 2) + 0.5 - OFFSET) * detector_pixel(img.shape, first_octave) - 0.5
    return xy, np.float32([k.size * f for k in kps]), np.deg2rad(np.float32([k.angle for k in kps]))


def detector_size(shape: tuple[int, ...], first_octave: float) -> tuple[int, int]:
    """(width, height) of what the detector is given for an image of ``shape`` (``detect``)."""
    f = 2.0 ** (first_octave + 1)
    h, w = shape[:2]
    return (w, h) if f == 1 else (max(1, round(w / f)), max(1, round(h / f)))


def detector_pixel(shape: tuple[int, ...], first_octave: float) -> np.ndarray:
    """The image's pixels a pixel of what the detector is given spans, along x and y (the exact
    factor of each axis), float32 (2,)."""
    w, h = detector_size(shape, first_octave)
    return np.float32([shape[1] / w, shape[0] / h])


def as_trained(xy: np.ndarray, shape: tuple[int, ...], first_octave: float) -> np.ndarray:
    """Where the descriptor networks' patches are cut for keypoints at ``xy`` (``detect``'s): at
    OpenCV's positions, OFFSET detector pixels right of and below the feature, where the training
    sets cut theirs (``models.data``). The networks describe what they learnt to; the answers
    give the feature's place."""
    return xy + OFFSET * detector_pixel(shape, first_octave)


def patches(img: np.ndarray, xy: np.ndarray, size: np.ndarray, angle: np.ndarray, blur: float = 0.0) -> np.ndarray:
    """Scale- and orientation-normalised patches, (K, 64, 64) uint8. Each is sampled from the
    Gaussian pyramid level that holds its region at about 64 pixels, so shrinking does not alias;
    all patches of a level in one remap. With ``blur`` (a Gaussian's sigma in patch pixels), each
    patch is then blurred to at least that much in its own pixels (see ``least_blur``)."""
    pyramid = [img]
    while min(pyramid[-1].shape) >= 2 * PATCH:
        pyramid.append(cv2.pyrDown(pyramid[-1]))
    step = REGION * size / PATCH  # image pixels per patch pixel
    level = np.clip(np.floor(np.log2(np.maximum(step, 1.0))), 0, len(pyramid) - 1).astype(int)
    t = np.arange(PATCH, dtype=np.float32) - (PATCH - 1) / 2  # patch pixel offsets from its centre
    out = np.empty((len(xy), PATCH, PATCH), np.uint8)
    for lv in np.unique(level):
        at = np.flatnonzero(level == lv)
        for k in chunks(at, CHUNK):
            out[k] = sample(pyramid[lv], float(2 ** lv), xy[k], step[k], angle[k], t)
    return least_blur(out, step / 2.0 ** level, blur) if blur > 0 else out


def chunks(idx: np.ndarray, most: int) -> list[np.ndarray]:
    """Non-empty indices ``idx`` split into as few runs as hold at most ``most`` each."""
    return np.array_split(idx, -(-len(idx) // most))


def least_blur(p: np.ndarray, step: np.ndarray, blur: float) -> np.ndarray:
    """Patches p (K, 64, 64) uint8, sampled at ``step`` (K,) level pixels a patch pixel, blurred so
    that each holds about ``blur`` patch pixels of blur: a level's own CAMERA blur spans
    CAMERA / step patch pixels, and a Gaussian adds the rest (variances add)."""
    own = CAMERA / np.maximum(step, 1e-3)
    add = np.round(np.sqrt(np.maximum(blur ** 2 - own ** 2, 0.0)) / BLUR_STEP) * BLUR_STEP
    out = p.copy()
    for sigma in np.unique(add[add > 0]):
        alike = np.flatnonzero(add == sigma)
        for k in chunks(alike, CHANNELS):
            stack = np.ascontiguousarray(p[k].transpose(1, 2, 0))  # the patches as one image's channels
            out[k] = cv2.GaussianBlur(stack, (0, 0), float(sigma), borderType=cv2.BORDER_REFLECT).reshape(
                PATCH, PATCH, len(k)).transpose(2, 0, 1)
    return out


def sample(img: np.ndarray, f: float, xy: np.ndarray, step: np.ndarray, angle: np.ndarray,
           t: np.ndarray) -> np.ndarray:
    """One remap of a pyramid level ``img`` (``f`` image pixels a level pixel) for keypoints at
    xy (K, 2) with ``step`` image pixels a patch pixel, ``t`` (64,) the patch pixels' offsets
    from its centre: (K, 64, 64) uint8."""
    s = (step / f).astype(np.float32)
    c, sn = s * np.cos(angle, dtype=np.float32), s * np.sin(angle, dtype=np.float32)
    # patch (u, v) -> level pixels: centre + s R(angle) (u, v); pixel centres shift with the level.
    # u runs along a patch row and v down its column, so each map is a row term plus a column term
    cx, cy = (xy[:, 0] + 0.5) / f - 0.5, (xy[:, 1] + 0.5) / f - 0.5
    mx = ((cx[:, None] - sn[:, None] * t)[:, :, None] + (c[:, None] * t)[:, None, :]).reshape(-1, PATCH)
    my = ((cy[:, None] + c[:, None] * t)[:, :, None] + (sn[:, None] * t)[:, None, :]).reshape(-1, PATCH)
    return cv2.remap(img, mx.astype(np.float32, copy=False), my.astype(np.float32, copy=False), cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REFLECT).reshape(-1, PATCH, PATCH)


def match(fa: SparseFeatures, fb: SparseFeatures, ratio: float | None = RATIO, mutual: bool = True) -> Matches:
    """Nearest neighbours of a's descriptors among b's, kept when mutual and (with ``ratio``)
    when the best is clearly closer than the second (Lowe's test on L2 distances); best first.
    Scores are the descriptors' cosine similarity; each match also carries its ratio (best distance
    over second best), whether or not the test applies, and how its two keypoints differ in size
    and orientation (``Matches.scale``, ``Matches.turn``: what ``matching.agreeing`` checks)."""
    da, db = fa.descriptors.astype(np.float32), fb.descriptors.astype(np.float32)
    if len(da) < 2 or len(db) < 2:
        return paired(fa, fb, *np.zeros((2, 0), np.int64), *np.zeros((2, 0), np.float32))
    j, best, second, back = top2_both(da, db)
    near, far = distance(best), distance(second)
    keep = np.ones(len(da), bool)
    if ratio is not None:
        keep &= near < ratio * far
    if mutual:
        keep &= back[j] == np.arange(len(da))
    order = np.flatnonzero(keep)[np.argsort(-best[keep], kind="stable")]
    lowe = (near[order] / np.maximum(far[order], 1e-6)).astype(np.float32)
    return paired(fa, fb, order, j[order], best[order], np.minimum(lowe, 1.0))


def paired(fa: SparseFeatures, fb: SparseFeatures, ia: np.ndarray, ib: np.ndarray, score: np.ndarray,
           ratio: np.ndarray | None) -> Matches:
    """Matches of a's keypoints ``ia`` to b's ``ib`` with their ``score`` and ``ratio``, each
    carrying how its two keypoints differ: log2 of their sizes' ratio and their orientations'
    difference, b's against a's (``Matches.scale``, ``Matches.turn``)."""
    scale = np.log2(np.maximum(fb.size[ib], 1e-3) / np.maximum(fa.size[ia], 1e-3))
    return Matches(fa.xy[ia], fb.xy[ib], score, ratio, scale, fb.angle[ib] - fa.angle[ia])


def explained(fa: SparseFeatures, fb: SparseFeatures, h: np.ndarray, radius_px: float, least: float,
              held: Matches | None = None) -> Matches:
    """The pairs of keypoints a homography ``h`` (a's pixels -> b's) explains: b's keypoint within
    ``radius_px`` of where ``h`` puts a's, their sizes and orientations agreeing with it
    (``agreeing``), their descriptors at least ``least`` alike; each keypoint in one pair at most,
    the mutually most alike of those ``h`` allows it (guided matching), and none on a keypoint the
    matches ``held`` hold already. Many a true match is not its keypoints' nearest neighbour among
    all of the other image's (repeated structure, a second orientation of a keypoint); among the
    few ``h`` allows, it is. Best first, with each match's Lowe's ratio among all of b's
    descriptors (1 where another is nearer). With ``held``, its inliers, ``h`` is signed so that
    they lie in front of the camera (``facing``): OpenCV's scaling may put a's plane behind it."""
    if held is not None:
        h = facing(h, held.xy_a)
    at, free_a = lands_in(h, fa.xy, fb.width, fb.height, radius_px)  # b's keypoints lie inside b
    free_b = np.ones(len(fb.xy), bool)
    if held is not None:
        free_a &= ~among(fa.xy, held.xy_a)
        free_b &= ~among(fb.xy, held.xy_b)
    fine, open_b = np.flatnonzero(free_a), np.flatnonzero(free_b)
    near = cKDTree(at[fine]).sparse_distance_matrix(cKDTree(fb.xy[open_b]), radius_px, output_type="ndarray")
    ia, ib = fine[near["i"]], open_b[near["j"]]
    da, db = fa.descriptors.astype(np.float32), fb.descriptors.astype(np.float32)
    sim = (da[ia] * db[ib]).sum(1)
    keep = (sim >= least) & agreeing(h, np.ones(len(ia), bool), paired(fa, fb, ia, ib, sim, None))
    order = np.flatnonzero(keep)[np.argsort(-sim[keep], kind="stable")]
    firsts = order[np.intersect1d(np.unique(ia[order], return_index=True)[1],
                                  np.unique(ib[order], return_index=True)[1])]  # each keypoint's most alike
    firsts = firsts[np.argsort(-sim[firsts], kind="stable")]
    ia, ib, sim = ia[firsts], ib[firsts], sim[firsts]
    j, best, second = top2(da[ia], db)
    other = np.where(j == ib, second, best)  # the nearest of b's descriptors but this match's
    lowe = distance(sim) / np.maximum(distance(other), 1e-6)
    return paired(fa, fb, ia, ib, sim, np.minimum(lowe, 1.0).astype(np.float32))
