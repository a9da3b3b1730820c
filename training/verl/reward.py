"""veRL reward functions over `training.rewards`, with the paper's batch-level gate.

Point veRL at this file (`reward.custom_reward_function.path`); `reward_kwargs` choose the
variant: `intermediate` (none | all_or_none | partial | time_discounted), `gate` (conditional |
direct), `epsilon`, and `batch_size` (responses per training step).

The gate needs the whole batch (its accuracy against the previous batch's), and veRL calls
rewards in one of two ways:
- `compute_score_batch(data_sources, solution_strs, ground_truths, extra_infos, **kw)`: a whole
  step at once (veRL's `batch` reward manager). The gate is exact: `training.rewards.score_batch`.
- `compute_score(data_source, solution_str, ground_truth, extra_info=None, **kw)`: one response
  at a time (veRL 0.9's reward loop). The current batch's accuracy is not known until its last
  response is scored, so the batch part of the gate lags one step: batch t is paid when
  accuracy(t-1) >= accuracy(t-2) - epsilon (the per-response part — valid format, correct final
  answer — is exact). Batches are counted off `batch_size` training responses at a time, in one
  process (the launch configs set `reward.num_workers: 1`).
Validation responses (`extra_info["split"] != "train"`) are scored but never move the gate.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from training.rewards import RewardBreakdown, RewardConfig, batch_gate_open, score, score_batch
from training.verl.export import example_from_ground_truth

DEFAULT_BATCH_SIZE = 128  # the paper's 16 prompts x 8 samples


def _config(kwargs: dict[str, Any]) -> RewardConfig:
    return RewardConfig(
        intermediate=kwargs.get("intermediate", "time_discounted"),
        gate=kwargs.get("gate", "conditional"),
        epsilon=float(kwargs.get("epsilon", 0.05)),
    )


def _result(b: RewardBreakdown) -> dict[str, float]:
    # Numbers only: veRL aggregates every key into its metrics.
    return {
        "score": b.total,
        "format": b.format,
        "final": b.final,
        "intermediate": b.intermediate,
        "acc": float(b.correct),
        "format_ok": float(b.format_ok),
        "intermediate_matched": float(b.intermediate_matched),
        "intermediate_total": float(b.intermediate_total),
    }


def _is_train(extra_info: dict[str, Any] | None) -> bool:
    return (extra_info or {}).get("split", "train") == "train"


@dataclass
class GateState:
    """Accuracies of finished training batches, and the counts of the one being scored."""

    batch_size: int = DEFAULT_BATCH_SIZE
    accuracies: list[float] = field(default_factory=list)
    seen: int = 0
    correct: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def batch_open(self, epsilon: float) -> bool:
        """Lagged gate for the batch being scored (open until two batches have finished)."""
        if len(self.accuracies) < 2:
            return True
        return batch_gate_open(self.accuracies[-1], self.accuracies[-2], epsilon)

    def record(self, correct: bool) -> None:
        self.seen += 1
        self.correct += int(correct)
        if self.seen >= self.batch_size:
            self.accuracies.append(self.correct / self.seen)
            self.seen = self.correct = 0

    def reset(self, batch_size: int = DEFAULT_BATCH_SIZE) -> None:
        with self.lock:
            self.batch_size, self.accuracies, self.seen, self.correct = batch_size, [], 0, 0


STATE = GateState()
_BATCH_PREV: dict[str, float | None] = {"accuracy": None}


def compute_score(
    data_source: str,
    solution_str: str,
    ground_truth: str,
    extra_info: dict[str, Any] | None = None,
    **kwargs: Any,
) -> dict[str, float]:
    """One response's reward (veRL's per-sample signature), with the lagged batch gate."""
    config = _config(kwargs)
    ex = example_from_ground_truth(ground_truth)
    train = _is_train(extra_info)
    with STATE.lock:
        STATE.batch_size = int(kwargs.get("batch_size", STATE.batch_size))
        open_ = STATE.batch_open(config.epsilon) if train else True
        breakdown = score(solution_str, ex, config, batch_gate_open=open_)
        if train:
            STATE.record(breakdown.correct)
    return _result(breakdown)


def compute_score_batch(
    data_sources: Sequence[str],
    solution_strs: Sequence[str],
    ground_truths: Sequence[str],
    extra_infos: Sequence[dict[str, Any] | None] | None = None,
    **kwargs: Any,
) -> list[dict[str, float]]:
    """A whole step's rewards (veRL's batch reward manager) with the exact gate."""
    config = _config(kwargs)
    examples = [example_from_ground_truth(g) for g in ground_truths]
    infos = list(extra_infos) if extra_infos is not None else [None] * len(examples)
    train = all(_is_train(info) for info in infos)
    prev = _BATCH_PREV["accuracy"] if train else None
    breakdowns, accuracy = score_batch(list(solution_strs), examples, prev, config)
    if train:
        _BATCH_PREV["accuracy"] = accuracy
    return [_result(b) for b in breakdowns]


def reset_batch_gate() -> None:
    _BATCH_PREV["accuracy"] = None
