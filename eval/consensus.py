"""How the neighbourhood consensus's defaults (service/consensus.py) were chosen, reproducibly:
on one homography of each *training* photo (seed 12345), never on a benchmark. The API's raw
mutual matches (``consistency=false``) are filtered offline by the defaults and by each change of
one setting; the table gives MMA at 3 px and correct matches (3 px) per pair.

    python -m eval.consensus [--seed 12345] [--no-write]
"""
from __future__ import annotations

import argparse
import dataclasses
import shlex
import sys

import numpy as np
from fastapi.testclient import TestClient

from eval import benchmarks
from eval.dense import api_matches, match_errors
from eval.results import published
from service.consensus import Consensus, select
from service.dense import working_size

DEFAULT = Consensus()
CHANGES = [{"radius": 8.0}, {"radius": 16.0}, {"neighbours": 24}, {"neighbours": 64},
           {"cuts": (4.0, 2.0, 1.0)}, {"cuts": (4.0, 2.0, 1.0, 0.5, 0.5)}, {"tolerance": 0.5},
           {"tolerance": 1.0}, {"min_support": 4}, {"min_support": 12}, {"pull": 0.0}, {"pull": 1.0}]


def cell(shape: tuple[int, int], stride: int, max_side: int) -> float:
    """One feature cell in pixels of an (H, W) image as sent, as the service computes it
    (``FeatureMap.stride / FeatureMap.scale``: large images are downscaled first)."""
    return stride * shape[0] / working_size(*shape, max_side)[1]


def score(raw: list, cfg: Consensus | None) -> tuple[float, float]:
    """(MMA@3 in percent, correct matches at 3 px per pair) of the raw matches through ``cfg``."""
    errors = []
    for pair, xa, xb, ca, cb in raw:
        if cfg is not None:
            keep, xb = select(xa, xb, ca, cb, cfg)
            xa, xb = xa[keep], xb[keep]
        errors.append(match_errors(pair, xa, xb))
    e = np.concatenate(errors)
    return 100 * float((e <= 3).mean()) if len(e) else 0.0, float(np.mean([(x <= 3).sum() for x in errors]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=12345)
    ap.add_argument("--no-write", action="store_true")
    a = ap.parse_args()
    from service.config import Settings
    from service.main import create_app
    settings = Settings()
    pairs = list(benchmarks.homographies("train", per_photo=1, seed=a.seed))
    raw = []
    with TestClient(create_app(settings)) as client:
        dense = client.app.state.registry.get(settings.default_dense_model, ("dense",))
        stride = dense.entry.stride
        for pair in pairs:
            xa, xb = api_matches(client, pair, {"mutual": "true", "consistency": "false"})
            raw.append((pair, xa, xb, cell(pair.a.shape, stride, settings.dense_max_side),
                        cell(pair.b.shape, stride, settings.dense_max_side)))
    rows = [("no consensus (mutual nearest neighbours)", *score(raw, None)), ("defaults", *score(raw, DEFAULT))]
    for change in CHANGES:
        name = ", ".join(f"{k}={v}" for k, v in change.items())
        rows.append((name, *score(raw, dataclasses.replace(DEFAULT, **change))))
    command = "python -m eval.consensus " + shlex.join(sys.argv[1:])
    lines = [f"## Neighbourhood consensus: choosing the defaults\n\n`{command}`\n",
             f"{len(pairs)} pairs: one homography of each training photo, seed {a.seed}. Defaults: "
             f"{dataclasses.asdict(DEFAULT)}. Each other row changes one setting.\n",
             "| consensus | MMA@3 | correct@3px per pair |", "|---|---|---|"]
    lines += [f"| {name} | {mma:.1f} | {correct:.0f} |" for name, mma, correct in rows]
    published("consensus-tuning", "\n".join(lines) + "\n", not a.no_write)


if __name__ == "__main__":
    main()
