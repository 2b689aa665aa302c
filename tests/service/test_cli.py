"""``corr``, the command-line client, against a real server: each command, its pictures and its
progress bar, as a person types them."""
import json
import subprocess
import sys

import cv2
import numpy as np
import pytest

from service.cli import main
from service.config import Settings
from tests.conftest import live_server


@pytest.fixture(scope="module")
def server():
    with live_server(Settings(api_keys="cli-key")) as url:
        yield url


@pytest.fixture(scope="module")
def files(tmp_path_factory, coffee):
    d = tmp_path_factory.mktemp("cli")
    a = cv2.resize(coffee, (360, 240), interpolation=cv2.INTER_AREA)
    h = np.array([[0.95, 0.08, 12], [-0.06, 0.97, 8], [1e-5, 2e-5, 1]])
    cv2.imwrite(str(d / "a.png"), a)
    cv2.imwrite(str(d / "b.png"), cv2.warpPerspective(a, h, (360, 240)))
    for k in range(3):
        cv2.imwrite(str(d / f"p{k}.png"), coffee[100:164, 200 + 120 * k:264 + 120 * k])
    (d / "pairs.txt").write_text("p0.png p0.png\np0.png p1.png\np2.png p2.png\n")
    return d


def corr(server, *args):
    return ["--url", server, "--key", "cli-key", *map(str, args)]


def test_match_prints_a_summary_and_writes_the_picture(server, files, capsys):
    main(corr(server, "match", files / "a.png", files / "b.png", "--geometry", "homography", "--png", files / "m.png"))
    out = capsys.readouterr().out
    assert "matches (" in out and "verified by a homography" in out
    served = Settings()
    assert f"matches (sparse, {served.sparse_fast_model})" in out  # verified: the fast descriptor's answer stands
    img = cv2.imread(str(files / "m.png"))
    assert img.shape == (240, 720, 3)
    main(corr(server, "match", files / "a.png", files / "b.png", "--json"))  # auto by default: a homography
    body = json.loads(capsys.readouterr().out)
    assert body["geometry"] == "homography" and len(body["model"]) == 3
    assert body["method"] in ("sparse", "dense") and len(body["matches"]) >= 20 and len(body["matches"][0]) == 5
    assert body["network"] in (served.sparse_fast_model, served.default_descriptor_model)
    assert len(body["confidence"]) == len(body["matches"]) and body["one_scene"] is None  # a homography was asked
    main(corr(server, "match", files / "a.png", files / "b.png", "--geometry", "none", "--json"))
    assert json.loads(capsys.readouterr().out)["one_scene"] is True


def test_transfer_and_align(server, files, capsys):
    main(corr(server, "transfer", files / "a.png", files / "b.png", "--points", "[[100, 80], [200, 150]]",
              "--png", files / "t.png"))
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("(100.0, 80.0) -> (") and "score" in out[0] and out[2].startswith("guided by")
    assert "confidence 0." in out[0] and "support " in out[0], out[0]  # what says how far to trust it
    assert cv2.imread(str(files / "t.png")).shape == (240, 720, 3)
    main(corr(server, "transfer", files / "a.png", files / "b.png", "--points", "[[100, 80]]", "--geometry",
              "fundamental", "--json"))
    body = json.loads(capsys.readouterr().out)
    assert body["guidance"] == "fundamental" and len(body["confidence"]) == 1 and len(body["support"]) == 1
    assert body["in_view"] is None and body["second_motion"] is None  # a fundamental matrix named: neither applies
    assert all(round(v, 3) == v for v in body["points"][0] + body["confidence"])  # 0.958, not float32's 0.95800000429
    main(corr(server, "transfer", files / "a.png", files / "b.png", "--points", "[[100, 80]]", "--method", "align"))
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("(100.0, 80.0) -> (") and "confidence 0." in out[0] and "guided by align" in out[1], out
    main(corr(server, "align", files / "a.png", files / "b.png", "--warp", files / "w.png", "--png", files / "al.png"))
    assert "median displacement" in capsys.readouterr().out
    assert cv2.imread(str(files / "w.png"), cv2.IMREAD_GRAYSCALE).shape == (240, 360)
    assert cv2.imread(str(files / "al.png")).shape == (240, 1080, 3)


def test_patches_scores_every_line_with_a_progress_bar(server, files, capsys):
    main(corr(server, "patches", files / "pairs.txt", "--chunk", "2", "--progress"))
    out, err = capsys.readouterr()
    scores = [float(line.split("\t")[0]) for line in out.splitlines()]
    assert len(scores) == 3 and scores[0] > scores[1] and scores[2] > scores[1]
    assert "3/3" in err and "pair" in err


def test_add_gives_ids_the_commands_take_for_files_and_delete_drops_them(server, files, capsys):
    main(corr(server, "add", files / "a.png", files / "b.png"))
    lines = capsys.readouterr().out.splitlines()
    ids = [line.split("\t")[0] for line in lines]
    assert [line.split("\t")[1] for line in lines] == [str(files / "a.png"), str(files / "b.png")]
    main(corr(server, "match", files / "a.png", files / "b.png", "--json"))
    by_file = json.loads(capsys.readouterr().out)
    main(corr(server, "match", *ids, "--json", "--png", files / "by_id.png"))
    by_id = json.loads(capsys.readouterr().out)
    assert by_id["matches"] == by_file["matches"] and cv2.imread(str(files / "by_id.png")).shape == (240, 720, 3)
    main(corr(server, "transfer", ids[0], files / "b.png", "--points", "[[100, 80]]"))  # an id beside a file
    assert "guided by homography" in capsys.readouterr().out
    main(corr(server, "held", ids[1]))
    out = capsys.readouterr().out
    assert out.startswith(f"{ids[1]}\t") and Settings().default_dense_model in out and "bytes kept" in out, out
    main(corr(server, "delete", ids[1]))
    assert capsys.readouterr().out == f"deleted {ids[1]}\n"
    main(corr(server, "held", ids[1]))
    assert capsys.readouterr().out == f"{ids[1]}\tnothing held\n"
    main(corr(server, "held", files / "a.png", files / "b.png"))  # the files themselves name their ids
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"{files / 'a.png'}\t") and "bytes kept" in out[0]
    assert out[1] == f"{files / 'b.png'}\tnothing held"
    main(corr(server, "delete", files / "a.png"))
    assert capsys.readouterr().out == f"deleted {files / 'a.png'}\n"
    main(corr(server, "held", ids[0]))
    assert capsys.readouterr().out == f"{ids[0]}\tnothing held\n"
    r = subprocess.run([sys.executable, "-m", "service.cli", *corr(server, "match", files / "a.png", ids[1])],
                       capture_output=True, text=True)
    assert r.returncode != 0 and f"404 not_found: no cached features for image {ids[1]}" in r.stderr, r.stderr


def test_errors_are_one_clear_line(server, files):
    r = subprocess.run([sys.executable, "-m", "service.cli", "--url", server, "--key", "wrong", "models"],
                       capture_output=True, text=True)
    assert r.returncode != 0 and "401 unauthorized" in r.stderr and "Traceback" not in r.stderr
    r = subprocess.run([sys.executable, "-m", "service.cli", "--url", "http://127.0.0.1:9", "models"],
                       capture_output=True, text=True)
    assert r.returncode != 0 and "cannot reach the service" in r.stderr
    for bad in ("[[10, 10", "[1, 2]", "[[1, 2, 3]]", "[[1, \"x\"]]"):
        r = subprocess.run([sys.executable, "-m", "service.cli",
                            *corr(server, "transfer", files / "a.png", files / "b.png", "--points", bad)],
                           capture_output=True, text=True)
        assert r.returncode != 0 and "the points must be JSON" in r.stderr and "Traceback" not in r.stderr, r.stderr


def test_corr_is_an_installed_command():
    from importlib.metadata import entry_points
    assert [e.value for e in entry_points(group="console_scripts", name="corr")] == ["service.cli:main"]


def test_each_command_says_a_geometry_was_found_in_a_copy_of_a_seen_from_the_side(server, tmp_path, capsys):
    """The text page's b seen 70 degrees from its side: match, transfer and align each say where
    the geometry that verified or guided them was found."""
    from models.data import pairs
    from tests.conftest import real
    p = real(lambda: pairs.tilted(pairs.load("text"), 70))
    cv2.imwrite(str(tmp_path / "a.png"), p.a)
    cv2.imwrite(str(tmp_path / "b.png"), p.b)
    side = "in a copy of image a seen from the side (squeezed 2x along 0 deg)"
    main(corr(server, "match", tmp_path / "a.png", tmp_path / "b.png", "--geometry", "homography"))
    assert f"verified by a homography, found {side}" in capsys.readouterr().out
    main(corr(server, "match", tmp_path / "a.png", tmp_path / "b.png", "--method", "dense"))
    assert f"their guide found {side}" in capsys.readouterr().out
    main(corr(server, "transfer", tmp_path / "a.png", tmp_path / "b.png", "--points", "[[300, 200]]"))
    assert f"guided by homography, found {side}" in capsys.readouterr().out
    main(corr(server, "align", tmp_path / "a.png", tmp_path / "b.png"))
    assert f"its guide found {side}" in capsys.readouterr().out
