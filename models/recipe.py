"""The whole training recipe of the shipped networks, in one command:

    python -m models.recipe [--only NAME,...] [--jobs 2]

It fetches the photos, builds the patch sets, then trains each network below (the patch
architectures and the dense UCN) with a fixed seed in ``--jobs`` parallel queues of one thread
each (the machine has two cores), resuming any run that was interrupted. Export and evaluation
follow (``make weights`` runs it all).
"""
from __future__ import annotations

import argparse
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

SEED = 0
# (network, steps): the shipped networks first, then the rest of the paper's table.
RUNS = [("2ch-2stream", 6000), ("siam-2stream-l2", 5000), ("ucn", 3000), ("2ch-deep", 5000), ("siam-l2", 3000),
        ("2ch", 3000), ("siam", 3000), ("pseudo-siam", 2000), ("siam-2stream", 2000),
        ("2ch-spp", 2000), ("siam-spp", 2000)]


def train_command(name: str, steps: int) -> list[str]:
    common = ["--steps", str(steps), "--seed", str(SEED), "--threads", "1", "--resume"]
    if name == "ucn":
        return [sys.executable, "-m", "models.train_ucn", *common]
    return [sys.executable, "-m", "models.train_patch", "--arch", name, *common]


def run(cmd: list[str], log: Path) -> int:
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "a") as f:
        return subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT).returncode


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", default="", help="comma-separated architectures (default: all)")
    ap.add_argument("--jobs", type=int, default=2)
    a = ap.parse_args()
    py = sys.executable
    subprocess.run([py, "-m", "models.prep_data"], check=True)
    if not Path("data/patches_train.npz").exists():
        subprocess.run([py, "-m", "models.build_patches", "--seed", str(SEED)], check=True)
    runs = [r for r in RUNS if not a.only or r[0] in a.only.split(",")]
    with ThreadPoolExecutor(a.jobs) as pool:
        codes = list(pool.map(lambda r: run(train_command(*r), Path(f"runs/{r[0]}/train.log")), runs))
    failed = [r[0] for r, c in zip(runs, codes, strict=False) if c]
    if failed:
        sys.exit(f"training failed: {failed}")


if __name__ == "__main__":
    main()
