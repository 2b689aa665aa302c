"""The model registry: what every ONNX Runtime session is given."""
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from onnx import TensorProto, helper, numpy_helper

from service.config import Settings
from service.registry import session_options

SERVE = """
import asyncio, sys
import numpy as np
from service import registry
from service.config import Settings
reg = registry.load(Settings(models_dir=sys.argv[1]))
scores = asyncio.run(reg.get("tiny", ("patch",)).main.run({"pairs": np.ones((3, 2, 64, 64), np.float32)}))
print(repr(scores.tolist()))
reg.close()
"""


def subnormal_scorer(folder: Path) -> None:
    """A patch model whose every product is subnormal: scores = sum(pairs * 1e-39), which is
    8192e-39 (a normal number) computed exactly, and 0 with denormals as zero."""
    w = numpy_helper.from_array(np.float32([1e-39]), "w")
    axes = numpy_helper.from_array(np.int64([1, 2, 3]), "axes")
    graph = helper.make_graph(
        [helper.make_node("Mul", ["pairs", "w"], ["p"]), helper.make_node("ReduceSum", ["p", "axes"], ["scores"],
                                                                           keepdims=0)],
        "tiny", [helper.make_tensor_value_info("pairs", TensorProto.FLOAT, ["b", 2, 64, 64])],
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["b"])], [w, axes])
    data = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8).SerializeToString()
    (folder / "tiny.onnx").write_bytes(data)
    entry = {"name": "tiny", "kind": "patch", "file": "tiny.onnx", "sha256": hashlib.sha256(data).hexdigest(),
             "version": "t"}
    (folder / "manifest.json").write_text(json.dumps({"models": [entry]}))


def test_sessions_treat_denormals_as_zero(tmp_path):
    """A network with subnormal weights is computed with them as zero (flush-to-zero and
    denormals-are-zero), in a fresh process as the service runs it."""
    subnormal_scorer(tmp_path)
    assert session_options(Settings()).get_session_config_entry("session.set_denormal_as_zero") == "1"
    out = subprocess.run([sys.executable, "-c", SERVE, str(tmp_path)], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).parents[2])
    assert eval(out.stdout) == [0.0, 0.0, 0.0]


def test_a_malformed_manifest_entry_is_reported_and_the_others_load(tmp_path):
    from service import registry
    subnormal_scorer(tmp_path)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    manifest["models"] += [{"name": "odd", "kind": "weird", "file": "tiny.onnx", "sha256": "0" * 64, "version": "x"},
                           {"name": "../up", "kind": "patch"}]
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    reg = registry.load(Settings(models_dir=tmp_path))
    try:
        assert set(reg.models) == {"tiny"} and reg.models["tiny"].entry.views == 1
        assert set(reg.errors) == {"odd", "../up"} and "ValidationError" in reg.errors["odd"]
    finally:
        reg.close()


def test_an_entry_whose_calibration_curve_cannot_be_read_is_refused(tmp_path):
    """Confidence read off a curve out of order, beyond [0, 1], not finite or of unequal lengths
    would mean nothing: such an entry is reported, not served; a readable curve loads."""
    from service import registry
    subnormal_scorer(tmp_path)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    good = manifest["models"][0]
    bad = {"backwards": {"score": [1.0, 0.0], "p": [0.1, 0.2]}, "beyond": {"score": [0.0, 1.0], "p": [0.1, 1.2]},
           "nan": {"score": [0.0, float("nan")], "p": [0.1, 0.2]}, "uneven": {"score": [0.0, 1.0], "p": [0.1]}}
    manifest["models"] = [{**good, "calibration": {"sparse": {"score": [0.0, 0.5, 1.0], "p": [0.0, 0.4, 0.9]}}}]
    manifest["models"] += [{**good, "name": name, "calibration": {"sparse": curve}} for name, curve in bad.items()]
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    reg = registry.load(Settings(models_dir=tmp_path))
    try:
        assert set(reg.models) == {"tiny"} and reg.models["tiny"].entry.calibration["sparse"].p[-1] == 0.9
        assert set(reg.errors) == set(bad)
        assert "not in order" in reg.errors["backwards"] and "within [0, 1]" in reg.errors["beyond"]
        assert "not finite" in reg.errors["nan"] and "1 shares" in reg.errors["uneven"]
    finally:
        reg.close()
