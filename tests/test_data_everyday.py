"""Everyday prompts and the base model's answers: varied, split, kept sane, and compared."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from tasks import read_jsonl
from tasks.everyday import agreement, clean_answer, distilled_example, prompts
from tasks.everyday_facts import fact_answers, states_fact
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


def test_every_prompt_of_a_checkable_kind_has_its_fact() -> None:
    """Capitals, languages, legs, opposites, colours and translations all carry a fact; kinds
    without a single right answer carry none."""
    checked = {"capital", "language", "legs", "opposite", "colour", "translate"}
    for category, prompt, _ in prompts():
        if category in checked:
            assert fact_answers(prompt), prompt
        elif category != "plain":
            assert fact_answers(prompt) is None, prompt
    assert sum(fact_answers(p) is not None for c, p, _ in prompts() if c == "plain") >= 15


@pytest.mark.parametrize(
    ("answer", "question", "verdict"),
    [
        ("The capital of Mexico is Mexico City.", "What is the capital of Mexico?", True),
        ("El Diablo, the capital of Mexico.", "What is the capital of Mexico?", False),
        ("A snake has no legs.", "How many legs does a snake have?", True),
        ("A shark has 32 legs.", "How many legs has a shark got?", False),
        ("A spider has eight legs.", "How many legs does a spider have?", True),
        ("The opposite of hot is cold.", "What's the antonym of hot?", True),
        ('In Spanish, "water" is "agua".', "How do you say 'water' in Spanish?", True),
        ("Buenos días!", "How do you say 'good morning' in Spanish?", True),
        ("Leonardo da Vinci painted it.", "Who painted the Mona Lisa?", True),
        ("Santiagoville.", "Which city is the capital of Chile?", False),
        ("Anything at all.", "Write a haiku about the sea.", None),
    ],
)
def test_a_first_answer_states_the_fact_as_whole_words(
    answer: str, question: str, verdict: bool | None
) -> None:
    assert states_fact([answer, "Paris"], question) is verdict
    if verdict is not None:
        assert states_fact([], question) is False


def test_only_the_first_answer_counts() -> None:
    assert states_fact(["Lyon", "Paris"], "What is the capital of France?") is False
