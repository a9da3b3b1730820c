"""Knights-and-knaves puzzles with a unique solution and a step-by-step deduction.

Knights always tell the truth, knaves always lie. Each inhabitant makes one statement built from
"X is a knight/knave", not, and, or, implication and equivalence (depth <= 2, width <= 2, as in
the puzzles of Logic-RL / the K&K benchmark).

Speed comes from truth tables as Python integers: bit `a` of a mask is set when assignment `a`
(bit i of a = person i is a knight) makes the formula true, so evaluating a statement over all
2^n assignments is a handful of big-int operations. Uniqueness is a popcount of the AND of
everyone's consistency mask.

The deduction resolves one person per step: the person whose role follows from the fewest
statements given what is already known (ties: the earliest-introduced person). Each step's
text is produced by propagating those statements (direct reasoning, or assuming the opposite
role and reaching a contradiction), and the role it concludes is checked against the solution.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from functools import cache

from tasks import kk_phrasing, kk_trace
from tasks.example import Example, content_id
from tasks.splits import Candidate, draw_distinct

NAMES: tuple[str, ...] = kk_phrasing.NAMES

MIN_PEOPLE, MAX_PEOPLE = 2, 8

# A statement is a nested tuple: ("knight", i) | ("knave", i) | ("not", leaf)
# | (op, leaf, leaf) with op in BINARY_OPS. Leaves have depth 1, so depth <= 2 and width <= 2
# mean: a leaf, a negated leaf, or one binary operator over two leaves.
Statement = tuple
BINARY_OPS: tuple[str, ...] = ("and", "or", "->", "<=>")
VERBS: tuple[str, ...] = ("said", "stated", "claimed", "remarked", "told you", "asserted")


def role(is_knight: bool) -> str:
    return "knight" if is_knight else "knave"


@cache
def _person_masks(n: int) -> tuple[tuple[int, ...], int]:
    """(mask per person of the assignments where that person is a knight, all-ones mask)."""
    full = (1 << (1 << n)) - 1
    masks = []
    for i in range(n):
        m = 0
        for a in range(1 << n):
            if a >> i & 1:
                m |= 1 << a
        masks.append(m)
    return tuple(masks), full


def truth_mask(stmt: Statement, n: int) -> int:
    """Assignments (as a bitmask over 2^n) under which `stmt` is true."""
    person, full = _person_masks(n)
    op = stmt[0]
    if op == "knight":
        return person[stmt[1]]
    if op == "knave":
        return full & ~person[stmt[1]]
    if op == "not":
        return full & ~truth_mask(stmt[1], n)
    a, b = truth_mask(stmt[1], n), truth_mask(stmt[2], n)
    if op == "and":
        return a & b
    if op == "or":
        return a | b
    if op == "->":
        return (full & ~a) | b
    if op == "<=>":
        return full & ~(a ^ b)
    raise ValueError(f"unknown operator {op!r}")


def consistency_mask(speaker: int, stmt: Statement, n: int) -> int:
    """Assignments where the speaker's role agrees with their statement's truth."""
    person, full = _person_masks(n)
    return full & ~(person[speaker] ^ truth_mask(stmt, n))


def solutions_mask(statements: list[Statement]) -> int:
    n = len(statements)
    _, acc = _person_masks(n)
    for speaker, stmt in enumerate(statements):
        acc &= consistency_mask(speaker, stmt, n)
    return acc


def solve(statements: list[Statement]) -> list[tuple[bool, ...]]:
    """Every consistent assignment (tuple of is_knight per person), by brute force over 2^n."""
    n = len(statements)
    sols = solutions_mask(statements)
    return [tuple(bool(a >> i & 1) for i in range(n)) for a in range(1 << n) if sols >> a & 1]


def mentioned(stmt: Statement) -> set[int]:
    if stmt[0] in ("knight", "knave"):
        return {stmt[1]}
    out: set[int] = set()
    for child in stmt[1:]:
        out |= mentioned(child)
    return out


def evaluate(stmt: Statement, facts: dict[int, bool]) -> bool | None:
    """Truth of `stmt` given known roles, or None if it depends on someone unknown."""
    op = stmt[0]
    if op in ("knight", "knave"):
        known = facts.get(stmt[1])
        return None if known is None else known == (op == "knight")
    if op == "not":
        inner = evaluate(stmt[1], facts)
        return None if inner is None else not inner
    a, b = evaluate(stmt[1], facts), evaluate(stmt[2], facts)
    # Short-circuit where one side already decides, as a person reasoning would.
    if op == "and":
        if a is False or b is False:
            return False
        return None if a is None or b is None else True
    if op == "or":
        if a is True or b is True:
            return True
        return None if a is None or b is None else False
    if op == "->":
        if a is False or b is True:
            return True
        return None if a is None or b is None else False
    if a is None or b is None:  # "<=>"
        return None
    return a == b


def render(stmt: Statement, names: list[str], iff: str = "if and only if") -> str:
    op = stmt[0]
    if op in ("knight", "knave"):
        return f"{names[stmt[1]]} is a {op}"
    if op == "not":
        leaf = stmt[1]
        return f"{names[leaf[1]]} is not a {leaf[0]}"
    a, b = render(stmt[1], names, iff), render(stmt[2], names, iff)
    if op == "and":
        return f"{a} and {b}"
    if op == "or":
        return f"{a} or {b}"
    if op == "->":
        return f"if {a} then {b}"
    return f"{a} {iff} {b}"


def _capitalize(text: str) -> str:
    return text[:1].upper() + text[1:]


def random_statement(rng: random.Random, speaker: int, n: int) -> Statement:
    """A statement about others; a binary one may also mention the speaker (needed for n = 2,
    where statements about the single other person alone never have a unique solution)."""
    others = [i for i in range(n) if i != speaker]
    r = rng.random()
    if r < 0.25:
        return (rng.choice(("knight", "knave")), rng.choice(others))
    if r < 0.35:
        return ("not", (rng.choice(("knight", "knave")), rng.choice(others)))
    first = rng.choice(others)
    second = rng.choice([i for i in range(n) if i != first])
    pair = [(rng.choice(("knight", "knave")), first), (rng.choice(("knight", "knave")), second)]
    rng.shuffle(pair)
    return (rng.choice(BINARY_OPS), pair[0], pair[1])


def canonical_key(statements: list[Statement]) -> str:
    """Name-free form of a puzzle: the same logic under other names is the same puzzle."""
    return f"kk/{len(statements)}/{statements!r}"


# ---------------------------------------------------------------------------------------------
# Deduction


@dataclass(frozen=True)
class Step:
    person: int
    is_knight: bool
    speakers: tuple[int, ...]  # whose statements the step uses
    text: str


def deduce(statements: list[Statement], names: list[str]) -> list[Step]:
    """One step per intermediate answer, each a truth table over the people its statements
    involve (`kk_trace`); `speakers` are the statements the table uses."""
    steps: list[Step] = []
    known: dict[int, bool] = {}
    for table in kk_trace.plan(statements):
        for person, is_knight, text in kk_trace.trace_step(table, statements, names, known):
            steps.append(Step(person, is_knight, table.speakers, text))
        known.update({p: table.forced[p] for p in table.columns if p in table.forced})
    return steps


# ---------------------------------------------------------------------------------------------
# Puzzles and examples


@dataclass(frozen=True)
class Puzzle:
    names: tuple[str, ...]
    statements: tuple[Statement, ...]
    solution: tuple[bool, ...]

    @property
    def key(self) -> str:
        return canonical_key(list(self.statements))


def random_puzzle(rng: random.Random, n: int, max_tries: int = 100_000) -> Puzzle:
    """Draw statements until the puzzle has exactly one solution."""
    if not MIN_PEOPLE <= n <= MAX_PEOPLE:
        raise ValueError(f"people must be in [{MIN_PEOPLE}, {MAX_PEOPLE}], got {n}")
    names = tuple(rng.sample(NAMES, n))
    for _ in range(max_tries):
        statements = [random_statement(rng, s, n) for s in range(n)]
        sols = solutions_mask(statements)
        if sols and not sols & (sols - 1):
            a = sols.bit_length() - 1
            return Puzzle(names, tuple(statements), tuple(bool(a >> i & 1) for i in range(n)))
    raise RuntimeError(f"no uniquely solvable {n}-person puzzle in {max_tries} tries")


def puzzle_question(
    puzzle: Puzzle, rng: random.Random, phrasing: str = "seen"
) -> tuple[str, dict[str, object]]:
    """The puzzle worded by templates of `phrasing` (`kk_phrasing`), and the templates used."""
    return kk_phrasing.question(list(puzzle.names), list(puzzle.statements), rng, phrasing)


def final_answer_text(names: list[str] | tuple[str, ...], solution: tuple[bool, ...]) -> str:
    return " ".join(
        f"({i + 1}) {name} is a {role(k)}"
        for i, (name, k) in enumerate(zip(names, solution, strict=True))
    )


def puzzle_example(
    puzzle: Puzzle, question: str, split: str, wording: dict[str, object] | None = None
) -> Example:
    names = list(puzzle.names)
    steps = deduce(list(puzzle.statements), names)
    return Example(
        id=content_id("kk", question),
        dataset="kk",
        question=question,
        final_answer=final_answer_text(names, puzzle.solution),
        intermediate_answers=[f"{names[s.person]} is a {role(s.is_knight)}" for s in steps],
        reasoning_steps=[s.text for s in steps],
        difficulty=len(names),
        split=split,
        answer_type="kk",
        meta={
            "people": names,
            "solution": {name: role(k) for name, k in zip(names, puzzle.solution, strict=True)},
            "statements": [render(s, names) for s in puzzle.statements],
            "deduction_order": [names[s.person] for s in steps],
            "canonical": puzzle.key,
            "wrap_up": kk_trace.wrap_up(names, puzzle.solution),
            **(wording or {}),
        },
    )


def generate(
    n: int,
    split: str = "train",
    seed: int = 0,
    people: int | tuple[int, ...] | list[int] = (3, 4, 5, 6, 7),
    phrasing: str = "seen",
) -> list[Example]:
    """`n` distinct puzzles of `split`; people counts cycle through `people`.

    A puzzle belongs to the split its name-free canonical form hashes into, so no logical
    puzzle of a held-out split ever appears in training under any seed. `phrasing` picks the
    question templates: "seen" (what training uses), "unseen" (held out from training
    entirely) or "any".
    """
    if phrasing not in kk_phrasing.PHRASINGS:
        raise ValueError(f"phrasing must be one of {kk_phrasing.PHRASINGS}, got {phrasing!r}")

    def draw(rng: random.Random, size: int) -> Candidate:
        puzzle = random_puzzle(rng, size)
        # Same logic under other names is a new training item, but not the same names again.
        identity = f"{puzzle.names}{puzzle.key}"

        def build() -> Example:
            text, wording = puzzle_question(puzzle, rng, phrasing)
            return puzzle_example(puzzle, text, split, wording)

        return puzzle.key, identity, build

    return draw_distinct("kk", n, split, seed, people, draw)
