"""Reasoning budgets enforced inside the engine: a vLLM logits processor that forces the tags.

The other enforcement (`server.generation.steering`, the default) aborts the generation when a
budget fires and continues it with the text so far plus `</think><answer>` as the assistant
prefix: one prefill per forced close, no cost to requests without a budget. This one makes
the engine itself write the tags: once a budget fires, the next sampled tokens of that request
are the tokens of `forced_text(...)`, one per decode step, with every other token masked. No
abort, no second prefill; instead each closing costs the decode steps of its tag tokens, and
every engine step pays a small bookkeeping cost for the requests that carry a budget.
`python -m benchmarks.forced_close --enforcement logits` measures both side by side.

The decision is the same pure function (`server.generation.budgets.close_reason`) on the same view
(`BudgetView`), built from the request's own output tokens: they are detokenized
incrementally and fed to `parsing.StreamParser`, so "inside a think segment" means exactly
what it means everywhere else. A request opts in by carrying `SamplingParams.extra_args`
`server.generation.budgets.engine_args(budget, arrival)`; requests without
it are not tracked at all.

Loaded by the engine process by its qualified name (`QUALNAME`, passed as vLLM's
`logits_processors` engine argument), so it imports nothing from the server's HTTP side.
Positions: a forced token is pinned to the output position it must take (the count of output
tokens when the decision was made), which holds with vLLM's synchronous scheduling (the CPU
platform's) and needs no reply from the sampler.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch
from vllm.v1.sample.logits_processor import BatchUpdate, LogitsProcessor
from vllm.v1.sample.logits_processor.builtin import process_dict_updates

from parsing import ANSWER, THINK, StreamParser
from server.generation.budgets import (
    ARRIVAL_KEY,
    BUDGET_KEY,
    FIRST_MS,
    FIRST_TOKENS,
    MAX_FORCED_CLOSES,
    OPENING_KEY,
    BudgetView,
    ReasoningBudget,
    close_reason,
    forced_text,
)

if TYPE_CHECKING:
    from vllm import SamplingParams
    from vllm.config import VllmConfig

QUALNAME = "server.generation.budget_logits:BudgetLogitsProcessor"  # vLLM wants "module:Class"
# How many decoded-but-unsettled tokens incremental detokenization keeps as context (a
# multi-byte character split over tokens decodes once its last byte arrives).
_DETOKENIZE_CONTEXT = 6


@dataclass
class RequestBudget:
    """One steered request's view of its own output, advanced token by token."""

    budget: ReasoningBudget
    arrival_unix: float
    output: list[int]  # vLLM's live list of the request's output token ids
    parser: StreamParser = field(default_factory=StreamParser)
    seen: int = 0  # output tokens accounted for
    open_think_tokens: int = 0
    think_tokens: int = 0
    answered: bool = False
    deadline_spent: bool = False
    forced_closes: int = 0
    think_has_text: bool = False  # the open think segment has non-whitespace text
    forced: dict[int, int] = field(default_factory=dict)  # output position -> token id
    opening_tokens: int = 0  # tokens of the reply's start written for the model
    _ids: list[int] = field(default_factory=list)  # detokenization window
    _read: int = 0  # how many of `_ids` are already decoded into text


class BudgetLogitsProcessor(LogitsProcessor):
    """vLLM (v1) logits processor: reasoning budgets as forced tag tokens."""

    def __init__(self, vllm_config: VllmConfig, device: torch.device, is_pin_memory: bool):
        from transformers import AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(vllm_config.model_config.tokenizer)
        self.requests: dict[int, RequestBudget] = {}
        self._tag_ids: dict[str, list[int]] = {}

    @classmethod
    def validate_params(cls, sampling_params: SamplingParams) -> None:
        args = (sampling_params.extra_args or {}).get(BUDGET_KEY)
        if args is not None:
            ReasoningBudget(**args)  # a TypeError names the unknown field

    def is_argmax_invariant(self) -> bool:
        return False  # forcing a token changes the argmax

    def _new_request(
        self, params: SamplingParams, _prompt: list[int] | None, output: list[int]
    ) -> RequestBudget | None:
        extra = params.extra_args or {}
        if BUDGET_KEY not in extra:
            return None
        budget = ReasoningBudget(**extra[BUDGET_KEY])
        state = RequestBudget(budget, float(extra.get(ARRIVAL_KEY, time.time())), output)
        if OPENING_KEY in extra:
            # The reply's opening (`--prefill-think`) is in the prompt, not the output: the
            # parser reads it first and its tokens count as completion tokens, as in the run.
            text, tokens = extra[OPENING_KEY]
            state.parser.feed(text)
            state.opening_tokens = int(tokens)
        return state

    def update_state(self, batch_update: BatchUpdate | None) -> None:
        process_dict_updates(self.requests, batch_update, self._new_request)
        for state in self.requests.values():
            self._advance(state)

    def apply(self, logits: torch.Tensor) -> torch.Tensor:
        for row, state in self.requests.items():
            token = state.forced.get(len(state.output))
            if token is not None and row < logits.shape[0]:
                forced_logit = logits[row, token].clone()
                logits[row].fill_(-float("inf"))
                logits[row, token] = torch.nan_to_num(forced_logit, neginf=0.0)
        return logits

    # -- per request ---------------------------------------------------------------------

    def _advance(self, state: RequestBudget) -> None:
        """Account for the request's new output tokens, then decide whether to force."""
        while state.seen < len(state.output):
            token = state.output[state.seen]
            state.forced.pop(state.seen, None)
            state.seen += 1
            kind_before = state.parser.open_kind
            if kind_before != THINK:
                state.think_has_text = False
            for event in state.parser.feed(self._decode(state, token)):
                if event.type == "delta" and event.text.strip():
                    state.answered |= event.kind == ANSWER
                    state.think_has_text |= event.kind == THINK
            kind = state.parser.open_kind
            if kind == THINK and kind_before == THINK:
                state.open_think_tokens += 1
                state.think_tokens += 1
            elif kind == THINK:
                state.open_think_tokens = 0
                state.think_has_text = False
        if state.forced or state.forced_closes >= MAX_FORCED_CLOSES:
            return  # a close is being written, or the guard stopped steering
        if state.parser.pending or (state.parser.open_kind == THINK and not state.think_has_text):
            # As `Shaper.steerable`: a held-back "</thi" would become text after a forced
            # "</think>", and closing an empty think segment would break the format.
            return
        view = BudgetView(
            open_kind=state.parser.open_kind,
            open_think_tokens=state.open_think_tokens,
            think_tokens=state.think_tokens,
            answered=state.answered,
            deadline_spent=state.deadline_spent,
            completion_tokens=state.opening_tokens + len(state.output),
            elapsed_ms=(time.time() - state.arrival_unix) * 1000.0,
        )
        reason = close_reason(state.budget, view)
        if reason is None:
            return
        fmt = state.parser.format
        text = forced_text(view.open_kind, fmt.think_close, fmt.answer_open)
        if not text:
            return
        state.forced_closes += 1
        state.deadline_spent |= reason in (FIRST_TOKENS, FIRST_MS)
        start = len(state.output)
        state.forced = {start + i: t for i, t in enumerate(self._ids_of(text))}

    def _decode(self, state: RequestBudget, token: int) -> str:
        """The text `token` adds (incremental detokenization over a small window)."""
        state._ids.append(token)
        before = str(self.tokenizer.decode(state._ids[: state._read]))
        after = str(self.tokenizer.decode(state._ids))
        if after.endswith("\ufffd"):
            return ""  # an incomplete multi-byte character: wait for its last byte
        new = after[len(before) :]
        state._read = len(state._ids)
        if len(state._ids) > _DETOKENIZE_CONTEXT:
            state._ids = state._ids[-_DETOKENIZE_CONTEXT:]
            state._read = len(state._ids)
        return new

    def _ids_of(self, text: str) -> list[int]:
        if text not in self._tag_ids:
            self._tag_ids[text] = self.tokenizer.encode(text, add_special_tokens=False)
        return self._tag_ids[text]
