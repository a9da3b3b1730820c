"""Everything a killed run needs to continue as if it had not been killed.

A checkpoint is a folder `checkpoints/step-000010/` holding
- `state.pt`: trained weights (LoRA or all, float32), value head, optimizer, scheduler, the RNG
  states, the step, the previous batch accuracy (the conditional gate compares against it) and
  the data cursor;
- `adapter/` (LoRA runs): the adapter at that step, servable as is.

It is written under a temporary name and renamed, so a kill during the write leaves the previous
checkpoint as the latest. The data cursor is an `EpochSampler` position: the order of each epoch
is a function of (seed, epoch), so a resumed run draws exactly the examples it would have drawn.
"""

from __future__ import annotations

import random
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

CHECKPOINTS = "checkpoints"
STATE_FILE = "state.pt"
_NAME = re.compile(r"^step-(\d+)$")


@dataclass
class EpochSampler:
    """Indices 0..size-1 in a fresh seeded order each epoch; resumable from (epoch, position)."""

    size: int
    seed: int
    epoch: int = 0
    position: int = 0

    def _order(self) -> list[int]:
        order = list(range(self.size))
        random.Random(f"{self.seed}:{self.epoch}").shuffle(order)
        return order

    def take(self, count: int) -> list[int]:
        if self.size == 0:
            raise ValueError("no examples to sample from")
        out: list[int] = []
        order = self._order()
        while len(out) < count:
            if self.position >= self.size:
                self.epoch, self.position = self.epoch + 1, 0
                order = self._order()
            out.append(order[self.position])
            self.position += 1
        return out

    def state(self) -> dict[str, int]:
        return {"epoch": self.epoch, "position": self.position}

    def restore(self, state: dict[str, int]) -> None:
        self.epoch, self.position = int(state["epoch"]), int(state["position"])


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % (1 << 32))
    torch.manual_seed(seed)


def begin_run(out_dir: str | Path, config_yaml: str, seed: int) -> Path:
    """What every run does first: create its folder, record its config, seed every RNG."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.yaml").write_text(config_yaml)
    seed_everything(seed)
    return out


def rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def checkpoint_dir(out_dir: str | Path, step: int) -> Path:
    return Path(out_dir) / CHECKPOINTS / f"step-{step:06d}"


def list_checkpoints(out_dir: str | Path) -> list[tuple[int, Path]]:
    root = Path(out_dir) / CHECKPOINTS
    if not root.is_dir():
        return []
    found = []
    for path in root.iterdir():
        m = _NAME.match(path.name)
        if m and (path / STATE_FILE).is_file():
            found.append((int(m[1]), path))
    return sorted(found)


def latest_checkpoint(out_dir: str | Path) -> Path | None:
    found = list_checkpoints(out_dir)
    return found[-1][1] if found else None


def finished_run(out_dir: str | Path, max_steps: int) -> Path | None:
    """`out_dir/adapter` when the run already reached `max_steps`, else None.

    Resuming a finished run must not redo anything: rebuilding the models and the rollout
    engine costs minutes, and rewriting the adapter's model card would drop its final metrics
    and evaluation (scripts/train.sh resumes every stage each time it runs).
    """
    found = list_checkpoints(out_dir)
    adapter = Path(out_dir) / "adapter"
    if found and found[-1][0] >= max_steps and adapter.is_dir():
        print(f"{out_dir}: already trained for {max_steps} steps; keeping {adapter}", flush=True)
        return adapter
    return None


def save_checkpoint(
    out_dir: str | Path,
    step: int,
    state: dict[str, Any],
    servable: Any = None,
    keep: int = 2,
) -> Path:
    """Write `state` (plus a servable copy via `servable(folder)`) atomically; prune old ones."""
    final = checkpoint_dir(out_dir, step)
    tmp = final.with_name(final.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    torch.save({**state, "step": step, "rng": rng_state()}, tmp / STATE_FILE)
    if servable is not None:
        servable(tmp / "adapter")
    shutil.rmtree(final, ignore_errors=True)
    tmp.rename(final)
    for _, old in list_checkpoints(out_dir)[:-keep] if keep > 0 else []:
        shutil.rmtree(old, ignore_errors=True)
    return final


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """The saved state; RNGs are restored by the caller once everything else is built, since
    building models draws random numbers."""
    return torch.load(Path(path) / STATE_FILE, map_location="cpu", weights_only=False)
