"""Multi-step arithmetic word problems: out-of-domain evaluation for the interleaved format.

A quantity changes through 2-5 operations (add, take away, multiply, share equally, buy packs);
the running total after each operation is an intermediate ground truth and the last total is
the final answer. All numbers stay positive integers so answers compare exactly.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from tasks.example import Example, content_id
from tasks.splits import Candidate, draw_distinct

MIN_STEPS, MAX_STEPS = 2, 5
_PEOPLE = ("Maya", "Tom", "Priya", "Leo", "Ana", "Sam", "Noor", "Ivan", "Ruth", "Kenji")
_ITEMS = (
    "apples",
    "marbles",
    "stickers",
    "coins",
    "books",
    "cookies",
    "pencils",
    "cards",
    "shells",
    "stamps",
)
_MAX_VALUE = 5000

# An operation: (value, rng, name, items) -> (new value, problem sentence, reasoning sentence),
# or None when it does not apply to this value (e.g. sharing 7 items among 3 boxes).
Op = Callable[[int, random.Random, str, str], tuple[int, str, str] | None]


def _add(v: int, rng: random.Random, name: str, items: str) -> tuple[int, str, str]:
    b = rng.randint(2, 40)
    verb = rng.choice(("finds", "buys", "is given", "wins"))
    return v + b, f"Then {name} {verb} {b} more.", f"{name} {verb} {b} more: {v} + {b} = {v + b}."


def _sub(v: int, rng: random.Random, name: str, items: str) -> tuple[int, str, str] | None:
    if v < 3:
        return None
    b = rng.randint(1, v - 1)
    return (
        v - b,
        f"Then {name} gives {b} {items} to a friend.",
        f"{name} gives away {b}: {v} - {b} = {v - b}.",
    )


def _mul(v: int, rng: random.Random, name: str, items: str) -> tuple[int, str, str] | None:
    k = rng.choice((2, 3, 4))
    if v * k > _MAX_VALUE:
        return None
    word = {2: "doubles", 3: "triples", 4: "quadruples"}[k]
    return (
        v * k,
        f"Then the number of {items} {name} has {word}.",
        f"The number {word}: {v} × {k} = {v * k}.",
    )


def _div(v: int, rng: random.Random, name: str, items: str) -> tuple[int, str, str] | None:
    ks = [k for k in (2, 3, 4, 5) if v % k == 0 and v // k >= 1]
    if not ks:
        return None
    k = rng.choice(ks)
    return (
        v // k,
        f"Then {name} splits the {items} equally into {k} boxes and keeps only one box.",
        f"{name} keeps one of {k} equal boxes: {v} ÷ {k} = {v // k}.",
    )


def _packs(v: int, rng: random.Random, name: str, items: str) -> tuple[int, str, str] | None:
    k, m = rng.randint(2, 6), rng.randint(2, 12)
    if v + k * m > _MAX_VALUE:
        return None
    return (
        v + k * m,
        f"Then {name} buys {k} packs with {m} {items} in each pack.",
        f"{k} packs of {m} are {k} × {m} = {k * m} more: {v} + {k * m} = {v + k * m}.",
    )


OPS: tuple[Op, ...] = (_add, _sub, _mul, _div, _packs)


def random_example(rng: random.Random, steps: int, split: str) -> Example:
    if not MIN_STEPS <= steps <= MAX_STEPS:
        raise ValueError(f"steps must be in [{MIN_STEPS}, {MAX_STEPS}], got {steps}")
    name, items = rng.choice(_PEOPLE), rng.choice(_ITEMS)
    value = rng.randint(5, 60)
    sentences = [f"{name} has {value} {items}."]
    reasoning: list[str] = []
    totals: list[str] = []
    while len(totals) < steps:
        result = rng.choice(OPS)(value, rng, name, items)
        if result is None:
            continue
        value, sentence, thought = result
        sentences.append(sentence)
        reasoning.append(f"{thought} {name} now has {value} {items}.")
        totals.append(str(value))
    sentences.append(f"How many {items} does {name} have now?")
    question = " ".join(sentences)
    return Example(
        id=content_id("arithmetic", question),
        dataset="arithmetic",
        question=question,
        final_answer=totals[-1],
        intermediate_answers=totals,
        reasoning_steps=reasoning,
        difficulty=steps,
        split=split,
        answer_type="number",
    )


def generate(
    n: int,
    split: str = "test",
    seed: int = 0,
    steps: int | tuple[int, ...] | list[int] = (2, 3, 4, 5),
) -> list[Example]:
    """`n` distinct problems of `split`; step counts cycle through `steps`."""

    def draw(rng: random.Random, size: int) -> Candidate:
        ex = random_example(rng, size, split)
        return ex.question, ex.question, lambda: ex

    return draw_distinct("arithmetic", n, split, seed, steps, draw)
