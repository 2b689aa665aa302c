"""service.sparse's patch sampling against OpenCV's own affine warp (a known answer)."""
from __future__ import annotations

import cv2
import numpy as np
import onnxruntime as ort
import pytest

from service import sparse
from service.feature_map import SparseFeatures
from service.imaging import unit


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


def test_least_blur_adds_only_what_a_patch_lacks():
    """A patch sampled at one level pixel a patch pixel holds CAMERA of blur already, and a
    Gaussian adds the rest (variances add; rounded to BLUR_STEP), also past one call's CHANNELS;
    an enlargement (0.1 level pixels a patch pixel: 5 patch pixels of blur) is left as it is."""
    p = (np.random.default_rng(0).random((300, 64, 64)) * 255).astype(np.uint8)
    step = np.r_[np.ones(299), 0.1].astype(np.float32)
    out = sparse.least_blur(p, step, 1.5)
    sigma = np.round(np.sqrt(1.5 ** 2 - sparse.CAMERA ** 2) / sparse.BLUR_STEP) * sparse.BLUR_STEP
    for k in (0, 127, 128, 298):
        want = cv2.GaussianBlur(p[k], (0, 0), sigma, borderType=cv2.BORDER_REFLECT)
        assert np.abs(out[k].astype(int) - want).max() <= 1
    assert np.array_equal(out[299], p[299])


def test_the_least_blur_makes_a_points_two_views_alike_across_scales():
    """Grass shrunk 4x: its keypoints at the detector's smallest scales, and the same points in the
    full image, four times as large. Without blur the small view's patch is a smooth enlargement and
    the large one's is sharp; with the default blur the descriptors of a point's two views lie at
    least a third closer (against the median distance between different points), and the nearest
    neighbour finds the right point at least as often."""
    from skimage import data

    from service.config import Settings
    big = data.grass()
    small = cv2.resize(big, None, fx=0.25, fy=0.25, interpolation=cv2.INTER_AREA)
    xy, size, angle = sparse.detect(small, 2000)
    xy, size, angle = xy[size < 3], size[size < 3], angle[size < 3]
    assert len(xy) >= 50
    settings = Settings()
    net = ort.InferenceSession(str(settings.models_dir / f"{settings.default_descriptor_model}.onnx"),
                               providers=["CPUExecutionProvider"])

    def describe(img, at, s, blur):
        d = net.run(None, {"patches": unit(sparse.patches(img, at, s, angle, blur)[:, None])})[0]
        return d / np.linalg.norm(d, axis=1, keepdims=True)

    def closeness(blur):
        d = np.linalg.norm(describe(small, xy, size, blur)[:, None] - describe(big, (xy + 0.5) * 4 - 0.5, 4 * size,
                                                                               blur)[None], axis=2)
        own = np.diag(d)
        return own.mean() / np.median(d[~np.eye(len(d), dtype=bool)]), (d.argmin(1) == np.arange(len(d))).mean()

    (sharp, found_sharp), (blurred, found_blurred) = closeness(0.0), closeness(settings.sparse_blur)
    assert blurred < 0.67 * sharp and found_blurred >= found_sharp


def test_sparse_features_are_cached_apart_for_each_blur():
    from types import SimpleNamespace

    from service.config import Settings
    from service.dense import params
    descriptor = SimpleNamespace(kind="descriptor")
    assert params(descriptor, Settings()) != params(descriptor, Settings(sparse_blur=0))


def test_a_pyramid_from_the_image_itself_finds_the_doubled_images_keypoints_on_the_image_twice_as_large():
    """First octave 0 on an image enlarged twice sees what SIFT's pyramid (first octave -1) sees
    on the image: the same keypoints, at twice the size, where pixel centres put them (2x + 0.5)."""
    img = cv2.GaussianBlur((np.random.default_rng(3).random((240, 320)) * 255).astype(np.uint8), (0, 0), 2.0)
    large = cv2.resize(img, (640, 480), interpolation=cv2.INTER_CUBIC)
    xy, size, angle = sparse.detect(img, 500, -1)
    xy2, size2, angle2 = sparse.detect(large, 500, 0)
    assert len(xy) > 100 and abs(len(xy2) - len(xy)) <= 0.05 * len(xy)
    gap = np.linalg.norm(xy2[:, None] - (2 * xy[None] + 0.5), axis=2)
    near = gap.argmin(1)
    assert np.mean(gap.min(1) < 0.1) > 0.9
    assert np.median(size2 / size[near]) == pytest.approx(2.0, rel=0.01)


@pytest.mark.parametrize("octave", [-1, -0.5, 0])
def test_an_image_and_it_turned_half_a_turn_have_their_keypoints_at_the_same_places(octave):
    """Where pixel centres put them, not 0.25 detector pixels right of and below (OpenCV's doubling
    for SIFT's first octave, unless its precise upscale): turned back, each keypoint of the turned
    image lies on the image's own (an odd size too)."""
    img = cv2.GaussianBlur((np.random.default_rng(5).random((241, 321)) * 255).astype(np.uint8), (0, 0), 2.0)
    h, w = img.shape
    xy = sparse.detect(img, 500, octave)[0]
    back = np.float32([w - 1, h - 1]) - sparse.detect(np.ascontiguousarray(img[::-1, ::-1]), 500, octave)[0]
    gap = back[None] - xy[:, None]
    nearest = gap[np.arange(len(xy)), np.linalg.norm(gap, axis=2).argmin(1)]
    assert len(xy) > 50 and np.all(np.abs(np.median(nearest, 0)) < 0.02), np.median(nearest, 0)


def test_sparse_features_are_cached_apart_for_each_first_octave():
    from types import SimpleNamespace

    from service.config import Settings
    from service.dense import params
    descriptor = SimpleNamespace(kind="descriptor")
    assert params(descriptor, Settings()) != params(descriptor, Settings(sparse_first_octave=0))


@pytest.mark.parametrize("octave", [-2, 0.5])
def test_a_first_octave_outside_minus_one_to_zero_is_refused(octave):
    from pydantic import ValidationError

    from service.config import Settings
    with pytest.raises(ValidationError):
        Settings(sparse_first_octave=octave)


def test_sparse_features_are_cached_apart_for_each_sparse_max_side_and_dense_ones_are_not():
    from types import SimpleNamespace

    from service.config import Settings
    from service.dense import params
    descriptor, dense = SimpleNamespace(kind="descriptor"), SimpleNamespace(kind="dense")
    assert params(descriptor, Settings()) != params(descriptor, Settings(sparse_max_side=2048))
    assert params(dense, Settings()) == params(dense, Settings(sparse_max_side=2048))


def test_a_dark_photo_keeps_its_keypoints_and_an_ordinary_one_its_threshold(coffee):
    """DoG responses scale with contrast: at a tenth of its brightness coffee gives OpenCV's
    detector nothing at its usual threshold; the threshold scaled with the image's spread finds a
    good share of what the photo itself gives (its ten times fewer grey levels hide the rest). An
    ordinary photo keeps the usual threshold."""
    assert sparse.exposure(coffee) == 1.0
    dark = np.clip(coffee * 0.1 + np.random.default_rng(0).normal(0, 1, coffee.shape), 0, 255).round().astype(np.uint8)
    assert sparse.exposure(dark) < 0.3
    own = len(sparse.detect(coffee, 1000)[0])
    assert len(cv2.SIFT_create(1000).detect(dark, None)) < 0.05 * own
    assert len(sparse.detect(dark, 1000)[0]) >= 0.25 * own


def keypoints(xy, desc, size=4.0, angle=0.0):
    d = np.asarray(desc, np.float32)
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    n = len(xy)
    return SparseFeatures(np.float32(xy), np.full(n, size, np.float32), np.full(n, angle, np.float32),
                          d.astype(np.float16), 100, 100)


def test_a_homography_explains_the_pairs_within_its_reach_whose_keypoints_agree_and_that_are_alike():
    """Keypoint 0's true partner is not its nearest neighbour (a look-alike far off is): the
    homography pairs them anyway. Beyond its reach, keypoints of another size, or less alike than
    the bar, it pairs nothing; two of a's keypoints near one of b's: the more alike one."""
    h = np.array([[1, 0, 5], [0, 1, 0], [0, 0, 1]], np.float64)  # b is a shifted 5 px right
    a = keypoints([[10, 10], [40, 10], [70, 10], [10, 50], [12, 51]],
                  [[1, 0.3, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1], [0, 0, 0.4, 1]])
    b = keypoints([[16, 11], [80, 80], [52, 10], [75, 10], [16, 50]],
                  [[1, 0.5, 0, 0], [1, 0.3, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0.1, 1]])
    b.size[3] = 16.0  # two octaves larger than keypoint 2 of a, which the shift does not scale
    m = sparse.explained(a, b, h, 4.0, 0.5)
    assert m.xy_a.tolist() == [[10, 50], [10, 10]] and m.xy_b.tolist() == [[16, 50], [16, 11]]
    assert m.ratio[1] == 1.0 and m.ratio[0] < 1.0  # b's keypoint 1 is nearer to a's keypoint 0 than its partner
    assert not len(sparse.explained(a, b, h, 4.0, 0.999).score)  # none as alike as that


def test_a_degenerate_homography_explains_nothing_and_raises_nothing():
    """A homography that sends every point to infinity, or behind the camera, or images without
    keypoints: no pairs, no error."""
    a = keypoints([[10, 10], [40, 10]], [[1, 0], [0, 1]])
    none = keypoints(np.zeros((0, 2)), np.zeros((0, 2)))
    for h in (np.array([[1, 0, 0], [0, 1, 0], [0, 0, 0]], float), np.diag([1.0, 1.0, -1.0])):
        assert not len(sparse.explained(a, a, h, 4.0, 0.0).score)
    assert not len(sparse.explained(none, a, np.eye(3), 4.0, 0.0).score)
    assert not len(sparse.explained(a, none, np.eye(3), 4.0, 0.0).score)
    assert len(sparse.explained(a, a, np.eye(3), 4.0, 0.0).score) == 2
