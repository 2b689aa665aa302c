"""Weight averaging: the soup is the parameter-wise mean, keeps its ingredients' commands, and
refuses ingredients of different architectures."""
import pytest
import torch

from models.patchnet import build
from models.soup import main, soup


def ckpt(tmp_path, name, arch="2ch-2stream", seed=0, command="python -m models.train_patch --arch A"):
    torch.manual_seed(seed)
    path = tmp_path / f"{name}.pt"
    torch.save({"model": build(arch).state_dict(), "arch": arch, "width": 0.5, "seed": 0, "steps": 10 * (seed + 1),
                "command": command}, path)
    return path


def test_soup_is_the_mean_and_chains_commands(tmp_path):
    a = ckpt(tmp_path, "a", seed=0, command="base")
    b = ckpt(tmp_path, "b", seed=1, command="base && tune")
    main([str(a), str(b), "--out", str(tmp_path / "s" / "model.pt")])
    out = torch.load(tmp_path / "s" / "model.pt")
    wa, wb = torch.load(a)["model"], torch.load(b)["model"]
    for k, v in out["model"].items():
        torch.testing.assert_close(v, (wa[k] + wb[k]) / 2)
    assert any(not torch.equal(wa[k], wb[k]) for k in wa)
    assert out["command"].startswith("base && tune && python -m models.soup ")
    assert out["steps"] == 20 and out["arch"] == "2ch-2stream"
    net = build("2ch-2stream")
    net.load_state_dict(out["model"])
    assert net(torch.rand(3, 2, 64, 64)).shape == (3,)


def test_soup_refuses_mixed_architectures(tmp_path):
    with pytest.raises(ValueError, match="architecture"):
        soup([ckpt(tmp_path, "a"), ckpt(tmp_path, "b", arch="2ch-deep")])
