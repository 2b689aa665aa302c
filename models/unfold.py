"""A trainable checkpoint of an exported 2-channel patch network, to fine-tune a network whose
training checkpoint is not at hand:

    python -m models.unfold runs/2ch-2stream-base/export/2ch-2stream.onnx --out runs/2ch-2stream-base/unfolded.pt

The export folds each batch normalisation into the convolution before it. Here the folded
convolutions are loaded as they are, and each BatchNorm2d is made to pass its input through: its
running statistics are those of its input on a batch of training pairs (``BATCH`` of them, drawn as
training draws them, seed 0), and its scale and shift undo exactly those. The checkpoint then scores
as the file does (checked against ONNX Runtime to ``TOLERANCE``), in evaluation mode, and in training
mode up to how far a batch's statistics stray from those, so a fine-tune starts where the export
stands. Its command is the network's training command (from the manifest beside the file),
followed by this one.
"""
from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from onnx import numpy_helper
from torch import nn

from models.data.synth import PatchSet
from models.patchnet import build
from models.train_patch import sample_batch
from models.training import cpu_weights

BATCH = 1024
TOLERANCE = 1e-3  # ONNX Runtime's sums against torch's, over a whole network of float32


def entry_of(onnx_path: Path) -> dict:
    """The manifest entry of an exported file, from the manifest.json beside it."""
    entries = json.loads((onnx_path.parent / "manifest.json").read_text())["models"]
    return next(e for e in entries if e["file"] == onnx_path.name)


def load_folded(net: nn.Module, graph: onnx.GraphProto) -> None:
    """The file's weights into ``net``: its Conv nodes' folded weights into the convolutions in
    order, the initializers named as ``net``'s parameters (the decision network) by name."""
    init = {i.name: torch.from_numpy(numpy_helper.to_array(i).copy()) for i in graph.initializer}
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
    nodes = [n for n in graph.node if n.op_type == "Conv"]
    if len(convs) != len(nodes):
        raise ValueError(f"{len(nodes)} convolutions in the file, {len(convs)} in the network")
    with torch.no_grad():
        for node, conv in zip(nodes, convs, strict=True):
            conv.weight.copy_(init[node.input[1]])
            conv.bias.copy_(init[node.input[2]])
        for name, value in net.state_dict().items():
            if name in init:
                value.copy_(init[name])


def pass_through(net: nn.Module, x: torch.Tensor) -> None:
    """Every BatchNorm2d of ``net`` made to return its input: running statistics those of its input
    on ``x``, and a scale and shift that undo them."""
    norms = [m for m in net.modules() if isinstance(m, nn.BatchNorm2d)]
    seen: dict[nn.Module, tuple[torch.Tensor, torch.Tensor]] = {}
    for bn in norms:  # first the identity, so that each layer sees what the file's next layer sees
        bn.reset_parameters()
        bn.running_var.fill_(1 - bn.eps)
    hooks = [bn.register_forward_hook(lambda m, i, o: seen.__setitem__(m, (i[0].mean((0, 2, 3)),
                                                                            i[0].var((0, 2, 3), unbiased=False))))
             for bn in norms]
    net.eval()
    with torch.no_grad():
        net(x)
        for bn in norms:
            mean, var = seen[bn]
            bn.running_mean.copy_(mean)
            bn.running_var.copy_(var)
            bn.weight.copy_(torch.sqrt(var + bn.eps))
            bn.bias.copy_(mean)
    for h in hooks:
        h.remove()


def unfold(onnx_path: Path, out: Path, patches: Path = Path("data/patches_train.npz")) -> float:
    """Write the checkpoint; returns the largest score difference against ONNX Runtime."""
    entry = entry_of(onnx_path)
    net = build(entry["architecture"], entry["width"])
    load_folded(net, onnx.load(onnx_path).graph)
    pairs, _ = sample_batch(PatchSet.load(patches), np.random.default_rng(0), BATCH)
    x = torch.from_numpy(np.ascontiguousarray(pairs)).float().div_(255.0)
    pass_through(net, x)
    with torch.no_grad():
        ours = net(x).numpy()
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    theirs = sess.run(None, {sess.get_inputs()[0].name: x.numpy()})[0]
    gap = float(np.abs(ours - theirs).max())
    if gap > TOLERANCE:
        raise ValueError(f"the unfolded network scores {gap:.2g} away from {onnx_path}")
    out.parent.mkdir(parents=True, exist_ok=True)
    command = "python -m models.unfold " + shlex.join([str(onnx_path), "--out", str(out)])
    torch.save({"model": cpu_weights(net), "arch": entry["architecture"], "width": entry["width"],
                "seed": entry["seed"], "steps": entry["steps"],
                "command": f"{entry['training_command']} && {command}"}, out)
    return gap


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("onnx", type=Path, help="an exported patch network, its manifest.json beside it")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--patches", type=Path, default=Path("data/patches_train.npz"))
    a = ap.parse_args(argv if argv is not None else sys.argv[1:])
    gap = unfold(a.onnx, a.out, a.patches)
    print(f"saved {a.out}; scores within {gap:.2g} of {a.onnx}")


if __name__ == "__main__":
    main()
