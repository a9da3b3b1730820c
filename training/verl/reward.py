"""veRL reward functions over `training.rewards`, with the paper's batch-level gate.

Point veRL at this file (`custom_reward_function.path`; `reward.custom_reward_function.path` on
veRL 0.8+). veRL loads it by file path under a name of its own without registering it in
`sys.modules`, so this file defines no dataclasses or other machinery that looks itself up
there: the gate lives in `training.verl.gate`, imported normally.

`reward_kwargs` choose the variant: `intermediate` (none | all_or_none | partial |
time_discounted), `gate` (conditional | direct), `epsilon`, `batch_size` (training responses
per step) and `state_dir` (where the gate's state is saved: veRL's `trainer.default_local_dir`,
so a resumed run gets the gate it had at the checkpoint).

Which function veRL calls decides which gate applies:
- `compute_score` (one response at a time): veRL 0.8/0.9's reward loop always calls rewards this
  way, one response per call, even with a batch of them at hand. The batch part of the gate
  lags one step (`training.verl.gate`); the per-response part (valid format, correct final
  answer) is exact. Batches are counted off `batch_size` training responses at a time in one
  process, so the launch configs run one reward worker.
- `compute_score_batch` (a whole step at once): veRL 0.7's `batch` reward manager, with
  `custom_reward_function.name=compute_score_batch`. The gate is exact
  (`training.rewards.score_batch`) but lives in memory only.
Validation responses (`extra_info["split"] != "train"`) are scored but never move the gate.
"""

from collections.abc import Sequence
from typing import Any

from training.rewards import RewardBreakdown, RewardConfig, score, score_batch
from training.verl.export import example_from_ground_truth
from training.verl.gate import DEFAULT_BATCH_SIZE, GateState

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "STATE",
    "compute_score",
    "compute_score_batch",
    "reset_batch_gate",
]


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
        if kwargs.get("state_dir"):
            STATE.attach(kwargs["state_dir"])
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
    """A whole step's rewards (veRL 0.7's batch reward manager) with the exact gate."""
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
