"""Real image pairs with known geometry, and the harder cases made from them: the judges of
correspondence quality (a synthetic warp of one photo only guides).

Validation pairs (choose designs and settings on these):
- ``cube-20``, ``cube-40``, ``cube-79``: frames of ViSP's "cube" sequence (Debian's
  ``visp-images-data``), a hand-held camera over posters on a table, first frame against a later
  one; the posters' plane gives a homography, except where a die stands on them (``CUBE``: no
  truth there);
- ``text``: opencv-doc's ``imageTextN`` against ``imageTextR``, a page seen rotated in perspective;
- ``aloe``: Middlebury's Aloe stereo pair with its disparity (opencv-doc), a 3-D scene;
- ``leuven``: opencv-doc's ``leuvenA`` against ``leuvenB``, two views of a street of brick houses
  taken by a camera turned about its centre (a panorama's pair: a homography), about half of
  each in the other, with repeated windows and cobbles; not quite about its centre: the houses'
  depths leave right matches 1.6 px (median) off the homography (``eval.truth``);
- ``suzanne``: opencv-doc's ``Blender_Suzanne1`` against ``Blender_Suzanne2``, Blender's monkey
  head rendered flat-shaded on grey by a camera turned about its centre (the panorama tutorial's
  pair: a homography); few textures, and the head's left and right alike;
- ``cube-object``: a textured cube pushed back and turned by hand on a table before a still camera
  (ViSP's model-based tracking sequence), its first frame cut to the cube against frame 150 whole:
  a 3-D object at about two thirds of the size, among other things; truth from its pose
  (``rigid``), none off the cube. ``cube-object-100``: against frame 100, on the way there.
- ``castle-N``: ViSP's castle turned by hand before a still RGB-D camera, frame 0 against frame N:
  two motions in one scene, truth from the depth and the castle's pose (``rgbd``; a pixel or two
  loose at N = 20-29: judge within 5 px);
- ``grid-IJ`` (``models.data.grid``): ViSP's hand-held views of a calibration grid of dots, a
  repeated pattern.

Held back to judge the product (never to train, validate or tune on): ``graf`` (opencv-doc's
graf1 against graf3, with the homography it ships, which holds above a ledge near graf1's bottom
edge: no truth below it, ``GRAF_LEDGE``), ``box`` (``box`` against ``box_in_scene``, the
box at about half scale, rotated, in clutter) and ``aero`` (``aero1`` against ``aero3``), and the
motorcycle stereo pair.

The homographies we established ourselves are in ``pairs.json``: ``python -m models.data.pairs
--establish`` fits each from SIFT matches (a chain of consecutive frames guides the sequence's
long gaps), refined on the matches within 6 px of the guess, and writes an overlay of every pair
(a checkerboard of image b and the warped image a) to check by eye.

Harder cases from a pair (``zoomed``, ``rotated``, ``in_clutter``, ``tilted``) keep a real pair's
geometry and add a known similarity (or, seen from the side, a perspective) to it, so robustness to
scale, rotation and viewpoint can be measured as curves on real pairs; ``overlapping`` keeps a
window of each view that shares only part of the other's, as a panorama's neighbours do; ``framed``
sends b in a frame of one grey;
``cropped`` cuts the same window from both views of a stereo pair, a part of a 3-D scene;
``unrelated`` pairs one scene's image a with another's image b, where every answer is wrong.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from models.data import rgbd, rigid, stereo
from models.data.photos import DATA_DIR
from models.data.synth import PointMap, homography_map

TABLE = Path(__file__).with_name("pairs.json")
PAIRS_DIR = DATA_DIR / "pairs"  # validation pairs' images (prep_data)
HELD_DIR = DATA_DIR / "heldback"  # held-back pairs' images (prep_data --heldback)
VALIDATION = ("cube-20", "cube-40", "cube-79", "text", "aloe", "leuven")  # the patch sets' pairs; and cube-object
HELD_BACK = ("graf", "box", "aero", "motorcycle")
# ViSP's cube: a die standing on the posters, off their plane, and the posters it hides in the
# later frames (x0, y0, x1, y1 in frame 0's pixels, checked by eye on frames 20, 40 and 79)
CUBE = (150, 35, 275, 165)
# graf1 below the light ledge that crosses the wall at y ~510 (x0, y0, x1, y1 in its pixels): the
# wall's lower part and a parked car, off the plane of the homography shipped with the pair. OpenCV
# SIFT's right matches there miss it by 4.7-7.4 px (median of each 20 px row), above the ledge by
# 0.5-1.0 (``eval.truth``); graf1 warped by it onto graf3 shows ~5 px fringes there, none at the centre
GRAF_LEDGE = (0, 505, 800, 640)
# the part of image a that is an object in clutter (x, y, w, h as fractions of a): all of it in b
OBJECT = {None: (0.3, 0.25, 0.45, 0.45), "leuven": (0.15, 0.25, 0.45, 0.45), "suzanne": (0.6, 0.05, 0.35, 0.9)}
# windows cut from both views of a stereo pair (x, y, w, h as fractions; see ``cropped``): its
# quarters, centre, thirds and halves, each a scene with depth that a user might send
CROPS = ((0, 0, .5, .5), (.5, 0, .5, .5), (0, .5, .5, .5), (.5, .5, .5, .5), (.25, .25, .5, .5),
         (0, 0, 1 / 3, 1), (1 / 3, 0, 1 / 3, 1), (2 / 3, 0, 1 / 3, 1), (0, 0, 1, .5), (0, .5, 1, .5))
# the object moved by hand (``rigid``): its first frame, cut to the cube with this margin (px),
# against later frames (MBT_FRAMES), where it stands further back, turned, beside the table's other
# things; frames up to MBT_LAST are unpacked, to track the cube's pose through them
MBT_DIR = PAIRS_DIR / "mbt"
MBT_FRAMES = {"cube-object-100": 100, "cube-object": 150}  # frame 50's pose missed its far corners by ~12 px
MBT_LAST = max(MBT_FRAMES.values())
MBT_MARGIN = 24
CASTLE_DIR = PAIRS_DIR / "castel"  # ViSP's castle sequence (``rgbd``), unpacked by prep_data
# (file of a, file of b, folder) of the pairs whose homography we establish
FILES = {"cube-20": ("image.0000.pgm", "image.0020.pgm", PAIRS_DIR),
         "cube-40": ("image.0000.pgm", "image.0040.pgm", PAIRS_DIR),
         "cube-79": ("image.0000.pgm", "image.0079.pgm", PAIRS_DIR),
         "text": ("imageTextN.png", "imageTextR.png", PAIRS_DIR),
         "leuven": ("leuvenA.jpg", "leuvenB.jpg", PAIRS_DIR),
         "suzanne": ("Blender_Suzanne1.jpg", "Blender_Suzanne2.jpg", PAIRS_DIR),
         "graf": ("graf1.png", "graf3.png", HELD_DIR),
         "box": ("box.png", "box_in_scene.png", HELD_DIR),
         "aero": ("aero1.jpg", "aero3.jpg", HELD_DIR)}


@dataclass
class Pair:
    """Two grey uint8 images and where a's pixels lie in b: ``point_map`` (see ``synth``) and,
    when the geometry is a homography, that (3, 3) matrix."""
    name: str
    a: np.ndarray
    b: np.ndarray
    point_map: PointMap
    homography: np.ndarray | None = None

    @property
    def geometry(self) -> str:
        """What to ask the API to verify: a homography where the pair has one, else (a 3-D scene
        or object) a fundamental matrix."""
        return "homography" if self.homography is not None else "fundamental"

    def truth(self, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Where points xy (K, 2) of a lie in b: (K, 2) float64, and which are known (K,) bool."""
        out, _, ok = self.point_map(np.asarray(xy, np.float64))
        return out, ok


def grey(path: Path) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if img is None:
        raise FileNotFoundError(f"{path}: run `python -m models.prep_data` first")
    return img


def of_homography(name: str, a: np.ndarray, b: np.ndarray, h: np.ndarray,
                  off_plane: tuple[int, int, int, int] | None = None) -> Pair:
    """A pair whose truth is the homography ``h``, unknown inside ``off_plane`` (x0, y0, x1, y1 in
    a's pixels: where something stands off the plane, or hides it in b). Unknown is NaN, not
    valid: a point whose truth lies outside b is known to be nowhere in b, one here is not known."""
    plane = homography_map(h, b.shape)
    if off_plane is None:
        return Pair(name, a, b, plane, h)
    x0, y0, x1, y1 = off_plane

    def apply(xy: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        out, jac, ok = plane(xy)
        inside = (xy[:, 0] >= x0) & (xy[:, 0] <= x1) & (xy[:, 1] >= y0) & (xy[:, 1] <= y1)
        return np.where(inside[:, None], np.nan, out), jac, ok & ~inside
    return Pair(name, a, b, apply, h)


def load(name: str) -> Pair:
    """A pair by name (``VALIDATION``, ``MBT_FRAMES`` or ``HELD_BACK``)."""
    if name == "aloe":
        left, right, disp = stereo.aloe()
        return Pair(name, left, right, stereo.disparity_map(disp, right.shape[1]))
    if name == "motorcycle":
        left, right, disp = stereo.motorcycle()
        return Pair(name, left, right, stereo.disparity_map(disp, right.shape[1]))
    if name.startswith("castle-"):
        return castle(int(name.split("-")[1]))[0]
    if name in MBT_FRAMES:
        return cube_object(np.array(json.loads(TABLE.read_text())[name], np.float64), MBT_FRAMES[name], name)
    fa, fb, folder = FILES[name]
    a, b = grey(folder / fa), grey(folder / fb)
    if name == "graf":  # the homography opencv-doc ships with the pair
        fs = cv2.FileStorage(str(folder / "H1to3p.xml"), cv2.FILE_STORAGE_READ)
        return of_homography(name, a, b, fs.getNode("H13").mat(), GRAF_LEDGE)
    return of_homography(name, a, b, np.array(json.loads(TABLE.read_text())[name], np.float64),
                         CUBE if name.startswith("cube") else None)


def cube_object(pose_b: np.ndarray, frame: int = MBT_FRAMES["cube-object"], name: str = "cube-object") -> Pair:
    """The moved cube: a is its first frame cut to the cube (``MBT_MARGIN`` around it), b ``frame``
    whole, where the cube has ``pose_b``; truth from the two poses (``rigid``)."""
    k, pose_a = rigid.camera(MBT_DIR / "cube.xml"), rigid.first_pose(MBT_DIR / "cube.0.pos")
    first, b = grey(MBT_DIR / "image0000.pgm"), grey(MBT_DIR / f"image{frame:04d}.pgm")
    corners = rigid.project(pose_a, k, rigid.CORNERS)
    x0, y0 = np.maximum(np.floor(corners.min(0)) - MBT_MARGIN, 0).astype(int)
    x1, y1 = np.minimum(np.ceil(corners.max(0)) + MBT_MARGIN, [first.shape[1], first.shape[0]]).astype(int)
    truth = rigid.point_map(pose_a, pose_b, k, np.array([x0, y0], np.float64), (b.shape[1], b.shape[0]))
    return Pair(name, first[y0:y1, x0:x1].copy(), b, truth)


def castle(frame: int) -> tuple[Pair, np.ndarray, np.ndarray, int]:
    """The castle turned by hand (``rgbd``): frame 0 against ``frame``, with which of frame 0's
    pixels move with the castle and which stay (H, W) bool each, and the PnP inliers of its motion."""
    c = rgbd.Castle.at(CASTLE_DIR)
    a, b = c.image(0), c.image(frame)
    depth_a = c.depth(0)
    r, t, inliers = rgbd.motion(*sift_matches(a, b, features=4000), depth_a, c.k)
    to, moving, still = rgbd.labels(depth_a, c.depth(frame), r, t, c.k)
    return Pair(f"castle-{frame}", a, b, rgbd.point_map(to, moving, still)), moving, still, inliers


def zoomed(pair: Pair, s: float) -> Pair:
    """The pair with b's content seen ``s`` times as large as a's, every pixel kept: for s < 1, b
    shrunk by s; for s > 1, a shrunk by 1/s."""
    if s > 1:
        small, m = shrink(pair.a, 1 / s)
        grow = np.linalg.inv(m)  # a's new pixels -> its old ones
        base = pair.point_map

        def apply(xy: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            out, jac, ok = base(np.c_[xy, np.ones(len(xy))] @ grow[:2].T)
            return out, jac @ grow[None, :2, :2], ok
        hom = None if pair.homography is None else pair.homography @ grow
        return Pair(f"{pair.name}@x{s:g}", small, pair.b, apply, hom)
    b, m = shrink(pair.b, s)
    return transformed(pair, m, b, f"{pair.name}@x{s:g}")


def exposed(pair: Pair, gain: float, offset: float = 0.0, noise: float = 2.0, seed: int = 0) -> Pair:
    """The pair with b's grey levels scaled by ``gain`` and lifted by ``offset`` (a darker or a
    washed-out exposure), plus a sensor's noise (Gaussian, ``noise`` grey levels), rounded back to
    uint8: the geometry unchanged."""
    rng = np.random.default_rng(seed)
    b = np.clip(pair.b * gain + offset + rng.normal(0, noise, pair.b.shape), 0, 255).round().astype(np.uint8)
    return dataclasses.replace(pair, name=f"{pair.name}@gain{gain:g}+{offset:g}", b=b)


def degraded(pair: Pair, kind: str, level: float, seed: int = 0) -> Pair:
    """The pair with b as a camera or a pipeline spoils it, the geometry unchanged: ``blur``, out of
    focus (Gaussian, sigma ``level`` px); ``motion``, the camera moved while exposed (a straight
    streak ``level`` px long, at 30 degrees); ``noise``, a high gain's sensor noise (Gaussian,
    ``level`` grey levels); ``jpeg``, saved as JPEG at quality ``level`` and read back."""
    b = pair.b
    if kind == "blur":
        b = cv2.GaussianBlur(b, (0, 0), level)
    elif kind == "motion":
        n = int(level) | 1
        streak = np.zeros((n, n), np.float32)
        cv2.line(streak, (0, n // 2), (n - 1, n // 2), 1.0)
        turn = cv2.getRotationMatrix2D(((n - 1) / 2, (n - 1) / 2), 30, 1.0)
        streak = cv2.warpAffine(streak, turn, (n, n), flags=cv2.INTER_LINEAR)
        b = cv2.filter2D(b, -1, streak / streak.sum(), borderType=cv2.BORDER_REFLECT)
    elif kind == "noise":
        noisy = b + np.random.default_rng(seed).normal(0, level, b.shape)
        b = np.clip(noisy, 0, 255).round().astype(np.uint8)
    elif kind == "jpeg":
        b = cv2.imdecode(cv2.imencode(".jpg", b, [cv2.IMWRITE_JPEG_QUALITY, int(level)])[1], cv2.IMREAD_GRAYSCALE)
    else:
        raise ValueError(f"no such degradation: {kind}")
    return dataclasses.replace(pair, name=f"{pair.name}@{kind}{level:g}", b=b)


def shrink(img: np.ndarray, s: float) -> tuple[np.ndarray, np.ndarray]:
    """``img`` resized by ``s`` <= 1 (area interpolation) and the (3, 3) map of its pixels to the
    new image's, pixel centres kept: x' = (x + 0.5) * r - 0.5 with r the size ratio."""
    h, w = img.shape
    size = (max(1, round(w * s)), max(1, round(h * s)))
    rx, ry = size[0] / w, size[1] / h
    m = np.array([[rx, 0, 0.5 * rx - 0.5], [0, ry, 0.5 * ry - 0.5], [0, 0, 1]])
    return (img if size == (w, h) else cv2.resize(img, size, interpolation=cv2.INTER_AREA)), m


def rotated(pair: Pair, degrees: float) -> Pair:
    """The pair with b turned by ``degrees`` about its centre, on a canvas that holds all of it."""
    h, w = pair.b.shape
    m = cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), degrees, 1.0)
    c, s = np.abs(m[0, :2]).round(9)  # cos 90 degrees is 6e-17: 480 + 640 of it would take a 481st row
    size = (int(np.ceil(w * c + h * s)), int(np.ceil(w * s + h * c)))
    m[:, 2] += (np.array(size) - 1) / 2 - (np.array([w, h]) - 1) / 2
    m3 = np.vstack([m, [0, 0, 1]])
    b = cv2.warpAffine(pair.b, m, size, flags=cv2.INTER_CUBIC, borderValue=0)
    return transformed(pair, m3, b, f"{pair.name}@{degrees:g}deg")


TILT_DISTANCE = 2.0  # the camera that sees b from the side stands this many of b's longer sides from it
SUPERSAMPLE = 4  # the side view is warped at this many times its size, then shrunk by area (no aliasing)


def tilted(pair: Pair, degrees: float) -> Pair:
    """The pair with b seen from ``degrees`` to its right: b's picture as a flat print, looked at by
    a pinhole camera ``TILT_DISTANCE`` of its longer sides away, turned about the print's vertical
    axis through its centre, as one walks past a facade: foreshortened across, its far side smaller
    than its near one. Scaled so that no part of b is enlarged, on a canvas that holds all of it."""
    h, w = pair.b.shape
    d, t = TILT_DISTANCE * max(w, h), np.deg2rad(degrees)
    centred = np.array([[1.0, 0, -(w - 1) / 2], [0, 1, -(h - 1) / 2], [0, 0, 1]])
    # the print's point (X, Y) in the camera's frame: (X cos t, Y, d - X sin t); focal length d
    m = np.diag([d, d, 1.0]) @ np.array([[np.cos(t), 0, 0], [0, 1, 0], [-np.sin(t), 0, d]]) @ centred
    corners = np.array([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]], np.float64)
    jac = homography_map(m, (h, w))(corners)[1]
    m = np.diag([1 / np.linalg.norm(jac, 2, axis=(1, 2)).max()] * 2 + [1.0]) @ m  # the near edge at its size
    q = homography_map(m, (h, w))(corners)[0]
    m = np.array([[1.0, 0, -q[:, 0].min()], [0, 1, -q[:, 1].min()], [0, 0, 1]]) @ m
    size = tuple(int(v) for v in np.ceil(q.max(0) - q.min(0)) + 1)
    s = SUPERSAMPLE
    up = np.array([[s, 0, (s - 1) / 2], [0, s, (s - 1) / 2], [0, 0, 1.0]])  # pixel centres: (x + 0.5) s - 0.5
    big = cv2.warpPerspective(pair.b, up @ m, (size[0] * s, size[1] * s), flags=cv2.INTER_LINEAR, borderValue=0)
    b = cv2.resize(big, size, interpolation=cv2.INTER_AREA)
    return transformed(pair, m, b, f"{pair.name}@tilt{degrees:g}deg")


OVERLAP_WINDOW = 0.5  # ``overlapping``: the share of a's width each image keeps


def overlapping(pair: Pair, share: float, window: float = OVERLAP_WINDOW) -> Pair:
    """Neighbours in a panorama or a video: a window of a (``window`` of its width, all of its
    height) against a window of b as large, placed so that about ``share`` of a's window lies in
    b's (the rest of each shows what the other does not): of the placements that come nearest
    ``share``, the one whose window of a lies nearest where b shows the most of one. The share is
    of the points of a's window on a 4 px grid whose truth is known; the name says the share reached."""
    h, w = pair.a.shape
    hb, wb = pair.b.shape
    cw = round(window * w)
    gy, gx = np.mgrid[2:h:4, 2:cw:4]
    grid = np.c_[gx.ravel(), gy.ravel()].astype(np.float64)
    starts, places = np.arange(0, wb - cw + 1, 4), np.arange(0, w - cw + 1, 8)

    def shown(xa: int) -> np.ndarray:
        """For a's window at ``xa``: the share of its grid inside b's window at each of ``starts``."""
        t, ok = pair.truth(grid + [xa, 0])
        known = np.isfinite(t).all(1)
        ok &= known & (t[:, 1] >= 0) & (t[:, 1] < hb)
        inside = (t[None, :, 0] >= starts[:, None]) & (t[None, :, 0] < starts[:, None] + cw) & ok
        return inside.sum(1) / max(1, known.sum())
    shares = np.array([shown(x) for x in places])  # (places, starts)
    best = np.unravel_index(shares.argmax(), shares.shape)[0]
    off = np.abs(shares - share)
    near = np.argwhere(off <= off.min() + 0.01)
    i, k = min(near, key=lambda p: (abs(p[0] - best), p[1]))
    xa, x0 = int(places[i]), int(starts[k])
    shift = np.array([[1.0, 0, xa], [0, 1, 0], [0, 0, 1]])  # a's window's pixels -> a's
    a_part = Pair(pair.name, np.ascontiguousarray(pair.a[:, xa:xa + cw]), pair.b,
                  lambda xy: pair.point_map(np.asarray(xy) + [xa, 0]),
                  None if pair.homography is None else pair.homography @ shift)
    move = np.array([[1.0, 0, -x0], [0, 1, 0], [0, 0, 1]])
    return transformed(a_part, move, np.ascontiguousarray(pair.b[:, x0:x0 + cw]),
                       f"{pair.name}@overlap{shares[i, k]:.2f}")


def framed(pair: Pair, share: float, grey: int) -> Pair:
    """The pair with b sent in a frame of one ``grey`` (a letterboxed video's black bars, a scan's
    or a product photo's white border), ``share`` of b's width wide at its left and right and of
    its height at its top and bottom."""
    h, w = pair.b.shape
    mx, my = round(share * w), round(share * h)
    b = np.full((h + 2 * my, w + 2 * mx), grey, np.uint8)
    b[my:my + h, mx:mx + w] = pair.b
    shift = np.array([[1.0, 0, mx], [0, 1, my], [0, 0, 1]])
    return transformed(pair, shift, b, f"{pair.name}@frame{share:g}/{grey}")


def in_clutter(pair: Pair, box: tuple[float, float, float, float] | None = None, scale: float = 0.5) -> Pair:
    """An object in clutter: image a cut down to ``box`` (x, y, w, h as fractions of a; by default
    the pair's ``OBJECT``), found in all of image b shrunk by ``scale``, among everything else b shows."""
    box = box or OBJECT.get(pair.name, OBJECT[None])
    h, w = pair.a.shape
    x0, y0 = int(box[0] * w), int(box[1] * h)
    crop = pair.a[y0:y0 + int(box[3] * h), x0:x0 + int(box[2] * w)]
    shift = np.array([[1, 0, x0], [0, 1, y0], [0, 0, 1]], np.float64)
    small = zoomed(pair, scale)
    base = small.point_map

    def apply(xy: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return base(np.asarray(xy, np.float64) + [x0, y0])
    hom = None if small.homography is None else small.homography @ shift
    return Pair(f"{pair.name}@clutter", crop, small.b, apply, hom)


def among_others(pair: Pair, size: tuple[int, int], others: list[np.ndarray],
                 place: tuple[float, float] = (0.75, 0.6)) -> Pair:
    """The pair with image b pasted, as it is, into a canvas of ``size`` (h, w) tiled with four
    ``others`` (other scenes' photos, grey): clutter of other things around what b shows. ``place``
    puts b's corner at those fractions of the room the canvas leaves it."""
    h, w = size
    tiles = [cv2.resize(o, (w // 2, h // 2), interpolation=cv2.INTER_AREA) for o in others[:4]]
    canvas = cv2.resize(np.vstack([np.hstack(tiles[:2]), np.hstack(tiles[2:4])]), (w, h))
    bh, bw = pair.b.shape
    x0, y0 = int(place[0] * max(0, w - bw)), int(place[1] * max(0, h - bh))
    canvas[y0:y0 + bh, x0:x0 + bw] = pair.b[:h - y0, :w - x0]
    move = np.array([[1, 0, x0], [0, 1, y0], [0, 0, 1]], np.float64)
    return transformed(pair, move, canvas, f"{pair.name}@among{len(tiles)}")


def cropped(pair: Pair, box: tuple[float, float, float, float]) -> Pair:
    """The same window (x, y, w, h as fractions of a) cut from both images: for a rectified stereo
    pair, a part of the scene seen from both cameras, with its depth and its truth kept."""
    h, w = pair.a.shape
    x0, y0, cw, ch = int(box[0] * w), int(box[1] * h), int(box[2] * w), int(box[3] * h)
    base = pair.point_map

    def apply(xy: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        out, jac, ok = base(np.asarray(xy, np.float64) + [x0, y0])
        out = out - [x0, y0]
        return out, jac, ok & (out >= 0).all(1) & (out[:, 0] < cw) & (out[:, 1] < ch)  # in the window of b
    shift = np.array([[1, 0, x0], [0, 1, y0], [0, 0, 1]], np.float64)  # the window's pixels -> the image's
    hom = None if pair.homography is None else np.linalg.inv(shift) @ pair.homography @ shift
    name = f"{pair.name}@crop{x0},{y0},{cw}x{ch}"
    a, b = pair.a[y0:y0 + ch, x0:x0 + cw], pair.b[y0:y0 + ch, x0:x0 + cw]
    return Pair(name, a, b, apply, hom)


def unrelated(a: Pair, b: Pair) -> Pair:
    """Image a of one pair against image b of another scene: no point of a is anywhere in b, so
    every answer is known to be wrong (the truth of each point is infinitely far off)."""
    def nowhere(xy: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        n = len(xy)
        return np.full((n, 2), np.inf), np.full((n, 2, 2), np.nan), np.ones(n, bool)
    return Pair(f"{a.name}/{b.name}", a.a, b.b, nowhere)


def transformed(pair: Pair, m: np.ndarray, b: np.ndarray, name: str) -> Pair:
    """The pair with image b replaced by ``b``, which is the old b under the (3, 3) map ``m``."""
    base: Callable = pair.point_map

    def apply(xy: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        out, jac, ok = base(xy)
        q = np.c_[out, np.ones(len(out))] @ m.T
        moved = q[:, :2] / q[:, 2:]
        inside = (moved >= 0).all(1) & (moved[:, 0] < b.shape[1]) & (moved[:, 1] < b.shape[0])
        return moved, m[None, :2, :2] @ jac, ok & inside
    return Pair(name, pair.a, b, apply, None if pair.homography is None else m @ pair.homography)


def sift_matches(a: np.ndarray, b: np.ndarray, ratio: float = 0.8, features: int = 0
                 ) -> tuple[np.ndarray, np.ndarray]:
    """OpenCV SIFT's matches between two grey images (``features`` keypoints an image, 0: all),
    kept by Lowe's ``ratio``: their positions in a and in b, (M, 2) float64 each. Independent of
    our networks: a guide to the truths we establish, and a check of them."""
    return sift_keypoint_matches(a, b, ratio, features)[:2]


def sift_keypoint_matches(a: np.ndarray, b: np.ndarray, ratio: float = 0.8, features: int = 0
                          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``sift_matches`` and the size (px across) of each match's keypoint in a, (M,); none where
    an image has fewer than two keypoints."""
    det = cv2.SIFT_create(features)
    ka, da = det.detectAndCompute(a, None)
    kb, db = det.detectAndCompute(b, None)
    if da is None or db is None or len(db) < 2:
        return np.zeros((0, 2)), np.zeros((0, 2)), np.zeros(0)
    m = [x for x, y in cv2.BFMatcher().knnMatch(da, db, k=2) if x.distance < ratio * y.distance]
    xy_a = np.float64([ka[x.queryIdx].pt for x in m]).reshape(-1, 2)
    xy_b = np.float64([kb[x.trainIdx].pt for x in m]).reshape(-1, 2)
    return xy_a, xy_b, np.float64([ka[x.queryIdx].size for x in m])


def fit(a: np.ndarray, b: np.ndarray, guess: np.ndarray | None = None) -> tuple[np.ndarray, int]:
    """A homography a -> b from SIFT: ratio-tested matches, or with ``guess`` the keypoint of b
    within 6 px of each guessed position that describes most alike; MAGSAC++ at 2 px.
    Returns it and its inlier count."""
    sift = cv2.SIFT_create(4000)
    ka, da = sift.detectAndCompute(a, None)
    kb, db = sift.detectAndCompute(b, None)
    pa, pb = np.float32([k.pt for k in ka]), np.float32([k.pt for k in kb])
    if guess is None:
        m = [x for x, y in cv2.BFMatcher().knnMatch(da, db, k=2) if x.distance < 0.8 * y.distance]
        ia, ib = np.int64([x.queryIdx for x in m]), np.int64([x.trainIdx for x in m])
    else:
        proj = cv2.perspectiveTransform(pa.reshape(-1, 1, 2), guess).reshape(-1, 2)
        ia, ib = [], []
        for i, p in enumerate(proj):
            near = np.flatnonzero(np.linalg.norm(pb - p, axis=1) < 6)
            if len(near):
                ia.append(i)
                ib.append(near[np.argmin(np.linalg.norm(db[near] - da[i], axis=1))])
        ia, ib = np.int64(ia), np.int64(ib)
    h, inliers = cv2.findHomography(pa[ia], pb[ib], cv2.USAC_MAGSAC, 2.0, maxIters=20000, confidence=0.9999)
    return h, int(inliers.sum())


def checkerboard(a: np.ndarray, b: np.ndarray, h: np.ndarray) -> np.ndarray:
    """Image b with every other 32 px square of a brought onto it by the homography ``h`` (a's
    pixels -> b's): where ``h`` is right, edges run on across the squares."""
    warped = cv2.warpPerspective(a, h, (b.shape[1], b.shape[0]))
    yy, xx = np.mgrid[:b.shape[0], :b.shape[1]]
    return np.where((yy // 32 + xx // 32) % 2 == 1, warped, b)


def establish(names: list[str], overlays: Path) -> dict[str, list]:
    """Fit the homography of each named pair (see the module's docstring; for ``cube-object``, the
    moved cube's poses, ``establish_poses``) and write its overlay."""
    table = {}
    for name in names:
        if name == "cube-object":
            table |= establish_poses(overlays)
            continue
        fa, fb, folder = FILES[name]
        a, b = grey(folder / fa), grey(folder / fb)
        if name.startswith("cube-"):  # consecutive frames match easily; their chain guides the gap
            guess = np.eye(3)
            frames = [grey(folder / f"image.{i:04d}.pgm") for i in range(int(fb[6:10]) + 1)]
            for i in range(1, len(frames)):
                guess = fit(frames[i - 1], frames[i])[0] @ guess
            h, n = fit(a, b, guess)
        else:
            h, n = fit(a, b, fit(a, b)[0])
        table[name] = (h / h[2, 2]).round(10).tolist()
        overlays.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(overlays / f"{name}.png"), checkerboard(a, b, h))
        print(f"{name}: {n} inliers; overlay {overlays / name}.png")
    return table


def establish_poses(overlays: Path) -> dict[str, list[float]]:
    """The moved cube's pose in each of ``MBT_FRAMES``, tracked from the first frame's
    (``rigid.track``), with an overlay of its edges on each frame, enlarged about the cube, to
    check by eye."""
    k = rigid.camera(MBT_DIR / "cube.xml")
    frames = [grey(MBT_DIR / f"image{i:04d}.pgm") for i in range(MBT_LAST + 1)]
    poses, counts = rigid.track(frames, rigid.first_pose(MBT_DIR / "cube.0.pos"), k)
    overlays.mkdir(parents=True, exist_ok=True)
    out = {}
    for name, i in MBT_FRAMES.items():
        x, y = rigid.project(poses[i], k, rigid.CORNERS).mean(0).astype(int)
        view = rigid.overlay(frames[i], poses[i], k)[max(y - 100, 0):y + 100, max(x - 100, 0):x + 100]
        cv2.imwrite(str(overlays / f"{name}.png"), cv2.resize(view, None, fx=3, fy=3, interpolation=cv2.INTER_NEAREST))
        print(f"{name}: {counts[i]} inliers in frame {i}; overlay {overlays}/{name}.png")
        out[name] = poses[i].round(10).tolist()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--establish", nargs="*", help="pairs to fit (default: every pair without a shipped homography)")
    ap.add_argument("--overlays", type=Path, default=Path("/tmp/pairs"))
    a = ap.parse_args()
    if a.establish is not None:
        names = a.establish or [n for n in FILES if n != "graf"] + ["cube-object"]
        table = json.loads(TABLE.read_text()) if TABLE.exists() else {}
        table.update(establish(names, a.overlays))
        TABLE.write_text(json.dumps(table, indent=1) + "\n")


if __name__ == "__main__":
    main()
