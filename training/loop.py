"""The step loop SFT and RL share: resume, steps, log, checkpoints, the servable output.

    step = 0, or with --resume the newest checkpoint's step (weights, optimizer, schedule,
           data cursor, the mode's memory and the RNGs restored)
    while step < last_step:                      last_step = stop_at_step or max_steps
        step += 1
        lr = the learning rate this step trains with
        record = step_fn(step)                   the mode's part: SFT one batch's NLL and one
                                                 optimizer step; RL sample, score, update
        scheduler.step()
        log {"step", "lr", **record, "step_seconds"}
        every save_every steps (and at the last) a checkpoint
    save the servable output (out_dir/adapter) and its model card

Each mode builds its models and data into a `Trainee`, then calls `run` with its step
function. `clip_and_step` is the optimizer step both take (SFT once a step, RL once a
mini-batch).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from training.checkpoint import (
    EpochSampler,
    latest_checkpoint,
    load_checkpoint,
    restore_rng,
    save_checkpoint,
)
from training.config import Config
from training.logs import LOG_FILE, StepLog
from training.model import load_trainable_state, save_servable, trainable_state
from training.model_card import write_model_card


@dataclass
class Trainee:
    """What the loop trains, checkpoints and restores on resume."""

    policy: nn.Module
    tokenizer: Any
    optimizer: torch.optim.Optimizer
    scheduler: Any
    sampler: EpochSampler  # the data cursor
    value_head: nn.Module | None = None  # RL, when the estimator needs values
    # The mode's state carried from step to step and through checkpoints: RL's prev_accuracy
    # (the conditional gate's memory); SFT keeps the key as None (one checkpoint layout).
    memory: dict[str, Any] = field(default_factory=lambda: {"prev_accuracy": None})


def last_step(cfg: Config) -> int:
    return cfg.stop_at_step or cfg.max_steps


def run(
    cfg: Config,
    out: Path,
    t: Trainee,
    step_fn: Callable[[int], dict[str, Any]],
    *,
    resume: bool,
    show: tuple[str, ...],
) -> Path:
    """Train steps until `last_step(cfg)`; returns the servable output folder (`out/adapter`).

    `step_fn(step)` trains one step and returns its metrics for the log; `show` names the
    metrics on the progress bar.
    """
    step = _resume(out, t) if resume else 0
    stop = last_step(cfg)
    # A resumed run keeps the schedule its config names; the budget fits a fresh run's only.
    pace = Pace(cfg.time_budget_s) if cfg.time_budget_s and step == 0 else None
    log = StepLog(out / LOG_FILE, stop, resume_step=step, progress=cfg.progress, show=show)
    last: dict[str, Any] = {}
    try:
        while step < stop:
            step += 1
            started = time.perf_counter()
            lr = t.scheduler.get_last_lr()[0]  # this step's rate; the log must show it
            record = {"step": step, "lr": lr, **step_fn(step)}
            # Fit before the scheduler computes the next step's rate, which reads max_steps.
            if pace is not None and (horizon := pace.horizon(step)) is not None:
                stop = _fit_schedule(cfg, out, horizon, step)
                log.bar.total = stop
                record["max_steps"] = stop
            elif pace is not None and step > PACE_LAST and step < stop and pace.expired():
                # Slower than the timed steps promised (a neighbour on the GPU, longer
                # batches): end here, on the schedule as fitted, rather than overrun.
                stop = cfg.stop_at_step = step
                (out / "config.yaml").write_text(cfg.to_yaml())
                record["stop_at_step"] = step
            t.scheduler.step()
            record["step_seconds"] = time.perf_counter() - started
            log.write(record)
            last = record
            if step % cfg.save_every == 0 or step == stop:
                _save(cfg, out, step, t)
    finally:
        log.close()
    adapter = save_servable(t.policy, t.tokenizer, out / "adapter")
    write_model_card(adapter, cfg, steps=step, final_metrics=last)
    return adapter


# The steps timed to fit a time budget: after the first few (CUDA kernels load, the allocator
# grows) and before the warmup ends, so the schedule is fixed before the cosine starts.
PACE_FIRST, PACE_LAST = 5, 25


class Pace:
    """How many steps fit in `budget_s` seconds from now (the start of the training loop), from
    the pace of steps PACE_FIRST+1..PACE_LAST."""

    def __init__(self, budget_s: float, clock: Callable[[], float] = time.perf_counter) -> None:
        self.budget_s = budget_s
        self.clock = clock
        self.started = clock()
        self.window_start: float | None = None
        self.now = self.started

    def horizon(self, step: int) -> int | None:
        """After step PACE_LAST, the last step that ends within the budget; else None."""
        now = self.now = self.clock()
        if step == PACE_FIRST:
            self.window_start = now
        if step != PACE_LAST or self.window_start is None:
            return None
        per_step = (now - self.window_start) / (PACE_LAST - PACE_FIRST)
        left = self.budget_s - (now - self.started)
        return step + max(0, int(left / per_step))

    def expired(self) -> bool:
        """Whether the budget was spent by the last step `horizon` saw."""
        return self.now - self.started > self.budget_s


def _fit_schedule(cfg: Config, out: Path, horizon: int, step: int) -> int:
    """End the run (and its cosine) at `horizon`, within max_steps; the run's config.yaml
    records the schedule it trained with, so `--resume --set max_steps=N` can continue it."""
    stop = max(step, min(horizon, cfg.max_steps))
    cfg.max_steps = stop  # the schedule (`lr_factor`) reads the horizon from the config
    cfg.stop_at_step = 0
    (out / "config.yaml").write_text(cfg.to_yaml())
    print(f"time budget {cfg.time_budget_s:.0f} s: {stop} steps", flush=True)
    return stop


def clip_and_step(optimizer: torch.optim.Optimizer, max_grad_norm: float) -> float:
    """Clip the accumulated gradients of all the optimizer's parameters (one norm), step (unless
    the norm is not finite), and clear them; returns the norm before clipping."""
    params = [p for group in optimizer.param_groups for p in group["params"]]
    norm = float(torch.nn.utils.clip_grad_norm_(params, max_grad_norm))
    # A non-finite gradient (an overflow, a kernel's NaN) would poison the weights and the
    # optimizer's moments for good: skip that update, as loss scalers do; the log shows it.
    if math.isfinite(norm):
        optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return norm


def _save(cfg: Config, out: Path, step: int, t: Trainee) -> Path:
    state = {
        "trainable": trainable_state(t.policy),
        "value_head": t.value_head.state_dict() if t.value_head is not None else None,
        "optimizer": t.optimizer.state_dict(),
        "scheduler": t.scheduler.state_dict(),
        "sampler": t.sampler.state(),
        **t.memory,
        "config": cfg.to_dict(),
    }
    servable = (lambda folder: save_servable(t.policy, t.tokenizer, folder)) if cfg.lora else None
    return save_checkpoint(out, step, state, servable, keep=cfg.keep_checkpoints)


def _resume(out: Path, t: Trainee) -> int:
    """Restore the newest checkpoint into `t` (the RNGs last: building models draws random
    numbers); returns its step, or 0 when there is none."""
    checkpoint = latest_checkpoint(out)
    if checkpoint is None:
        return 0
    state = load_checkpoint(checkpoint)
    load_trainable_state(t.policy, state["trainable"])
    if t.value_head is not None:
        t.value_head.load_state_dict(state["value_head"])
    t.optimizer.load_state_dict(state["optimizer"])
    t.scheduler.load_state_dict(state["scheduler"])
    t.sampler.restore(state["sampler"])
    t.memory.update({key: state[key] for key in t.memory})
    restore_rng(state["rng"])
    print(f"resumed from {checkpoint} (step {state['step']})", flush=True)
    return int(state["step"])
