"""Intermediate layers of an exported feature network as extra ONNX outputs, so analysis tools
(and users) can read any layer of ``ucn.onnx`` - or of any ONNX network with the same input -
without the torch checkpoint.

    python -m models.layers models/weights/ucn.onnx --layers conv1 conv3 cst --out /tmp/ucn-layers.onnx
    python -m models.layers any.onnx --tensors /some/Relu_output_0 --out any-layers.onnx
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

# UCN's layers by the names the tools use: ReLU outputs of the trunk, the spatial transformer's
# pooled output after its ReLU, and the final unit features
UCN_LAYERS = {
    "conv1": "/trunk/trunk.1/trunk.1.2/Relu_output_0",  # stride 2, 32 channels
    "conv2": "/trunk/trunk.3/trunk.3.2/Relu_output_0",  # stride 4, 64 channels
    "conv3": "/trunk/trunk.5/trunk.5.2/Relu_output_0",  # stride 4, 128 channels
    "cst": "/head/head.1/Relu_output_0",  # stride 4, 128 channels, after the spatial transformer
    "features": "features",  # stride 4, the metric features the service uses
}


def with_outputs(model: str | Path | bytes, tensors: list[str]) -> bytes:
    """The model with ``tensors`` (names of intermediate values) appended to its outputs."""
    m = onnx.load_from_string(model) if isinstance(model, bytes) else onnx.load(str(model))
    known = {o for n in m.graph.node for o in n.output}
    present = {o.name for o in m.graph.output}
    for t in tensors:
        if t not in known:
            raise KeyError(f"{t}: no such tensor in the graph")
        if t not in present:
            m.graph.output.append(onnx.helper.make_tensor_value_info(t, onnx.TensorProto.FLOAT, None))
    return m.SerializeToString()


class LayerReader:
    """Runs a network once and returns the named layers: image grey uint8 (H, W) ->
    {name: (C, h, w) float32}, with each layer's stride in ``strides`` after the first call."""

    def __init__(self, model: str | Path, layers: dict[str, str] | None = None):
        self.layers = layers or UCN_LAYERS
        self.session = ort.InferenceSession(with_outputs(model, list(self.layers.values())),
                                            providers=["CPUExecutionProvider"])
        self.input = self.session.get_inputs()[0].name
        self.strides: dict[str, int] = {}

    def __call__(self, img: np.ndarray) -> dict[str, np.ndarray]:
        out = self.session.run(list(self.layers.values()), {self.input: img[None, None].astype(np.float32) / 255})
        maps = {name: o[0] for name, o in zip(self.layers, out, strict=True)}
        self.strides = {name: round(img.shape[0] / f.shape[1]) for name, f in maps.items()}
        return maps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", type=Path)
    ap.add_argument("--layers", nargs="*", default=[], choices=sorted(UCN_LAYERS))
    ap.add_argument("--tensors", nargs="*", default=[], help="tensor names of any network")
    ap.add_argument("--out", type=Path, required=True)
    a = ap.parse_args()
    a.out.write_bytes(with_outputs(a.model, [UCN_LAYERS[n] for n in a.layers] + a.tensors))
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
