"""A trainable checkpoint of an exported 2-channel network: it scores as the file does, in
evaluation mode and (a batch's own statistics aside) in training mode, and says how it was made."""
import numpy as np
import torch

from models.data.synth import PatchSet
from models.export_patch import export, update_manifest
from models.patchnet import build
from models.unfold import unfold
from tests.models.sets import tiny_set


def pairs(data):
    ps = PatchSet.load(data)
    return torch.from_numpy(ps.patches[np.concatenate([ps.pos, ps.neg])]).float() / 255


def trained_looking(tmp_path, x, arch="2ch-2stream"):
    """A checkpoint whose batch normalisations hold scales of their own and the statistics of
    pairs ``x``, as a trained network's do (a fresh one's are the identity)."""
    torch.manual_seed(0)
    net = build(arch)
    for bn in (m for m in net.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)):
        bn.weight.data.uniform_(0.5, 1.5)
        bn.bias.data.uniform_(-0.3, 0.3)
        bn.momentum = None  # a cumulative average: one pass sets the running statistics
    with torch.no_grad():
        net.train()(x)
    path = tmp_path / "base.pt"
    torch.save({"model": net.state_dict(), "arch": arch, "width": 0.5, "seed": 0, "steps": 7,
                "command": "python -m models.train_patch --arch 2ch-2stream"}, path)
    return net, path


def test_the_unfolded_network_scores_as_the_exported_one(tmp_path):
    data = tiny_set(tmp_path / "d.npz")
    x = pairs(data)
    net, path = trained_looking(tmp_path, x)
    w = tmp_path / "w"
    update_manifest([export(path, w)], w / "manifest.json")
    out = tmp_path / "ft" / "model.pt"
    unfold(w / "2ch-2stream.onnx", out, data)
    ckpt = torch.load(out, weights_only=False)
    again = build("2ch-2stream")
    again.load_state_dict(ckpt["model"])
    net.eval(), again.eval()
    with torch.no_grad():
        np.testing.assert_allclose(again(x).numpy(), net(x).numpy(), atol=1e-3)
        again.train()  # each batch normalisation's own statistics are nearly those it was given
        assert np.corrcoef(again(x).numpy(), net(x).numpy())[0, 1] > 0.95  # 0.71 with them left at the identity
    assert ckpt["steps"] == 7 and ckpt["command"].startswith("python -m models.train_patch --arch 2ch-2stream && "
                                                             "python -m models.unfold ")
