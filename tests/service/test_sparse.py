"""service.sparse's patch sampling against OpenCV's own affine warp (a known answer)."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from service import sparse


def textured(h: int = 240, w: int = 320) -> np.ndarray:
    rng = np.random.default_rng(3)
    return cv2.GaussianBlur((rng.random((h, w)) * 255).astype(np.uint8), (0, 0), 1.5)


@pytest.mark.parametrize("size,angle_deg", [(4.0, 0.0), (7.0, 30.0), (9.0, -120.0), (10.0, 200.0)])
def test_a_patch_is_the_keypoints_region_turned_and_scaled_to_64_pixels(size, angle_deg):
    """Sizes under 64 / REGION pixels come from the image itself (level 0), so the patch is
    exactly the affine warp that takes the keypoint's turned square of REGION diameters to 64 x 64."""
    img, xy = textured(), np.float32([[150.3, 111.7]])
    out = sparse.patches(img, xy, np.float32([size]), np.deg2rad(np.float32([angle_deg])))
    s, a = sparse.REGION * size / sparse.PATCH, np.deg2rad(angle_deg)
    c = (sparse.PATCH - 1) / 2
    # patch (u, v) -> image: xy + s R(a) ((u, v) - c)
    m = np.array([[s * np.cos(a), -s * np.sin(a)], [s * np.sin(a), s * np.cos(a)]])
    m = np.hstack([m, (xy[0] - m @ [c, c])[:, None]])
    want = cv2.warpAffine(img, m, (sparse.PATCH, sparse.PATCH), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_REFLECT)
    assert out.shape == (1, sparse.PATCH, sparse.PATCH) and out.dtype == np.uint8
    assert np.abs(out[0].astype(int) - want).max() <= 1


def test_keypoints_of_every_pyramid_level_come_out_in_their_order():
    """Patches sampled level by level land back in the keypoints' order: a keypoint's patch does
    not depend on which others were asked with it."""
    img = textured()
    xy = np.float32([[60, 50], [200, 120], [100, 180], [250, 60]])
    size, angle = np.float32([3, 40, 12, 90]), np.float32([0.1, 1.0, -2.0, 3.0])
    together = sparse.patches(img, xy, size, angle)
    for k in range(len(xy)):
        alone = sparse.patches(img, xy[k:k + 1], size[k:k + 1], angle[k:k + 1])
        assert np.array_equal(together[k], alone[0])


def test_network_input_is_pixels_over_255_in_float32():
    from service.imaging import unit
    x = np.arange(256, dtype=np.uint8).reshape(1, 1, 16, 16)
    got = unit(x)
    assert got.dtype == np.float32 and np.array_equal(got, x.astype(np.float32) / 255.0)
