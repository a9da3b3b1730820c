"""Further wordings of chained arithmetic, for training only (`phrasing="wide"`).

The published sets ("word", "direct") keep their templates and random streams; this pool adds
what people also type: other verbs for each operation ("loses", "sells", "receives"), fractions
("keeps only a third"), other openers and questions, and operator words in direct chains
("What's 12 plus 7, then times 3?"). The reasoning keeps the same shape as the published
traces: a short restatement of the step, then the worked calculation, so the model learns to map
a new wording onto the operation it already computes.
"""

from __future__ import annotations

import random

from tasks.arithmetic_steps import (
    MAX_STEPS,
    MAX_VALUE,
    MIN_STEPS,
    calculation,
    chain_example,
    direct_chain,
)
from tasks.example import Example

# (sentence, restatement in the reasoning); {name}, {items} and the operand fill them.
_ADD = (
    ("{name} gets {b} more {items}.", "{name} gets {b} more"),
    ("{name} picks up another {b} {items}.", "another {b}"),
    ("{name} receives {b} {items} as a gift.", "{name} receives {b}"),
    ("a friend gives {name} {b} {items}.", "a friend gives {b}"),
    ("{name} collects {b} more.", "{name} collects {b} more"),
    ("{b} more {items} are added to the pile.", "{b} are added"),
)
_SUB = (
    ("{name} loses {b} {items}.", "{name} loses {b}"),
    ("{name} sells {b} of them.", "{name} sells {b}"),
    ("{name} uses up {b} {items}.", "{name} uses up {b}"),
    ("{name} hands out {b} {items}.", "{name} hands out {b}"),
    ("{b} of the {items} get lost.", "{b} get lost"),
    ("{name} throws away {b} {items}.", "{name} throws away {b}"),
)
_MUL = (
    ("{name} ends up with {times} as many {items}.", "{times} as many"),
    ("the number of {items} is multiplied by {k}.", "multiplied by {k}"),
    ("{name} collects until there are {times} as many {items} as before.", "{times} as many"),
)
# "twice as many" and "2 times as many" both appear.
_TIMES = {2: ("twice", "2 times"), 3: ("three times", "3 times"), 4: ("four times", "4 times")}
_DIV = (
    ("{name} keeps only {frac} of the {items}.", "{name} keeps {frac}"),
    ("{name} gives away all but {frac} of the {items}.", "{name} keeps {frac}"),
    ("{name} shares the {items} equally with {others} and keeps one share.", "{k} equal shares"),
)
_FRACTIONS = {2: "half", 3: "a third", 4: "a quarter", 5: "a fifth"}
_OTHERS = {2: "a friend", 3: "two friends", 4: "three friends", 5: "four friends"}
_PACKS = (
    ("{name} buys {k} bags of {m} {items} each.", "{k} bags of {m}"),
    ("{name} gets {k} boxes, each holding {m} {items}.", "{k} boxes of {m}"),
    ("{name} adds {k} rows of {m} {items}.", "{k} rows of {m}"),
)
# Other names than the published stories use, so a name never cues a template.
_NAMES = ("Omar", "Lena", "Jada", "Hugo", "Mei", "Tariq", "Zoe", "Ravi", "Elena", "Kofi")
_CONNECTORS = ("Then ", "After that, ", "Next, ", "Later, ", "")
_OPENERS = (
    "{name} has {v} {items}.",
    "{name} starts with {v} {items}.",
    "{name} owns {v} {items}.",
    "At first {name} has {v} {items}.",
)
_QUESTIONS = (
    "How many {items} does {name} have now?",
    "How many {items} does {name} end up with?",
    "How many {items} does {name} have at the end?",
    "What is the number of {items} now?",
)


def _sentence(connector: str, text: str) -> str:
    """A step's sentence: connector first, and a capital letter where the sentence starts."""
    joined = connector + text
    return joined[0].upper() + joined[1:]


def _word_step(v: int, rng: random.Random, name: str, items: str) -> tuple[int, str, str] | None:
    """One operation on the running total in an extra wording: (new value, sentence, thought),
    or None when the drawn operation does not apply to `v`."""
    kind = rng.choice(("+", "-", "×", "÷", "packs"))
    fill = {"name": name, "items": items}
    if kind == "+":
        b = rng.randint(2, 40)
        sentence, says = rng.choice(_ADD)
        r, calc = calculation(v, "+", b)
        fill["b"] = str(b)
    elif kind == "-":
        if v < 3:
            return None
        b = rng.randint(1, v - 1)
        sentence, says = rng.choice(_SUB)
        r, calc = calculation(v, "-", b)
        fill["b"] = str(b)
    elif kind == "×":
        k = rng.choice((2, 3, 4))
        if v * k > MAX_VALUE:
            return None
        sentence, says = rng.choice(_MUL)
        r, calc = calculation(v, "×", k)
        # "twice as many" reads better than "2 times as many"; both appear.
        fill |= {"k": str(k), "times": rng.choice(_TIMES[k])}
    elif kind == "÷":
        ks = [k for k in (2, 3, 4, 5) if v % k == 0]
        if not ks:
            return None
        k = rng.choice(ks)
        sentence, says = rng.choice(_DIV)
        r, calc = calculation(v, "÷", k)
        fill |= {"frac": _FRACTIONS[k], "others": _OTHERS[k], "k": str(k)}
    else:
        k, m = rng.randint(2, 6), rng.randint(2, 12)
        if v + k * m > MAX_VALUE:
            return None
        sentence, says = rng.choice(_PACKS)
        r, add = calculation(v, "+", k * m)
        fill |= {"k": str(k), "m": str(m)}
        calc = f"{k} × {m} = {k * m} more: {add}"
    connector = rng.choice(_CONNECTORS)
    return r, _sentence(connector, sentence.format(**fill)), f"{says.format(**fill)}: {calc}"


def word_example(rng: random.Random, steps: int, split: str) -> Example:
    """A story in the extra wordings; reasoning and totals as in `arithmetic.random_example`."""
    if not MIN_STEPS <= steps <= MAX_STEPS:
        raise ValueError(f"steps must be in [{MIN_STEPS}, {MAX_STEPS}], got {steps}")
    name = rng.choice(_NAMES)
    items = rng.choice(("apples", "marbles", "stickers", "coins", "buttons", "beads", "nuts"))
    value = rng.randint(5, 60)
    sentences = [rng.choice(_OPENERS).format(name=name, v=value, items=items)]
    reasoning: list[str] = []
    totals: list[str] = []
    while len(totals) < steps:
        result = _word_step(value, rng, name, items)
        if result is None:
            continue
        value, sentence, thought = result
        sentences.append(sentence)
        reasoning.append(f"{thought[0].upper()}{thought[1:]} {name} now has {value} {items}.")
        totals.append(str(value))
    sentences.append(rng.choice(_QUESTIONS).format(name=name, items=items))
    return chain_example("arithmetic", " ".join(sentences), totals, reasoning, split)


# Direct chains with operator words. A later operation: its wordings by symbol, plus a few
# idioms for particular operands.
_THEN: dict[str, tuple[str, ...]] = {
    "+": ("plus {b}", "add another {b}", "add {b} more", "increase that by {b}"),
    "-": ("minus {b}", "take away {b} from that", "reduce it by {b}", "take off {b}"),
    "×": ("times {b}", "multiply that by {b}", "times {b} again"),
    "÷": ("divided by {b}", "divide that by {b}", "share it equally into {b} parts"),
}
_IDIOMS = {
    ("×", 2): ("double that",),
    ("×", 3): ("triple that",),
    ("÷", 2): ("cut it in half", "take half of it"),
    ("÷", 3): ("take a third of it",),
    ("÷", 4): ("take a quarter of it",),
}
_OP_WORDS = {"+": "plus", "-": "minus", "×": "times", "÷": "divided by"}
# The first operation as a verb, for "If you start at 12 and add 7, ...".
_FIRST = {
    "+": ("add {b}", "add {b} to it"),
    "-": ("subtract {b}", "take away {b}"),
    "×": ("multiply by {b}", "multiply it by {b}"),
    "÷": ("divide by {b}", "divide it by {b}"),
}
_COMMAS = (", then ", ", and then ", "; then ")
_JOINERS = (*_COMMAS, ". After that, ")
_ASKS = ("", " What's the answer?", " What number is that?", " Where do you end up?")


def direct_example(rng: random.Random, steps: int, split: str) -> Example:
    """A chain typed with operator words or other openers; each running total answered."""
    start, ops, reasoning, totals = direct_chain(rng, steps)

    def then(op: str, b: int) -> str:
        return rng.choice(_THEN[op] + _IDIOMS.get((op, b), ())).format(b=b)

    (op0, b0), rest = ops[0], ops[1:]
    form = rng.randrange(4)
    # A question mark closes forms 0, 1 and 3, so their steps stay within one sentence.
    joiner = rng.choice(_JOINERS if form == 2 else _COMMAS)
    tail = joiner.join(then(op, b) for op, b in rest)
    if form == 0:  # What's 12 plus 7, then times 3?
        head = rng.choice(("What's", "What is", "Tell me"))
        question = f"{head} {start} {_OP_WORDS[op0]} {b0}{joiner}{tail}?"
    elif form == 1:  # If you start at 12 and add 7, then times 3, what do you get?
        first = rng.choice(_FIRST[op0]).format(b=b0)
        question = f"If you start at {start} and {first}{joiner}{tail}, what do you get?"
    elif form == 2:  # 12 + 7, then times 3. What's the answer?
        sym = {"+": "+", "-": "-", "×": "*", "÷": "/"}[op0]
        question = f"{start} {sym} {b0}{joiner}{tail}." + rng.choice(_ASKS)
    else:  # Can you take 12, add 7, then ...?
        question = f"Can you take {start}, {then(op0, b0)}{joiner}{tail}?"
    return chain_example("chains", question, totals, reasoning, split, {"phrasing": "wide"})
