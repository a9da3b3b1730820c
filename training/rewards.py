"""The paper's rule-based rewards (Xie et al. 2025, arXiv 2505.19640), pure functions over
`parsing.parse`.

    total = format + final + intermediate

- format: +1 if the parser says `format_ok`, else -1. The format reward *is* the parser's
  verdict; no tag handling here.
- final (only when the format is valid; 0 otherwise): +2 correct, -1.5 wrong, -2 unparseable.
- intermediate (R_base = 0.5), exact match only — the paper found substring matching gamed by
  listing candidates — in one of three variants:
    all_or_none      R_base if every ground truth is matched, else 0
    partial          R_base * matched / N
    time_discounted  R_base * sum over matched truths of 1/k / H_N, where k is the 1-based
                     answer step that first matched the truth and H_N = 1 + 1/2 + ... + 1/N.
                     Answering truth j at step j (an ideal interleaved response) earns exactly
                     R_base; any other placement earns less, so the total never exceeds R_base
                     (each step can match one truth, so the k's are distinct).
- gate: `conditional` (the paper's) pays the intermediate reward only when the format is valid,
  the final answer is correct, and the batch accuracy is at least the previous batch's minus
  epsilon (0.05; the first batch has nothing to compare with and passes). `direct` (the
  ablation) pays it whenever the format is valid.

Which answers are correct, and which intermediate answers match which ground truths (the
exact-match policies), is `tasks.judging`: evaluation judges with the same functions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any, Literal

from parsing import parse
from tasks.example import Example
from tasks.judging import FinalStatus, judge_response, match_steps

FORMAT_OK, FORMAT_BAD = 1.0, -1.0
FINAL_CORRECT, FINAL_WRONG, FINAL_UNPARSEABLE = 2.0, -1.5, -2.0
R_BASE = 0.5
EPSILON = 0.05

Variant = Literal["none", "all_or_none", "partial", "time_discounted"]
Gate = Literal["conditional", "direct"]
VARIANTS: tuple[str, ...] = ("none", "all_or_none", "partial", "time_discounted")
GATES: tuple[str, ...] = ("conditional", "direct")


@dataclass(frozen=True)
class RewardConfig:
    """Which intermediate reward, which gate. `intermediate="none"` gives the baselines
    (think-answer, or interleaved without intermediate reward)."""

    intermediate: Variant = "time_discounted"
    gate: Gate = "conditional"
    epsilon: float = EPSILON
    r_base: float = R_BASE
    parse_format: str = "interleaved"  # a parsing preset; "interleaved" accepts both styles

    def __post_init__(self) -> None:
        if self.intermediate not in VARIANTS:
            raise ValueError(f"intermediate must be one of {VARIANTS}, got {self.intermediate!r}")
        if self.gate not in GATES:
            raise ValueError(f"gate must be one of {GATES}, got {self.gate!r}")


@dataclass(frozen=True)
class RewardBreakdown:
    """Every component of one response's reward, plus what the logs and the gate need."""

    format: float
    final: float
    intermediate: float  # what was paid, after the gate
    total: float
    format_ok: bool
    correct: bool  # format valid and final answer correct (the batch accuracy counts these)
    final_status: FinalStatus
    intermediate_raw: float  # the variant's value before the gate
    intermediate_matched: int
    intermediate_total: int
    match_steps: tuple[int | None, ...]  # per ground truth: 1-based answer step, or None
    gated: bool  # True when the gate withheld `intermediate_raw`

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# ---------------------------------------------------------------------------------------------
# Intermediate reward


def intermediate_reward(steps: Sequence[int | None], variant: str, r_base: float = R_BASE) -> float:
    """The variant's value for given match steps (before any gate)."""
    n = len(steps)
    if variant == "none" or n == 0:
        return 0.0
    matched = [k for k in steps if k is not None]
    if variant == "all_or_none":
        return r_base if len(matched) == n else 0.0
    if variant == "partial":
        return r_base * len(matched) / n
    if variant == "time_discounted":
        harmonic = sum(1.0 / j for j in range(1, n + 1))
        return r_base * sum(1.0 / k for k in matched) / harmonic
    raise ValueError(f"unknown intermediate variant {variant!r}")


# ---------------------------------------------------------------------------------------------
# Scoring


def score(
    response: str, ex: Example, config: RewardConfig | None = None, batch_gate_open: bool = True
) -> RewardBreakdown:
    """Reward of one response. `batch_gate_open` is the batch-accuracy part of the conditional
    gate; `score_batch` computes it, single calls default to open."""
    config = config or RewardConfig()
    transcript = parse(response, config.parse_format)
    format_ok = transcript.format_ok
    status = judge_response(transcript.answers, format_ok, ex)
    final = {
        "correct": FINAL_CORRECT,
        "wrong": FINAL_WRONG,
        "unparseable": FINAL_UNPARSEABLE,
        "no_format": 0.0,
    }[status]
    correct = status == "correct"

    steps = match_steps(transcript.answers, ex.intermediate_answers, ex)
    raw = intermediate_reward(steps, config.intermediate, config.r_base)
    # The conditional gate pays only correct answers in a batch that did not get worse; the
    # direct ablation pays any well-formed response for its intermediate answers.
    pay = format_ok if config.gate == "direct" else format_ok and correct and batch_gate_open
    intermediate = raw if pay else 0.0
    fmt = FORMAT_OK if format_ok else FORMAT_BAD
    return RewardBreakdown(
        format=fmt,
        final=final,
        intermediate=intermediate,
        total=fmt + final + intermediate,
        format_ok=format_ok,
        correct=correct,
        final_status=status,
        intermediate_raw=raw,
        intermediate_matched=sum(k is not None for k in steps),
        intermediate_total=len(steps),
        match_steps=tuple(steps),
        gated=raw != 0.0 and not pay,
    )


def batch_gate_open(batch_accuracy: float, prev_accuracy: float | None, epsilon: float) -> bool:
    """The batch part of the conditional gate: accuracy did not drop by more than epsilon.

    A tiny tolerance keeps the boundary where arithmetic puts it (0.55 - 0.05 is
    0.5000000000000001 in floating point, and an accuracy of exactly 0.5 must pass)."""
    return prev_accuracy is None or batch_accuracy >= prev_accuracy - epsilon - 1e-9


def score_batch(
    responses: Sequence[str],
    examples: Sequence[Example],
    prev_accuracy: float | None = None,
    config: RewardConfig | None = None,
) -> tuple[list[RewardBreakdown], float]:
    """Rewards of a batch and its accuracy (share of `correct`); pass that accuracy back as
    `prev_accuracy` on the next call."""
    if len(responses) != len(examples):
        raise ValueError(f"{len(responses)} responses for {len(examples)} examples")
    config = config or RewardConfig()
    scored = [score(r, ex, config) for r, ex in zip(responses, examples, strict=True)]
    accuracy = sum(b.correct for b in scored) / len(scored) if scored else 0.0
    if config.gate == "conditional" and not batch_gate_open(
        accuracy, prev_accuracy, config.epsilon
    ):
        scored = [
            replace(b, intermediate=0.0, total=b.format + b.final, gated=True)
            if b.intermediate
            else b
            for b in scored
        ]
    return scored, accuracy


def summarize(breakdowns: Sequence[RewardBreakdown]) -> dict[str, float]:
    """Batch means for logging: each component, format rate, accuracy, intermediate accuracy
    (matched truths / all truths), and how often the gate withheld or paid the intermediate
    reward."""
    n = len(breakdowns)
    if n == 0:
        return {}
    truths = sum(b.intermediate_total for b in breakdowns)
    return {
        "reward/total": sum(b.total for b in breakdowns) / n,
        "reward/format": sum(b.format for b in breakdowns) / n,
        "reward/final": sum(b.final for b in breakdowns) / n,
        "reward/intermediate": sum(b.intermediate for b in breakdowns) / n,
        "format_rate": sum(b.format_ok for b in breakdowns) / n,
        "accuracy": sum(b.correct for b in breakdowns) / n,
        "intermediate_accuracy": (
            sum(b.intermediate_matched for b in breakdowns) / truths if truths else 0.0
        ),
        "gated_rate": sum(b.gated for b in breakdowns) / n,
        # The gate's other side, the paper's mechanism: the share of responses actually paid an
        # intermediate reward this step.
        "intermediate_paid_rate": sum(b.intermediate > 0 for b in breakdowns) / n,
    }
