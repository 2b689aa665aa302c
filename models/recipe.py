"""The whole training recipe of the shipped networks, in one command:

    python -m models.recipe [--only NAME,...] [--jobs 2]

It fetches the photos, builds the patch sets, then trains each network below (the patch
architectures and the dense UCN) with a fixed seed in ``--jobs`` parallel queues of one thread
each (the machine has two cores), resuming any run that was interrupted. The networks in ``STAGES``
then go on from their weights, stage after stage: siam-2stream-l2 a fine-tune on the "wide" set
(new warps of the training photos and the plasma photos), 2ch-2stream a second cosine cycle on its
own set, then one on it joined with "traincentre" (parallax warps, same-centre negatives), then one
more there with occluded pairs and mined hard negatives. Export and evaluation follow (``make
weights`` runs it all; ``--checkpoints`` prints the checkpoint each patch network is exported from;
with ``--only``, of those networks; with ``--views 8``, the checkpoint of its 8-view export, the
default scorer: 2ch-2stream's last stage, where its one-view export stays on the "centre" stage).
"""
from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

SEED = 0
# (network, steps): the shipped networks first, then the rest of the paper's table.
RUNS = [("2ch-2stream", 20000), ("siam-2stream-l2", 5000), ("ucn", 3000), ("2ch-deep", 5000), ("siam-l2", 3000),
        ("2ch", 3000), ("siam", 3000), ("pseudo-siam", 2000), ("siam-2stream", 2000),
        ("2ch-spp", 2000), ("siam-spp", 2000)]
# later stages, each from the previous stage's weights at a lower learning rate, on two threads
# (the shipped runs ran alone on this 2-core machine). network: [(name of the stage and of its run
# folder's prefix, training set(s), steps, further train_patch arguments), ...]: siam-2stream-l2
# goes on to the "wide" set; 2ch-2stream takes a second cosine cycle on its own set (a warm
# restart), a third on it joined with "traincentre" (parallax warps and same-centre negatives), and
# a fourth there with a tenth of the pairs occluded and the hardest of 4 mined negatives
CENTRE = "data/patches_train.npz,data/patches_traincentre.npz"
STAGES = {"siam-2stream-l2": [("wide", "data/patches_wide.npz", 2000, "")],
          "2ch-2stream": [("restart", "data/patches_train.npz", 6000, ""), ("centre", CENTRE, 6000, ""),
                          ("occlude", CENTRE, 6000, "--occlude 0.1 --mine 4")]}
# the one-view export of these networks stops at the named stage: the "occlude" stage passed
# validation and the test sets scored over 8 views, not over one (docs/RESULTS.md, session 15)
ONE_VIEW_STAGE = {"2ch-2stream": "centre"}
STAGE_LR = "3e-4"
# runs that use both cores (47 min for 2ch-2stream's 20000 steps), with their curve on the
# validation set; the others take one thread each and log their curve on the held-back pairs
TWO_THREADS = {"2ch-2stream"}
# runs time-boxed short of their schedule: the shipped UCN is the best validated checkpoint of
# the first 1750 of its 3000 scheduled steps
STOP_AT = {"ucn": 1750}


def run_dir(name: str, stage: str = "") -> str:
    """The run folder of a network's first training (no ``stage``) or of one of its later stages."""
    return f"runs/{stage}-{name}" if stage else f"runs/{name}"


def train_commands(name: str, steps: int) -> list[list[str]]:
    """The commands that train one network, in order."""
    common = ["--seed", str(SEED), "--threads", "2" if name in TWO_THREADS else "1", "--resume"]
    common += ["--val", "data/patches_val.npz"] if name in TWO_THREADS else []
    common += ["--stop-at", str(STOP_AT[name])] if name in STOP_AT else []
    if name == "ucn":
        return [[sys.executable, "-m", "models.train_ucn", "--steps", str(steps), *common]]
    cmds = [[sys.executable, "-m", "models.train_patch", "--arch", name, "--steps", str(steps), *common]]
    base = f"{run_dir(name)}/model.pt"
    for stage, data, stage_steps, extra in STAGES.get(name, []):
        out = run_dir(name, stage)
        cmds.append([sys.executable, "-m", "models.train_patch", "--arch", name, "--init", base, "--data", data,
                     "--val", "data/patches_val.npz", "--lr", STAGE_LR, "--steps", str(stage_steps),
                     "--seed", str(SEED), "--threads", "2", "--resume", "--out", out, *shlex.split(extra)])
        base = f"{out}/model.pt"
    return cmds


def shipped_stages(name: str, views: int = 1) -> list[tuple[str, str, int, str]]:
    """The later stages behind a network's export scored over ``views`` views."""
    stages = STAGES.get(name, [])
    stop = ONE_VIEW_STAGE.get(name) if views == 1 else None
    return stages[:[s[0] for s in stages].index(stop) + 1] if stop else stages


def checkpoints(only: str = "", views: int = 1) -> list[str]:
    """The checkpoint each patch network of the recipe (or each in ``only``, comma-separated) is
    exported from, for an export scored over ``views`` views."""
    names = [n for n, _ in RUNS if n != "ucn" and (not only or n in only.split(","))]
    return [f"{run_dir(n, stages[-1][0] if (stages := shipped_stages(n, views)) else '')}/model.pt" for n in names]


def run(cmds: list[list[str]], log: Path) -> int:
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "a") as f:
        for cmd in cmds:
            code = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT).returncode
            if code:
                return code
    return 0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", default="", help="comma-separated architectures (default: all)")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--checkpoints", action="store_true", help="print the patch checkpoints to export and leave")
    ap.add_argument("--views", type=int, default=1, help="with --checkpoints: of the exports over this many views")
    a = ap.parse_args()
    if a.checkpoints:
        print(" ".join(checkpoints(a.only, a.views)))
        return
    py = sys.executable
    subprocess.run([py, "-m", "models.prep_data"], check=True)
    for sets in ("train,heldout,stereo", "val", "wide", "traincentre"):
        if not Path(f"data/patches_{sets.split(',')[0]}.npz").exists():
            subprocess.run([py, "-m", "models.build_patches", "--seed", str(SEED), "--sets", sets], check=True)
    runs = [r for r in RUNS if not a.only or r[0] in a.only.split(",")]
    with ThreadPoolExecutor(a.jobs) as pool:
        codes = list(pool.map(lambda r: run(train_commands(*r), Path(run_dir(r[0])) / "train.log"), runs))
    failed = [r[0] for r, c in zip(runs, codes, strict=False) if c]
    if failed:
        sys.exit(f"training failed: {failed}")


if __name__ == "__main__":
    main()
