"""Distil a shipped descriptor network into a narrower one of its family: the student learns to give
the pairs of a batch the teacher's similarities (its whitened descriptors' cosines), each batch a
set of positive pairs of the training patch set (two views of a point, detector jitter included) so
that matches and their nearest look-alikes both count. Copying the teacher's descriptors themselves
did not converge in a narrower network (tried at a sixth of the paper's widths: held-out cosine
0.34 after 2,000 steps): the teacher's whitening spreads its variance over every dimension.

    python -m models.distill_patch [--teacher siam-2stream-l2] [--arch siam-2stream-l2-s2] [--width 0.25]
        [--steps 4000] [--batch 256] [--device cpu] [--resume]

The student is the teacher's architecture at ``--width``, or with ``--arch siam-2stream-l2-s2`` the
same with its streams' first convolutions strided (see ``models.patchnet.stream``); it is named
``<arch>-distilled-w<width>`` and written to runs/<name> unless ``--name`` and ``--out`` say otherwise.

Decoupled weight decay (AdamW); the curve and each layer's weight norm and dead units are logged
(runs/<name>/log.csv, layers.csv) and unhealthy weights refused at export.
"""
from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
import torch.nn.functional as F

from models.data.synth import PatchSet
from models.export_patch import MANIFEST, WEIGHTS
from models.patchnet import build
from models.training import Run, cpu_weights

ARCH = "siam-2stream-l2"


def teacher_descriptors(path: Path, patches: np.ndarray, batch: int = 512) -> np.ndarray:
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return np.concatenate([sess.run(None, {"patches": patches[i:i + batch, None].astype(np.float32) / 255.0})[0]
                           for i in range(0, len(patches), batch)])


def relational(d: torch.Tensor, t: torch.Tensor, tau: float = 0.05) -> torch.Tensor:
    """The student's cosine similarities against the teacher's over a batch of interleaved pairs
    (rows 2i and 2i + 1 are two views of a point): their mean squared difference over every pair
    of patches, plus how far each first view's ranking of the second views departs from the
    teacher's (Kullback-Leibler of the softmax at temperature ``tau``): which candidate is nearest
    is what matching uses."""
    s, g = d @ d.T, t @ t.T
    rank = F.kl_div(F.log_softmax(s[0::2, 1::2] / tau, 1), F.log_softmax(g[0::2, 1::2] / tau, 1),
                    log_target=True, reduction="batchmean")
    return ((s - g) ** 2).mean() + rank


@torch.no_grad()
def held_out(net: torch.nn.Module, x: torch.Tensor, target: torch.Tensor, pairs: np.ndarray) -> tuple[float, ...]:
    """On held-out positive pairs: the mean absolute difference of the student's cosine
    similarities from the teacher's, and the share of first views whose match is the nearest of
    all the second views, for the student and for the teacher."""
    net.eval()
    v = torch.from_numpy(pairs.ravel())
    d = net.describe(x[v, None].float() / 255.0)
    s, t = d @ d.T, target[v] @ target[v].T
    n = torch.arange(len(pairs), device=s.device)
    return ((s - t).abs().mean().item(), (s[0::2, 1::2].argmax(1) == n).float().mean().item(),
            (t[0::2, 1::2].argmax(1) == n).float().mean().item())


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--teacher", default="siam-2stream-l2")
    ap.add_argument("--arch", default=ARCH, choices=[ARCH, ARCH + "-s2"],
                    help="the student's: the teacher's family, or its streams' first convolutions strided")
    ap.add_argument("--width", type=float, default=0.25, help="channel widths times the paper's")
    ap.add_argument("--steps", type=int, default=4000)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--set", type=Path, default=Path("data/patches_train.npz"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu", help="torch device, e.g. cuda (only cpu replays bit for bit)")
    ap.add_argument("--name", default=None, help="the manifest's name (default <arch>-distilled-w<width>)")
    ap.add_argument("--out", type=Path, default=None, help="the run's folder (default runs/<name>)")
    ap.add_argument("--resume", action="store_true")
    return ap


def resolved(a: argparse.Namespace) -> argparse.Namespace:
    """The arguments with the name and the run's folder filled in where they were left out."""
    a.name = a.name or f"{a.arch}-distilled-w{a.width:g}"
    a.out = a.out or Path("runs") / a.name
    return a


def main() -> None:
    a = resolved(parser().parse_args())
    torch.manual_seed(a.seed)
    torch.set_num_threads(a.threads)
    ps = PatchSet.load(str(a.set))
    t0 = time.time()
    dev = torch.device(a.device)
    target = torch.from_numpy(teacher_descriptors(WEIGHTS / f"{a.teacher}.onnx", ps.patches)).to(dev)
    print(f"{len(ps.patches)} patches, teacher's descriptors in {time.time() - t0:.0f} s", flush=True)
    x = torch.from_numpy(ps.patches).to(dev)
    hold = np.random.default_rng(a.seed).random(len(ps.pos)) < 0.05  # a twentieth of the pairs kept out
    train, val = ps.pos[~hold], ps.pos[hold][:2048]
    net = build(a.arch, a.width).to(dev)
    opt = torch.optim.AdamW(net.parameters(), lr=a.lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, a.lr, total_steps=a.steps, pct_start=0.05)
    rng = np.random.default_rng(a.seed + 1)
    run = Run(a.out, ["step", "loss", "similarity_error", "first_ranked", "teacher_first_ranked", "max_dead",
                      "seconds"])
    start = run.restore(net, opt, sched, rng) if a.resume else 0
    writer = run.open_log(start)
    probe = (x[torch.from_numpy(val[:256].ravel()), None].float() / 255.0).repeat(1, 2, 1, 1)
    if not start:
        run.log_layers(0, net, probe)
    for step in range(start + 1, a.steps + 1):
        net.train()
        idx = torch.from_numpy(train[rng.choice(len(train), a.batch // 2)].ravel()).to(dev)
        loss = relational(net.describe(x[idx, None].float() / 255.0), target[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step % 500 == 0 or step == a.steps:
            error, first, teacher_first = held_out(net, x, target, val)
            dead = run.log_layers(step, net, probe)
            writer.writerow([step, f"{loss.item():.4f}", f"{error:.4f}", f"{first:.4f}", f"{teacher_first:.4f}",
                             f"{dead:.4f}", f"{time.time() - t0:.0f}"])
            run.flush()
            run.save(step, net, opt, sched, rng)
            print(f"step {step} loss {loss.item():.4f}; held-out pairs: similarity error {error:.3f}, the pair's "
                  f"match ranked first among {len(val)} for {first:.3f} (teacher {teacher_first:.3f}); dead units "
                  f"at most {dead:.2f} ({time.time() - t0:.0f} s)", flush=True)
    command = "python -m models.distill_patch " + shlex.join(sys.argv[1:])
    torch.save({"model": cpu_weights(net), "arch": a.arch, "width": a.width, "seed": a.seed, "steps": a.steps,
                "command": command, "name": a.name, "teacher": a.teacher}, a.out / "model.pt")
    print(f"saved {a.out / 'model.pt'}; export: python -m models.export_patch {a.out / 'model.pt'} "
          f"(manifest {MANIFEST})")


if __name__ == "__main__":
    main()
