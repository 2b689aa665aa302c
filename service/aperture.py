"""Whether a verified geometry rests on edges of one direction only. A match on an edge is fixed
across the edge, not along it (the aperture problem): where every inlier lies on edges running one
way (ViSP's paper strip: its two long sides, and nothing else in the image but a faint grain), a
geometry slid along them explains the dense matches as well as the right one, and RANSAC verified
such a slide with a homography of 161 inliers, none of them right. The dense features cannot say
so (they are smooth across an edge and along it alike); the image can: the structure tensor of
its gradients, summed over the inliers' places, has a small eigenvalue across the slide.

Measured with `geometry=auto`, method=dense (``eval.aperture``): the still windows of the paper
shapes read 0.012-0.026 (the strip's slide 0.012, an ellipse's wrong homography 0.017, its right
one 0.026: the grain fixed that one, which the gradients' energy does not show), the validation
sets and unseen photos warped 0.18 (text enlarged 4x, its matches on a few strokes) to 0.95."""
from __future__ import annotations

import cv2
import numpy as np

from service.imaging import Decoded

ONE_DIRECTION = 0.05  # the smaller eigenvalue over the larger below this: the edges run one way
SIGMA_PX = 4.0  # the window the gradients are summed over around each place, px of the decoded image


def spread(image: Decoded, xy: np.ndarray) -> float:
    """The smaller eigenvalue of the image's structure tensor summed over the places ``xy`` (N, 2;
    the sent image's pixels) over the larger: 0 where every gradient there runs one way, 1 where
    they run every way alike, or where there are none (no edge to slide along)."""
    g = image.pixels
    gx, gy = cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3), cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3)
    p = cv2.perspectiveTransform(np.asarray(xy, np.float64).reshape(-1, 1, 2), np.linalg.inv(image.to_sent()))
    x = np.clip(np.rint(p[:, 0, 0]).astype(int), 0, g.shape[1] - 1)
    y = np.clip(np.rint(p[:, 0, 1]).astype(int), 0, g.shape[0] - 1)
    # the products blurred and summed at the places = the products weighted by the places' count
    # blurred (a Gaussian is symmetric): one blur, not three
    count = np.zeros(g.shape, np.float32)
    np.add.at(count, (y, x), 1.0)
    weight = cv2.GaussianBlur(count, (0, 0), SIGMA_PX)
    wx = weight * gx
    sxx, sxy, syy = float(np.vdot(wx, gx)), float(np.vdot(wx, gy)), float(np.vdot(weight * gy, gy))
    lam = np.linalg.eigvalsh(np.array([[sxx, sxy], [sxy, syy]]))
    return float(lam[0] / lam[1]) if lam[1] > 0 else 1.0


def warning(kind: str, inliers: int, value: float) -> str:
    """The warning of a geometry whose ``inliers`` lie on edges of one direction (``spread`` below
    ONE_DIRECTION)."""
    return (f"the {kind}'s {inliers} inliers lie on edges that run one way (the image's gradients there are "
            f"{value:.3f} times as strong along them as across): a match on an edge is fixed only across it, so "
            f"the {kind} may be slid along them")
