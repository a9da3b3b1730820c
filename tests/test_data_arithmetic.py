"""Arithmetic word problems: every intermediate total is the result of its step."""

from __future__ import annotations

import re

import pytest

from tasks import arithmetic
from tasks.splits import assert_disjoint

_OPS = {"+": int.__add__, "-": int.__sub__, "×": int.__mul__, "÷": int.__floordiv__}


@pytest.mark.parametrize("steps", [2, 3, 4, 5])
def test_totals_follow_the_steps(steps: int) -> None:
    for ex in arithmetic.generate(40, "test", seed=0, steps=steps):
        assert ex.difficulty == steps == len(ex.intermediate_answers) == len(ex.reasoning_steps)
        assert ex.final_answer == ex.intermediate_answers[-1]
        assert ex.answer_type == "number"
        previous = int(re.search(r"has (\d+) ", ex.question)[1])
        for total, step in zip(ex.intermediate_answers, ex.reasoning_steps, strict=True):
            # The last equation of a step is "previous <op> x = total".
            a, op, b, result = re.findall(r"(\d+) ([-+×÷]) (\d+) = (\d+)", step)[-1]
            assert int(a) == previous and int(result) == int(total) > 0
            assert _OPS[op](int(a), int(b)) == int(total)
            assert step.endswith(f"now has {total} {step.split()[-1]}")
            previous = int(total)


def test_deterministic_and_disjoint() -> None:
    a = arithmetic.generate(50, "test", seed=1)
    assert [e.to_dict() for e in a] == [e.to_dict() for e in arithmetic.generate(50, "test", 1)]
    train = arithmetic.generate(400, "train", seed=0)
    assert_disjoint(train, arithmetic.generate(200, "test", seed=0))
    assert_disjoint(train, arithmetic.generate(200, "validation", seed=0))


def test_rejects_bad_steps() -> None:
    with pytest.raises(ValueError, match="steps"):
        arithmetic.generate(1, steps=1)
