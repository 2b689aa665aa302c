"""Weight health: what a trained network must show before it may be exported and served.

Adam with the L2 penalty inside the loss once drove whole layers to subnormal zeros: a unit whose
ReLU never fires gets only the penalty's gradient, Adam normalises it into steps of about the
learning rate, and its weights end below float32's smallest normal number. Such a layer carries no
signal, and subnormal arithmetic is many times slower on some x86 CPUs. Two measures catch it:

- dead units: the share of a layer's output channels that never activate (ReLU output > 0) on a
  fixed batch of real inputs;
- the weight norm of each convolution and linear layer, and the count of subnormal values.

``gate`` is the export gate: it flushes subnormal values to zero and refuses a network with a
non-finite value or a layer with more than ``MAX_DEAD`` of its units dead.
"""
from __future__ import annotations

from functools import cache
from pathlib import Path

import cv2
import numpy as np
import onnx
import onnxruntime as ort
import torch
from onnx import numpy_helper
from torch import nn

from models.data import photos, synth
from models.layers import with_outputs

MAX_DEAD = 0.25
TINY = float(np.finfo(np.float32).tiny)  # the smallest normal float32


class UnhealthyWeights(ValueError):
    """A network that must not be exported: non-finite values or dead layers."""


def relu_layers(model: nn.Module) -> dict[str, nn.ReLU]:
    """Each ReLU of ``model`` by the name of the convolution or linear layer that feeds it (the
    last one before it in module order)."""
    out, last = {}, None
    for name, mod in model.named_modules():
        if isinstance(mod, nn.Conv2d | nn.Linear):
            last = name
        elif isinstance(mod, nn.ReLU) and last is not None:
            out[last] = mod
    return out


def as_numpy(a: np.ndarray | torch.Tensor) -> np.ndarray:
    return a.detach().cpu().numpy() if isinstance(a, torch.Tensor) else np.asarray(a)


def dead_share(activations: np.ndarray | torch.Tensor) -> float:
    """Share of channels (axis 1) of (B, C, ...) ReLU outputs that are never above zero."""
    a = as_numpy(activations)
    peak = np.moveaxis(a, 1, 0).reshape(a.shape[1], -1).max(axis=1)
    return float((peak <= 0).mean())


@torch.no_grad()
def dead_units(model: nn.Module, *inputs: torch.Tensor) -> dict[str, float]:
    """{layer: share of its output channels that never activate} on one forward pass of
    ``inputs``, in eval mode (the mode it is exported in)."""
    shares: dict[str, float] = {}
    hooks = [relu.register_forward_hook(lambda _m, _i, out, name=name: shares.__setitem__(name, dead_share(out)))
             for name, relu in relu_layers(model).items()]
    was_training = model.training
    model.eval()
    try:
        model(*inputs)
    finally:
        model.train(was_training)
        for h in hooks:
            h.remove()
    return shares


def weight_norms(model: nn.Module) -> dict[str, float]:
    """{layer: L2 norm of its weight} for every convolution and linear layer."""
    return {name: float(mod.weight.detach().norm()) for name, mod in model.named_modules()
            if isinstance(mod, nn.Conv2d | nn.Linear)}


def subnormal(a: np.ndarray | torch.Tensor) -> int:
    """How many values of a float array are subnormal (non-zero, below the smallest normal)."""
    v = as_numpy(a)
    if v.dtype.kind != "f":
        return 0
    v = np.abs(v.astype(np.float32))
    return int(((v > 0) & (v < TINY)).sum())


@torch.no_grad()
def flush_subnormals(model: nn.Module) -> int:
    """Set every subnormal parameter and buffer value to zero; returns how many there were."""
    n = 0
    for t in [*model.parameters(), *model.buffers()]:
        if t.is_floating_point():
            tiny = (t != 0) & (t.abs() < TINY)
            n += int(tiny.sum())
            t.masked_fill_(tiny, 0.0)
    return n


def gate(model: nn.Module, *inputs: torch.Tensor) -> dict:
    """The export gate. Flushes subnormal values, then raises ``UnhealthyWeights`` if a parameter
    or buffer is not finite or a layer has more than MAX_DEAD of its units dead on ``inputs``.
    Returns {"flushed": count, "dead": {layer: share}, "weight_norm": {layer: norm}}."""
    flushed = flush_subnormals(model)
    bad = [n for n, t in [*model.named_parameters(), *model.named_buffers()]
           if t.is_floating_point() and not torch.isfinite(t).all()]
    if bad:
        raise UnhealthyWeights(f"non-finite values in {', '.join(bad)}")
    dead = dead_units(model, *inputs)
    worst = {k: v for k, v in dead.items() if v > MAX_DEAD}
    if worst:
        raise UnhealthyWeights("layers with more than {:.0%} dead units: {}".format(
            MAX_DEAD, ", ".join(f"{k} {v:.0%}" for k, v in worst.items())))
    return {"flushed": flushed, "dead": dead, "weight_norm": weight_norms(model)}


@cache
def probe_pairs(n: int = 512) -> np.ndarray:
    """A fixed batch of real patch pairs (half matching, half not) to look for dead units with:
    (n, 2, 64, 64) float32 in [0, 1], from warps of two scikit-image photos."""
    ps = synth.from_photos([photos.load("camera"), photos.load("astronaut")], warps=1, seed=0, similar=False)
    rng = np.random.default_rng(0)
    pairs = np.r_[ps.pos[rng.permutation(len(ps.pos))[:n // 2]], ps.neg[rng.permutation(len(ps.neg))[:n - n // 2]]]
    return ps.patches[pairs].astype(np.float32) / 255.0


@cache
def probe_images(side: int = 192) -> np.ndarray:
    """A fixed batch of real photos for the dense network: (4, 1, side, side) float32 in [0, 1]."""
    imgs = [cv2.resize(photos.load(n), (side, side), interpolation=cv2.INTER_AREA)
            for n in ("camera", "astronaut", "brick", "chelsea")]
    return np.stack(imgs)[:, None].astype(np.float32) / 255.0


def onnx_report(path: str | Path, feed: dict[str, np.ndarray] | None = None) -> dict:
    """What the gate checks, read off an exported file: {"subnormal": count over its
    initializers, "nonfinite": count, "dead": {ReLU output: share of channels never above zero
    on ``feed``} (empty without a feed)}."""
    model = onnx.load(str(path))
    values = [numpy_helper.to_array(i) for i in model.graph.initializer]
    floats = [v for v in values if v.dtype.kind == "f"]
    relus = [n.output[0] for n in model.graph.node if n.op_type == "Relu"] if feed is not None else []
    outs = []
    if relus:
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        sess = ort.InferenceSession(with_outputs(str(path), relus), opts, providers=["CPUExecutionProvider"])
        outs = sess.run(relus, feed)
    return {"subnormal": sum(subnormal(v) for v in floats),
            "nonfinite": sum(int((~np.isfinite(v)).sum()) for v in floats),
            "dead": {name: dead_share(o) for name, o in zip(relus, outs, strict=True)}}
