"""Our rewards as a TRL `GRPOTrainer` reward function, with the exact batch gate.

TRL calls reward functions once per generation batch, on every process at the same time, each
with its own slice of the completions. With `steps_per_generation` equal to the gradient
accumulation steps (TRL's default) a generation batch is one optimizer step, so the gate is
exact: each process counts its correct answers, the counts are summed over processes
(`torch.distributed.all_reduce`, which accelerate has initialised when there are several), and
every process pays or withholds the intermediate reward on the step's global accuracy against
the previous step's. Validation rows (`split` != "train") are scored with the gate open and do
not move it. `state_dict`/`load_state_dict` carry the gate across checkpoints (`GateCallback`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from training.rewards import RewardConfig, batch_gate_open, score
from training.verl.export import example_from_ground_truth

STATE_FILE = "interleaved_gate.json"


def _text(completion: Any) -> str:
    """TRL passes a string (standard) or a list of messages (conversational) per completion."""
    if isinstance(completion, str):
        return completion
    return "".join(m.get("content") or "" for m in completion if m.get("role") == "assistant")


def _global_counts(correct: int, total: int) -> tuple[int, int]:
    try:
        import torch
        import torch.distributed as dist
    except ImportError:  # pragma: no cover - torch is always there with TRL
        return correct, total
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return correct, total
    backend = dist.get_backend()
    device = torch.device("cuda", torch.cuda.current_device()) if backend == "nccl" else "cpu"
    counts = torch.tensor([correct, total], dtype=torch.long, device=device)
    dist.all_reduce(counts)
    return int(counts[0]), int(counts[1])


class InterleavedReward:
    """`reward(prompts, completions, ground_truth, split, **kw) -> list[float]` for TRL."""

    __name__ = "interleaved"

    def __init__(self, config: RewardConfig | None = None) -> None:
        self.config = config or RewardConfig()
        self.accuracies: list[float] = []

    def __call__(
        self,
        prompts: Sequence[Any],
        completions: Sequence[Any],
        ground_truth: Sequence[str],
        split: Sequence[str] | None = None,
        log_metric: Callable[[str, float], None] | None = None,
        **_: Any,
    ) -> list[float]:
        examples = [example_from_ground_truth(g) for g in ground_truth]
        scored = [
            score(_text(c), ex, self.config) for c, ex in zip(completions, examples, strict=True)
        ]
        train = split is None or all(s == "train" for s in split)
        # Every process takes part in the all-reduce, whatever its own rows are.
        correct, total = _global_counts(sum(b.correct for b in scored), len(scored))
        if train and total:
            accuracy = correct / total
            prev = self.accuracies[-1] if self.accuracies else None
            self.accuracies.append(accuracy)
            if self.config.gate == "conditional" and not batch_gate_open(
                accuracy, prev, self.config.epsilon
            ):
                scored = [
                    replace(b, intermediate=0.0, total=b.format + b.final, gated=True)
                    if b.intermediate
                    else b
                    for b in scored
                ]
        if log_metric is not None and scored:
            n = len(scored)
            log_metric("interleaved/accuracy", sum(b.correct for b in scored) / n)
            log_metric("interleaved/format_ok", sum(b.format_ok for b in scored) / n)
            log_metric("interleaved/intermediate", sum(b.intermediate for b in scored) / n)
            log_metric("interleaved/gated", sum(b.gated for b in scored) / n)
        return [b.total for b in scored]

    def state_dict(self) -> dict[str, Any]:
        return {"accuracies": list(self.accuracies)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.accuracies = [float(a) for a in state["accuracies"]]

    def save(self, folder: str | Path) -> None:
        Path(folder).mkdir(parents=True, exist_ok=True)
        (Path(folder) / STATE_FILE).write_text(json.dumps(self.state_dict()))

    def load(self, folder: str | Path) -> bool:
        path = Path(folder) / STATE_FILE
        if not path.is_file():
            return False
        self.load_state_dict(json.loads(path.read_text()))
        return True
