"""The GPU sweep helper: what it packs to travel, and the commands it runs there."""
import sys
import time
from pathlib import Path

import numpy as np
import torch

from models import sweep, train_patch
from models.data import photos
from models.data.synth import PatchSet
from models.patchnet import build


def test_pack_takes_the_package_training_photos_and_the_start_weights(tmp_path, monkeypatch):
    data = tmp_path / "data"
    (data / "mate").mkdir(parents=True)
    (data / "mate" / "Aqua.jpg").write_bytes(b"a photo")
    (data / "mate" / "YellowFlower.jpg").write_bytes(b"held back")
    (tmp_path / "init.pt").write_bytes(b"weights")
    monkeypatch.setattr(photos, "DATA_DIR", data)
    monkeypatch.setattr(sweep, "PACK", tmp_path / "pack")
    sweep.pack(str(tmp_path / "init.pt"))
    packed = sorted(p.relative_to(tmp_path / "pack").as_posix() for p in (tmp_path / "pack").rglob("*") if p.is_file())
    assert packed == ["data/mate/Aqua.jpg", "init.pt"]  # never a held-back photo, nor scikit-image's own


def test_each_variant_and_seed_is_one_fine_tune_whose_own_arguments_win():
    cmds = sweep.commands({"mine4": "--mine 4", "lr5": "--lr 5e-4 --steps 10"}, [0, 3], sweep.BASE, "cuda",
                          Path("/tmp/r"))
    assert sorted(cmds) == ["lr5-s0", "lr5-s3", "mine4-s0", "mine4-s3"]
    args = {n: vars(train_patch.parser().parse_args(c[3:])) for n, c in cmds.items()}
    assert args["mine4-s3"]["mine"] == 4 and args["mine4-s3"]["lr"] == 3e-4 and args["mine4-s3"]["seed"] == 3
    assert args["lr5-s0"]["lr"] == 5e-4 and args["lr5-s0"]["steps"] == 10 and args["lr5-s0"]["mine"] == 1
    assert all(a["init"] == str(sweep.PACK / "init.pt") and a["device"] == "cuda" for a in args.values())
    assert len({a["out"] for a in args.values()}) == 4


def test_side_by_side_reports_exit_codes_and_kills_what_outlives_the_deadline(tmp_path):
    py = [sys.executable, "-c"]
    cmds = {"ok": py + ["print('trained')"], "bad": py + ["raise SystemExit(3)"],
            "slow": py + ["import time; time.sleep(60)"]}
    t0 = time.time()
    codes = sweep.side_by_side(cmds, t0 + 3, tmp_path)
    assert codes == {"ok": 0, "bad": 3, "slow": None} and time.time() - t0 < 20
    assert (tmp_path / "sweep-ok.txt").read_text().strip() == "trained"


def random_checkpoint(path: Path, seed: int) -> None:
    """A 2ch-2stream checkpoint of untrained weights, drawn with ``seed``."""
    torch.manual_seed(seed)
    torch.save({"model": build("2ch-2stream", 0.25).state_dict(), "arch": "2ch-2stream", "width": 0.25}, path)


def test_score_with_eight_views_does_not_see_a_quarter_turn_of_every_patch(tmp_path, capsys):
    random_checkpoint(tmp_path / "model.pt", 0)
    rng = np.random.default_rng(0)
    patches = rng.integers(0, 256, (40, 64, 64), dtype=np.uint8)
    pairs = rng.integers(0, 40, (60, 2))
    upright = PatchSet(patches, np.arange(40), pairs[:30], pairs[30:])
    turned = PatchSet(np.ascontiguousarray(np.rot90(patches, 1, (1, 2))), upright.point, upright.pos, upright.neg)
    lines = {}
    for views in (1, 8):
        for name, ps in (("upright", upright), ("turned", turned)):
            sweep.score([str(tmp_path / "model.pt")], views, {"val": ps})
            lines[views, name] = capsys.readouterr().out.split(" ", 1)[1]
    assert lines[8, "upright"] == lines[8, "turned"]
    assert lines[1, "upright"] != lines[1, "turned"]


def test_score_against_a_base_gives_the_interval_of_the_change_in_false_positives(tmp_path, capsys, monkeypatch):
    for seed in (0, 1):
        random_checkpoint(tmp_path / f"m{seed}.pt", seed)
    rng = np.random.default_rng(0)
    pairs = rng.integers(0, 200, (600, 2))
    ps = PatchSet(rng.integers(0, 256, (200, 64, 64), dtype=np.uint8), np.arange(200), pairs[:200], pairs[200:])
    loads, load = [], torch.load
    monkeypatch.setattr(torch, "load", lambda path, **kw: loads.append(path) or load(path, **kw))
    sweep.score([str(tmp_path / "m0.pt"), str(tmp_path / "m1.pt")], sets={"val": ps}, against=str(tmp_path / "m0.pt"))
    assert len(loads) == 2  # the base, also a path here, is scored once
    same, other = capsys.readouterr().out.splitlines()
    assert same.endswith(", +0 to +0 false positives")
    lo, hi = (int(v) for v in other.split(", ")[-1].removesuffix(" false positives").split(" to "))
    assert lo < hi
