"""Image a as a camera to its side would see it: the simulated views of Morel & Yu's ASIFT.

A DoG keypoint's region and a learned descriptor's patch are round, and a plane seen obliquely
squeezes them across: past about 60 degrees between the views few keypoints are found alike in
both (``python -m eval.robustness --viewpoint``). A copy of a squeezed the same way meets b
halfway, so where a as it is matches no geometry, its copies squeezed ``TILT`` times along each of
``DIRECTIONS`` are matched instead (``correspond.from_the_side``), and the matches of the one that
verifies its geometry on the most inliers are mapped back into a.
"""
from __future__ import annotations

import dataclasses

import cv2
import numpy as np

from service.matching import Guide, Matches, project

TILT = 2.0  # a copy is squeezed this many times across: a plane seen 60 degrees from its normal
DIRECTIONS = (0.0, 45.0, 90.0, 135.0)  # degrees: the directions it is squeezed along
ANTIALIAS = 0.8  # ASIFT's blur before squeezing, in the squeezed direction: this times sqrt(TILT^2 - 1) px


def seen(direction: float) -> dict[str, float]:
    """What an answer says of the copy squeezed along ``direction`` it was found in (``seen_from_side``)."""
    return {"tilt": TILT, "direction_deg": direction}


def side_view(img: np.ndarray, tilt: float, degrees: float) -> tuple[np.ndarray, np.ndarray]:
    """``img`` (grey) squeezed ``tilt`` times along the direction ``degrees`` from its x axis (turned by
    that, on a canvas holding all of it, blurred across against aliasing, shrunk across), and the
    (3, 3) map of ``img``'s pixels to the copy's (pixel centres kept)."""
    h, w = img.shape
    turn = np.vstack([cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), degrees, 1.0), [0, 0, 1]])
    c, s = np.abs(turn[0, :2]).round(9)
    size = (int(np.ceil(w * c + h * s)), int(np.ceil(w * s + h * c)))
    turn[:2, 2] += (np.array(size) - 1) / 2 - (np.array([w, h]) - 1) / 2
    turned = cv2.warpAffine(img, turn[:2], size, flags=cv2.INTER_LINEAR, borderValue=0)
    blurred = cv2.GaussianBlur(turned, (0, 0), sigmaX=ANTIALIAS * np.sqrt(tilt ** 2 - 1), sigmaY=0.01)
    across = max(1, round(size[0] / tilt))
    r = across / size[0]
    squeeze = np.array([[r, 0, 0.5 * r - 0.5], [0, 1, 0], [0, 0, 1]])
    return cv2.resize(blurred, (across, size[1]), interpolation=cv2.INTER_LINEAR), squeeze @ turn


def onto_a(matches: Matches, kind: str, matrix: np.ndarray, coverage: float, view_size: tuple[int, int],
           a_size: tuple[int, int], to_a: np.ndarray) -> tuple[Matches, np.ndarray, float]:
    """A copy's answer in image a's pixels: its matches, its geometry (homography or fundamental
    matrix, b's points against a's) and the share of a its inliers span (an affine map keeps the
    ratio of areas), where ``to_a`` maps the copy's pixels to a's; ``kind``: the geometry's."""
    area = coverage * view_size[0] * view_size[1] * abs(np.linalg.det(to_a[:2, :2]))
    return in_a(matches, to_a), model_in_a(kind, matrix, to_a), area / (a_size[0] * a_size[1])


def in_a(matches: Matches, to_a: np.ndarray) -> Matches:
    """A copy's matches with their points in a's pixels. How their keypoints differ in size and
    orientation (``scale``, ``turn``) was the copy's, not a's: dropped, so a geometry fitted to them
    in a is counted without the keypoints' agreement (``matching.agreed``)."""
    return dataclasses.replace(matches, xy_a=project(to_a, matches.xy_a).astype(np.float32), scale=None, turn=None)


def model_in_a(kind: str, matrix: np.ndarray, to_a: np.ndarray) -> np.ndarray:
    """A homography or fundamental matrix of a copy (its points against b's) for a's points."""
    matrix = matrix @ np.linalg.inv(to_a)
    return matrix / matrix[2, 2] if kind == "homography" else matrix  # a homography at OpenCV's scale


def guide_in_a(guide: Guide, to_a: np.ndarray, seen_as: dict[str, float]) -> Guide:
    """A guide fitted to the matches of a copy (``seen_as``: ``seen``), for a's points (its plane
    too), saying so."""
    plane = None if guide.plane is None else guide_in_a(guide.plane, to_a, seen_as)
    return dataclasses.replace(guide, model=model_in_a(guide.kind, guide.model, to_a), plane=plane,
                               seen_from_side=seen_as)
