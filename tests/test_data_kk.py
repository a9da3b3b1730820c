"""Knights and knaves: unique solutions, deductions consistent with them, splits, volume."""

from __future__ import annotations

import random
import re
from itertools import product

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tasks import kk_logic, kk_phrasing
from tasks import knights_knaves as kk
from tasks.splits import assert_disjoint, split_of


def holds(stmt: kk_logic.Statement, roles: dict[int, bool]) -> bool:
    """A statement's truth when every role is known, written directly (no bitmasks)."""
    op = stmt[0]
    if op in ("knight", "knave"):
        return roles[stmt[1]] == (op == "knight")
    if op == "not":
        return not holds(stmt[1], roles)
    a, b = holds(stmt[1], roles), holds(stmt[2], roles)
    return {"and": a and b, "or": a or b, "->": (not a) or b, "<=>": a == b}[op]


def brute_force(statements: list[kk_logic.Statement]) -> list[tuple[bool, ...]]:
    """Reference solver, independent of the bitmask one: try every assignment."""
    n = len(statements)
    return [
        values
        for values in product((True, False), repeat=n)
        if all(
            holds(stmt, dict(enumerate(values))) == values[s] for s, stmt in enumerate(statements)
        )
    ]


@pytest.mark.parametrize("people", range(2, 9))
def test_every_puzzle_has_exactly_one_solution(people: int) -> None:
    rng = random.Random(people)
    for _ in range(20):
        puzzle = kk.random_puzzle(rng, people)
        solutions = brute_force(list(puzzle.statements))
        assert solutions == [puzzle.solution]


@settings(max_examples=200, deadline=None)
@given(st.integers(2, 6), st.integers(0, 10**6))
def test_truth_masks_agree_with_direct_evaluation(n: int, seed: int) -> None:
    rng = random.Random(seed)
    stmt = kk.random_statement(rng, speaker=0, n=n)
    mask = kk_logic.truth_mask(stmt, n)
    for a in range(1 << n):
        facts = {i: bool(a >> i & 1) for i in range(n)}
        assert bool(mask >> a & 1) == holds(stmt, facts)


def test_statements_respect_depth_and_width() -> None:
    rng = random.Random(0)
    for _ in range(500):
        n = rng.randint(2, 8)
        speaker = rng.randrange(n)
        stmt = kk.random_statement(rng, speaker, n)
        if stmt[0] in ("knight", "knave"):
            assert stmt[1] != speaker  # a lone leaf is about someone else
        elif stmt[0] == "not":
            assert stmt[1][0] in ("knight", "knave") and stmt[1][1] != speaker
        else:
            assert stmt[0] in kk_logic.BINARY_OPS and len(stmt) == 3
            assert all(leaf[0] in ("knight", "knave") for leaf in stmt[1:])
            people = {stmt[1][1], stmt[2][1]}
            assert len(people) == 2 and people != {speaker}


@pytest.mark.parametrize("people", range(2, 9))
def test_deduction_resolves_everyone_consistently_with_the_solution(people: int) -> None:
    for ex in kk.generate(15, "train", seed=1, people=people):
        names, solution = ex.meta["people"], ex.meta["solution"]
        assert ex.difficulty == people == len(names)
        assert sorted(ex.meta["deduction_order"]) == sorted(names)
        assert len(ex.intermediate_answers) == len(ex.reasoning_steps) == people
        for name, truth, step in zip(
            ex.meta["deduction_order"], ex.intermediate_answers, ex.reasoning_steps, strict=True
        ):
            assert truth == f"{name} is a {solution[name]}"
            # Each step closes by concluding its person's role.
            assert step.endswith(f"{name} is a {solution[name]}."), step


def test_each_step_is_forced_by_the_statements_it_uses() -> None:
    """Re-check every step by brute force: given the earlier conclusions, the step's statements
    admit only the concluded role."""
    rng = random.Random(7)
    for people in (3, 5, 8):
        for _ in range(10):
            puzzle = kk.random_puzzle(rng, people)
            statements, names = list(puzzle.statements), list(puzzle.names)
            known: dict[int, bool] = {}
            for step in kk.deduce(statements, names):
                roles = set()
                for values in product((True, False), repeat=people):
                    if any(values[i] != v for i, v in known.items()):
                        continue
                    facts = dict(enumerate(values))
                    if all(holds(statements[s], facts) == values[s] for s in step.speakers):
                        roles.add(values[step.person])
                assert roles == {step.is_knight} == {puzzle.solution[step.person]}
                known[step.person] = step.is_knight


def test_final_answer_and_question_text() -> None:
    ex = kk.generate(1, "train", seed=3, people=3)[0]
    names = ex.meta["people"]
    expected = " ".join(
        f"({i}) {name} is a {ex.meta['solution'][name]}" for i, name in enumerate(names, 1)
    )
    assert ex.final_answer == expected
    assert ex.answer_type == "kk" and ex.dataset == "kk"
    assert all(name in ex.question for name in names)
    assert ex.meta["phrasing"] == "seen"
    closings = kk_phrasing.TEMPLATES["seen"].closings
    assert any(ex.question.endswith(closing) for closing in closings)


def test_rendering() -> None:
    names = ["Zoey", "Oliver", "Aurora"]
    assert kk.render(("knight", 1), names) == "Oliver is a knight"
    assert kk.render(("not", ("knave", 2)), names) == "Aurora is not a knave"
    assert kk.render(("->", ("knight", 1), ("knave", 0)), names) == (
        "if Oliver is a knight then Zoey is a knave"
    )
    assert kk.render(("<=>", ("knight", 1), ("knave", 2)), names) == (
        "Oliver is a knight if and only if Aurora is a knave"
    )


def test_deterministic_by_seed() -> None:
    a = kk.generate(30, "train", seed=5)
    b = kk.generate(30, "train", seed=5)
    c = kk.generate(30, "train", seed=6)
    assert [e.to_dict() for e in a] == [e.to_dict() for e in b]
    assert [e.question for e in a] != [e.question for e in c]


def test_people_counts_cycle() -> None:
    exs = kk.generate(10, "train", seed=0, people=(2, 8))
    assert [e.difficulty for e in exs] == [2, 8] * 5


def test_splits_never_share_a_puzzle() -> None:
    train = kk.generate(400, "train", seed=0, people=(2, 3, 4))
    held = kk.generate(100, "validation", seed=0, people=(2, 3, 4))
    held += kk.generate(100, "test", seed=0, people=(2, 3, 4))
    # Other seeds cannot leak either: membership is a function of the puzzle, not the seed.
    held += kk.generate(100, "test", seed=99, people=(2, 3, 4))
    assert_disjoint(train, held)
    assert_disjoint(train, held, key=lambda e: e.meta["canonical"])
    assert all(split_of(e.meta["canonical"]) == e.split for e in train + held)
    assert len({e.question for e in train}) == len(train)


def test_generates_hundreds_of_five_person_puzzles_at_once() -> None:
    # Training draws puzzles by the hundred: 300 distinct 5-person ones from one call.
    exs = kk.generate(300, "train", seed=0, people=5)
    assert len({e.question for e in exs}) == 300
    assert all(len(e.intermediate_answers) == 5 for e in exs)


def test_rejects_bad_people_count() -> None:
    with pytest.raises(ValueError, match="people"):
        kk.random_puzzle(random.Random(0), 9)
    with pytest.raises(ValueError, match="people"):
        kk.generate(1, people=1)


def test_names_come_from_the_fixed_list() -> None:
    for ex in kk.generate(20, "train", seed=2, people=8):
        assert set(ex.meta["people"]) <= set(kk.NAMES)
        assert not re.search(r"\b(knight|knave)\b", " ".join(ex.meta["people"]))
