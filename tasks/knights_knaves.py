"""Knights-and-knaves puzzles with a unique solution, as training and evaluation examples.

Each inhabitant makes one statement about the others (`tasks.kk_logic`: the statements and
their truth tables); a puzzle is kept when exactly one assignment of roles fits. The reasoning
of an example is the truth-table trace of `tasks.kk_trace`, one intermediate answer per person
settled, and the question is worded by `tasks.kk_phrasing`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from tasks import kk_phrasing, kk_trace
from tasks.example import Example, content_id
from tasks.kk_logic import BINARY_OPS, Statement, render, role, solutions_mask
from tasks.splits import Candidate, draw_distinct

NAMES: tuple[str, ...] = kk_phrasing.NAMES

MIN_PEOPLE, MAX_PEOPLE = 2, 8

VERBS: tuple[str, ...] = ("said", "stated", "claimed", "remarked", "told you", "asserted")


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
