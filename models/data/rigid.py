"""A real object moved by hand, with its truth from its pose: the textured cube of ViSP's
model-based tracking sequence (Debian's ``visp-images-data``, ``ViSP-images/mbt``), 8.4 cm a side,
filmed by a still camera while a hand pushes it back and turns it across a table. The package
ships the cube's corners and faces (``cube.cao``), the camera's intrinsics (``cube.xml``) and the
cube's pose in the first frame (``cube.0.pos``); ``track`` carries that pose frame by frame to a
later one (SIFT matches of points on the cube's faces, PnP with RANSAC, refined), and the pose
found is kept in ``pairs.json``, checked by eye on an overlay of the cube's edges. A pixel of one
frame on a face of the cube lies in the other where that 3-D point projects; off the cube it has no
truth. Evaluation only: never trained on.
"""
from __future__ import annotations

import re
from pathlib import Path

import cv2
import numpy as np

from models.data.synth import PointMap

SIDE = 0.084  # m
CORNERS = SIDE * np.array([[0, 0, 0], [-1, 0, 0], [-1, 1, 0], [0, 1, 0], [0, 0, 1], [-1, 0, 1], [-1, 1, 1], [0, 1, 1]],
                          np.float64)
FACES = ((0, 4, 5, 1), (1, 5, 6, 2), (6, 7, 3, 2), (3, 7, 4, 0), (0, 1, 2, 3), (7, 6, 5, 4))  # as cube.cao
INSET = 0.006  # m: points tracked lie this far inside a face's edges, clear of the background beside them


def camera(xml: Path) -> np.ndarray:
    """The (3, 3) intrinsics of ``cube.xml``."""
    text = xml.read_text()
    u0, v0, px, py = (float(re.search(f"<{k}>([^<]+)</{k}>", text).group(1)) for k in ("u0", "v0", "px", "py"))
    return np.array([[px, 0, u0], [0, py, v0], [0, 0, 1]])


def first_pose(pos: Path) -> np.ndarray:
    """``cube.0.pos``: (6,) translation (m) then rotation vector (rad), the cube in the camera."""
    return np.array([float(v) for v in pos.read_text().split()], np.float64)


def on_cube(pose: np.ndarray, k: np.ndarray, xy: np.ndarray, inset: float = 0.0
            ) -> tuple[np.ndarray, np.ndarray]:
    """The cube's points (K, 3) seen at pixels xy (K, 2) under ``pose`` (the nearest face a pixel's
    ray meets, at least ``inset`` inside its edges; NaN off the cube) and the face of each (-1 off)."""
    r = cv2.Rodrigues(pose[3:])[0]
    t = pose[:3]
    rays = np.c_[xy, np.ones(len(xy))] @ np.linalg.inv(k).T
    out, face, depth = np.full((len(xy), 3), np.nan), np.full(len(xy), -1), np.full(len(xy), np.inf)
    for i, f in enumerate(FACES):
        own = CORNERS[list(f)]
        corners = own @ r.T + t
        normal = np.cross(corners[1] - corners[0], corners[2] - corners[0])
        with np.errstate(divide="ignore", invalid="ignore"):
            s = (normal @ corners[0]) / (rays @ normal)
        local = (rays * s[:, None] - t) @ r  # the ray's point on the face's plane, in the cube's frame
        flat = np.ptp(own, axis=0) < 1e-9
        lo = np.where(flat, -np.inf, own.min(0) + inset)
        hi = np.where(flat, np.inf, own.max(0) - inset)
        hit = (s > 0) & (s < depth) & np.all((local >= lo) & (local <= hi), axis=1)
        out[hit], face[hit], depth[hit] = local[hit], i, s[hit]
    return out, face


def facing(pose: np.ndarray) -> np.ndarray:
    """Which faces (6,) bool the camera sees under ``pose`` (the cube is convex: those facing it)."""
    r = cv2.Rodrigues(pose[3:])[0]
    centre = CORNERS.mean(0)
    seen = []
    for f in FACES:
        c = CORNERS[list(f)]
        n = np.cross(c[1] - c[0], c[2] - c[0])
        n = n if n @ (c.mean(0) - centre) > 0 else -n  # outward
        seen.append(bool((r @ n) @ (r @ c.mean(0) + pose[:3]) < 0))
    return np.array(seen)


def project(pose: np.ndarray, k: np.ndarray, points: np.ndarray) -> np.ndarray:
    return cv2.projectPoints(points.reshape(-1, 1, 3), pose[3:], pose[:3], k, None)[0].reshape(-1, 2)


def point_map(pose_a: np.ndarray, pose_b: np.ndarray, k: np.ndarray, shift: np.ndarray, size_b: tuple[int, int]
              ) -> PointMap:
    """Where a's pixels (a cut from its frame at ``shift`` (x, y)) lie in b's frame: known on a
    face b sees and inside b; on a face b does not see, where it would be, known to be hidden; off
    the cube NaN (no truth). The Jacobians are left the identity: the pair judges answers, it does
    not cut patch pairs (``synth.match`` would need them)."""
    seen_b = facing(pose_b)

    def apply(xy: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        points, face = on_cube(pose_a, k, np.asarray(xy, np.float64) + shift)
        on = face >= 0
        out = np.full((len(xy), 2), np.nan)
        if on.any():
            out[on] = project(pose_b, k, points[on])
        ok = on & seen_b[np.maximum(face, 0)] & inside(out, size_b)
        return out, np.repeat(np.eye(2)[None], len(xy), 0), ok
    return apply


def inside(xy: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return (xy[:, 0] >= 0) & (xy[:, 1] >= 0) & (xy[:, 0] < size[0]) & (xy[:, 1] < size[1])


def track(frames: list[np.ndarray], pose: np.ndarray, k: np.ndarray) -> tuple[list[np.ndarray], list[int]]:
    """The cube's pose in each of ``frames`` (consecutive, the first at ``pose``): each frame's
    SIFT keypoints on the cube (``INSET`` inside its faces) matched to the previous frame's and to
    the first's (Lowe's 0.8), PnP with RANSAC at 3 px, refined on the inliers. Returns the poses
    and each frame's inlier count (the first's: 0)."""
    sift = cv2.SIFT_create()
    bf = cv2.BFMatcher()

    def detect(img: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        kp, desc = sift.detectAndCompute(img, None)
        return np.float64([x.pt for x in kp]), desc

    def on_the_cube(xy: np.ndarray, desc: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(descriptors, the cube's points) of the keypoints at xy that lie on the cube under pose p."""
        points, face = on_cube(p, k, xy, INSET)
        return desc[face >= 0], points[face >= 0]

    xy, d = detect(frames[0])
    first = previous = on_the_cube(xy, d, pose)
    poses, counts = [pose], [0]
    for img in frames[1:]:
        xy, d = detect(img)
        obj, seen = [], []
        for dd, pts in (previous, first):
            m = [x for x, y in bf.knnMatch(dd, d, k=2) if x.distance < 0.8 * y.distance]
            obj.append(pts[[x.queryIdx for x in m]])
            seen.append(xy[[x.trainIdx for x in m]])
        obj, seen = np.ascontiguousarray(np.concatenate(obj)), np.ascontiguousarray(np.concatenate(seen))
        guess = pose[3:].reshape(3, 1).copy(), pose[:3].reshape(3, 1).copy()  # other shapes read stray memory
        ok, rvec, tvec, inl = cv2.solvePnPRansac(obj, seen, k, None, *guess, True, 500, 3.0)
        if ok and inl is not None and len(inl) >= 8:
            rvec, tvec = cv2.solvePnPRefineLM(np.ascontiguousarray(obj[inl.ravel()]),
                                              np.ascontiguousarray(seen[inl.ravel()]), k, None, rvec, tvec)
            pose = np.r_[tvec.ravel(), rvec.ravel()]
        poses.append(pose)
        counts.append(0 if inl is None else len(inl))
        previous = on_the_cube(xy, d, pose)
    return poses, counts


def overlay(img: np.ndarray, pose: np.ndarray, k: np.ndarray) -> np.ndarray:
    """The frame with the cube's edges drawn where ``pose`` puts them, to check by eye."""
    out = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    corners = project(pose, k, CORNERS)
    for f in FACES:
        cv2.polylines(out, [corners[list(f)].round().astype(np.int32)], True, (0, 255, 0), 1)
    return out
