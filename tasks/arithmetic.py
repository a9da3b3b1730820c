"""Chained arithmetic, asked the ways people ask it: word problems and direct chains.

A quantity changes through 2-5 operations; the running total after each operation is an
intermediate ground truth and the last total is the final answer. All numbers stay positive
integers so answers compare exactly.

- `phrasing="word"`: a story (add, take away, multiply, share equally, buy packs).
- `phrasing="direct"`: a chain as typed into a chat box ("What is 2+3? Then multiply by 4.",
  "Start with 12, add 7, then double it.", "Take 30, divide it by 5 and add 9.").

Each step's reasoning writes the calculation a small model can follow digit group by digit
group (`38 + 25: 38 + 20 = 58, 58 + 5 = 63.`), so the running total is answered right after it.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from tasks import arithmetic_phrasing
from tasks.arithmetic_steps import (
    MAX_STEPS,
    MAX_VALUE,
    MIN_STEPS,
    calculation,
    chain_example,
    direct_chain,
)
from tasks.example import Example
from tasks.splits import Candidate, draw_distinct

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


# An operation: (value, rng, name, items) -> (new value, problem sentence, reasoning sentence),
# or None when it does not apply to this value (e.g. sharing 7 items among 3 boxes).
Op = Callable[[int, random.Random, str, str], tuple[int, str, str] | None]


def _add(v: int, rng: random.Random, name: str, items: str) -> tuple[int, str, str]:
    b = rng.randint(2, 40)
    verb = rng.choice(("finds", "buys", "is given", "wins"))
    r, calc = calculation(v, "+", b)
    return r, f"Then {name} {verb} {b} more.", f"{name} {verb} {b} more: {calc}"


def _sub(v: int, rng: random.Random, name: str, items: str) -> tuple[int, str, str] | None:
    if v < 3:
        return None
    b = rng.randint(1, v - 1)
    r, calc = calculation(v, "-", b)
    return r, f"Then {name} gives {b} {items} to a friend.", f"{name} gives away {b}: {calc}"


def _mul(v: int, rng: random.Random, name: str, items: str) -> tuple[int, str, str] | None:
    k = rng.choice((2, 3, 4))
    if v * k > MAX_VALUE:
        return None
    word = {2: "doubles", 3: "triples", 4: "quadruples"}[k]
    r, calc = calculation(v, "×", k)
    return r, f"Then the number of {items} {name} has {word}.", f"The number {word}: {calc}"


def _div(v: int, rng: random.Random, name: str, items: str) -> tuple[int, str, str] | None:
    ks = [k for k in (2, 3, 4, 5) if v % k == 0 and v // k >= 1]
    if not ks:
        return None
    k = rng.choice(ks)
    r, calc = calculation(v, "÷", k)
    return (
        r,
        f"Then {name} splits the {items} equally into {k} boxes and keeps only one box.",
        f"{name} keeps one of {k} equal boxes: {calc}",
    )


def _packs(v: int, rng: random.Random, name: str, items: str) -> tuple[int, str, str] | None:
    k, m = rng.randint(2, 6), rng.randint(2, 12)
    if v + k * m > MAX_VALUE:
        return None
    _, add = calculation(v, "+", k * m)
    return (
        v + k * m,
        f"Then {name} buys {k} packs with {m} {items} in each pack.",
        f"{k} packs of {m} are {k} × {m} = {k * m} more: {add}",
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
    return chain_example("arithmetic", " ".join(sentences), totals, reasoning, split)


# Direct chains. An operation on the running total: (symbol, operand) with its wordings; the
# first operation may also be asked as an expression ("What is 2+3?").
_THEN_WORDS: dict[str, tuple[str, ...]] = {
    "+": ("add {b}", "add {b} to it", "increase it by {b}", "add {b} to that"),
    "-": ("subtract {b}", "take away {b}", "subtract {b} from it", "take {b} off"),
    "×": ("multiply by {b}", "multiply it by {b}", "multiply the result by {b}"),
    "÷": ("divide by {b}", "divide it by {b}", "divide the result by {b}", "split it into {b}"),
}
_SPECIAL_WORDS = {("×", 2): ("double it",), ("×", 3): ("triple it",), ("÷", 2): ("halve it",)}
_CLOSERS = ("", " What do you get?", " What is the result?", " What number do you end up with?")


def _then_text(op: str, b: int, rng: random.Random) -> str:
    words = _THEN_WORDS[op] + _SPECIAL_WORDS.get((op, b), ())
    return rng.choice(words).format(b=b)


def _join(parts: list[str], rng: random.Random) -> str:
    """'A, then B, then C' or 'A. Then B. Then C.' or 'A, B and finally C'."""
    style = rng.randrange(3)
    if style == 0 or len(parts) == 1:
        return ", then ".join(parts) + "."
    if style == 1:
        return ". Then ".join(parts) + "."
    return ", ".join(parts[:-1]) + f" and finally {parts[-1]}."


def direct_example(rng: random.Random, steps: int, split: str) -> Example:
    """A chain typed as a chat question, each running total an intermediate answer."""
    start, ops, reasoning, totals = direct_chain(rng, steps)
    (op0, b0), rest = ops[0], ops[1:]
    form = rng.randrange(4)
    if form == 0:  # What is 2+3? Then multiply by 4.
        sym = {"+": "+", "-": "-", "×": rng.choice(("*", "×", "x")), "÷": rng.choice(("/", "÷"))}
        space = rng.choice(("", " "))
        head = f"What is {start}{space}{sym[op0]}{space}{b0}?"
        tail = _join([_then_text(op, b, rng) for op, b in rest], rng)
        lead = rng.choice(("Then ", ""))
        tail = lead + (tail if lead else tail[0].upper() + tail[1:])
        question = f"{head} {tail}"
    elif form == 1:  # Start with 12, add 7, then double it.
        words = [_then_text(op, b, rng) for op, b in ops]
        opener = rng.choice(("Start with {a}", "Begin with {a}", "Take {a}", "Think of {a}"))
        question = opener.format(a=start) + ", " + _join(words, rng)
    elif form == 2:  # Compute 12 + 7, then double it.
        verb = rng.choice(("Compute", "Calculate", "Work out"))
        words = [_then_text(op, b, rng) for op, b in rest]
        question = f"{verb} {start} {op0} {b0}, then " + _join(words, rng)
    else:  # I have 12. I add 7 and then double it. What do I have?
        words = [_then_text(op, b, rng) for op, b in ops]
        question = f"I have the number {start}. I " + _join(words, rng)
    question = question.replace("..", ".") + rng.choice(_CLOSERS)
    # Its own dataset name, so evaluations report it apart from the stories.
    return chain_example("chains", question, totals, reasoning, split, {"phrasing": "direct"})


PHRASINGS: tuple[str, ...] = ("word", "direct", "mixed", "wide")


def generate(
    n: int,
    split: str = "test",
    seed: int = 0,
    steps: int | tuple[int, ...] | list[int] = (2, 3, 4, 5),
    phrasing: str = "word",
) -> list[Example]:
    """`n` distinct problems of `split`; step counts cycle through `steps`. `phrasing`:
    "word" (stories), "direct" (chains typed as questions), "mixed" (each half the time) or
    "wide" (mixed, with half of each drawn from the further wordings in
    `tasks.arithmetic_phrasing`, for training)."""
    if phrasing not in PHRASINGS:
        raise ValueError(f"phrasing must be one of {PHRASINGS}, got {phrasing!r}")

    def draw(rng: random.Random, size: int) -> Candidate:
        direct = phrasing == "direct" or (phrasing in ("mixed", "wide") and rng.random() < 0.5)
        make = direct_example if direct else random_example
        if phrasing == "wide" and rng.random() < 0.5:
            make = (
                arithmetic_phrasing.direct_example if direct else arithmetic_phrasing.word_example
            )
        ex = make(rng, size, split)
        return ex.question, ex.question, lambda: ex

    # The word problems keep their own random stream, so the published sets stay the same.
    name = "arithmetic" if phrasing == "word" else f"arithmetic-{phrasing}"
    return draw_distinct(name, n, split, seed, steps, draw)


def generate_chains(
    n: int,
    split: str = "test",
    seed: int = 0,
    steps: int | tuple[int, ...] | list[int] = (2, 3, 4, 5),
) -> list[Example]:
    """The `chains` dataset: `generate(..., phrasing="direct")`."""
    return generate(n, split=split, seed=seed, steps=steps, phrasing="direct")
