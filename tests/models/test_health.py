"""Weight health: the export gate, the scan of every shipped file, and a training set-up that
keeps units alive."""
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from models import health
from models.export_patch import export
from models.patchnet import ARCHS, build
from models.training import optimiser
from models.ucn import UCN

WEIGHTS = Path(__file__).parents[2] / "models" / "weights"
ENTRIES = json.loads((WEIGHTS / "manifest.json").read_text())["models"]


def probe_feed(entry: dict) -> dict[str, np.ndarray]:
    if entry["kind"] == "dense":
        return {"image": health.probe_images()}
    pairs = health.probe_pairs()
    return {"pairs": pairs} if entry["kind"] == "patch" else {"patches": np.ascontiguousarray(pairs[:, :1])}


@pytest.mark.parametrize("entry", ENTRIES, ids=[e["name"] for e in ENTRIES])
def test_every_shipped_network_is_healthy(entry):
    """No shipped file holds a subnormal or non-finite value, and no layer has more than a quarter
    of its units dead on real inputs."""
    report = health.onnx_report(WEIGHTS / entry["file"], probe_feed(entry))
    assert report["subnormal"] == 0 and report["nonfinite"] == 0
    assert report["dead"], "the scan must see the network's ReLUs"
    assert max(report["dead"].values()) <= health.MAX_DEAD, report["dead"]
    if "decision_file" in entry:
        assert health.onnx_report(WEIGHTS / entry["decision_file"])["subnormal"] == 0


@pytest.mark.parametrize("arch", sorted(ARCHS))
def test_he_initialisation_leaves_every_layer_alive_and_the_score_spread(arch):
    torch.manual_seed(0)
    net = build(arch)
    x = torch.from_numpy(health.probe_pairs())
    assert max(health.dead_units(net, x).values()) <= 0.1
    assert net.eval()(x).std() > 0.05


def test_the_gate_flushes_subnormals_and_keeps_the_rest():
    net = build("2ch")
    with torch.no_grad():
        w = net.trunk[0][0].weight
        w[0, 0, 0, :3] = torch.tensor([1e-40, -3e-39, 0.5])
    report = health.gate(net, torch.from_numpy(health.probe_pairs()[:64]))
    assert report["flushed"] == 2 and w[0, 0, 0, :3].tolist() == [0.0, 0.0, 0.5]
    assert health.subnormal(w) == 0 and set(report["weight_norm"]) - set(report["dead"]) == {"head.3"}  # the score


def test_the_gate_refuses_non_finite_weights_and_dead_layers():
    x = torch.from_numpy(health.probe_pairs()[:64])
    net = build("2ch")
    with torch.no_grad():
        net.head[0].bias[3] = float("nan")
    with pytest.raises(health.UnhealthyWeights, match="non-finite"):
        health.gate(net, x)
    net = build("2ch")
    with torch.no_grad():  # a third of the first layer's units can never fire
        net.trunk[0][0].weight[:16] = 0
        net.trunk[0][1].bias[:16] = -1
    with pytest.raises(health.UnhealthyWeights, match="trunk.0.0 33%"):
        health.gate(net, x)


def test_export_refuses_a_dead_network_and_leaves_no_file(tmp_path):
    net = build("2ch-2stream")
    with torch.no_grad():  # the central stream's last layer silenced, as Adam and L2 once did
        net.central[5][0].weight.fill_(1e-39)
        net.central[5][0].bias.fill_(-1e-3)
    path = tmp_path / "dead.pt"
    torch.save({"model": net.state_dict(), "arch": "2ch-2stream", "width": 0.5, "seed": 0, "steps": 1,
                "command": "test"}, path)
    with pytest.raises(health.UnhealthyWeights, match="central.5.0 100%"):
        export(path, tmp_path / "w")
    assert not list((tmp_path / "w").glob("*.onnx")) if (tmp_path / "w").exists() else True


def test_onnx_report_sees_dead_channels_and_subnormals(tmp_path):
    net = build("2ch")
    with torch.no_grad():  # (batch normalisation folds into the convolution at export)
        net.trunk[0][0].weight[:24] = 0
        net.trunk[0][1].bias[:24] = -1
        net.head[3].weight[0, :5] = 1e-40
    path = tmp_path / "n.onnx"
    torch.onnx.export(net.eval(), (torch.rand(2, 2, 64, 64),), str(path), input_names=["pairs"],
                      output_names=["scores"], dynamic_axes={"pairs": {0: "b"}}, opset_version=17, dynamo=False)
    report = health.onnx_report(path, {"pairs": health.probe_pairs()[:64]})
    assert report["subnormal"] == 5 and max(report["dead"].values()) == 0.5


def test_adamw_decays_weights_only_and_never_towards_subnormals():
    """A weight the loss never moves (a unit that never fires) shrinks by lr * decay of itself a
    step: after 20000 steps it keeps 82 % of its size, where Adam with the L2 term in the loss
    took it to zero at about the learning rate a step."""
    lin = torch.nn.Linear(4, 4)
    with torch.no_grad():
        lin.weight.fill_(0.5)
        lin.bias.fill_(0.5)
    opt = optimiser(lin, "adamw", 1e-3, 1e-2)
    for _ in range(20000):
        opt.zero_grad()
        (lin.weight.sum() * 0).backward()
        opt.step()
    assert lin.weight[0, 0].item() == pytest.approx(0.5 * (1 - 1e-5) ** 20000, rel=1e-3)
    assert lin.bias[0].item() == 0.5


def test_sgd_is_the_paper_s_momentum_and_l2():
    opt = optimiser(build("2ch"), "sgd", 0.01, 5e-4)
    assert isinstance(opt, torch.optim.SGD) and opt.defaults["momentum"] == 0.9
    assert [g["weight_decay"] for g in opt.param_groups] == [5e-4, 0.0]


def test_ucn_starts_alive():
    """Every layer of the dense network fires on real photos once its batch statistics are those
    of real photos (30 passes in training mode, no step)."""
    torch.manual_seed(0)
    net, x = UCN(), torch.from_numpy(health.probe_images())
    with torch.no_grad():
        for _ in range(30):
            net(x)
    assert max(health.dead_units(net, x).values()) <= 0.1


@pytest.mark.parametrize("arch", sorted({e["architecture"] for e in ENTRIES if not e.get("distilled_from")}))
def test_every_shipped_network_has_its_curve_and_ended_with_every_layer_alive(arch):
    """docs/curves/<architecture> holds the training curve the shipped weights came from: it reaches
    the manifest's step count, and at its last step no layer has more than a quarter of its units
    dead. (A distilled student's curve is under its own name: tests/models/test_distill.py.)"""
    folder = Path(__file__).parents[2] / "docs" / "curves" / arch
    steps = {e["steps"] for e in ENTRIES if e["architecture"] == arch}
    log = np.genfromtxt(folder / "log.csv", delimiter=",", names=True)
    assert log["step"][-1] in steps
    layers = [line.split(",") for line in (folder / "layers.csv").read_text().splitlines()[1:]]
    last = [float(r[3]) for r in layers if int(r[0]) == log["step"][-1] and r[3]]
    assert last and max(last) <= health.MAX_DEAD
