"""The whole training recipe of the shipped networks, in one command:

    python -m models.recipe [--only NAME,...] [--jobs 2]

It fetches the photos, builds the patch sets, then trains each network below (the shipped patch
networks and the dense UCN) from scratch with a fixed seed, in ``--jobs`` parallel queues of one
thread each (the machine has two cores), resuming any run that was interrupted. Export and
evaluation follow (``make weights`` runs it all; ``--checkpoints`` prints the checkpoint each patch
network is exported from, or with ``--only`` of those networks).
"""
from __future__ import annotations

import argparse
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from models.export_patch import model_name
from models.patchnet import WIDTH

SEED = 0
# (network, steps): every shipped network, trained once from scratch with AdamW, a warm-up and a
# cosine schedule; the patch networks validate on ``val`` (new warps of their training photos)
# (a name ``-w<width>`` is that architecture at another channel width: the sparse method's fast descriptor)
RUNS = [("2ch-2stream", 20000), ("siam-2stream-l2", 10000), ("siam-2stream-l2-w0.25", 10000), ("ucn", 6000),
        ("2ch-deep", 10000)]
PATCH_SETS = "train,val,fusion,heldout,stereo,valphotos,valstereo,trainvideo,valpairs,heldpairs,immpairs"
# network: (steps, arguments) of a fine-tune that follows its run from scratch, on real views added to
# its data; it starts from the run as exported (``models.unfold``), as the shipped one did
FINE_TUNES = {"2ch-2stream": (3000, ["--data", "data/patches_train.npz,data/patches_trainvideo.npz", "--lr", "2e-4",
                                     "--warmup", "100"])}


def run_dir(name: str) -> str:
    return f"runs/{name}"


def arch_width(name: str) -> tuple[str, str | None]:
    """A run's architecture and, where its name gives one (``<arch>-w<width>``), its width."""
    m = re.fullmatch(r"(.+)-w([0-9.]+)", name)
    return (m[1], m[2]) if m else (name, None)


def train_commands(name: str, steps: int) -> list[list[str]]:
    """The commands that train one network, in order: its run from scratch, and where it has a
    fine-tune (FINE_TUNES), that run's export, unfolding and fine-tune into the network's own folder."""
    common = ["--steps", str(steps), "--seed", str(SEED), "--threads", "1", "--resume"]
    if name == "ucn":
        return [[sys.executable, "-m", "models.train_ucn", *common]]
    arch, width = arch_width(name)
    if name in FINE_TUNES:  # trained from scratch beside the network's own folder, which the fine-tune fills
        base = run_dir(f"{name}-base")
    elif width:  # a slimmed network has a folder of its own
        base = run_dir(name)
    else:
        base = None
    other = ["--width", width] if width else []
    scratch = [sys.executable, "-m", "models.train_patch", "--arch", arch, *other, *(["--out", base] if base else []),
               *common, "--val", "data/patches_val.npz"]
    if name not in FINE_TUNES:
        return [scratch]
    more, extra = FINE_TUNES[name]
    folded = f"{base}/export/{model_name(arch, float(width or WIDTH))}.onnx"
    return [scratch, [sys.executable, "-m", "models.export_patch", f"{base}/model.pt", "--out", f"{base}/export"],
            [sys.executable, "-m", "models.unfold", folded, "--out", f"{base}/unfolded.pt"],
            [sys.executable, "-m", "models.train_patch", "--arch", arch, *other, "--out", run_dir(name),
             "--init", f"{base}/unfolded.pt", *extra, "--steps", str(more), "--seed", str(SEED), "--threads", "1",
             "--resume", "--val", "data/patches_val.npz"]]


def checkpoints(only: str = "") -> list[str]:
    """The checkpoint each patch network of the recipe (or each in ``only``, comma-separated) is
    exported from."""
    return [f"{run_dir(n)}/model.pt" for n, _ in RUNS if n != "ucn" and (not only or n in only.split(","))]


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
    ap.add_argument("--only", default="", help="comma-separated networks (default: all)")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--checkpoints", action="store_true", help="print the patch checkpoints to export and leave")
    a = ap.parse_args()
    if a.checkpoints:
        print(" ".join(checkpoints(a.only)))
        return
    py = sys.executable
    subprocess.run([py, "-m", "models.prep_data", "--opencv"], check=True)
    missing = [s for s in PATCH_SETS.split(",") if not Path(f"data/patches_{s}.npz").exists()]
    if missing:
        subprocess.run([py, "-m", "models.build_patches", "--seed", str(SEED), "--sets", ",".join(missing),
                        "--jobs", str(a.jobs)], check=True)
    runs = [r for r in RUNS if not a.only or r[0] in a.only.split(",")]
    with ThreadPoolExecutor(a.jobs) as pool:
        codes = list(pool.map(lambda r: run(train_commands(*r), Path(run_dir(r[0])) / "train.log"), runs))
    failed = [r[0] for r, c in zip(runs, codes, strict=True) if c]
    if failed:
        sys.exit(f"training failed: {failed}")


if __name__ == "__main__":
    main()
