"""Rewrite the dense network's convolutional spatial transformer for ONNX Runtime on a CPU.

The transformer samples a k x k neighbourhood of every feature location through its own affine
map (a GridSample: bilinear, border padding, corners aligned) laid out as a k x k tile, then
pools each tile with a k x k convolution of stride k. ORT's GridSample computes every sample's
coordinates and weights again for each channel, and the tiles it writes are k * k times the
feature map; on a 640x480 image it took two thirds of the network's time. The rewrite computes
the same function tap by tap: for each of the k * k taps, the four neighbouring feature rows
are gathered (channels last, so each is one contiguous copy), blended with the bilinear
weights, and multiplied by that tap's slice of the pooling weights, summed over the taps.
Equal to the original within float rounding (``check`` measures it), faster, and it never
holds the tiles. The transformer's grid comes from a batched product of tiny matrices (each
location's 2 x 2 affine map times the 3 x 3 offsets), which ORT's MatMul runs one small product
at a time; ``unroll`` writes such a product (an inner dimension of at most SMALL_K) as the sum of
its K broadcast products instead: the same numbers bit for bit for the transformer's 2 x 2 by
2 x 1 products, within float rounding for others (ORT's MatMul fuses some of its multiply-adds).

    python -m models.gather_sampling models/weights/ucn.onnx   # in place, and its manifest entry

``models.export_ucn`` applies it to every export.
"""
from __future__ import annotations

import argparse
import io
import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from onnx import helper, numpy_helper
from torch import nn

from models.export_patch import MANIFEST, TOLERANCE, sha256

# (batch, height, width) of the images ``check`` compares on: odd sizes, a batch of two, and an
# image whose feature map is a single row
SIZES = [(1, 64, 64), (2, 61, 83), (1, 4, 40), (1, 240, 320)]
SMALL_K = 4  # inner dimensions of batched products unrolled into broadcast ones


class TapPool(nn.Module):
    """pool(grid_sample(x, grid)) for a tile layout grid, tap by tap. x (B, C, h, w); grid
    (B, h*k, w*k, 2) in [-1, 1] (corners aligned), tile (i, j) holding location (i // k, j // k)'s
    sample (i % k, j % k); pooling weight (O, C, k, k) and bias (O,). -> (B, O, h, w)."""

    def __init__(self, weight: np.ndarray, bias: np.ndarray):
        super().__init__()
        o, c, k, _ = weight.shape
        self.k = k
        # tap t = (row, column) of the tile in row-major order: (k*k, C, O)
        self.register_buffer("weight", torch.tensor(weight).permute(2, 3, 1, 0).reshape(k * k, c, o))
        self.register_buffer("bias", torch.tensor(bias))

    def forward(self, x: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        k = self.k
        g = grid.reshape(b, h, k, w, k, 2).permute(0, 1, 3, 2, 4, 5).reshape(b * h * w, k * k, 2)
        # back to feature cells as GridSample reads them, clipped to the map (border padding); on a
        # map one cell across, where the grid's coordinates are infinite, the one cell
        px, py = (g[..., 0] + 1) * (0.5 * (w - 1)), (g[..., 1] + 1) * (0.5 * (h - 1))
        px = torch.where(torch.isnan(px), torch.zeros_like(px), px).clamp(0, w - 1)
        py = torch.where(torch.isnan(py), torch.zeros_like(py), py).clamp(0, h - 1)
        x0, y0 = px.floor(), py.floor()
        fx, fy = (px - x0).unsqueeze(-1), (py - y0).unsqueeze(-1)
        x0, y0 = x0.long(), y0.long()
        x1, y1 = (x0 + 1).clamp(max=w - 1), (y0 + 1).clamp(max=h - 1)
        rows = x.permute(0, 2, 3, 1).reshape(b * h * w, c)
        first = (torch.arange(b) * (h * w)).view(b, 1).expand(b, h * w).reshape(-1, 1)  # each image's first row
        r0, r1 = first + y0 * w, first + y1 * w
        out = self.bias
        for t in range(k * k):
            a0, a1 = rows[r0[:, t] + x0[:, t]], rows[r0[:, t] + x1[:, t]]
            b0, b1 = rows[r1[:, t] + x0[:, t]], rows[r1[:, t] + x1[:, t]]
            top, bottom = a0 + (a1 - a0) * fx[:, t], b0 + (b1 - b0) * fx[:, t]
            out = out + (top + (bottom - top) * fy[:, t]) @ self.weight[t]
        return out.reshape(b, h, w, -1).permute(0, 3, 1, 2)


def attrs(node: onnx.NodeProto) -> dict:
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def pooled_samples(graph: onnx.GraphProto) -> list[tuple[onnx.NodeProto, onnx.NodeProto]]:
    """Each (GridSample, Conv) of the pattern: a bilinear, border, corners-aligned GridSample
    read only by a k x k, stride-k, unpadded, ungrouped convolution with constant weights."""
    inits = {i.name for i in graph.initializer}
    found = []
    for g in graph.node:
        if g.op_type != "GridSample" or attrs(g) != {"align_corners": 1, "mode": b"bilinear",
                                                     "padding_mode": b"border"}:
            continue
        readers = [n for n in graph.node if g.output[0] in n.input]
        if len(readers) != 1 or readers[0].op_type != "Conv" or readers[0].input[0] != g.output[0]:
            continue
        c, a = readers[0], attrs(readers[0])
        k = a.get("kernel_shape", [0])[0]
        if len(c.input) == 3 and set(c.input[1:]) <= inits and a.get("kernel_shape") == [k, k] and \
                a.get("strides") == [k, k] and not any(a.get("pads", [])) and a.get("group", 1) == 1 and \
                all(d == 1 for d in a.get("dilations", [1, 1])):
            found.append((g, c))
    return found


def subgraph(weight: np.ndarray, bias: np.ndarray, opset: int) -> onnx.GraphProto:
    """TapPool exported on its own: inputs ``x`` and ``grid``, output ``y``, dynamic shapes."""
    o, c, k, _ = weight.shape
    buf = io.BytesIO()
    torch.onnx.export(TapPool(weight, bias).eval(), (torch.rand(1, c, 5, 6), torch.rand(1, 5 * k, 6 * k, 2) * 2 - 1),
                      buf, input_names=["x", "grid"], output_names=["y"], opset_version=opset, dynamo=False,
                      dynamic_axes={"x": {0: "b", 2: "h", 3: "w"}, "grid": {0: "b", 1: "hk", 2: "wk"},
                                    "y": {0: "b", 2: "h", 3: "w"}})
    return onnx.load_from_string(buf.getvalue()).graph


def swap(graph: onnx.GraphProto, gone: list[onnx.NodeProto], new: list[onnx.NodeProto]) -> None:
    """Replace the nodes ``gone`` by ``new``, put where the first of them was."""
    at = list(graph.node).index(gone[0])
    kept = [x for x in graph.node if all(x is not g for g in gone)]
    graph.ClearField("node")
    graph.node.extend(kept[:at] + new + kept[at:])


def splice(graph: onnx.GraphProto, g: onnx.NodeProto, c: onnx.NodeProto, sub: onnx.GraphProto,
           prefix: str) -> None:
    """Put ``sub``'s nodes where GridSample ``g`` and convolution ``c`` were, reading g's inputs and
    writing c's output; its other names get ``prefix``."""
    names = {"x": g.input[0], "grid": g.input[1], "y": c.output[0]}

    def name(t: str) -> str:
        return names.get(t, prefix + t) if t else t

    for node in sub.node:
        node.name = prefix + (node.name or node.op_type)
        node.input[:] = [name(t) for t in node.input]
        node.output[:] = [name(t) for t in node.output]
    for init in sub.initializer:
        init.name = name(init.name)
    swap(graph, [g, c], list(sub.node))
    graph.initializer.extend(sub.initializer)
    used = {t for x in graph.node for t in x.input}
    unused = [i for i in graph.initializer if i.name in c.input[1:] and i.name not in used]
    for i in unused:
        graph.initializer.remove(i)
    info = [v for v in graph.value_info if v.name != g.output[0]]
    graph.ClearField("value_info")
    graph.value_info.extend(info)


def small_products(model: onnx.ModelProto) -> list[tuple[onnx.NodeProto, int]]:
    """Each batched MatMul (both inputs of rank 3 or more) whose first input's last dimension K is
    known and at most SMALL_K, with its K."""
    inferred = onnx.shape_inference.infer_shapes(model).graph
    shapes = {v.name: v.type.tensor_type.shape for v in [*inferred.input, *inferred.value_info]}
    found = []
    for node in model.graph.node:
        a, b = (shapes.get(t) for t in node.input[:2]) if node.op_type == "MatMul" else (None, None)
        if a is None or b is None or len(a.dim) < 3 or len(b.dim) < 3:
            continue
        k = a.dim[-1].dim_value if a.dim[-1].HasField("dim_value") else 0
        if 0 < k <= SMALL_K:
            found.append((node, k))
    return found


def unroll(graph: onnx.GraphProto, node: onnx.NodeProto, k: int, prefix: str) -> None:
    """MatMul ``node`` (A (..., M, K) @ B (..., K, N)) as A[..., :, 0] B[..., 0, :] + ... in place:
    K slices of each, K broadcast products, summed in order (see the module's docstring)."""
    a, b = node.input[:2]

    def const(name: str, value: int) -> str:
        graph.initializer.append(numpy_helper.from_array(np.array([value], np.int64), prefix + name))
        return prefix + name

    def op(kind: str, inputs: list[str], output: str) -> onnx.NodeProto:
        return helper.make_node(kind, inputs, [output], name=prefix + output.rsplit("/", 1)[-1])

    last, second = const("last", -1), const("second_last", -2)
    nodes = []
    for i in range(k):
        lo, hi = const(f"from_{i}", i), const(f"to_{i}", i + 1)
        total = node.output[0] if i == k - 1 else f"{prefix}sum{i}"
        nodes += [op("Slice", [a, lo, hi, last], f"{prefix}a{i}"), op("Slice", [b, lo, hi, second], f"{prefix}b{i}"),
                  op("Mul", [f"{prefix}a{i}", f"{prefix}b{i}"], total if i == 0 else f"{prefix}product{i}")]
        if i:
            nodes.append(op("Add", [f"{prefix}sum{i - 1}", f"{prefix}product{i}"], total))
    swap(graph, [node], nodes)


def rewrite(model: onnx.ModelProto) -> dict[str, int]:
    """Replace every GridSample-then-pooling pair of ``model`` by a TapPool and unroll its small
    batched products, in place; returns how many of each were replaced."""
    opset = next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    inits = {i.name: i for i in model.graph.initializer}
    pairs = pooled_samples(model.graph)
    for n, (g, c) in enumerate(pairs):
        sub = subgraph(numpy_helper.to_array(inits[c.input[1]]), numpy_helper.to_array(inits[c.input[2]]), opset)
        splice(model.graph, g, c, sub, f"/gather_sampling_{n}/")
    products = small_products(model)
    for n, (node, k) in enumerate(products):
        unroll(model.graph, node, k, f"/unrolled_{n}/")
    onnx.checker.check_model(model)
    return {"grid_sample": len(pairs), "small_matmul": len(products)}


def check(before: onnx.ModelProto, after: onnx.ModelProto, sizes: list[tuple[int, int, int]] = SIZES) -> float:
    """Largest |after - before| in ORT over random images of each (batch, height, width); raises
    when it exceeds TOLERANCE."""
    run = [ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"]) for m in (before, after)]
    feed_name = run[0].get_inputs()[0].name
    rng, worst = np.random.default_rng(0), 0.0
    for b, h, w in sizes:
        x = {feed_name: rng.random((b, 1, h, w), dtype=np.float32)}
        worst = max(worst, float(np.abs(run[0].run(None, x)[0] - run[1].run(None, x)[0]).max()))
    if worst > TOLERANCE:
        raise ValueError(f"the rewritten graph differs from the original by {worst:.2e} > {TOLERANCE}")
    return worst


def rewrite_file(path: Path) -> tuple[dict[str, int], float]:
    """Rewrite the ONNX file at ``path`` in place when it holds either pattern: (how many of each
    were replaced, largest difference from the file before)."""
    before = onnx.load(str(path))
    after = onnx.ModelProto()
    after.CopyFrom(before)
    replaced = rewrite(after)
    if not any(replaced.values()):
        return replaced, 0.0
    worst = check(before, after)
    onnx.save(after, str(path))
    return replaced, worst


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", type=Path, help="an ONNX file of models/weights (its manifest entry is updated)")
    a = ap.parse_args()
    manifest = a.model.parent / MANIFEST.name
    old = sha256(a.model)
    replaced, worst = rewrite_file(a.model)
    if not any(replaced.values()):
        raise SystemExit(f"{a.model}: no GridSample followed by its pooling convolution, no small batched product")
    doc = json.loads(manifest.read_text())
    for e in doc["models"]:
        if e.get("file") == a.model.name and e.get("sha256") == old:
            digest = sha256(a.model)
            e.update(sha256=digest, version=digest[:12], graph_rewrite={
                "by": "models.gather_sampling", "replaced": replaced, "from_sha256": old, "max_abs_diff": worst})
    manifest.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"{a.model}: rewrote {replaced}, largest difference {worst:.1e} <= {TOLERANCE}")


if __name__ == "__main__":
    main()
