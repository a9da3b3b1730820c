"""The in-engine budget enforcement (`server.generation.budget_logits`), driven as vLLM's model
runner drives a logits processor: requests join the persistent batch, sampled tokens are appended to
their output lists, `update_state` runs before each step and `apply` masks the logits.

No engine: the decisions are the point here; tests/test_server_budgets.py runs the real one.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from vllm import SamplingParams
from vllm.v1.sample.logits_processor import BatchUpdate

from modelprep import ensure_base_model
from server.generation.budget_logits import BudgetLogitsProcessor
from server.generation.budgets import ReasoningBudget, engine_args


@pytest.fixture(scope="module")
def processor_factory():
    config = SimpleNamespace(model_config=SimpleNamespace(tokenizer=str(ensure_base_model())))
    return lambda: BudgetLogitsProcessor(config, torch.device("cpu"), False)


def add(processor: BudgetLogitsProcessor, rows: dict[int, SamplingParams]) -> dict[int, list]:
    outputs: dict[int, list[int]] = {row: [] for row in rows}
    added = [(row, params, [1, 2, 3], outputs[row]) for row, params in rows.items()]
    processor.update_state(BatchUpdate(batch_size=len(rows), removed=[], added=added, moved=[]))
    return outputs


def step(processor: BudgetLogitsProcessor, outputs: dict[int, list[int]], proposals: list[int]):
    """One decode step: each row samples its argmax of logits that favour `proposals[row]`;
    returns the tokens taken."""
    vocab = len(processor.tokenizer)
    logits = torch.zeros(len(proposals), vocab)
    for row, token in enumerate(proposals):
        logits[row, token] = 5.0
    logits = processor.apply(logits)
    taken = logits.argmax(dim=-1).tolist()
    for row, token in enumerate(taken):
        outputs[row].append(token)
    processor.update_state(None)
    return taken


def budgeted(**fields) -> SamplingParams:
    return SamplingParams(extra_args=engine_args(ReasoningBudget(**fields), 0.0))


def run_text(processor, outputs, row_texts: list[str], steps: int) -> list[str]:
    """Each row 'wants' to write its text token by token; returns what each row wrote."""
    wanted = [processor.tokenizer.encode(t, add_special_tokens=False) for t in row_texts]
    cursor = [0] * len(row_texts)
    for _ in range(steps):
        proposals = [w[min(c, len(w) - 1)] for w, c in zip(wanted, cursor, strict=True)]
        taken = step(processor, outputs, proposals)
        for row, token in enumerate(taken):
            if token == proposals[row]:
                cursor[row] += 1
    return [processor.tokenizer.decode(outputs[row]) for row in range(len(row_texts))]


THINKING = "<think> " + "the first clue says that the second person is lying " * 20


def test_a_segment_cap_forces_the_closing_and_opening_tags(processor_factory) -> None:
    processor = processor_factory()
    outputs = add(processor, {0: budgeted(max_segment_tokens=12)})
    (text,) = run_text(processor, outputs, [THINKING], steps=30)
    think, rest = text.split("</think>", 1)
    assert rest.startswith("<answer>"), text
    think_tokens = len(processor.tokenizer.encode(think.removeprefix("<think>")))
    assert 11 <= think_tokens <= 14, (think_tokens, text)


def test_requests_without_a_budget_are_untouched(processor_factory) -> None:
    processor = processor_factory()
    outputs = add(processor, {0: SamplingParams(), 1: budgeted(max_segment_tokens=8)})
    free, capped = run_text(processor, outputs, [THINKING, THINKING], steps=25)
    assert "</think>" not in free and free == processor.tokenizer.decode(
        processor.tokenizer.encode(THINKING, add_special_tokens=False)[:25]
    )
    assert "</think><answer>" in capped
    assert list(processor.requests) == [1]  # only the budgeted request is tracked


def test_nothing_is_forced_inside_an_answer(processor_factory) -> None:
    processor = processor_factory()
    outputs = add(processor, {0: budgeted(max_segment_tokens=4, first_answer_tokens=2)})
    answer = "<answer> " + "Zoey is a knight and Oliver is a knave " * 5
    (text,) = run_text(processor, outputs, [answer], steps=30)
    assert text == processor.tokenizer.decode(
        processor.tokenizer.encode(answer, add_special_tokens=False)[:30]
    )


def test_a_first_answer_deadline_fires_once(processor_factory) -> None:
    processor = processor_factory()
    outputs = add(processor, {0: budgeted(first_answer_tokens=10)})
    # After the forced answer the model closes it and thinks again: no second close.
    text = THINKING[:120] + "</answer> <think> " + "more thinking about the puzzle " * 10
    (written,) = run_text(processor, outputs, [text], steps=60)
    assert written.count("</think><answer>") == 1, written


def test_a_total_cap_of_zero_opens_with_an_answer(processor_factory) -> None:
    processor = processor_factory()
    outputs = add(processor, {0: budgeted(max_total_tokens=0)})
    (text,) = run_text(processor, outputs, [THINKING], steps=6)
    assert text.startswith("<answer>"), text


def test_rows_that_move_in_the_batch_keep_their_state(processor_factory) -> None:
    from vllm.v1.sample.logits_processor.interface import MoveDirectionality

    processor = processor_factory()
    outputs = add(processor, {0: SamplingParams(), 1: budgeted(max_segment_tokens=6)})
    run_text(processor, outputs, [THINKING, THINKING], steps=4)
    processor.update_state(
        BatchUpdate(batch_size=2, removed=[], added=[], moved=[(0, 1, MoveDirectionality.SWAP)])
    )
    outputs = {0: outputs[1], 1: outputs[0]}
    _, _ = run_text(processor, outputs, [THINKING, THINKING], steps=10)
    assert "</think><answer>" in processor.tokenizer.decode(outputs[0])
    assert "</think>" not in processor.tokenizer.decode(outputs[1])


def test_an_unknown_budget_field_is_refused() -> None:
    with pytest.raises(TypeError):
        BudgetLogitsProcessor.validate_params(
            SamplingParams(extra_args={"interleaved_budget": {"max_thinking": 3}})
        )


@pytest.mark.parametrize("fields", [{"max_segment_tokens": 12}, {"first_answer_tokens": 10}])
def test_an_opening_written_for_the_model_counts_as_its_own(processor_factory, fields) -> None:
    """With `--prefill-think` the opening tag is in the prompt, not the output: the processor
    reads it first, and forces the same tags at the same place as when the model wrote it."""
    written_by_model = processor_factory()
    outputs = add(written_by_model, {0: budgeted(**fields)})
    (whole,) = run_text(written_by_model, outputs, [THINKING], steps=30)
    assert "</think><answer>" in whole
    prefilled = processor_factory()
    tokens = len(prefilled.tokenizer.encode("<think>", add_special_tokens=False))
    args = engine_args(ReasoningBudget(**fields), 0.0, "<think>", tokens)
    outputs = add(prefilled, {0: SamplingParams(extra_args=args)})
    (rest,) = run_text(prefilled, outputs, [THINKING.removeprefix("<think>")], steps=30 - tokens)
    assert "<think>" + rest == whole
