"""Train the dense feature network (UCN) with the correspondence contrastive loss and hard
negative mining on synthetic pairs with exact ground truth, from the training photos only (the
``dense`` split: every training photo of the patch networks and opencv-doc's).

    python -m models.train_ucn --steps 6000 --seed 0 [--resume] [--stop-at N]

Each step draws fresh pairs (random crop, homography with a rotation within 45 degrees and up to
an octave of scale, photometric change, occlusion), so the network never sees the same pair twice. AdamW with
a warm-up and a cosine schedule. Curve: runs/ucn/log.csv (loss, mean positive and mined negative
distances, nearest-neighbour accuracy, the largest share of dead units), each layer's weight norm
and dead units in runs/ucn/layers.csv. Every --val-every steps the network is validated in eval
mode on fixed pairs drawn from the *training* photos with a seed of their own (never the
benchmarks); runs/ucn/model.pt holds the best validated weights.
"""
from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from models import health
from models.data import dense_pairs, photos
from models.losses_dense import contrastive_hard
from models.training import Run, optimiser, schedule
from models.ucn import UCN


def batch(images: list[np.ndarray], rng: np.random.Generator, size: int, points: int,
          octaves: float = dense_pairs.OCTAVES):
    pairs = [dense_pairs.sample(images, rng, octaves=octaves) for _ in range(size)]
    corr = [dense_pairs.correspondences(p, points, rng) for p in pairs]
    a = torch.from_numpy(np.stack([p.a for p in pairs])[:, None]).float() / 255
    b = torch.from_numpy(np.stack([p.b for p in pairs])[:, None]).float() / 255
    return a, b, [(torch.from_numpy(xa), torch.from_numpy(xb)) for xa, xb in corr]


VAL_SEED = 12345


@torch.no_grad()
def validate(model: UCN, pairs: list, tolerance: float = 6.0) -> float:
    """Share of validation points whose nearest feature cell lies within ``tolerance`` px."""
    model.eval()
    hits = []
    for xa, xb, (pa, pb) in pairs:
        f = model(torch.cat([xa, xb]))
        _, stats = contrastive_hard(f[0], f[1], pa, pb, exclusion=tolerance)
        hits.append(stats["nn_acc"])
    model.train()
    return float(np.mean(hits))


def step_resumed(a: argparse.Namespace) -> bool:
    return a.resume and (Path(a.out) / "ckpt.pt").exists()


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="runs/ucn")
    ap.add_argument("--steps", type=int, default=6000)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--points", type=int, default=256, help="ground-truth correspondences per pair")
    ap.add_argument("--lr", type=float, default=2e-4, help="peak learning rate (5e-4 diverged once warm: the mined "
                    "negatives' distances kept growing while nearest-neighbour accuracy fell)")
    ap.add_argument("--weight-decay", type=float, default=1e-4, help="AdamW's decoupled decay of conv weights")
    ap.add_argument("--warmup", type=int, default=500, help="steps of linear learning-rate warm-up")
    ap.add_argument("--margin", type=float, default=0.4)
    ap.add_argument("--negatives", choices=["hard", "random", "mixed"], default="mixed")
    ap.add_argument("--exclusion", type=float, default=12.0, help="pixels around the truth where no negative is mined")
    ap.add_argument("--dim", type=int, default=32)
    ap.add_argument("--octaves", type=float, default=dense_pairs.OCTAVES, help="largest scale change of a pair, "
                    "in octaves either way")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--ckpt-every", type=int, default=250)
    ap.add_argument("--val-every", type=int, default=125)
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--stop-at", type=int, default=0)
    return ap


def main(argv: list[str] | None = None) -> None:
    a = parser().parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    rng = np.random.default_rng(a.seed)
    images = [photos.load(n) for n in photos.split("dense")]
    model = UCN(a.dim)
    opt = optimiser(model, "adamw", a.lr, a.weight_decay)
    sched = schedule(opt, a.steps, a.warmup)
    probe = torch.from_numpy(health.probe_images())
    val_rng = np.random.default_rng(VAL_SEED)
    val = [(xa, xb, c[0]) for xa, xb, c in (batch(images, val_rng, 1, 256) for _ in range(12))]
    run = Run(Path(a.out), ["step", "loss", "pos_dist", "neg_dist", "nn_acc", "val_nn_acc", "max_dead", "seconds"])
    best_path = Path(a.out) / "best.pt"
    best = torch.load(best_path, weights_only=False)["val"] if best_path.exists() and step_resumed(a) else -1.0
    step = run.restore(model, opt, sched, rng) if a.resume else 0
    writer = run.open_log(step)
    if not step:
        run.log_layers(0, model, probe)
    command = "python -m models.train_ucn " + shlex.join(argv if argv is not None else sys.argv[1:])
    t0, hist = time.time(), []
    model.train()
    end = min(a.steps, a.stop_at) if a.stop_at else a.steps
    done = step
    for i in tqdm(range(step, end), initial=step, total=a.steps, desc="ucn", mininterval=5):
        xa, xb, corr = batch(images, rng, a.batch, a.points, a.octaves)
        # one forward pass for both images: batch-norm statistics must be the same for a and b
        fa, fb = model(torch.cat([xa, xb])).chunk(2)
        per_pair = [contrastive_hard(fa[k], fb[k], *corr[k], margin=a.margin, exclusion=a.exclusion,
                                     negatives=a.negatives, grid_positive=True)
                    for k in range(len(corr))]
        losses, stats = zip(*per_pair, strict=True)
        loss = torch.stack(losses).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        hist.append([loss.item(), *(np.mean([s[k] for s in stats]) for k in ("pos", "neg", "nn_acc"))])
        done = i + 1
        v = validate(model, val) if done % a.val_every == 0 or done == a.steps else None
        if v is not None and v > best:
            best = v
            torch.save({"model": model.state_dict(), "val": v, "step": done}, best_path)
        if done % 25 == 0 or done == a.steps:
            m = np.mean(hist, 0)
            dead = run.log_layers(done, model, probe) if v is not None else None
            writer.writerow([done, *(f"{x:.4f}" for x in m), "" if v is None else f"{v:.4f}",
                             "" if dead is None else f"{dead:.3f}", f"{time.time() - t0:.0f}"])
            run.flush()
            hist = []
        if done % a.ckpt_every == 0 or done == a.steps or done == a.stop_at:
            run.save(done, model, opt, sched, rng)
    if done < a.steps:
        print(f"stopped at step {done}; continue with --resume")
    if not best_path.exists():
        return
    chosen = torch.load(best_path, weights_only=False)
    torch.save({"model": chosen["model"], "dim": a.dim, "seed": a.seed, "steps": done, "best_step": chosen["step"],
                "val_nn_acc": chosen["val"], "command": command}, Path(a.out) / "model.pt")
    print(f"saved {a.out}/model.pt (best validation {chosen['val']:.3f} at step {chosen['step']} of {done})")


if __name__ == "__main__":
    main()
