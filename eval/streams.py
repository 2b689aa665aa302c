"""Does each stream of 2ch-2stream carry signal? FPR95 of the whole network against the same
network with its central stream's output zeroed, and with its surround stream's zeroed, on the
validation sets (a dead stream changes nothing when zeroed; a live one costs accuracy).

    python -m eval.streams [runs/2ch-2stream/model.pt]
"""
from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

import numpy as np
import torch

from eval import machine
from eval.results import write_section
from models.data.synth import PatchSet
from models.metrics import fpr95
from models.patchnet import build
from models.train_patch import set_scores

SETS = ("val", "valphotos", "valpairs")


class Zeroed(torch.nn.Module):
    """Stands in for a stream: the same output shape, all zeros."""

    def __init__(self, stream: torch.nn.Module):
        super().__init__()
        self.stream = stream

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.zeros_like(self.stream(x))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoint", nargs="?", type=Path, default=Path("runs/2ch-2stream/model.pt"))
    ap.add_argument("--no-write", action="store_true")
    a = ap.parse_args()
    ckpt = torch.load(a.checkpoint, weights_only=False)
    sets = {s: PatchSet.load(f"data/patches_{s}.npz") for s in SETS if Path(f"data/patches_{s}.npz").exists()}
    rows = {}
    for label, part in (("whole network", None), ("central stream zeroed", "central"),
                        ("surround stream zeroed", "surround")):
        net = build(ckpt["arch"], ckpt["width"])
        net.load_state_dict(ckpt["model"])
        if part:
            setattr(net, part, Zeroed(getattr(net, part)))
        rows[label] = {s: fpr95(*set_scores(net.eval(), ps)) for s, ps in sets.items()}
    command = "python -m eval.streams " + shlex.join(sys.argv[1:])
    table = ("| 2ch-2stream | " + " | ".join(f"FPR95 {s}" for s in sets) + " |\n|---|" + "---|" * len(sets) + "\n"
             + "".join(f"| {label} | " + " | ".join(f"{100 * v:.2f} %" for v in r.values()) + " |\n"
                       for label, r in rows.items()))
    print(table)
    if not a.no_write:
        write_section("streams", f"## 2ch-2stream: what each stream carries\n\n`{command}` {machine.describe()}\n\n"
                      "FPR95 of the trained network as it is and with one stream's output replaced by zeros "
                      f"(torch, the checkpoint the export came from).\n\n{table}")
    if np.allclose(list(rows["whole network"].values()), list(rows["central stream zeroed"].values())):
        print("the central stream changes nothing: it is dead")


if __name__ == "__main__":
    main()
