"""K&K truth-table traces and question phrasing: the trace is right row by row, and every
wording of a statement means what the puzzle's logic says."""

from __future__ import annotations

import ast
import random
import re
from itertools import product

import pytest

from tasks import generate, kk_logic, kk_phrasing, kk_trace
from tasks.prompts import target

ROW = re.compile(r"^(?P<header>[^:]+): (?P<body>.*): (?P<verdict>fits|fails)\.$")


def _header_roles(header: str) -> dict[str, str]:
    return dict(part.rsplit(" ", 1) for part in header.split(", "))


@pytest.mark.parametrize("people", [2, 3, 4, 5])
def test_every_row_of_every_table_is_right(people: int) -> None:
    """Re-evaluate each written row from its header alone: the atoms' yes/no, the statement's
    truth value and the verdict all follow from the header's roles."""
    for ex in generate("kk", 25, seed=3, people=(people,)):
        names = ex.meta["people"]
        puzzle_statements = _statements_by_speaker(ex)
        speakers: list[str] = []
        for step in ex.reasoning_steps:
            # A table answered after its first half goes on in the next think segment: rows
            # without a "Use" line above them belong to the previous step's statements.
            speakers = re.findall(r"(?:Use |; )(\w+) says ", step) or speakers
            for line in step.splitlines():
                m = ROW.match(line)
                if not m:
                    continue
                roles = _header_roles(m["header"])
                index = {name: i for i, name in enumerate(names)}
                row = {index[n]: r == "knight" for n, r in roles.items()}
                fits = all(
                    kk_trace.truth(puzzle_statements[s], row) == row[index[s]] for s in speakers
                )
                assert m["verdict"] == ("fits" if fits else "fails"), line
                for atom in re.finditer(
                    r"(\w+) (knight|knave) vs (not )?(knight|knave) (yes|no)", m["body"]
                ):
                    person, actual, negated, claimed, verdict = atom.groups()
                    assert roles[person] == actual, line  # the lookup copies the header
                    value = (actual == claimed) != bool(negated)
                    assert verdict == ("yes" if value else "no"), line


def _statements_by_speaker(ex) -> dict[str, kk_logic.Statement]:  # type: ignore[no-untyped-def]
    names = ex.meta["people"]
    # Recover the logical statements from the canonical puzzle key.
    statements = ast.literal_eval(ex.meta["canonical"].split("/", 2)[2])
    return {names[i]: stmt for i, stmt in enumerate(statements)}


def test_a_half_table_that_settles_someone_is_answered_before_the_other_half() -> None:
    """Early answers: "Every row with X knight fails" follows X's knight rows, all failing,
    and no row with X a knave stands before it; the answer right after names X's other role."""
    settled_early = 0
    for ex in generate("kk", 60, seed=7, people=(2, 3, 4)):
        for step, answer in zip(ex.reasoning_steps, ex.intermediate_answers, strict=True):
            m = re.search(
                r"Every row with (\w+) (knight|knave) fails, so \1 is a (knight|knave)\.$", step
            )
            if not m:
                continue
            name, wrong, right = m.groups()
            assert wrong != right and answer == f"{name} is a {right}"
            rows = [ROW.match(line) for line in step.splitlines()]
            rows = [r for r in rows if r]
            mine = [r for r in rows if _header_roles(r["header"])[name] == wrong]
            assert mine and all(r["verdict"] == "fails" for r in mine), step
            if wrong == "knight":
                settled_early += 1
                assert all(_header_roles(r["header"])[name] == "knight" for r in rows), step
    assert settled_early >= 12  # common, not a corner case


def test_first_answers_come_earlier_than_a_whole_table() -> None:
    """Where in the target the first answer starts (characters before it over all), median
    over 3-person puzzles: a whole first table put it at 0.58 (200 puzzles); half tables at 0.50."""
    positions = []
    for ex in generate("kk", 80, seed=8, people=(3,)):
        text = target(ex, "interleaved")
        positions.append(text.index("<answer>") / len(text))
    positions.sort()
    assert positions[len(positions) // 2] < 0.53


def test_fits_line_and_conclusions_agree_with_the_solution() -> None:
    for ex in generate("kk", 40, seed=4, people=(2, 3, 4)):
        solution = ex.meta["solution"]
        for step, answer in zip(ex.reasoning_steps, ex.intermediate_answers, strict=True):
            name, role = re.fullmatch(r"(\w+) is a (knight|knave)", answer).groups()  # type: ignore[union-attr]
            assert solution[name] == role
            fits = re.search(r"^Fits: (.*)\.$", step, re.M)
            if fits:  # a table: the concluded role holds in every fitting row
                rows = [_header_roles(r) for r in fits[1].split("; ")]
                assert all(r[name] == role for r in rows), step
        # The wrap-up lists every role for the final answer to copy.
        assert (
            ex.meta["wrap_up"]
            == "All known: " + ", ".join(f"{n} {solution[n]}" for n in ex.meta["people"]) + "."
        )


def test_steps_restate_statements_in_the_canonical_wording() -> None:
    for ex in generate("kk", 20, seed=5, people=(3,), phrasing="unseen"):
        statements = _statements_by_speaker(ex)
        names = ex.meta["people"]
        for step in ex.reasoning_steps:
            for speaker, text in re.findall(r"(?:Use |; )(\w+) says (.+?)(?=[.:;]\s|[.:;]$)", step):
                assert text == kk_trace.canonical(statements[speaker], names)


def test_interleaved_target_answers_each_person_then_everyone() -> None:
    ex = generate("kk", 1, seed=6, people=(3,))[0]
    text = target(ex, "interleaved")
    answers = re.findall(r"<answer> (.*?) </answer>", text)
    assert answers[:-1] == ex.intermediate_answers and answers[-1] == ex.final_answer
    assert f"<think> {ex.meta['wrap_up']} </think>" in text


@pytest.mark.parametrize("phrasing", ["seen", "unseen", "extra"])
def test_every_wording_means_the_statement(phrasing: str) -> None:
    """Each wording's connective patterns, read back by a tiny evaluator written from the
    English, agree with the logic on every assignment."""
    connectives = {
        "and": lambda a, b: a and b,
        "or": lambda a, b: a or b,
        "->": lambda a, b: (not a) or b,
        "<=>": lambda a, b: a == b,
    }
    # What each pattern means, written independently of the generator's table.
    meaning = {
        "{a} and {b}": "and", "both {a} and {b}": "and", "{a}, and {b}": "and",
        "{a} and also {b}": "and", "{a} as well as {b}": "and",
        "{a} or {b}": "or", "either {a} or {b}": "or", "{a}, or {b}": "or",
        "at least one of these is true: {a}, {b}": "or", "{a} or {b} (or both)": "or",
        "if {a} then {b}": "->", "if {a}, then {b}": "->", "{b} if {a}": "->",
        "{a} implies {b}": "->", "assuming {a}, {b}": "->",
        "{a} if and only if {b}": "<=>", "{a} exactly when {b}": "<=>",
        "{a} just in case {b}": "<=>", "{a} is equivalent to {b}": "<=>",
        "{a} precisely if {b}": "<=>",
        "not only {a} but also {b}": "and", "{a}; also, {b}": "and", "{a} and {b} alike": "and",
        "{a}, or else {b}": "or", "either {a}, or {b}, or both": "or",
        "one or both of: {a}; {b}": "or",
        "{a} only if {b}": "->", "{b} provided that {a}": "->", "whenever {a}, {b}": "->",
        "{a} if, and only if, {b}": "<=>", "{a} when and only when {b}": "<=>",
        "{a} and {b} are both true or both false": "<=>",
        "{a} and {b} too": "and", "{a}, and also {b}": "and",
        "{a} or {b} or both": "or", "{a} and/or {b}": "or",
        "if {a}, {b}": "->", "{b}, if {a}": "->", "{a} means {b}": "->",
        "either both {a} and {b}, or neither": "<=>", "{a} iff {b}": "<=>",
    }  # fmt: skip
    for w in kk_phrasing.TEMPLATES[phrasing].wordings:
        for field, op in (("conj", "and"), ("disj", "or"), ("implies", "->"), ("iff", "<=>")):
            pattern = getattr(w, field)
            assert meaning[pattern] == op, pattern
            for a, b in product((True, False), repeat=2):
                assert connectives[meaning[pattern]](a, b) == kk_trace.truth(
                    (op, ("knight", 0), ("knight", 1)), {0: a, 1: b}
                )
        knightly = (
            "truthful",
            "truth-teller",
            "honest",
            "tells the truth",
            "knight",
            "does not lie",
        )
        assert any(k in w.knight for k in knightly)
        assert not any(k in w.knave for k in ("truthful", "honest", "knight"))


def test_seen_extra_and_unseen_templates_are_disjoint() -> None:
    pools = {name: kk_phrasing.TEMPLATES[name] for name in ("seen", "extra", "unseen")}
    for a, b in (("seen", "unseen"), ("extra", "unseen"), ("seen", "extra")):
        for field in ("intros", "says", "closings", "wordings"):
            assert not set(getattr(pools[a], field)) & set(getattr(pools[b], field)), (a, b)
    unseen = pools["unseen"]
    for ex in generate("kk", 30, seed=1, people=(2, 3), phrasing="unseen"):
        assert ex.meta["phrasing"] == "unseen"
        assert any(ex.question.endswith(c) for c in unseen.closings)
    mixed = {ex.meta["phrasing"] for ex in generate("kk", 30, seed=1, phrasing="any")}
    assert mixed == {"seen", "unseen"}
    with pytest.raises(ValueError, match="phrasing"):
        generate("kk", 1, phrasing="casual")


def test_wide_phrasing_draws_seen_and_extra_templates_never_unseen() -> None:
    wide, unseen = kk_phrasing.TEMPLATES["wide"], kk_phrasing.TEMPLATES["unseen"]
    extra = kk_phrasing.TEMPLATES["extra"]
    questions = [ex.question for ex in generate("kk", 60, seed=2, people=(2, 3), phrasing="wide")]
    assert all(any(q.endswith(c) for c in wide.closings) for q in questions)
    assert not any(q.endswith(c) for c in unseen.closings for q in questions)
    assert any(q.endswith(c) for c in extra.closings for q in questions)


def test_first_person_statements() -> None:
    rng = random.Random(0)
    w = kk_phrasing.TEMPLATES["seen"].wordings[0]
    names = ["Ava", "Noah"]
    stmt = ("and", ("knave", 0), ("knight", 1))
    assert kk_phrasing.wording_of(stmt, names, w, me=0) == "I am a knave and Noah is a knight"
    assert kk_phrasing.wording_of(stmt, names, w, me=None) == "Ava is a knave and Noah is a knight"
    text, used = kk_phrasing.question(names, [("knight", 1), stmt], rng, "seen")
    assert "Ava" in text and "Noah" in text and used["phrasing"] == "seen"


def test_name_pool_is_large_and_clean() -> None:
    assert len(kk_phrasing.NAMES) >= 300
    assert len(set(kk_phrasing.NAMES)) == len(kk_phrasing.NAMES)
    words = {"knight", "knave", "liar", "honest", "truthful", "I", "If", "Either", "Both"}
    assert not words & set(kk_phrasing.NAMES)
