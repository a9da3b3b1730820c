"""Reasoning budgets: how much a choice may think, and when it must answer. Pure, no I/O.

A `ReasoningBudget` caps each think segment's tokens, all think tokens together, and the
time to the first answer (in completion tokens and/or milliseconds since the request
arrived). `close_reason` is the one decision the request path asks after every backend
output: must the open think segment be closed now (and an answer opened), and why.
`server.generation.steering.Steering` decides what follows from it (the run then aborts the
backend generation and continues it with the text so far plus the closing and opening tags).

Rules, in order:
  - Nothing is forced inside an open answer: the answer the model is writing is what the
    budgets are for.
  - The first-answer deadline applies until the first answer's text has started and fires
    at most once: after its forced close the model has answered, whatever it does next.
  - Inside a think segment: the total cap, then the per-segment cap.
  - Between segments, nothing is forced (the model may be about to stop), except at the very
    start when the total cap is 0: then the response opens with an answer.
"""

from __future__ import annotations

from dataclasses import dataclass

from parsing import ANSWER, THINK

# Why a think segment was closed: the field of `ReasoningBudget` that fired.
SEGMENT = "max_segment_tokens"
TOTAL = "max_total_tokens"
FIRST_TOKENS = "first_answer_tokens"
FIRST_MS = "first_answer_ms"
REASONS = (SEGMENT, TOTAL, FIRST_TOKENS, FIRST_MS)

# A guard against a model that reopens thinking after every forced close for ever: past this
# many forced closes in one choice the budget stops steering (each close costs a prefill).
MAX_FORCED_CLOSES = 256


@dataclass(frozen=True, slots=True)
class ReasoningBudget:
    """Per-request limits on thinking. None: no limit of that kind.

    `exclude` does not limit anything: the think text is generated and counted as usual but
    left out of the response (OpenRouter's `reasoning.exclude`, `include_reasoning: false`).
    """

    max_segment_tokens: int | None = None
    max_total_tokens: int | None = None
    first_answer_tokens: int | None = None
    first_answer_ms: float | None = None
    exclude: bool = False

    @property
    def steers(self) -> bool:
        """Whether any limit is set, i.e. whether generation may have to be steered."""
        return any(
            v is not None
            for v in (
                self.max_segment_tokens,
                self.max_total_tokens,
                self.first_answer_tokens,
                self.first_answer_ms,
            )
        )


NO_BUDGET = ReasoningBudget()


@dataclass(frozen=True, slots=True)
class BudgetView:
    """What the decision needs to know about one choice right now.

    open_kind: THINK, ANSWER or None (between segments); open_think_tokens: tokens of the open
    think segment so far; think_tokens: all think tokens so far (the open segment's included);
    answered: the first answer's text has started; deadline_spent: a first-answer deadline
    already forced a close; completion_tokens: tokens generated so far; elapsed_ms: since the
    request arrived.
    """

    open_kind: str | None
    open_think_tokens: int
    think_tokens: int
    answered: bool
    deadline_spent: bool
    completion_tokens: int
    elapsed_ms: float


def opens_with_answer(budget: ReasoningBudget) -> bool:
    """Whether the budget makes a reply open with an answer (no thinking allowed before it)."""
    start = BudgetView(None, 0, 0, False, False, 0, 0.0)
    return close_reason(budget, start) is not None


def close_reason(budget: ReasoningBudget, view: BudgetView) -> str | None:
    """The budget field that requires closing the open think segment (or, between segments,
    opening an answer) now; None when generation may go on as it is."""
    if view.open_kind == ANSWER:
        return None
    if not view.answered and not view.deadline_spent:
        if budget.first_answer_tokens is not None and (
            view.completion_tokens >= budget.first_answer_tokens
        ):
            return FIRST_TOKENS
        if budget.first_answer_ms is not None and view.elapsed_ms >= budget.first_answer_ms:
            return FIRST_MS
    if view.open_kind == THINK:
        if budget.max_total_tokens is not None and view.think_tokens >= budget.max_total_tokens:
            return TOTAL
        if (
            budget.max_segment_tokens is not None
            and view.open_think_tokens >= budget.max_segment_tokens
        ):
            return SEGMENT
        return None
    if budget.max_total_tokens == 0 and view.completion_tokens == 0:
        return TOTAL
    return None


# `SamplingParams.extra_args` keys that make the in-engine enforcement
# (`server.generation.budget_logits`, `--budget-enforcement logits`) steer a request.
BUDGET_KEY = "interleaved_budget"
ARRIVAL_KEY = "interleaved_arrival_unix"
OPENING_KEY = "interleaved_opening"  # [text, tokens] written for the model before its output


def engine_args(
    budget: ReasoningBudget, arrival_unix: float, opening: str = "", opening_tokens: int = 0
) -> dict[str, object]:
    """The `extra_args` entries that make the engine's logits processor enforce `budget` for
    a request that arrived at `arrival_unix` (seconds since the epoch, the engine process's
    clock), whose reply starts with `opening` (`opening_tokens` tokens) written for the
    model."""
    fields = {
        "max_segment_tokens": budget.max_segment_tokens,
        "max_total_tokens": budget.max_total_tokens,
        "first_answer_tokens": budget.first_answer_tokens,
        "first_answer_ms": budget.first_answer_ms,
    }
    args: dict[str, object] = {BUDGET_KEY: fields, ARRIVAL_KEY: arrival_unix}
    if opening:
        args[OPENING_KEY] = [opening, opening_tokens]
    return args


def forced_text(open_kind: str | None, think_close: str | None, answer_open: str | None) -> str:
    """The tags that end thinking and start an answer, from what the choice has open:
    `</think><answer>` inside a think segment, `<answer>` between segments (r1's tagless
    answer needs only the closing tag), nothing inside an answer."""
    opener = answer_open or ""
    if open_kind == THINK:
        return (think_close or "") + opener
    if open_kind == ANSWER:
        return ""  # an answer is already open
    return opener
