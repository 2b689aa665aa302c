"""Cached feature records: the byte format round-trips, and a record that parses but lies about
its model or its image is refused, never served."""
import json
import struct

import numpy as np
import pytest

from service.feature_map import DENSE_MAGIC, BadRecord, Expect, FeatureMap, SparseFeatures

EXPECT = Expect(dim=8, stride=4, max_side=1024)


def unit(shape, axis, seed=0) -> np.ndarray:
    f = np.random.default_rng(seed).standard_normal(shape)
    return (f / np.linalg.norm(f, axis=axis, keepdims=True)).astype(np.float16)


def dense(width=160, height=120) -> FeatureMap:
    return FeatureMap(unit((8, -(-height // 4), -(-width // 4)), 0), width, height, 1.0, 4)


def forged(header: dict, payload: bytes) -> bytes:
    head = json.dumps(header).encode()
    return DENSE_MAGIC + struct.pack(">I", len(head)) + head + payload


def test_dense_round_trip_and_a_large_image_seen_downscaled():
    back = FeatureMap.decode(dense().encode(), EXPECT)
    assert np.array_equal(back.features, dense().features) and (back.width, back.height) == (160, 120)
    big = FeatureMap(unit((8, 192, 256), 0), 4096, 3072, 0.25, 4)  # 4096 px seen at 1024
    assert FeatureMap.decode(big.encode(), EXPECT).scale == 0.25


@pytest.mark.parametrize("change,reason", [
    ({"stride": 0}, "stride 0"),
    ({"scale": 0}, "scale 0"),
    ({"scale": float("nan")}, "scale nan"),
    ({"scale": 0.5}, "scale 0.5 where"),
    ({"width": -640}, "width -640"),
    ({"height": "120"}, "height '120'"),
    ({"shape": [16, 30, 40]}, "shape"),
    ({"shape": [8, 0, 40]}, "shape"),
    ({"shape": []}, "shape"),
])
def test_a_header_that_lies_is_refused(change, reason):
    fm = dense()
    header = {"shape": list(fm.features.shape), "width": 160, "height": 120, "scale": 1.0, "stride": 4} | change
    with pytest.raises(BadRecord, match=reason):
        FeatureMap.decode(forged(header, fm.features.tobytes()), EXPECT)


def test_values_that_lie_are_refused():
    fm = dense()
    nan = fm.features.copy()
    nan[0, 0, 0] = np.nan
    with pytest.raises(BadRecord, match="not finite"):
        FeatureMap.decode(FeatureMap(nan, 160, 120, 1.0, 4).encode(), EXPECT)
    with pytest.raises(BadRecord, match="not unit"):
        FeatureMap.decode(FeatureMap(fm.features * 3, 160, 120, 1.0, 4).encode(), EXPECT)
    with pytest.raises(BadRecord, match="payload"):
        FeatureMap.decode(fm.encode()[:-2], EXPECT)
    with pytest.raises(BadRecord, match="dimension|shape"):
        FeatureMap.decode(fm.encode(), Expect(dim=32))
    for junk in (b"", b"UCNF2", b"UCNF2\x00\x00\x00\x05{bad", b"XXXXX" + fm.encode()[5:]):
        with pytest.raises(BadRecord):
            FeatureMap.decode(junk, EXPECT)


def test_sparse_round_trip_and_its_checks():
    k = 20
    rng = np.random.default_rng(1)
    sf = SparseFeatures(rng.uniform(0, 79, (k, 2)).astype(np.float32), np.full(k, 3, np.float32),
                        rng.uniform(-3, 3, k).astype(np.float32), unit((k, 8), 1), 100, 80)
    back = SparseFeatures.decode(sf.encode(), EXPECT)
    assert np.array_equal(back.xy, sf.xy) and np.array_equal(back.descriptors, sf.descriptors)
    outside = SparseFeatures(sf.xy + 200, sf.size, sf.angle, sf.descriptors, 100, 80)
    with pytest.raises(BadRecord, match="outside"):
        SparseFeatures.decode(outside.encode(), EXPECT)
    with pytest.raises(BadRecord, match="dimension"):
        SparseFeatures.decode(sf.encode(), Expect(dim=16))
    empty = SparseFeatures(np.zeros((0, 2), np.float32), np.zeros(0, np.float32), np.zeros(0, np.float32),
                           np.zeros((0, 8), np.float16), 100, 80)
    assert len(SparseFeatures.decode(empty.encode(), EXPECT).xy) == 0


def test_the_grid_layout_is_the_features_as_float32_made_once_and_not_stored():
    rng = np.random.default_rng(0)
    feats = rng.normal(size=(8, 5, 7)).astype(np.float16)
    fm = FeatureMap(feats, 28, 20, 1.0, 4)
    grid = fm.grid
    assert grid.shape == (5, 7, 8) and grid.dtype == np.float32 and grid.flags.c_contiguous
    np.testing.assert_array_equal(grid, feats.astype(np.float32).transpose(1, 2, 0))
    assert fm.grid is grid  # made once a map
    assert FeatureMap(feats, 28, 20, 1.0, 4) == fm and fm.encode() == FeatureMap(feats, 28, 20, 1.0, 4).encode()


def test_positions_convert_to_cells_and_back_axis_by_axis_with_pixel_centres_aligned():
    """A 1200 x 800 image seen at 1024 x 683: x scales by 1024/1200, y by 683/800 (not the same);
    the working image's pixel u is the sent image's (u + 0.5) / factor - 0.5, and cell j lies on
    working pixel j * stride."""
    fm = FeatureMap(np.ones((1, 171, 256), np.float16), 1200, 800, 683 / 800, 4, (1024, 683))
    assert fm.factor.tolist() == [1024 / 1200, 683 / 800]
    xy = np.array([[0.0, 0.0], [1199.0, 799.0], [600.25, 333.5]])
    np.testing.assert_allclose(fm.from_cells(fm.to_cells(xy)), xy, atol=1e-9)
    np.testing.assert_allclose(fm.from_cells([[0, 0], [255, 170]]),
                               [[0.5 * 1200 / 1024 - 0.5, 0.5 * 800 / 683 - 0.5],
                                [1020.5 * 1200 / 1024 - 0.5, 680.5 * 800 / 683 - 0.5]])
    assert FeatureMap.decode(fm.encode(), Expect(1, 4, 1024)).factor.tolist() == fm.factor.tolist()
