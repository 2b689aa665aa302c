"""Export the trained dense feature network to ONNX (dynamic batch, height and width), check ONNX
Runtime against torch to 1e-4 at several image sizes, and record it in the manifest (kind
``dense``): ``image`` (B, 1, H, W) float32 grey in [0, 1] -> ``features`` (B, D, ceil(H/4), ceil(W/4)).
The export gate (``models.health``) flushes subnormal values and refuses dead layers first. The
spatial transformer's sampling is rewritten for ONNX Runtime (``models.gather_sampling``) and
checked against torch again.

    python -m models.export_ucn runs/ucn/model.pt
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch

from models import gather_sampling, health
from models.export_patch import TOLERANCE, WEIGHTS, check_parity, checked, gated, sha256, to_onnx, update_manifest
from models.ucn import STRIDE, UCN

SIZES = [(1, 64, 64), (2, 61, 83), (1, 240, 320)]


def export(checkpoint: Path, out: Path = WEIGHTS, name: str = "ucn") -> dict:
    ckpt = torch.load(checkpoint, weights_only=False)
    net = UCN(ckpt["dim"])
    net.load_state_dict(ckpt["model"])
    probe = health.probe_images()
    record = gated(net, probe)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}.onnx"
    example = {"image": torch.rand(1, 1, 96, 128)}
    worst = to_onnx(net, example, "features", path, spatial=True, sizes=SIZES,
                    output_axes={0: "batch", 2: "h", 3: "w"})
    rewritten, _ = gather_sampling.rewrite_file(path)
    worst = max(worst, check_parity(net, path, example, SIZES))
    checked(path, {"image": probe})
    digest = sha256(path)
    return {"name": name, "kind": "dense", "architecture": "ucn", "file": path.name, "sha256": digest,
            "version": digest[:12], "stride": STRIDE, "feature_dim": ckpt["dim"], "seed": ckpt["seed"],
            "steps": ckpt["steps"], "training_command": ckpt["command"], "parity_max_abs_diff": worst,
            "graph_rewrite": {"by": "models.gather_sampling", "replaced": rewritten},
            "health": record,
            "preprocessing": {"colour": "grey", "range": [0.0, 1.0], "dtype": "float32",
                              "normalisation": "per image, inside the network",
                              "feature_cell": "feature (i, j) is centred on pixel (4j, 4i)"},
            "inputs": {"image": ["batch", 1, "height", "width"]},
            "outputs": {"features": ["batch", ckpt["dim"], "ceil(height/4)", "ceil(width/4)"]}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoint", type=Path)
    ap.add_argument("--out", type=Path, default=WEIGHTS)
    a = ap.parse_args()
    entry = export(a.checkpoint, a.out)
    update_manifest([entry], a.out / "manifest.json")
    print(f"exported {entry['name']} (dense, stride {STRIDE}) sha256 {entry['sha256'][:12]}, "
          f"ORT parity {entry['parity_max_abs_diff']:.1e} <= {TOLERANCE}")


if __name__ == "__main__":
    main()
