"""Pair synthesis: the geometry it relies on, patch extraction, ground-truth matching, readers."""
import numpy as np
import pytest
from PIL import Image

from models.data import photos, stereo, synth
from models.metrics import fpr95_change, fpr95_ratio, fpr_at_recall


def test_homography_map_and_its_jacobian():
    rng = np.random.default_rng(1)
    h = synth.random_homography(rng, (400, 600))
    xy = rng.uniform(100, 300, (20, 2))
    out, jac, _ = synth.homography_map(h, (400, 600))(xy)
    eps = 1e-4
    for k in range(2):
        d = np.zeros(2)
        d[k] = eps
        numeric = (synth.homography_map(h, (400, 600))(xy + d)[0] - out) / eps
        np.testing.assert_allclose(jac[:, :, k], numeric, rtol=1e-3, atol=1e-5)


def test_extract_matches_a_plain_crop_and_rotates():
    img = photos.load("camera")
    # centre (299.5, 199.5) is the centre of the crop [168:232, 268:332]
    kp = synth.Keypoints(np.float32([[299.5, 199.5]]), np.float32([64 / synth.REGION]), np.float32([0]))
    crop = img[168:232, 268:332].astype(int)
    assert np.abs(synth.extract(img, kp)[0] - crop).mean() < 1
    kp.angle[:] = np.pi / 2  # patch x axis along image +y, patch y axis along image -x
    rot = synth.extract(img, kp)[0].astype(int)
    assert np.abs(rot - np.rot90(crop, 1)).mean() < 1


def test_mined_positives_show_the_same_point_and_negatives_do_not():
    rng = np.random.default_rng(0)
    a, b, h = synth.warped_pair(photos.load("camera"), rng)
    ps = synth.mine_pairs(a, b, synth.homography_map(h, b.shape), rng)
    assert len(ps.pos) > 50 and len(ps.neg) >= len(ps.pos)
    assert (ps.point[ps.pos[:, 0]] == ps.point[ps.pos[:, 1]]).all()
    assert (ps.point[ps.neg[:, 0]] != ps.point[ps.neg[:, 1]]).all()
    d = synth.sift_describe(ps.patches)
    dist = lambda p: np.linalg.norm(d[p[:, 0]] - d[p[:, 1]], axis=1)  # noqa: E731
    assert np.median(dist(ps.pos)) < 0.6 * np.median(dist(ps.neg))


def test_train_validation_and_heldout_photos_never_mix():
    held = set(photos.SKIMAGE_HELDOUT + photos.MATE_HELDOUT + photos.HELD_BACK)
    trained = set(photos.SKIMAGE_TRAIN + photos.MATE_TRAIN + photos.PLASMA_TRAIN + photos.OPENCV_TRAIN)
    assert not trained & held and not trained & set(photos.LOMIRI_VAL) and not held & set(photos.LOMIRI_VAL)
    assert set(photos.LOMIRI_VAL) < set(photos.LOMIRI_PHOTOS) and not trained & set(photos.LOMIRI_PHOTOS)
    assert {"graf1", "box_in_scene", "aero1"} <= held
    for which in ("train", "wide", "dense"):
        assert not set(photos.split(which)) & set(photos.split("heldout") + photos.split("valphotos"))


def test_validation_photos_are_found_once_unpacked(tmp_path, monkeypatch):
    monkeypatch.setattr(photos, "DATA_DIR", tmp_path)
    assert photos.split("valphotos") == []
    (tmp_path / "lomiri").mkdir()
    (tmp_path / "lomiri" / "Dragonfly_by_Bolly.jpg").write_bytes(b"")
    assert photos.split("valphotos") == ["Dragonfly_by_Bolly"]


def test_wide_split_extends_train_with_the_package_photos_that_are_present(tmp_path, monkeypatch):
    monkeypatch.setattr(photos, "DATA_DIR", tmp_path)
    assert photos.split("wide") == photos.split("train") == photos.SKIMAGE_TRAIN  # nothing unpacked
    (tmp_path / "plasma").mkdir()
    (tmp_path / "plasma" / "Path.jpg").write_bytes(b"")
    assert photos.split("wide") == photos.SKIMAGE_TRAIN + ["Path"]
    assert photos.split("train") == photos.SKIMAGE_TRAIN


def test_dense_split_adds_the_opencv_photos_in_either_format_and_never_a_held_back_one(tmp_path, monkeypatch):
    monkeypatch.setattr(photos, "DATA_DIR", tmp_path)
    (tmp_path / "opencv").mkdir()
    for name in ("graf1.png", "robin.jpg", "smarties.png", "box_in_scene.png"):
        (tmp_path / "opencv" / name).write_bytes(b"")
    assert photos.split("dense") == photos.SKIMAGE_TRAIN + ["smarties", "robin"]
    assert photos.split("wide") == photos.SKIMAGE_TRAIN


def test_stereo_pairs_follow_disparity():
    left, right, disp = stereo.motorcycle()
    rng = np.random.default_rng(0)
    ps = synth.mine_pairs(left, right, stereo.disparity_map(disp, right.shape[1]), rng, max_pos=200, similar=False)
    assert len(ps.pos) >= 100


def test_patchset_roundtrip_and_concat(tmp_path):
    ps = synth.PatchSet(np.zeros((4, 64, 64), np.uint8), np.array([0, 0, 1, 1]), np.array([[0, 1], [2, 3]]),
                        np.array([[0, 3]]))
    ps.save(tmp_path / "p.npz")
    both = synth.PatchSet.concat([synth.PatchSet.load(tmp_path / "p.npz"), ps])
    assert both.pos.tolist() == [[0, 1], [2, 3], [4, 5], [6, 7]]
    assert both.point.tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
    assert len(both.photo) == 0 and both.photo_names == ()  # a set saved without photos loads without
    named = synth.PatchSet.by_photo([ps, ps, ps], ["a", "b", "c"])
    named.save(tmp_path / "n.npz")
    back = synth.PatchSet.load(tmp_path / "n.npz")
    assert back.photo.tolist() == [0] * 4 + [1] * 4 + [2] * 4 and back.photo_names == ("a", "b", "c")
    assert back.neg.tolist() == [[0, 3], [4, 7], [8, 11]]


def test_fpr95_known_answer():
    scores = np.r_[np.arange(100), np.arange(100) - 50.0]
    labels = np.r_[np.ones(100), np.zeros(100)]
    # 95% of positives score >= 5; negatives >= 5: 5..49 -> 45 of 100
    assert fpr_at_recall(scores, labels) == pytest.approx(0.45)
    with pytest.raises(ValueError):
        fpr_at_recall(scores[:100], labels[:100])


def test_fpr95_change_is_a_paired_interval_of_the_difference():
    rng = np.random.default_rng(0)
    pos, neg = rng.normal(2, 1, 2000), rng.normal(0, 1, 4000)
    assert fpr95_change(pos, neg, pos, neg, resamples=200) == (0.0, 0.0)  # the same scorer: no change
    worse = neg.copy()
    worse[np.argsort(neg)[:200]] += 10  # 200 negatives from below any threshold to above it
    lo, hi = fpr95_change(pos, neg, pos, worse, resamples=200)
    assert 0 < lo < 200 / 4000 < hi
    # two scorers as good as each other, each with its own noise: the interval holds 0
    a, b = (np.r_[pos, neg] + rng.normal(0, 0.3, 6000) for _ in range(2))
    lo, hi = fpr95_change(a[:2000], a[2000:], b[:2000], b[2000:], resamples=200)
    assert lo < 0 < hi


def test_fpr95_ratio_is_a_paired_interval_of_the_ratio():
    rng = np.random.default_rng(0)
    pos, neg = rng.normal(2, 1, 2000), rng.normal(0, 1, 4000)
    assert fpr95_ratio(pos, neg, pos, neg, resamples=200) == (1.0, 1.0)  # the same scorer: the same count
    better = neg.copy()
    above = np.flatnonzero(neg >= np.quantile(pos, 0.05))
    better[above[::2]] -= 10  # half the false positives pushed below any threshold
    lo, hi = fpr95_ratio(pos, neg, pos, better, resamples=200)
    assert lo < 0.5 < hi < 0.75
    never = neg - 10  # no false positive at all
    assert fpr95_ratio(pos, neg, pos, never, resamples=200) == (0.0, 0.0)
    assert fpr95_ratio(pos, never, pos, neg, resamples=200) == (np.inf, np.inf)  # a has none, b some


def test_more_nearby_negatives_on_request():
    rng = np.random.default_rng(0)
    a, b, h = synth.warped_pair(photos.load("camera"), rng)
    kw = dict(max_pos=10_000, similar=False)
    one = synth.mine_pairs(a, b, synth.homography_map(h, b.shape), np.random.default_rng(0), **kw)
    four = synth.mine_pairs(a, b, synth.homography_map(h, b.shape), np.random.default_rng(0), n_near=4, **kw)
    none = synth.mine_pairs(a, b, synth.homography_map(h, b.shape), np.random.default_rng(0), n_near=0, **kw)
    m = len(one.pos)
    assert len(four.pos) == len(none.pos) == m  # the positives do not depend on it
    near = lambda ps: ps.neg[m:]  # noqa: E731  (the first m negatives are the random ones)
    assert len(none.neg) == m and 0 < len(near(one)) <= m < len(near(four)) <= 4 * m
    per_point = np.bincount(near(four)[:, 0] // 2, minlength=m)
    assert per_point.max() == 4 and len(np.unique(near(four), axis=0)) == len(near(four))
    assert (four.point[four.neg[:, 0]] != four.point[four.neg[:, 1]]).all()


def test_aloe_reads_disparity_as_is_with_zero_unknown(tmp_path):
    with pytest.raises(FileNotFoundError, match="prep_data --opencv"):
        stereo.aloe(tmp_path)
    grey = np.full((6, 8), 100, np.uint8)
    for name in stereo.ALOE[:2]:
        Image.fromarray(grey).save(tmp_path / name)
    gt = np.zeros((6, 8), np.uint8)
    gt[2, 3] = 60
    Image.fromarray(gt).save(tmp_path / stereo.ALOE[2])
    left, right, disp = stereo.aloe(tmp_path)
    assert left.shape == right.shape == disp.shape == (6, 8) and disp.dtype == np.float32
    assert disp[2, 3] == 60 and np.isnan(disp).sum() == 47


def test_jittered_positives_err_as_a_detector_does_and_negatives_lie_beyond_them():
    rng = np.random.default_rng(0)
    a, b, h = synth.warped_pair(photos.load("camera"), rng)
    ps = synth.mine_pairs(a, b, synth.homography_map(h, b.shape), rng, jitter=True)
    views = ps.pos[:, 1] % 3  # 1: detected in image 2, 2: jittered off the truth
    assert (views == 1).sum() == (views == 2).sum() > 50
    jit = ps.offset[views == 2]
    assert jit.max() <= synth.TOL_FRAC + 1e-6 and np.median(jit) > 0.05  # spread over the band
    assert np.isfinite(ps.offset).all() and (ps.offset_px >= 0).all()
    detected = ps.offset_px[views == 1]  # Brown's tolerance, or a fifth of the region for large ones
    assert (detected <= np.maximum(synth.TOL_PX, synth.TOL_FRAC * synth.REGION * 40) + 1e-3).all()
    assert (ps.point[ps.neg[:, 0]] != ps.point[ps.neg[:, 1]]).all()


def test_offsets_survive_saving_and_joining(tmp_path):
    ps = synth.PatchSet(np.zeros((4, 64, 64), np.uint8), np.array([0, 0, 1, 1]), np.array([[0, 1], [2, 3]]),
                        np.array([[0, 3]]), offset=np.float32([0.02, 0.15]), offset_px=np.float32([1, 6]))
    ps.save(tmp_path / "p.npz")
    both = synth.PatchSet.concat([synth.PatchSet.load(tmp_path / "p.npz"), ps])
    assert both.offset.tolist() == pytest.approx([0.02, 0.15, 0.02, 0.15]) and both.offset_px.tolist() == [1, 6, 1, 6]
