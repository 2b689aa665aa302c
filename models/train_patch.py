"""Train one patch network with the hinge loss and L2 regularisation as decoupled weight decay
(AdamW, or SGD with momentum as the paper; cosine learning rate).

    python -m models.train_patch --arch 2ch-2stream --steps 6000 --seed 0 [--resume]

Batches are half positives, a quarter mined hard negatives (nearby or SIFT-alike points) and a
quarter random negatives, with the same random rotation by 90 degrees / flip applied to both patches
of a pair. Checkpoints go to runs/<arch>/ckpt.pt every --ckpt-every steps; --resume continues from
there bit for bit. The curve (loss, accuracy, validation FPR95, the largest share of dead units
in any layer) goes to runs/<arch>/log.csv, and every layer's weight norm and share of dead units
on a fixed batch of real patch pairs (``models.health``) to runs/<arch>/layers.csv; the final
weights to runs/<arch>/model.pt, with the command and seed that made them.
"""
from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch
from tqdm import tqdm

from models import health
from models.data.synth import PatchSet
from models.losses import patch_loss
from models.metrics import fpr95
from models.patchnet import ARCHS, build
from models.training import OPTIMISERS, Run, cpu_weights, optimiser, schedule

# decoupled weight decay per optimiser: AdamW shrinks each weight by lr * this a step; SGD's is
# the paper's lambda, the L2 penalty's gradient
DECAY = {"adamw": 1e-2, "sgd": 5e-4}


def degrade(x: np.ndarray, rng: np.random.Generator, p: float) -> np.ndarray:
    """Each pair of (B, 2, 64, 64) uint8 has, with probability ``p`` each, one patch blurred
    (sigma 0.5 to 2 patch pixels) and one patch given sensor noise (2 to 10 grey levels): the
    mismatch in focus and noise between two views that the lowest-scored positives show."""
    x = x.copy()
    for i in np.flatnonzero(rng.random(len(x)) < p):
        s = int(rng.integers(0, 2))
        x[i, s] = cv2.GaussianBlur(x[i, s], (0, 0), rng.uniform(0.5, 2.0))
    for i in np.flatnonzero(rng.random(len(x)) < p):
        s = int(rng.integers(0, 2))
        x[i, s] = np.clip(x[i, s] + rng.normal(0, rng.uniform(2, 10), x[i, s].shape), 0, 255).astype(np.uint8)
    return x


def beyond_edge(n: int, rng: np.random.Generator) -> np.ndarray:
    """(n, 64, 64) bool: the pixels beyond a random straight edge 3 to 20 pixels from the centre."""
    angle, dist = rng.uniform(0, 2 * np.pi, n), rng.uniform(3, 20, n)
    v, u = np.mgrid[:64, :64] - 31.5
    return u * np.cos(angle)[:, None, None] + v * np.sin(angle)[:, None, None] > dist[:, None, None]


def occlude(x: np.ndarray, donors: np.ndarray, rng: np.random.Generator, p: float) -> np.ndarray:
    """Each pair of (B, 2, 64, 64) uint8 has, with probability ``p``, one patch's pixels beyond a
    random straight edge 3 to 20 pixels from its centre replaced by another patch's (from
    ``donors``, (N, 64, 64)): a foreground edge in front of a background that the other view sees
    differently, as depth edges give real stereo pairs (same blob, other surround on one side)."""
    x = x.copy()
    rows = np.flatnonzero(rng.random(len(x)) < p)
    side = rng.integers(0, 2, len(rows))
    donor = donors[rng.integers(0, len(donors), len(rows))]
    x[rows, side] = np.where(beyond_edge(len(rows), rng), donor, x[rows, side])
    return x


def parallax(x: np.ndarray, rng: np.random.Generator, p: float) -> np.ndarray:
    """Each pair of (B, 2, 64, 64) uint8 has, with probability ``p``, one patch's pixels beyond a
    random straight edge 3 to 20 pixels from its centre replaced by the same patch moved 2 to 12
    pixels in a random direction (reflected at its border): the background past a foreground edge
    moving against it between two views, as depth gives real 3-D scenes (the same layers, shifted)."""
    x = x.copy()
    rows = np.flatnonzero(rng.random(len(x)) < p)
    side = rng.integers(0, 2, len(rows))
    beyond = beyond_edge(len(rows), rng)
    r, t = rng.uniform(2, 12, len(rows)), rng.uniform(0, 2 * np.pi, len(rows))
    for k, (i, s) in enumerate(zip(rows, side, strict=True)):
        m = np.float32([[1, 0, r[k] * np.cos(t[k])], [0, 1, r[k] * np.sin(t[k])]])
        moved = cv2.warpAffine(x[i, s], m, (64, 64), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        x[i, s] = np.where(beyond[k], moved, x[i, s])
    return x


def sample_batch(ps: PatchSet, rng: np.random.Generator, batch: int,
                 miner: torch.nn.Module | None = None, pool: int = 1,
                 blur: float = 0.0, occlusion: float = 0.0, shift: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """A (B, 2, 64, 64) uint8 batch of pairs and its labels (B,) in {-1, +1}. With a ``miner``,
    the hard negatives are the ones it scores highest among ``pool`` times as many candidates
    (online hard negative mining); with ``blur`` > 0, pairs are degraded as ``degrade`` says; with
    ``occlusion`` > 0, positives and negatives alike are occluded as ``occlude`` says; with
    ``shift`` > 0, given depth parallax as ``parallax`` says."""
    n_pos, n_hard = batch // 2, batch // 4
    n_rand = batch - n_pos - n_hard
    pos = ps.pos[rng.integers(0, len(ps.pos), n_pos)]
    hard = ps.neg[rng.integers(0, len(ps.neg), n_hard * pool)]
    if miner is not None and pool > 1:
        hard = hard[np.argsort(-score_pairs(miner, ps.patches, hard))[:n_hard]]
    a, b = rng.integers(0, len(ps.patches), (2, n_rand * 2))
    rand = np.stack([a, b], 1)[ps.point[a] != ps.point[b]][:n_rand]
    idx = np.concatenate([pos, hard, rand])
    swap = rng.random(len(idx)) < 0.5
    idx[swap] = idx[swap][:, ::-1]
    x = ps.patches[idx]  # (B, 2, 64, 64)
    if occlusion > 0:  # no draws otherwise, as for blur below
        x = occlude(x, ps.patches, rng, occlusion)
    if shift > 0:
        x = parallax(x, rng, shift)
    if blur > 0:  # no draws otherwise, so the default recipe replays bit for bit
        x = degrade(x, rng, blur)
    k = int(rng.integers(0, 4))
    x = np.rot90(x, k, axes=(2, 3))
    if rng.random() < 0.5:
        x = x[..., ::-1]
    y = np.r_[np.ones(n_pos), -np.ones(len(idx) - n_pos)].astype(np.float32)
    return np.ascontiguousarray(x), y


@torch.no_grad()
def score_pairs(model: torch.nn.Module, patches: np.ndarray, pairs: np.ndarray, batch: int = 512) -> np.ndarray:
    """Scores (P,) of index pairs (P, 2) into patches (N, 64, 64) uint8, on the model's device."""
    model.eval()
    dev = next(model.parameters(), torch.empty(0)).device  # a parameterless scorer runs on the CPU
    out = [model(torch.from_numpy(patches[pairs[i:i + batch]].astype(np.float32) / 255.0).to(dev)).cpu().numpy()
           for i in range(0, len(pairs), batch)]
    model.train()
    return np.concatenate(out) if out else np.zeros(0, np.float32)


def set_scores(model: torch.nn.Module, ps: PatchSet) -> tuple[np.ndarray, np.ndarray]:
    """The scores of a set's positive pairs (P,) and negative pairs (Q,)."""
    return score_pairs(model, ps.patches, ps.pos), score_pairs(model, ps.patches, ps.neg)


def lost_share(pos: np.ndarray, at: float = -0.9) -> float:
    """The share of positives' scores (P,) that are confident negatives (at most ``at``; above 5 %
    of them, the 95 %-recall threshold falls among the negatives' saturated scores)."""
    return float((pos <= at).mean())


def validate(model: torch.nn.Module, ps: PatchSet) -> float:
    return fpr95(*set_scores(model, ps))


def subset(ps: PatchSet, n: int, seed: int) -> PatchSet:
    rng = np.random.default_rng(seed)
    return PatchSet(ps.patches, ps.point, ps.pos[rng.permutation(len(ps.pos))[:n]],
                    ps.neg[rng.permutation(len(ps.neg))[:n]])


def load_sets(spec: str) -> PatchSet:
    """One set's file, or several joined by commas, as one set (their pairs index their own patches)."""
    paths = spec.split(",")
    return PatchSet.load(paths[0]) if len(paths) == 1 else PatchSet.concat([PatchSet.load(p) for p in paths])


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--arch", required=True, choices=sorted(ARCHS))
    ap.add_argument("--data", default="data/patches_train.npz", help="a set, or several joined by commas")
    ap.add_argument("--val", default="data/patches_heldout.npz", help="for the logged curve only")
    ap.add_argument("--out", default=None, help="default runs/<arch>")
    ap.add_argument("--steps", type=int, default=6000)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--optimiser", choices=OPTIMISERS, default="adamw")
    ap.add_argument("--warmup", type=int, default=500, help="steps of linear learning-rate warm-up")
    ap.add_argument("--weight-decay", type=float, default=None, help="decoupled weight decay of conv and linear "
                    "weights (default: 1e-2 for adamw, the paper's 5e-4 for sgd)")
    ap.add_argument("--width", type=float, default=0.5, help="channel widths times the paper's")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--device", default="cpu", help="torch device, e.g. cuda (batches are still drawn on the CPU; "
                    "only cpu replays bit for bit)")
    ap.add_argument("--ckpt-every", type=int, default=500)
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--init", default=None, help="start from these weights (a model.pt), e.g. to fine-tune")
    ap.add_argument("--mine", type=int, default=1, help="hard negatives: the hardest 1 of this many candidates")
    ap.add_argument("--blur", type=float, default=0.0, help="chance that a pair has one patch blurred, "
                    "and again that one has noise added (train-time augmentation; 0: none)")
    ap.add_argument("--occlude", type=float, default=0.0, help="chance that a pair has one patch occluded "
                    "beyond a straight edge near its centre by another patch (train-time augmentation; 0: none)")
    ap.add_argument("--parallax", type=float, default=0.0, help="chance that a pair has one patch's part beyond "
                    "a straight edge near its centre moved against the rest (train-time augmentation; 0: none)")
    ap.add_argument("--pos-weight", type=float, default=1.0, help="weight of the positives' hinge terms "
                    "(the negatives' stay 1)")
    ap.add_argument("--stop-at", type=int, default=0, help="leave after this step with a checkpoint (time-boxing)")
    return ap


def main(argv: list[str] | None = None) -> None:
    a = parser().parse_args(argv)
    out = Path(a.out or f"runs/{a.arch}")
    out.mkdir(parents=True, exist_ok=True)
    if a.threads:
        torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    rng = np.random.default_rng(a.seed)
    data = load_sets(a.data)
    val = subset(PatchSet.load(a.val), 2000, a.seed) if Path(a.val).exists() else None
    model = build(a.arch, a.width)
    base = torch.load(a.init) if a.init else {"command": "", "steps": 0}
    if a.init:
        model.load_state_dict(base["model"])
    model.to(a.device)
    decay = DECAY[a.optimiser] if a.weight_decay is None else a.weight_decay
    opt = optimiser(model, a.optimiser, a.lr, decay)
    sched = schedule(opt, a.steps, a.warmup)
    run = Run(out, ["step", "loss", "accuracy", "val_fpr95", "max_dead", "seconds"])
    step = run.restore(model, opt, sched, rng) if a.resume else 0
    probe = torch.from_numpy(health.probe_pairs()).to(a.device)
    command = "python -m models.train_patch " + shlex.join(argv if argv is not None else sys.argv[1:])
    if base["command"]:  # a fine-tune is reproduced by its base's command, then its own
        command = f"{base['command']} && {command}"
    first = base["steps"]  # a fine-tune's curve goes on from its base's step count
    writer = run.open_log(first + step if step else 0)
    if not step:
        run.log_layers(first, model, probe)
    model.train()
    t0, losses, accs = time.time(), [], []
    for i in tqdm(range(step, a.steps), initial=step, total=a.steps, desc=a.arch, mininterval=5):
        x, y = sample_batch(data, rng, a.batch, model, a.mine, a.blur, a.occlude, a.parallax)
        xt, yt = torch.from_numpy(x).to(a.device).float().div_(255.0), torch.from_numpy(y).to(a.device)
        scores = model(xt)
        loss = patch_loss(model, scores, yt, pos_weight=a.pos_weight)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        losses.append(loss.item())
        threshold = -0.7 if model.l2 else 0.0
        accs.append(((scores.detach() > threshold).float() * 2 - 1 == yt).float().mean().item())
        done = i + 1
        if done % 50 == 0 or done == a.steps:
            look = done % a.ckpt_every == 0 or done == a.steps
            v = validate(model, val) if val is not None and look else ""
            dead = run.log_layers(first + done, model, probe) if look else ""
            writer.writerow([first + done, f"{np.mean(losses):.4f}", f"{np.mean(accs):.4f}",
                             f"{v:.4f}" if v != "" else "", f"{dead:.3f}" if dead != "" else "",
                             f"{time.time() - t0:.0f}"])
            run.flush()
            losses, accs = [], []
        if done % a.ckpt_every == 0 or done == a.steps:
            run.save(done, model, opt, sched, rng)
        if done == a.stop_at:
            run.save(done, model, opt, sched, rng)
            print(f"stopped at step {done}; continue with --resume")
            return
    torch.save({"model": cpu_weights(model), "arch": a.arch, "width": a.width, "seed": a.seed,
                "steps": base["steps"] + a.steps, "command": command}, out / "model.pt")
    print(f"saved {out / 'model.pt'}")


if __name__ == "__main__":
    main()
