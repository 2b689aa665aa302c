import cv2
import numpy as np
import pytest

from models.data import lenses, photos
from models.data.lenses import carried


def test_a_point_carried_to_the_other_projection_and_back_returns_and_the_centre_stays():
    xy = np.array([[300.0, 300.0], [350.0, 280.0], [100.0, 500.0], [560.0, 40.0]])
    c = np.array([299.5, 299.5])
    for kinds, focal in ((("fisheye", "stereographic"), (126.0, 60.0)), (("fisheye", "rectilinear"), (95.0, 109.0))):
        there = carried(xy, kinds, focal, c, c)
        back = carried(there, kinds[::-1], focal[::-1], c, c)
        ok = np.isfinite(there).all(1)
        np.testing.assert_allclose(back[ok], xy[ok], atol=1e-6)
    # a fisheye's ray at 90 degrees or more has no place in a rectilinear image
    beyond = np.array([[299.5 + 95 * 1.6, 299.5]])
    assert np.isnan(carried(beyond, ("fisheye", "rectilinear"), (95.0, 109.0), c, c)).all()
    np.testing.assert_allclose(carried(c[None], ("fisheye", "stereographic"), (126.0, 60.0), c, c), c[None])


def test_the_focal_lengths_of_a_photo_remapped_to_another_projection_are_found(tmp_path, monkeypatch):
    a = cv2.resize(photos.load("astronaut"), (500, 500))
    c = lenses.centre(a)
    ys, xs = np.mgrid[0:500, 0:500].astype(np.float64)
    src = carried(np.c_[xs.ravel(), ys.ravel()], ("stereographic", "fisheye"), (90.0, 150.0), c, c)
    src = src.reshape(500, 500, 2).astype(np.float32)
    b = cv2.remap(a, src[..., 0], src[..., 1], cv2.INTER_LINEAR)
    cv2.imwrite(str(tmp_path / "a.png"), a)
    cv2.imwrite(str(tmp_path / "b.png"), b)
    monkeypatch.setattr(lenses, "LENSES", tmp_path)
    monkeypatch.setitem(lenses.FILES, "made", (("a.png", "fisheye"), ("b.png", "stereographic")))
    pair = lenses.load.__wrapped__("made")
    np.testing.assert_allclose(pair.focal, (150.0, 90.0), rtol=0.01)
    assert pair.kept > 100 and pair.residual < 0.5, (pair.kept, pair.residual)
    pts, truth = lenses.points(pair, 50, np.random.default_rng(0))
    assert len(pts) == 50 and pair.known(pts).all()
    np.testing.assert_allclose(truth, carried(pts, ("fisheye", "stereographic"), (150.0, 90.0), c, c), atol=2.0)


@pytest.mark.parametrize("name", list(lenses.FILES))
def test_the_validation_pairs_truth_holds_at_their_matches(name):
    try:
        pair = lenses.load(name)
    except FileNotFoundError:
        pytest.skip("no data/pairs/lenses: run `python -m models.prep_data --opencv`")
    assert pair.kept >= 80 and pair.residual < 0.6, (pair.kept, pair.residual)


def test_prep_data_copies_every_pairs_pictures_out_of_hugin_data(tmp_path, monkeypatch):
    from contextlib import contextmanager

    from models import prep_data
    root = tmp_path / "deb"
    (root / prep_data.HUGIN_HELP).mkdir(parents=True)
    names = [f for sides in lenses.FILES.values() for f, _ in sides]
    for name in names:
        (root / prep_data.HUGIN_HELP / name).write_bytes(b"jpeg")

    @contextmanager
    def unpacked(package: str):
        assert package == "hugin-data"
        yield root
    monkeypatch.setattr(prep_data, "unpacked", unpacked)
    monkeypatch.setattr(prep_data, "LENSES", tmp_path / "lenses")
    prep_data.lenses()
    assert sorted(p.name for p in (tmp_path / "lenses").iterdir()) == sorted(names)
