"""What every training command shares: a run folder with a resumable checkpoint (model,
optimiser, schedule and both random generators, so a resumed run continues bit for bit) and the
training curve as CSV."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import torch


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
        state = torch.load(self.ckpt, weights_only=False)
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
        """The curve file, restarted on a fresh run and appended to on a resumed one."""
        self._log = open(self.out / "log.csv", "a" if step else "w", newline="")
        writer = csv.writer(self._log)
        if not step:
            writer.writerow(self.columns)
        return writer

    def flush(self) -> None:
        self._log.flush()
