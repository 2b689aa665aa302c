"""Keypoint annotation readers (ours, SPair-71k, PF-PASCAL) and our annotated set."""
from __future__ import annotations

import json

import numpy as np
import pytest

from eval import annotations, keypoint_set
from models.data import warps


def test_our_set_carries_keypoints_through_the_known_warp(tmp_path):
    path = keypoint_set.build(tmp_path, per_photo=2, seed=3)
    inst = annotations.read(path)
    assert len(inst) == 2 * len(keypoint_set.BASE)
    assert {i.category for i in inst} == set(keypoint_set.BASE)
    for i in inst:
        assert i.image.exists() and i.keypoints
        xy = np.array(list(i.keypoints.values()))
        assert i.box == pytest.approx((*xy.min(0), *xy.max(0)))


@pytest.mark.parametrize("strength", ["mild", "strong"])
def test_carry_inverts_the_map(strength):
    rng = np.random.default_rng(0)
    m = keypoint_set.instance_map(rng, (200, 300), strength)
    inside = m[50:150, 80:220].reshape(-1, 2)
    pts = {str(k): tuple(map(float, inside[k * 997 % len(inside)])) for k in range(10)}
    got = keypoint_set.carry(pts, m)
    for name, (x, y) in got.items():
        # a(x) = b(m(x)): the carried point maps back onto the original
        back = warps.cv2.remap(m, np.float32([[x]]), np.float32([[y]]), warps.cv2.INTER_LINEAR)[0, 0]
        assert np.hypot(*(back - pts[name])) < 0.5
    assert len(got) == 10


def test_spair_layout(tmp_path):
    (tmp_path / "ImageAnnotation" / "cat").mkdir(parents=True)
    (tmp_path / "ImageAnnotation" / "cat" / "1.json").write_text(json.dumps(
        {"filename": "1.jpg", "category": "cat", "bndbox": [1, 2, 30, 40], "kps": {"0": [5, 6], "1": None}}))
    [i] = annotations.read(tmp_path)
    assert i.image == tmp_path / "JPEGImages" / "cat" / "1.jpg"
    assert i.keypoints == {"0": (5.0, 6.0)} and i.box == (1, 2, 30, 40) and i.box_side == 38


def test_pf_pascal_layout(tmp_path):
    from scipy.io import savemat
    (tmp_path / "Annotations" / "car").mkdir(parents=True)
    savemat(tmp_path / "Annotations" / "car" / "2008_1.mat",
            {"kps": np.array([[1.0, 2.0], [np.nan, np.nan], [7.0, 8.0]]), "bbox": np.array([[0, 0, 50, 20]])})
    [i] = annotations.read(tmp_path)
    assert i.category == "car" and i.image.name == "2008_1.jpg"
    assert i.keypoints == {"0": (1.0, 2.0), "2": (7.0, 8.0)} and i.box_side == 50


def test_unknown_layout(tmp_path):
    with pytest.raises(FileNotFoundError):
        annotations.read(tmp_path)
