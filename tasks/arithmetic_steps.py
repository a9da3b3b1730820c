"""What every chained-arithmetic wording shares: the worked calculation of one operation,
the operand a direct chain may draw, and the example a chain becomes."""

from __future__ import annotations

import random

from tasks.example import Example, content_id

MIN_STEPS, MAX_STEPS = 2, 5
MAX_VALUE = 5000


def calculation(a: int, op: str, b: int) -> tuple[int, str]:
    """(result, the worked calculation) for `a op b`, op in + - × ÷, split into tens and ones
    where both numbers have two digits or more (a 135M model adds 58 + 5 reliably, 38 + 25
    less so)."""
    if op == "+":
        r = a + b
        if b >= 10 and b % 10 and a >= 10:
            tens = b - b % 10
            return r, f"{a} + {b}: {a} + {tens} = {a + tens}, {a + tens} + {b % 10} = {r}."
        return r, f"{a} + {b} = {r}."
    if op == "-":
        r = a - b
        if b >= 10 and b % 10:
            tens = b - b % 10
            return r, f"{a} - {b}: {a} - {tens} = {a - tens}, {a - tens} - {b % 10} = {r}."
        return r, f"{a} - {b} = {r}."
    if op == "×":
        r = a * b
        if a >= 10 and a % 10 and b > 1:
            tens = a - a % 10
            return r, (
                f"{a} × {b}: {tens} × {b} = {tens * b}, {a % 10} × {b} = {a % 10 * b}, "
                f"{tens * b} + {a % 10 * b} = {r}."
            )
        return r, f"{a} × {b} = {r}."
    if op == "÷":
        if b == 0 or a % b:
            raise ValueError(f"{a} is not divisible by {b}")
        r = a // b
        return r, f"{a} ÷ {b} = {r}, since {r} × {b} = {a}."
    raise ValueError(f"unknown operation {op!r}")


def chain_example(
    dataset: str,
    question: str,
    totals: list[str],
    reasoning: list[str],
    split: str,
    meta: dict[str, str] | None = None,
) -> Example:
    """A chain's example: each running total an intermediate answer, the last the final one."""
    return Example(
        id=content_id(dataset, question),
        dataset=dataset,
        question=question,
        final_answer=totals[-1],
        intermediate_answers=totals,
        reasoning_steps=reasoning,
        difficulty=len(totals),
        split=split,
        answer_type="number",
        meta=dict(meta or {}),
    )


def _direct_op(v: int, rng: random.Random) -> tuple[str, int] | None:
    op = rng.choice(("+", "+", "-", "×", "÷"))
    if op == "+":
        return op, rng.randint(2, 60)
    if op == "-":
        return (op, rng.randint(1, min(v - 1, 60))) if v > 2 else None
    if op == "×":
        k = rng.randint(2, 9)
        return (op, k) if v < 100 and v * k <= 999 else None
    ks = [k for k in range(2, 10) if v % k == 0 and v // k >= 2]
    return (op, rng.choice(ks)) if ks else None


def direct_chain(
    rng: random.Random, steps: int
) -> tuple[int, list[tuple[str, int]], list[str], list[str]]:
    """A typed chain's numbers, whatever its wording: (start, the operations as (symbol,
    operand), each step's worked calculation, each running total)."""
    if not MIN_STEPS <= steps <= MAX_STEPS:
        raise ValueError(f"steps must be in [{MIN_STEPS}, {MAX_STEPS}], got {steps}")
    value = start = rng.randint(2, 60)
    ops: list[tuple[str, int]] = []
    reasoning: list[str] = []
    totals: list[str] = []
    while len(ops) < steps:
        drawn = _direct_op(value, rng)
        if drawn is None:
            continue
        op, b = drawn
        value, calc = calculation(value, op, b)
        ops.append((op, b))
        reasoning.append(calc)
        totals.append(str(value))
    return start, ops, reasoning, totals
