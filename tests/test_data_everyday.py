"""Everyday prompts and the base model's answers: varied, split, kept sane, and compared."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from tasks import read_jsonl
from tasks.everyday import agreement, clean_answer, distilled_example, prompts
from tasks.prompts import target, user_prompt
from training.examples import load_examples

DATA = Path(__file__).resolve().parent.parent / "tasks" / "data" / "everyday.jsonl"


def test_prompts_are_varied_and_split_without_overlap() -> None:
    everything = prompts()
    assert len(everything) >= 500 and len({p for _, p, _ in everything}) == len(everything)
    assert len({c for c, _, _ in everything}) >= 10
    train = {p for _, p, _ in prompts("train")}
    test = {p for _, p, _ in prompts("test")}
    assert train and test and not train & test
    assert prompts("test") == prompts("test")  # deterministic


def test_the_shipped_set_holds_the_base_models_sane_answers() -> None:
    examples = read_jsonl(DATA)
    assert Counter(ex.split for ex in examples)["test"] >= 40
    for ex in examples:
        assert ex.intermediate_answers == [ex.final_answer] and len(ex.reasoning_steps) == 1
        assert "<" not in ex.final_answer and ex.meta["hint"] is False
        assert len(ex.final_answer.split()) <= 60
    # As typed, without the answer-form hint, laid out as one think and one answer.
    ex = examples[0]
    assert user_prompt(ex) == ex.question
    assert (
        target(ex)
        == f"<think> {ex.reasoning_steps[0]} </think> <answer> {ex.final_answer} </answer>"
    )


def test_clean_answer_folds_and_cuts_at_a_sentence() -> None:
    assert clean_answer("Paris.\n\n<answer>x</answer>") == "Paris. x"
    long = "One two three. " * 30
    cut = clean_answer(long, max_words=10)
    assert cut.endswith(".") and len(cut.split()) <= 10


def test_agreement_is_token_f1() -> None:
    assert agreement("The capital of France is Paris.", "The capital of France is Paris.") == 1.0
    assert agreement("Paris", "The capital of France is Paris.") > 0.2
    assert agreement("France", "Paris") == 0.0
    assert agreement("", "") == 1.0


def test_data_sources_can_pick_a_split_and_drop_the_hint() -> None:
    loaded = load_examples([{"path": str(DATA), "split": "test", "n": 5}])
    assert len(loaded) == 5 and {ex.split for ex in loaded} == {"test"}
    plain = load_examples([{"dataset": "arithmetic", "n": 3, "phrasing": "direct", "hint": False}])
    assert all(user_prompt(ex) == ex.question for ex in plain)
    hinted = load_examples([{"dataset": "arithmetic", "n": 1}])
    assert user_prompt(hinted[0]).endswith("single number.")
    example = distilled_example("capital", "Hi?", "A note.", "Hello!", "train")
    assert example.answer_type == "text" and example.meta == {"category": "capital", "hint": False}


def test_everyday_is_a_dataset_judged_by_agreement_with_the_base_model() -> None:
    from tasks import generate
    from tasks.judging import judge_response

    items = generate("everyday", 10, split="test")
    assert len(items) == 10 and {ex.split for ex in items} == {"test"}
    ex = items[0]
    assert judge_response([ex.final_answer, "anything later"], True, ex) == "correct"
    assert judge_response(["something else entirely"], True, ex) == "wrong"
    assert judge_response([ex.final_answer], False, ex) == "no_format"
    with pytest.raises(ValueError, match="only"):
        generate("everyday", 10_000, split="test")
