"""Try variants of one patch-network training stage side by side, on a lent GPU machine.

    python -m models.sweep pack --init runs/occlude-2ch-2stream/model.pt  # here: what must travel
    python -m models.sweep run OUT --variant mine4="--mine 4" --variant lr5="--lr 5e-4" --seeds 0,1
    python -m models.sweep score OUT_FETCHED/*/model.pt [--views 8]       # here: the validation counts

The patch sets (hundreds of MB) cannot travel to such a machine, so ``pack`` copies the Debian
training photos and the start weights into ``.sweep/`` (about 10 MB). There, ``run`` unpacks the
photos into data/, rebuilds train and traincentre with ``build_patches`` (same command and seeds;
other library versions there can draw slightly different patches), then trains every variant and
seed from the start weights as its own process (on CUDA when present), leaves any unfinished at
``--deadline`` and tars the finished weights and curves into OUT in parts of at most six runs.
``score`` prints FPR95, false positives and lost positives (the share scored at most -0.9; see
``train_patch.lost_share``) of each on val, valphotos and valstereo, the sets that candidates are
chosen on, and with ``--against BASE`` the 95 % interval of each set's change in false positives
from BASE (``metrics.fpr95_change``); the held-back and stereo test sets are never scored here.
"""
from __future__ import annotations

import argparse
import functools
import shlex
import shutil
import subprocess
import sys
import tarfile
import time
from contextlib import ExitStack
from pathlib import Path

from models.data import photos

PACK = Path(".sweep")
BASE = "--arch 2ch-2stream --data data/patches_train.npz,data/patches_traincentre.npz --lr 3e-4 --steps 6000"
VALIDATION = ("val", "valphotos", "valstereo")


def pack(init: str) -> None:
    for name in photos.split("train"):
        src = photos.package_path(name)
        if src is not None:  # scikit-image's photos are on the other machine already
            dst = PACK / "data" / src.parent.relative_to(photos.DATA_DIR) / src.name
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(src, dst)
    shutil.copy(init, PACK / "init.pt")
    size = sum(p.stat().st_size for p in PACK.rglob("*") if p.is_file()) / 1e6
    print(f"{PACK}/: {size:.1f} MB; carry it (git-ignored) and call `python -m models.sweep run OUT ...` there")


def commands(variants: dict[str, str], seeds: list[int], base: str, device: str, runs: Path) -> dict[str, list[str]]:
    """One train_patch command per variant and seed; a variant's arguments come last and win."""
    return {f"{name}-s{seed}": [sys.executable, "-m", "models.train_patch", *shlex.split(base), "--init",
                                str(PACK / "init.pt"), "--val", "none", "--threads", "1", "--device", device,
                                "--out", str(runs / f"{name}-s{seed}"), "--seed", str(seed), *shlex.split(extra)]
            for name, extra in variants.items() for seed in seeds}


def side_by_side(cmds: dict[str, list[str]], until: float, logs: Path) -> dict[str, int | None]:
    """Run every command at once, each logging to ``logs/sweep-NAME.txt``; kill those still running
    at time ``until`` (``time.time()``). Each name's exit code, None where it was killed."""
    with ExitStack() as files:
        procs = {name: subprocess.Popen(cmd, stdout=files.enter_context(open(logs / f"sweep-{name}.txt", "w")),
                                        stderr=subprocess.STDOUT) for name, cmd in cmds.items()}
        while any(p.poll() is None for p in procs.values()) and time.time() < until:
            time.sleep(0.2)
        killed = {name for name, p in procs.items() if p.poll() is None}
        for name in killed:
            procs[name].kill()
            procs[name].wait()
    return {name: None if name in killed else p.returncode for name, p in procs.items()}


def run(out: Path, variants: dict[str, str], seeds: list[int], base: str, deadline: float, jobs: int) -> None:
    import torch
    t0, runs = time.time(), Path("/tmp/sweep-runs")
    shutil.copytree(PACK / "data", photos.DATA_DIR, dirs_exist_ok=True)
    subprocess.run([sys.executable, "-m", "models.build_patches", "--seed", "0", "--sets", "train,traincentre",
                    "--jobs", str(jobs)], check=True)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    cmds = commands(variants, seeds, base, device, runs)
    print(f"{len(cmds)} runs on {device} after {time.time() - t0:.0f} s", flush=True)
    for name, code in side_by_side(cmds, t0 + deadline, Path("/tmp")).items():
        print(name, "unfinished" if code is None else f"exit {code}")
    done = [n for n in cmds if (runs / n / "model.pt").exists()]
    out.mkdir(parents=True, exist_ok=True)
    for i in range(0, len(done), 6):  # 6 runs of 2.4 MB: within the 16 MB a fetched file may have
        with tarfile.open(out / f"runs{i // 6}.tar", "w") as t:
            for n in done[i:i + 6]:
                t.add(runs / n / "model.pt", f"{n}/model.pt")
                t.add(runs / n / "log.csv", f"{n}/log.csv")
    print(f"{len(done)} of {len(cmds)} finished in {time.time() - t0:.0f} s", flush=True)


def score(paths: list[str], views: int = 1, sets: dict | None = None, against: str = "") -> None:
    import torch

    from models.data.synth import PatchSet
    from models.export_patch import Views
    from models.metrics import fpr95, fpr95_change
    from models.patchnet import build
    from models.train_patch import lost_share, set_scores
    sets = sets or {s: PatchSet.load(f"data/patches_{s}.npz") for s in VALIDATION}

    @functools.cache  # a path that is also the base is scored once
    def scored(path: str) -> dict[str, tuple]:
        ck = torch.load(path, weights_only=False)
        model = build(ck["arch"], ck["width"])
        model.load_state_dict(ck["model"])
        model = Views(model, views) if views > 1 else model
        return {s: set_scores(model, ps) for s, ps in sets.items()}

    base = scored(against) if against else {}
    for path in paths:
        cells = []
        for s, (pos, neg) in scored(path).items():
            r = fpr95(pos, neg)
            cell = f"{s} {100 * r:.3f} % ({round(r * len(neg))} of {len(neg)}), lost {100 * lost_share(pos):.2f} %"
            if base:
                lo, hi = fpr95_change(*base[s], pos, neg)
                cell += f", {round(lo * len(neg)):+d} to {round(hi * len(neg)):+d} false positives"
            cells.append(cell)
        print(path, " | ".join(cells), flush=True)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="verb", required=True)
    sub.add_parser("pack").add_argument("--init", required=True, help="the start weights (a model.pt)")
    r = sub.add_parser("run")
    r.add_argument("out", type=Path)
    r.add_argument("--variant", action="append", required=True, help='NAME="train_patch arguments"')
    r.add_argument("--seeds", default="0")
    r.add_argument("--base", default=BASE, help="arguments every variant shares")
    r.add_argument("--deadline", type=float, default=420, help="seconds from the start, the set building included")
    r.add_argument("--jobs", type=int, default=16, help="photos built side by side")
    s = sub.add_parser("score")
    s.add_argument("paths", nargs="+")
    s.add_argument("--views", type=int, default=1, help="score each pair as the mean over this many of its "
                   "rotations and flips, as a model exported with export_patch --views does")
    s.add_argument("--against", default="", help="a model.pt to compare with: each set also gets the 95 %% "
                   "interval of the change in false positives (a paired bootstrap over the pairs)")
    a = ap.parse_args(argv)
    if a.verb == "pack":
        pack(a.init)
    elif a.verb == "run":
        bad = [v for v in a.variant if "=" not in v]
        if bad:
            ap.error(f"--variant takes NAME=ARGS, not {bad}")
        variants = dict(v.split("=", 1) for v in a.variant)
        run(a.out, variants, [int(s) for s in a.seeds.split(",")], a.base, a.deadline, a.jobs)
    else:
        score(a.paths, a.views, against=a.against)


if __name__ == "__main__":
    main()
