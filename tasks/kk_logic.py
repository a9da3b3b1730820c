"""The logic of knights-and-knaves puzzles, shared by the generator and the traces.

Knights always tell the truth, knaves always lie. A statement is a nested tuple:
("knight", i) | ("knave", i) | ("not", leaf) | (op, leaf, leaf) with op in `BINARY_OPS`.
Leaves have depth 1, so depth <= 2 and width <= 2 mean: a leaf, a negated leaf, or one binary
operator over two leaves (as in the puzzles of Logic-RL / the K&K benchmark).

Truth tables are Python integers: bit `a` of a mask is set when assignment `a` (bit i of a =
person i is a knight) makes the formula true, so evaluating a statement over all 2^n
assignments is a handful of big-int operations, and uniqueness is a popcount of the AND of
everyone's consistency mask.
"""

from __future__ import annotations

from functools import cache

Statement = tuple
BINARY_OPS: tuple[str, ...] = ("and", "or", "->", "<=>")


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


def people_in(stmt: Statement) -> list[int]:
    """People a statement mentions, in the order they appear."""
    if stmt[0] in ("knight", "knave"):
        return [stmt[1]]
    if stmt[0] == "not":
        return people_in(stmt[1])
    return list(dict.fromkeys(people_in(stmt[1]) + people_in(stmt[2])))
