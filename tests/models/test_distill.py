"""Distilling a descriptor network: the loss, the held-out measures, the exported entry and the
shipped student's curve."""
import csv
import json
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from models import health
from models.distill_patch import held_out, main, relational
from models.export_patch import MANIFEST, export
from models.patchnet import build
from tests.models.sets import tiny_set


def unit(n: int, dim: int = 16, seed: int = 0) -> torch.Tensor:
    return F.normalize(torch.randn(n, dim, generator=torch.Generator().manual_seed(seed)), dim=1)


def test_a_student_that_gives_the_teachers_similarities_costs_nothing_whatever_its_space():
    t = unit(32)
    turned = t @ torch.linalg.qr(torch.randn(16, 16, generator=torch.Generator().manual_seed(1)))[0]
    assert relational(t, t).item() < 1e-6 and relational(turned, t).item() < 1e-5


def test_a_student_that_ranks_another_candidate_first_costs_more_than_one_that_only_blurs_the_scale():
    t = unit(32)
    t[1::2] = F.normalize(t[0::2] + 0.3 * unit(16, seed=2), dim=1)  # each second view near its first
    swapped = t.clone()
    swapped[1::2] = t[1::2].roll(1, 0)  # every first view now nearest another's second view
    blurred = F.normalize(t + 0.05 * unit(32, seed=3), dim=1)
    assert relational(swapped, t) > 10 * relational(blurred, t)


def test_held_out_measures_read_a_student_that_is_its_teacher_as_exact():
    torch.manual_seed(0)
    net = build("siam-2stream-l2", 0.25).eval()
    x = (torch.rand(8, 64, 64) * 255).to(torch.uint8)
    with torch.no_grad():
        target = net.describe(x[:, None].float() / 255.0)
    pairs = torch.arange(8).reshape(4, 2).numpy()
    error, first, teacher_first = held_out(net, x, target, pairs)
    assert error < 1e-5 and first == teacher_first


def distil(monkeypatch, tmp_path: Path, *extra: str) -> dict:
    out = tmp_path / "run"
    monkeypatch.setattr(sys, "argv", ["distill_patch", "--arch", "siam-2stream-l2-s2", "--steps", "2", "--batch",
                                      "16", "--threads", "1", "--set", tiny_set(tmp_path / "set.npz", 200),
                                      "--out", str(out), *extra])
    main()
    assert [r["step"] for r in csv.DictReader((out / "log.csv").read_text().splitlines())] == ["2"]
    return torch.load(out / "model.pt", weights_only=False)


def test_a_short_distillation_logs_its_step_and_saves_its_weights_and_command(monkeypatch, tmp_path):
    saved = distil(monkeypatch, tmp_path)
    assert saved["name"] == "siam-2stream-l2-s2-distilled-w0.25" and saved["steps"] == 2
    assert saved["command"].startswith("python -m models.distill_patch --arch siam-2stream-l2-s2 --steps 2")
    build("siam-2stream-l2-s2", 0.25).load_state_dict(saved["model"])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_a_gpu_distillation_saves_cpu_weights(monkeypatch, tmp_path):
    saved = distil(monkeypatch, tmp_path, "--device", "cuda")
    assert all(t.device.type == "cpu" for t in saved["model"].values())  # servable and exportable without a GPU
    assert "--device cuda" in saved["command"]


def test_an_exported_student_keeps_its_name_and_says_whom_it_was_distilled_from(tmp_path):
    torch.manual_seed(0)
    path = tmp_path / "student.pt"
    torch.save({"model": build("siam-2stream-l2", 0.25).state_dict(), "arch": "siam-2stream-l2", "width": 0.25,
                "seed": 0, "steps": 1, "command": "test", "name": "student", "teacher": "siam-2stream-l2"}, path)
    entry = export(path, tmp_path / "w")
    assert (entry["name"], entry["distilled_from"], entry["kind"]) == ("student", "siam-2stream-l2", "descriptor")
    assert entry["file"] == "student.onnx" and "whitening" not in entry


def test_every_shipped_student_has_its_curve_to_its_last_step_with_every_layer_alive():
    students = [e for e in json.loads(MANIFEST.read_text())["models"] if e.get("distilled_from")]
    assert students
    for e in students:
        folder = Path(__file__).parents[2] / "docs" / "curves" / e["name"]
        with open(folder / "log.csv") as f:
            last = list(csv.DictReader(f))[-1]
        assert int(last["step"]) == e["steps"] and float(last["max_dead"]) <= health.MAX_DEAD
        assert float(last["first_ranked"]) > 0.9 * float(last["teacher_first_ranked"])
        with open(folder / "layers.csv") as f:
            final = [float(r["dead_share"]) for r in csv.DictReader(f)
                     if int(r["step"]) == e["steps"] and r["dead_share"]]
        assert final and max(final) <= health.MAX_DEAD
