"""Arithmetic word problems: every intermediate total is the result of its step."""

from __future__ import annotations

import random
import re

import pytest

from tasks import arithmetic, arithmetic_phrasing, generate
from tasks.splits import assert_disjoint

_OPS = {"+": int.__add__, "-": int.__sub__, "×": int.__mul__, "÷": int.__floordiv__}


def _check_calculation(step: str, previous: int, total: str) -> None:
    """A step works from the previous total to this one, every equation in it true."""
    steps = re.findall(rf"\b{previous} ([-+×÷]) (\d+)(?:: | = )", step)
    assert any(_OPS[op](previous, int(b)) == int(total) > 0 for op, b in steps), step
    for x, o, y, z in re.findall(r"(\d+) ([-+×÷]) (\d+) = (\d+)", step):
        assert _OPS[o](int(x), int(y)) == int(z), step
    assert re.search(rf"= {total}[.,]", step), step


@pytest.mark.parametrize("steps", [2, 3, 4, 5])
def test_totals_follow_the_steps(steps: int) -> None:
    for ex in arithmetic.generate(40, "test", seed=0, steps=steps):
        assert ex.difficulty == steps == len(ex.intermediate_answers) == len(ex.reasoning_steps)
        assert ex.final_answer == ex.intermediate_answers[-1]
        assert ex.answer_type == "number"
        previous = int(re.search(r"has (\d+) ", ex.question)[1])
        for total, step in zip(ex.intermediate_answers, ex.reasoning_steps, strict=True):
            _check_calculation(step, previous, total)
            assert step.endswith(f"now has {total} {step.split()[-1]}")
            previous = int(total)


@pytest.mark.parametrize("steps", [2, 3, 4, 5])
def test_direct_chains_answer_each_running_total(steps: int) -> None:
    for ex in arithmetic.generate(40, "train", seed=0, steps=steps, phrasing="direct"):
        assert len(ex.intermediate_answers) == steps and ex.meta["phrasing"] == "direct"
        previous = int(re.search(r"\d+", ex.question)[0])  # type: ignore[index]
        for total, step in zip(ex.intermediate_answers, ex.reasoning_steps, strict=True):
            _check_calculation(step, previous, total)
            previous = int(total)


def test_two_digit_sums_are_worked_in_tens_and_ones() -> None:
    assert arithmetic.calculation(38, "+", 25) == (63, "38 + 25: 38 + 20 = 58, 58 + 5 = 63.")
    assert (
        arithmetic.calculation(47, "×", 3)[1] == "47 × 3: 40 × 3 = 120, 7 × 3 = 21, 120 + 21 = 141."
    )
    assert arithmetic.calculation(2, "+", 3) == (5, "2 + 3 = 5.")
    with pytest.raises(ValueError, match="divisible"):
        arithmetic.calculation(7, "÷", 2)


def test_phrasings_vary_and_word_problems_keep_their_published_sets() -> None:
    direct = arithmetic.generate(200, "train", seed=2, phrasing="direct")
    openers = {ex.question.split()[0] for ex in direct}
    assert {"What", "Compute", "Take", "I"} <= openers | {"Calculate", "Begin", "Think", "Start"}
    assert any(re.match(r"What is \d+ ?[-+*×x/÷] ?\d+\? Then", ex.question) for ex in direct)
    mixed = {ex.dataset for ex in arithmetic.generate(60, seed=2, phrasing="mixed")}
    assert mixed == {"arithmetic", "chains"}
    assert generate("chains", 3, split="test") == arithmetic.generate(3, "test", phrasing="direct")
    # The word problems' stream did not move: the evaluation sets stay comparable.
    assert arithmetic.generate(5, "test", seed=0) == arithmetic.generate(
        5, "test", seed=0, phrasing="word"
    )
    with pytest.raises(ValueError, match="phrasing"):
        arithmetic.generate(1, phrasing="casual")


def test_deterministic_and_disjoint() -> None:
    a = arithmetic.generate(50, "test", seed=1)
    assert [e.to_dict() for e in a] == [e.to_dict() for e in arithmetic.generate(50, "test", 1)]
    train = arithmetic.generate(400, "train", seed=0)
    assert_disjoint(train, arithmetic.generate(200, "test", seed=0))
    assert_disjoint(train, arithmetic.generate(200, "validation", seed=0))


def test_rejects_bad_steps() -> None:
    with pytest.raises(ValueError, match="steps"):
        arithmetic.generate(1, steps=1)


# What each further wording of a story step means, read off its sentence.
_WORDING_OPS = (
    (r"as many|multiplied", "×"),
    (r"keeps only|all but|shares the", "÷"),
    (r"bags of|boxes, each|rows of", "packs"),
    (r"loses|sells|uses up|hands out|get lost|throws away", "-"),
    (r"gets \d+ more|picks up|receives|gives \w+ \d+|collects \d+|are added", "+"),
)


def _meaning(sentence: str) -> str:
    found = [op for pattern, op in _WORDING_OPS if re.search(pattern, sentence)]
    assert len(found) == 1, sentence
    return found[0]


@pytest.mark.parametrize("steps", [2, 3, 4, 5])
def test_wide_phrasing_answers_each_running_total(steps: int) -> None:
    for ex in arithmetic.generate(60, "train", seed=0, steps=steps, phrasing="wide"):
        assert len(ex.intermediate_answers) == steps == len(ex.reasoning_steps)
        previous = int(re.search(r"\d+", ex.question)[0])  # type: ignore[index]
        for total, step in zip(ex.intermediate_answers, ex.reasoning_steps, strict=True):
            _check_calculation(step, previous, total)
            previous = int(total)


def test_each_further_story_wording_means_its_operation() -> None:
    rng = random.Random(0)
    seen: set[str] = set()
    for _ in range(200):
        ex = arithmetic_phrasing.word_example(rng, 5, "train")
        sentences = re.split(r"(?<=[.?]) ", ex.question)[1:-1]
        for sentence, step in zip(sentences, ex.reasoning_steps, strict=True):
            op = _meaning(sentence)
            seen.add(op)
            symbol = "+" if op == "packs" else op
            # The step's worked calculation applies the operation the sentence names.
            assert re.search(rf"\d+ {re.escape(symbol)} \d+", step.split(": ", 1)[1]), step
    assert seen == {"+", "-", "×", "÷", "packs"}


def test_wide_draws_both_pools_and_never_changes_the_published_ones() -> None:
    wide = arithmetic.generate(200, "train", seed=1, phrasing="wide")
    assert {ex.dataset for ex in wide} == {"arithmetic", "chains"}
    assert any(ex.meta.get("phrasing") == "wide" for ex in wide)
    assert any(ex.meta.get("phrasing") == "direct" for ex in wide)
    names = {ex.question.split()[0] for ex in wide if ex.dataset == "arithmetic"}
    assert names & {"Omar", "Lena", "Jada", "Hugo", "Mei", "Tariq", "Zoe", "Ravi", "Elena"}
    assert names & {"Maya", "Tom", "Priya", "Leo", "Ana", "Sam", "Noor", "Ivan", "Ruth"}
    published = arithmetic.generate(300, "train", seed=1, phrasing="mixed")
    assert not any(re.search(r"plus|minus|loses|sells|as many", ex.question) for ex in published)
    assert_disjoint(wide, arithmetic.generate(200, "test", seed=1, phrasing="wide"))
