"""Dense SIFT maps on the UCN grid, and the visual-evidence reconstruction."""
from __future__ import annotations

import numpy as np
import pytest

from eval import dense_sift, visual_evidence
from models.layers import LayerReader


@pytest.fixture(scope="module")
def reader():
    return LayerReader(visual_evidence.WEIGHTS)


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
