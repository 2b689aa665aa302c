"""A patch scorer that fuses a network's score with OpenCV SIFT's descriptor distance of the same
two patches: a logistic regression, log-odds = score_weight * score + sift_weight * distance / 512
+ bias, fitted by ``eval.fuse``. The network is strong where a pair's two views line up and SIFT
where the detector put them a little apart (its histograms pool over cells), so each makes up for
where the other errs."""
from __future__ import annotations

import cv2
import numpy as np
from pydantic import BaseModel

PATCH = 64
REGION = 6.0  # patch side in keypoint diameters: SIFT's descriptor window covers the patch
SIFT_SCALE = 512.0  # OpenCV's SIFT descriptors have about this length


class Fusion(BaseModel):
    score_weight: float
    sift_weight: float
    bias: float

    def combine(self, scores: np.ndarray, distances: np.ndarray) -> np.ndarray:
        """Log-odds (P,) float32 that each pair matches, from the network's scores and the SIFT
        distances of the same pairs."""
        z = self.score_weight * scores + self.sift_weight * distances / SIFT_SCALE + self.bias
        return z.astype(np.float32)


def sift_describe(patches: np.ndarray) -> np.ndarray:
    """SIFT descriptors of normalised patches, the descriptor window covering the patch, upright.
    (K, 64, 64) uint8 -> (K, 128) float32. The classic baseline on patch benchmarks; the same as
    models.data.synth's, which mines training negatives with it (the service may not import the
    training code: a test holds the two equal)."""
    sift = cv2.SIFT_create()
    kp = [cv2.KeyPoint((PATCH - 1) / 2, (PATCH - 1) / 2, PATCH / REGION, 0)]
    out = np.empty((len(patches), 128), np.float32)
    for i, p in enumerate(patches):
        out[i] = sift.compute(p, kp)[1][0]
    return out


def sift_distances(pairs: np.ndarray) -> np.ndarray:
    """L2 distances (P,) of the SIFT descriptors of pairs (P, 2, 64, 64) uint8."""
    d = sift_describe(pairs.reshape(-1, PATCH, PATCH)).reshape(len(pairs), 2, 128)
    return np.linalg.norm(d[:, 0] - d[:, 1], axis=1)
