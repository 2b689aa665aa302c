"""Average the weights of fine-tunes that share one starting point (a "uniform model soup",
Wortsman et al. 2022) into one checkpoint of the same architecture:

    python -m models.soup runs/2ch-2stream/model.pt runs/wide-2ch-2stream/model.pt --out runs/soup/model.pt

The result records every training command its ingredients need, then this one, so the manifest
can say how to rebuild it.
"""
from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

import torch


def soup(paths: list[Path]) -> dict:
    """The uniform average of checkpoints (model.pt dicts) of one architecture and width."""
    ckpts = [torch.load(p) for p in paths]
    kinds = {(c["arch"], c["width"]) for c in ckpts}
    if len(kinds) != 1:
        raise ValueError(f"ingredients differ in architecture or width: {sorted(kinds)}")
    keys = ckpts[0]["model"].keys()
    if any(c["model"].keys() != keys for c in ckpts):
        raise ValueError("ingredients have different parameters")
    model = {k: sum(c["model"][k].double() for c in ckpts).div(len(ckpts)).to(ckpts[0]["model"][k].dtype)
             for k in keys}
    commands: list[str] = []
    for c in ckpts:
        for part in c["command"].split(" && "):
            if part and part not in commands:
                commands.append(part)
    return {"model": model, "arch": ckpts[0]["arch"], "width": ckpts[0]["width"], "seed": ckpts[0]["seed"],
            "steps": max(c["steps"] for c in ckpts), "command": " && ".join(commands)}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoints", nargs="+", type=Path)
    ap.add_argument("--out", type=Path, required=True)
    a = ap.parse_args(argv)
    out = soup(a.checkpoints)
    out["command"] += " && python -m models.soup " + shlex.join(argv if argv is not None else sys.argv[1:])
    a.out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(out, a.out)
    print(f"saved {a.out}: the mean of {len(a.checkpoints)} {out['arch']} checkpoints")


if __name__ == "__main__":
    main()
