"""The dense network's spatial transformer rewritten for ONNX Runtime: the same function."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from models import gather_sampling
from models.export_patch import check_parity, sha256, to_onnx
from models.ucn import UCN

WEIGHTS = Path(__file__).parents[2] / "models" / "weights"
# odd sizes, a batch of two, feature maps a single row and a single column
SIZES = [(1, 64, 64), (2, 61, 83), (1, 4, 40), (1, 40, 4), (1, 120, 96)]


def ops(path: Path) -> set[str]:
    return {n.op_type for n in onnx.load(str(path)).graph.node}


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A small UCN whose transformer turns, stretches and shifts its samples (the trained one's
    starts at the identity), exported as the export does before the rewrite."""
    torch.manual_seed(0)
    net = UCN(dim=8, width=8).eval()
    with torch.no_grad():
        net.cst.theta.weight.normal_(0, 0.05)
        net.cst.theta.bias.copy_(torch.tensor([0.3, -0.4, 0.5, -0.2]))
    path = tmp_path_factory.mktemp("ucn") / "ucn.onnx"
    to_onnx(net, {"image": torch.rand(1, 1, 96, 128)}, "features", path, spatial=True,
            sizes=[(1, 64, 64)], output_axes={0: "batch", 2: "h", 3: "w"})
    return net, path


def test_rewritten_graph_computes_the_network_without_grid_sample(exported, tmp_path):
    net, original = exported
    path = tmp_path / "ucn.onnx"
    path.write_bytes(original.read_bytes())
    assert "GridSample" in ops(path)
    replaced, worst = gather_sampling.rewrite_file(path)
    assert replaced == {"grid_sample": 1, "small_matmul": 1} and worst <= 1e-5
    assert "GridSample" not in ops(path) and not gather_sampling.small_products(onnx.load(str(path)))
    assert check_parity(net, path, {"image": torch.rand(1, 1, 96, 128)}, SIZES) <= 1e-5
    # the layers the analysis tools read keep their names
    assert "/head/head.1/Relu_output_0" in {o for n in onnx.load(str(path)).graph.node for o in n.output}


def test_a_graph_without_the_pattern_is_left_as_it_was(tmp_path):
    path = tmp_path / "patch.onnx"
    path.write_bytes((WEIGHTS / "siam-2stream-l2.onnx").read_bytes())
    assert gather_sampling.rewrite_file(path) == ({"grid_sample": 0, "small_matmul": 0}, 0.0)
    assert sha256(path) == sha256(WEIGHTS / "siam-2stream-l2.onnx")


def test_the_shipped_dense_network_is_the_rewritten_one():
    entry = next(e for e in json.loads((WEIGHTS / "manifest.json").read_text())["models"] if e["name"] == "ucn")
    assert "GridSample" not in ops(WEIGHTS / entry["file"])
    assert not gather_sampling.small_products(onnx.load(str(WEIGHTS / entry["file"])))
    assert entry["graph_rewrite"]["replaced"] == {"grid_sample": 1, "small_matmul": 1}
    assert entry["graph_rewrite"]["max_abs_diff"] <= 1e-5


@pytest.mark.parametrize("k,n", [(1, 1), (2, 1), (3, 4)])
def test_a_small_batched_product_unrolled_gives_the_same_numbers(k, n):
    """A (B, 5, 2, K) @ (B, 5, K, N): the transformer's affine times its offsets (K 2, N 1) bit for
    bit, others within float rounding."""
    x, y, z = (onnx.helper.make_tensor_value_info(t, onnx.TensorProto.FLOAT, ["b", 5, *dims])
               for t, dims in (("x", (2, k)), ("y", (k, n)), ("z", (2, n))))
    graph = onnx.helper.make_graph([onnx.helper.make_node("MatMul", ["x", "y"], ["z"])], "g", [x, y], [z])
    model = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 17)], ir_version=8)
    before = model.SerializeToString()
    assert gather_sampling.rewrite(model) == {"grid_sample": 0, "small_matmul": 1}
    assert "MatMul" not in {node.op_type for node in model.graph.node}
    rng = np.random.default_rng(k)
    feed = {t: rng.normal(size=(3, 5, *dims)).astype(np.float32) for t, dims in (("x", (2, k)), ("y", (k, n)))}
    got = [ort.InferenceSession(m, providers=["CPUExecutionProvider"]).run(None, feed)[0]
           for m in (before, model.SerializeToString())]
    assert got[1].shape == (3, 5, 2, n)
    if n == 1:
        assert np.array_equal(got[0], got[1])
    np.testing.assert_allclose(got[1], got[0], rtol=1e-6, atol=1e-6)
