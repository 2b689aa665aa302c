"""What every training command shares: the optimiser, a run folder with a resumable checkpoint
(model, optimiser, schedule and both random generators, so a resumed run continues bit for bit),
the training curve as CSV and, beside it, each layer's health (weight norm, dead units)."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import torch
from torch import nn

from models import health

OPTIMISERS = ("adamw", "sgd")


def optimiser(model: nn.Module, name: str, lr: float, weight_decay: float) -> torch.optim.Optimizer:
    """AdamW (decoupled weight decay) or SGD with momentum 0.9, as the patch paper trained.

    The decay applies to the weights of convolutions and linear layers only, never to biases or
    normalisation parameters, and it is never part of the loss: with Adam, an L2 term in the loss
    is normalised into steps of about the learning rate for any weight the data does not hold up,
    which once drove whole layers to subnormal zeros. AdamW shrinks a weight by lr * weight_decay
    of itself per step; SGD's weight decay is the L2 penalty's exact gradient."""
    decay = [m.weight for m in model.modules() if isinstance(m, nn.Conv2d | nn.Linear)]
    ids = {id(p) for p in decay}
    rest = [p for p in model.parameters() if id(p) not in ids]
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": rest, "weight_decay": 0.0}]
    if name == "adamw":
        return torch.optim.AdamW(groups, lr=lr)
    if name == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=0.9)
    raise ValueError(f"optimiser must be one of {OPTIMISERS}, not {name!r}")


def schedule(opt: torch.optim.Optimizer, steps: int, warmup: int = 0) -> torch.optim.lr_scheduler.LambdaLR:
    """A linear warm-up over ``warmup`` steps, then a cosine decay to 1 % of the learning rate at
    ``steps``. Full-size Adam steps from the first batch silence units for good: on 2ch-2stream
    a quarter of a layer's units died in the first 200 steps without the warm-up."""
    def factor(step: int) -> float:
        cosine = 0.01 + 0.99 * 0.5 * (1 + np.cos(np.pi * min(step, steps) / max(steps, 1)))
        return min(1.0, (step + 1) / warmup) * cosine if warmup else cosine
    return torch.optim.lr_scheduler.LambdaLR(opt, factor)


def cpu_weights(model: nn.Module) -> dict[str, torch.Tensor]:
    """The model's state dict on the CPU, whatever device it trained on: a saved network loads,
    exports and serves without a GPU."""
    return {k: v.cpu() for k, v in model.state_dict().items()}


class Run:
    def __init__(self, out: Path, columns: list[str]):
        self.out = Path(out)
        self.out.mkdir(parents=True, exist_ok=True)
        self.ckpt = self.out / "ckpt.pt"
        self.columns = columns

    def restore(self, model: torch.nn.Module, opt: torch.optim.Optimizer, sched, rng: np.random.Generator) -> int:
        """Load the checkpoint if there is one; returns the step to continue from (0: fresh)."""
        if not self.ckpt.exists():
            return 0
        state = torch.load(self.ckpt, weights_only=False, map_location="cpu")  # a GPU run resumes anywhere
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        sched.load_state_dict(state["sched"])
        rng.bit_generator.state = state["rng"]
        torch.set_rng_state(state["torch_rng"])
        return state["step"]

    def save(self, step: int, model: torch.nn.Module, opt: torch.optim.Optimizer, sched,
             rng: np.random.Generator) -> None:
        torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict(),
                    "rng": rng.bit_generator.state, "torch_rng": torch.get_rng_state(), "step": step}, self.ckpt)

    def open_log(self, step: int) -> csv.writer:
        """The curve file and the layers' file, restarted on a fresh run and appended to on a
        resumed one (rows an interrupted run wrote after its last checkpoint are dropped)."""
        for name in ("log.csv", "layers.csv") if step else ():
            path = self.out / name
            if path.exists():
                with open(path, newline="") as f:
                    rows = list(csv.reader(f))
                with open(path, "w", newline="") as f:
                    csv.writer(f).writerows(rows[:1] + [r for r in rows[1:] if r and int(r[0]) <= step])
        self._log = open(self.out / "log.csv", "a" if step else "w", newline="")
        self._layers = open(self.out / "layers.csv", "a" if step else "w", newline="")
        writer, self._layer_writer = csv.writer(self._log), csv.writer(self._layers)
        if not step:
            writer.writerow(self.columns)
            self._layer_writer.writerow(["step", "layer", "weight_norm", "dead_share"])
        return writer

    def flush(self) -> None:
        self._log.flush()
        self._layers.flush()

    def log_layers(self, step: int, model: nn.Module, *probe: torch.Tensor) -> float:
        """Append each layer's weight norm and share of dead units on ``probe`` (a fixed batch) to
        layers.csv; returns the largest dead share."""
        dead, norms = health.dead_units(model, *probe), health.weight_norms(model)
        for layer, norm in norms.items():
            share = dead.get(layer)
            self._layer_writer.writerow([step, layer, f"{norm:.4g}", "" if share is None else f"{share:.4f}"])
        return max(dead.values(), default=0.0)
