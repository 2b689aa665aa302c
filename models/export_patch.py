"""Export trained patch networks to ONNX, check ONNX Runtime against torch, and record them in
models/weights/manifest.json.

    python -m models.export_patch runs/2ch-2stream/model.pt [...]

2ch-family and pseudo-siamese networks export whole, kind ``patch``: ``pairs`` (B, 2, 64, 64) ->
``scores`` (B,). Siamese networks (shared weights) export in two parts: kind ``descriptor``
``patches`` (B, 1, 64, 64) -> ``descriptors`` (B, D), and a decision part ``<name>.decide.onnx``
(``a`` (B, D), ``b`` (B, D)) -> ``scores`` (B,), so the service describes each patch once.
All inputs are float32 grey values in [0, 1]; the batch (and, for SPP, height and width) is dynamic.

A network trained at another width than the usual 0.5 is named ``<arch>-w<width>``.

``--views N`` (2ch-family networks on 64x64 pairs) exports ``<arch>-views<N>``: the same weights
inside a graph that scores each pair in N of its 8 rotations and flips (the same transform on
both patches, as in training) and returns the mean score. It costs N forward passes a pair; the
views are taken in ``VIEWS``' order (2: upright and half-turned; 4: the four rotations; 8: all).

Every export passes ``models.health.gate`` first: subnormal values are flushed to zero, and a
network with a non-finite value or a layer with more than a quarter of its units dead on a fixed
batch of real patch pairs is refused; the written file is scanned again the same way.

``--whiten DIMS`` (L2 descriptor networks) appends ``models.whiten``'s map, fitted on
``--whiten-patches`` patches drawn (seed 0) from ``--whiten-set`` (the network's training set): the
descriptor then has DIMS numbers, and the manifest entry records the fit.

``--half`` stores the weights as float16 (each large initializer followed by a Cast to float32,
which ONNX Runtime folds when it loads the model, so it still computes in float32): half the file
for a full-width network. The weights are rounded to float16 in torch first, so the parity check
compares the same numbers.
"""
from __future__ import annotations

import argparse
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from onnx import TensorProto, helper, numpy_helper
from torch import nn

from models import health, whiten
from models.patchnet import PATCH, SPP_MIN, WIDTH, build

WEIGHTS = Path(__file__).resolve().parent / "weights"
MANIFEST = WEIGHTS / "manifest.json"
TOLERANCE = 1e-4
HALF_MIN_SIZE = 1024  # smaller initializers (biases) stay float32: they cost nothing


# (quarter turns, mirrored) of each view, in the order --views takes them
VIEWS = [(0, False), (2, False), (1, False), (3, False), (0, True), (2, True), (1, True), (3, True)]


class Views(nn.Module):
    """The mean score of a 2ch-family network over the first ``n`` of ``VIEWS`` of each pair."""

    def __init__(self, net: nn.Module, n: int):
        super().__init__()
        if not 1 <= n <= len(VIEWS):
            raise ValueError(f"views must be 1 to {len(VIEWS)}, not {n}")
        self.net, self.n = net, n

    @staticmethod
    def turn(x: torch.Tensor, k: int) -> torch.Tensor:
        """``torch.rot90(x, k, (2, 3))`` spelt in flips and transposes, which ONNX export knows."""
        for _ in range(k % 4):
            x = x.transpose(2, 3).flip(2)
        return x

    def forward(self, pairs: torch.Tensor) -> torch.Tensor:
        views = [self.turn(pairs.flip(3) if mirrored else pairs, k) for k, mirrored in VIEWS[:self.n]]
        return self.net(torch.cat(views)).reshape(self.n, -1).mean(0)


class Describe(nn.Module):
    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, patches: torch.Tensor) -> torch.Tensor:
        return self.net.describe(patches)


class Decide(nn.Module):
    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return self.net.decide(a, b)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


PATCH_SIZES = [(1, PATCH, PATCH), (5, PATCH, PATCH), (33, PATCH, PATCH)]
SPP_SIZES = PATCH_SIZES + [(3, SPP_MIN, SPP_MIN), (2, 100, 77)]


def store_half(path: Path) -> None:
    """Rewrite an ONNX file so that each float32 initializer of at least HALF_MIN_SIZE values is
    stored as float16 and cast back to float32 by a node at the head of the graph."""
    model = onnx.load(str(path))
    graph = model.graph
    casts = []
    for init in list(graph.initializer):
        if init.data_type != TensorProto.FLOAT or int(np.prod(init.dims)) < HALF_MIN_SIZE:
            continue
        half = numpy_helper.from_array(numpy_helper.to_array(init).astype(np.float16), f"{init.name}.fp16")
        graph.initializer.remove(init)
        graph.initializer.append(half)
        casts.append(helper.make_node("Cast", [half.name], [init.name], to=TensorProto.FLOAT))
    for node in reversed(casts):
        graph.node.insert(0, node)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def to_onnx(module: nn.Module, inputs: dict[str, torch.Tensor], output: str, path: Path, spatial: bool,
            sizes: list[tuple[int, int, int]] | None = None, output_axes: dict[int, str] | None = None,
            half: bool = False) -> float:
    """Export with a dynamic batch (and H, W when ``spatial``), then check ORT against torch to
    ``TOLERANCE`` on fresh random inputs of the (batch, height, width) ``sizes``. With ``half``
    the weights are stored as float16 (see ``store_half``)."""
    axes = {k: ({0: "batch", 2: "height", 3: "width"} if spatial and v.ndim == 4 else {0: "batch"})
            for k, v in inputs.items()}
    axes[output] = output_axes or {0: "batch"}
    module.eval()
    torch.onnx.export(module, tuple(inputs.values()), str(path), input_names=list(inputs), output_names=[output],
                      dynamic_axes=axes, opset_version=17, dynamo=False)
    if half:
        store_half(path)
    return check_parity(module, path, inputs, sizes or (SPP_SIZES if spatial else PATCH_SIZES))


@torch.no_grad()
def check_parity(module: nn.Module, path: Path, inputs: dict[str, torch.Tensor],
                 sizes: list[tuple[int, int, int]]) -> float:
    """Largest |ORT - torch| over random inputs of each (batch, height, width) in ``sizes``
    (height and width apply to image-like inputs); raises if it exceeds TOLERANCE."""
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    worst = 0.0
    gen = torch.Generator().manual_seed(0)
    for batch, height, width in sizes:
        feed = {k: torch.rand((batch, v.shape[1], height, width) if v.ndim == 4 else (batch, *v.shape[1:]),
                              generator=gen) for k, v in inputs.items()}
        ref = module(*feed.values()).numpy()
        got = sess.run(None, {k: v.numpy() for k, v in feed.items()})[0]
        worst = max(worst, float(np.abs(ref - got).max()))
    if worst > TOLERANCE:
        raise AssertionError(f"{path.name}: ONNX Runtime differs from torch by {worst:.2e} > {TOLERANCE}")
    return worst


def checked(path: Path, feed: dict[str, np.ndarray]) -> dict:
    """The exported file's own health (``health.onnx_report``) on ``feed``; raises
    ``health.UnhealthyWeights`` if it holds a subnormal or non-finite value or a dead layer."""
    report = health.onnx_report(path, feed)
    dead = {k: v for k, v in report["dead"].items() if v > health.MAX_DEAD}
    if report["subnormal"] or report["nonfinite"] or dead:
        path.unlink()
        raise health.UnhealthyWeights(f"{path.name}: {report['subnormal']} subnormal and {report['nonfinite']} "
                                      f"non-finite values, dead layers {dead}")
    return report


def gated(net: nn.Module, probe: np.ndarray) -> dict:
    """The export gate (``health.gate`` on ``probe``, a fixed batch of real inputs); returns the
    health record the manifest entry keeps."""
    report = health.gate(net, torch.from_numpy(probe))
    return {"subnormal_flushed": report["flushed"], "max_dead_share": round(max(report["dead"].values()), 4)}


@dataclass
class Whitening:
    """What ``--whiten`` asks for (see ``models.whiten``)."""
    dims: int
    power: float = 0.5
    patch_set: Path = Path("data/patches_train.npz")
    patches: int = 20000

    def apply(self, net: nn.Module) -> tuple[nn.Module, dict]:
        """The network with the map fitted on its patch set, and the record the manifest keeps."""
        whiten.require_l2(net)  # before the patch set is read
        stored = np.load(self.patch_set)["patches"]
        pick = np.sort(np.random.default_rng(0).choice(len(stored), min(self.patches, len(stored)), replace=False))
        mean, projection, kept = whiten.fit(whiten.describe_all(net, stored[pick]), self.dims, self.power)
        return whiten.Whitened(net, mean, projection).eval(), {
            "dims": self.dims, "power": self.power, "fitted_on": f"{len(pick)} patches of {self.patch_set.name}",
            "variance_kept": round(kept, 4)}


def model_name(arch: str, width: float, views: int = 1) -> str:
    """A network's manifest name: its architecture, ``-w<width>`` unless the usual WIDTH, and
    ``-views<N>`` for a views export (``siam-2stream-l2-w0.25``, ``2ch-2stream-views8``)."""
    return arch + (f"-w{width:g}" if width != WIDTH else "") + (f"-views{views}" if views > 1 else "")


def export(checkpoint: Path, out: Path = WEIGHTS, half: bool = False, views: int = 1,
           whitening: Whitening | None = None) -> dict:
    """Export one trained checkpoint; returns its manifest entry. With ``half`` the weights are
    rounded to float16 and stored so; with ``views`` > 1 the graph averages that many views of
    each pair (see ``Views``); with ``whitening`` the descriptor passes through its map. Refuses
    unhealthy weights (``health.UnhealthyWeights``)."""
    ckpt = torch.load(checkpoint, weights_only=False)
    net = build(ckpt["arch"], ckpt["width"])
    net.load_state_dict(ckpt["model"])
    net.eval()
    if half:
        with torch.no_grad():
            for p in net.parameters():
                p.copy_(p.half().float())
    probe = health.probe_pairs()
    record = gated(net, probe)
    name = ckpt.get("name") or model_name(ckpt["arch"], ckpt["width"], views)  # a distilled one names itself
    if views > 1 and (net.siamese or net.spp):
        raise ValueError("--views is for 2ch-family networks on 64x64 pairs")
    out.mkdir(parents=True, exist_ok=True)
    entry = {"name": name, "architecture": ckpt["arch"], "width": ckpt["width"], "seed": ckpt["seed"],
             "steps": ckpt["steps"], "training_command": ckpt["command"],
             "preprocessing": {"colour": "grey", "range": [0.0, 1.0], "dtype": "float32",
                               "patch_size": None if net.spp else PATCH, "min_size": SPP_MIN if net.spp else PATCH,
                               "normalisation": "per patch, inside the network"},
             "weights_dtype": "float16" if half else "float32", "health": record}
    if ckpt.get("teacher"):
        entry["distilled_from"] = ckpt["teacher"]
    if whitening is not None:
        net, entry["whitening"] = whitening.apply(net)
    if net.siamese and net.shared:
        desc, dec = out / f"{name}.onnx", out / f"{name}.decide.onnx"
        to_onnx(Describe(net), {"patches": torch.rand(2, 1, PATCH, PATCH)}, "descriptors", desc, net.spp, half=half)
        checked(desc, {"patches": np.ascontiguousarray(probe[:, :1])})
        to_onnx(Decide(net), {"a": torch.rand(2, net.dim), "b": torch.rand(2, net.dim)}, "scores", dec, False,
                half=half)
        entry.update(kind="descriptor", file=desc.name, decision_file=dec.name, descriptor_dim=net.dim,
                     metric="l2" if net.l2 else "learned", sha256=sha256(desc), decision_sha256=sha256(dec),
                     inputs={"patches": ["batch", 1, "height" if net.spp else PATCH, "width" if net.spp else PATCH]},
                     outputs={"descriptors": ["batch", net.dim]})
    else:
        path = out / f"{name}.onnx"
        scorer = net if views == 1 else Views(net, views)
        to_onnx(scorer, {"pairs": torch.rand(2, 2, PATCH, PATCH)}, "scores", path, net.spp, half=half)
        checked(path, {"pairs": probe})
        entry.update(views=views, kind="patch", file=path.name, sha256=sha256(path),
                     inputs={"pairs": ["batch", 2, "height" if net.spp else PATCH, "width" if net.spp else PATCH]},
                     outputs={"scores": ["batch"]})
    entry["version"] = entry["sha256"][:12]
    return entry


def update_manifest(entries: list[dict], path: Path = MANIFEST) -> None:
    """Insert or replace entries by name, keeping the others as they were, and an entry's measured
    metrics and calibration when its file (and fusion, if any) did not change."""
    manifest = json.loads(path.read_text()) if path.exists() else {"models": []}
    old = {m["name"]: m for m in manifest["models"]}
    for e in entries:
        if e["name"] in old and old[e["name"]].get("sha256") == e["sha256"] and \
                old[e["name"]].get("fusion") == e.get("fusion"):
            e["metrics"] = old[e["name"]].get("metrics", {})
            if "calibration" in old[e["name"]]:
                e["calibration"] = old[e["name"]]["calibration"]
        old[e["name"]] = e
    manifest["models"] = sorted(old.values(), key=lambda m: m["name"])
    path.write_text(json.dumps(manifest, indent=2) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoints", nargs="+", type=Path)
    ap.add_argument("--out", type=Path, default=WEIGHTS)
    ap.add_argument("--half", action="store_true", help="store the weights as float16 (half the file)")
    ap.add_argument("--views", type=int, default=1, help="score each pair as the mean over this many of its "
                    "rotations and flips (2ch family; the model is named <arch>-views<N>)")
    ap.add_argument("--whiten", type=int, metavar="DIMS", help="append a whitening map to DIMS numbers "
                    "(L2 descriptor networks; see models.whiten)")
    ap.add_argument("--whiten-power", type=float, default=Whitening.power, help="0.5 whitens fully, 0 only projects")
    ap.add_argument("--whiten-set", type=Path, default=Whitening.patch_set)
    ap.add_argument("--whiten-patches", type=int, default=Whitening.patches)
    a = ap.parse_args()
    white = Whitening(a.whiten, a.whiten_power, a.whiten_set, a.whiten_patches) if a.whiten else None
    entries = [export(c, a.out, a.half, a.views, white) for c in a.checkpoints]
    update_manifest(entries, a.out / "manifest.json")
    for e in entries:
        print(f"exported {e['name']} ({e['kind']}) sha256 {e['sha256'][:12]}, ORT parity within {TOLERANCE}")


if __name__ == "__main__":
    main()
