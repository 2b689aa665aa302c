"""Intermediate layers as ONNX outputs, dense SIFT maps, and the visual-evidence reconstruction."""
from __future__ import annotations

import numpy as np
import pytest

from eval import dense_sift, visual_evidence
from models.layers import UCN_LAYERS, LayerReader, with_outputs


@pytest.fixture(scope="module")
def reader():
    return LayerReader(visual_evidence.WEIGHTS)


def test_every_layer_is_readable_with_its_stride(reader, coffee):
    img = coffee[:96, :128]
    maps = reader(img)
    assert set(maps) == set(UCN_LAYERS)
    assert reader.strides == {"conv1": 2, "conv2": 4, "conv3": 4, "cst": 4, "features": 4}
    assert maps["conv3"].shape == (128, 24, 32)
    np.testing.assert_allclose(np.linalg.norm(maps["features"], axis=0), 1.0, atol=1e-4)


def test_unknown_tensor_is_refused():
    with pytest.raises(KeyError):
        with_outputs(visual_evidence.WEIGHTS, ["no/such/tensor"])


def test_dense_sift_map_lies_on_the_ucn_grid(coffee):
    fm = dense_sift.feature_map(coffee[:61, :83])
    assert fm.features.shape == (128, 16, 21) and fm.stride == 4 and (fm.width, fm.height) == (83, 61)
    np.testing.assert_allclose(np.linalg.norm(fm.features.astype(np.float32), axis=0), 1.0, atol=2e-3)


def test_rebuild_from_itself_is_the_image_at_the_patch_grid(reader, coffee):
    """With the query in its own database and k=1, every cell finds itself: the rebuild is the image."""
    img = coffee[:96, :128]
    f = reader(img)["conv1"]
    out = visual_evidence.rebuild(img, f, [f], [img], 2, 1)
    assert out.shape == img.shape
    assert np.abs(out.astype(int) - img).mean() < 1.0


def test_rebuild_from_other_photos_is_closer_than_noise(reader, coffee):
    img, other = coffee[:96, :128], coffee[200:296, 300:428]
    f = reader(img)["features"]
    out = visual_evidence.rebuild(img, f, [reader(other)["features"]], [other], 4, 3)
    shuffled = np.random.default_rng(0).permutation(out.ravel()).reshape(out.shape)
    assert np.abs(out.astype(int) - img).mean() < np.abs(shuffled.astype(int) - img).mean()
