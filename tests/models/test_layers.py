"""Intermediate layers of an exported network as ONNX outputs."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from models.layers import UCN_LAYERS, LayerReader, with_outputs

WEIGHTS = Path(__file__).parents[2] / "models" / "weights" / "ucn.onnx"


@pytest.fixture(scope="module")
def reader():
    return LayerReader(WEIGHTS)


def test_every_layer_is_readable_with_its_stride(reader, coffee):
    img = coffee[:96, :128]
    maps = reader(img)
    assert set(maps) == set(UCN_LAYERS)
    assert reader.strides == {"conv1": 2, "conv2": 4, "conv3": 4, "cst": 4, "features": 4}
    assert maps["conv3"].shape == (128, 24, 32)
    np.testing.assert_allclose(np.linalg.norm(maps["features"], axis=0), 1.0, atol=1e-4)


def test_unknown_tensor_is_refused():
    with pytest.raises(KeyError):
        with_outputs(WEIGHTS, ["no/such/tensor"])
