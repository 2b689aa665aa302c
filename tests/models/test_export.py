"""ONNX export of each family, and ORT/torch parity to 1e-4 (the check that export runs itself)."""
import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from models.export_patch import export, update_manifest
from models.patchnet import build


def checkpoint(tmp_path, arch, width=0.5):
    torch.manual_seed(0)
    path = tmp_path / f"{arch}-{width}.pt"
    torch.save({"model": build(arch, width).state_dict(), "arch": arch, "width": width, "seed": 0, "steps": 1,
                "command": "test"}, path)
    return path


@pytest.mark.parametrize("arch,kind", [("2ch-2stream", "patch"), ("2ch-deep", "patch"), ("2ch-spp", "patch"),
                                       ("pseudo-siam", "patch"), ("siam-2stream-l2", "descriptor"),
                                       ("siam", "descriptor")])
def test_export_kind_and_parity(tmp_path, arch, kind):
    entry = export(checkpoint(tmp_path, arch), tmp_path / "w")
    assert entry["kind"] == kind
    net = build(arch)
    net.load_state_dict(torch.load(tmp_path / f"{arch}-0.5.pt")["model"])
    net.eval()
    x = torch.rand(9, 2, 64, 64)
    sess = ort.InferenceSession(str(tmp_path / "w" / entry["file"]), providers=["CPUExecutionProvider"])
    if kind == "patch":
        got = sess.run(None, {"pairs": x.numpy()})[0]
    else:
        dec = ort.InferenceSession(str(tmp_path / "w" / entry["decision_file"]), providers=["CPUExecutionProvider"])
        da = sess.run(None, {"patches": x[:, :1].numpy()})[0]
        db = sess.run(None, {"patches": x[:, 1:].numpy()})[0]
        assert da.shape == (9, entry["descriptor_dim"])
        got = dec.run(None, {"a": da, "b": db})[0]
    np.testing.assert_allclose(got, net(x).detach().numpy(), atol=1e-4)


def test_manifest_keeps_other_entries_and_records_contract(tmp_path):
    w = tmp_path / "w"
    update_manifest([export(checkpoint(tmp_path, "2ch"), w)], w / "manifest.json")
    update_manifest([export(checkpoint(tmp_path, "siam-l2"), w)], w / "manifest.json")
    models = {m["name"]: m for m in json.loads((w / "manifest.json").read_text())["models"]}
    assert set(models) == {"2ch", "siam-l2"}
    for m in models.values():
        assert len(m["sha256"]) == 64 and m["training_command"] == "test" and m["seed"] == 0
        assert m["inputs"] and m["outputs"] and m["preprocessing"]["range"] == [0.0, 1.0]


def test_half_export_halves_the_file_and_matches_the_rounded_weights(tmp_path):
    ckpt = checkpoint(tmp_path, "2ch-2stream")
    full = export(ckpt, tmp_path / "full")
    half = export(ckpt, tmp_path / "half", half=True)
    assert (full["weights_dtype"], half["weights_dtype"]) == ("float32", "float16")
    size = {k: (tmp_path / k / "2ch-2stream.onnx").stat().st_size for k in ("full", "half")}
    assert size["half"] < 0.55 * size["full"]
    inits = onnx.load(str(tmp_path / "half" / "2ch-2stream.onnx")).graph.initializer
    assert sum(t.data_type == onnx.TensorProto.FLOAT16 for t in inits) >= 8  # every conv and linear weight
    net = build("2ch-2stream")
    net.load_state_dict(torch.load(ckpt)["model"])
    net.eval()
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(p.half().float())
    x = torch.rand(7, 2, 64, 64)
    sess = ort.InferenceSession(str(tmp_path / "half" / "2ch-2stream.onnx"), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(sess.run(None, {"pairs": x.numpy()})[0], net(x).detach().numpy(), atol=1e-4)


def test_views_export_scores_the_mean_over_the_pair_s_rotations_and_flips(tmp_path):
    ckpt = checkpoint(tmp_path, "2ch-2stream")
    entry = export(ckpt, tmp_path / "w", views=8)
    assert entry["name"] == "2ch-2stream-views8" and entry["views"] == 8 and entry["architecture"] == "2ch-2stream"
    net = build("2ch-2stream")
    net.load_state_dict(torch.load(ckpt)["model"])
    net.eval()
    x = np.random.default_rng(0).random((5, 2, 64, 64), dtype=np.float32)
    views = [np.rot90(x[..., ::-1] if m else x, k, axes=(2, 3)) for k in range(4) for m in (False, True)]
    with torch.no_grad():
        want = np.mean([net(torch.from_numpy(v.copy())).numpy() for v in views], axis=0)
    sess = ort.InferenceSession(str(tmp_path / "w" / entry["file"]), providers=["CPUExecutionProvider"])
    got = sess.run(None, {"pairs": x})[0]
    np.testing.assert_allclose(got, want, atol=1e-4)
    assert np.abs(got - net(torch.from_numpy(x)).detach().numpy()).max() > 1e-3  # not the single view
    # all eight views: the same score whichever way up the pair comes
    turned = sess.run(None, {"pairs": np.ascontiguousarray(np.rot90(x, 1, axes=(2, 3)))})[0]
    np.testing.assert_allclose(turned, got, atol=1e-4)
    two = export(ckpt, tmp_path / "w2", views=2)
    assert two["name"] == "2ch-2stream-views2"
    with pytest.raises(ValueError):
        export(checkpoint(tmp_path, "siam-2stream-l2"), tmp_path / "w3", views=8)


def test_a_network_of_another_width_is_named_by_it_and_leaves_the_usual_one_alone(tmp_path):
    w = tmp_path / "w"
    update_manifest([export(checkpoint(tmp_path, "siam-2stream-l2"), w)], w / "manifest.json")
    slim = export(checkpoint(tmp_path, "siam-2stream-l2", 0.25), w)
    update_manifest([slim], w / "manifest.json")
    models = {m["name"]: m for m in json.loads((w / "manifest.json").read_text())["models"]}
    assert set(models) == {"siam-2stream-l2", "siam-2stream-l2-w0.25"}
    assert slim["file"] == "siam-2stream-l2-w0.25.onnx" and slim["width"] == 0.25
    assert (models["siam-2stream-l2"]["descriptor_dim"], slim["descriptor_dim"]) == (768, 384)
    assert (w / "siam-2stream-l2.onnx").exists() and (w / "siam-2stream-l2-w0.25.decide.onnx").exists()
