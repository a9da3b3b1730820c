"""Knights-and-knaves deductions written as small truth tables a 135M model can imitate.

A small model computes little per token, so every token of the trace must follow from
something written a few tokens before it. One step of the deduction:

    Use Amina says Amina is a knave and Hector is a knight.
    Amina knight, Hector knight: Amina knight vs knave no, Hector knight vs knight yes,
        no and yes = false, Amina knight needs true: fails.
    ... (the other three rows)
    Amina knave, Hector knave: Amina knave vs knave yes, Hector knave vs knight no,
        yes and no = false, Amina knave needs false: fits.
    Fits: Amina knave, Hector knave.
    In the fitting row, Amina is a knave.

(one line per row; wrapped here). A statement about known people only needs no table: "Use Mia
says Ava is a knave: Ava knave vs knave yes = true, so Mia is a knight."

Binding rules the layout follows (measured: looking a person's role up within a row was the
error a coarser trace made most):
- A row starts with its assignment, speaker first, "Name role" with no other word between, so
  copying a role is "find this name in the row header, copy the next word".
- Each atom of the statement is evaluated as "Name role vs claimed-role yes/no": the looked-up
  role and the claimed role stand side by side before the verdict.
- The connective combines the atoms' verdicts just written; the speaker's check repeats the
  speaker's role next to the truth value that role needs.
- A "Fits:" line collects the surviving rows before the conclusion, so reading off who has the
  same role in all of them is a comparison of adjacent lines.

The planner picks, among the statements (one, then pairs, then more) that force at least one
unknown person given what is known, the one with the fewest rows to write; a step may force
several people (each gets its own answer).
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations, product

from tasks.kk_logic import Statement, people_in, render, role

_OP_WORDS = {"and": "and", "or": "or", "->": "then", "<=>": "iff"}


def yes_no(value: bool) -> str:
    return "yes" if value else "no"


def true_false(value: bool) -> str:
    return "true" if value else "false"


def canonical(stmt: Statement, names: list[str] | tuple[str, ...]) -> str:
    """The one wording the trace restates every statement in, whatever the question said:
    the generator's plain rendering, with "iff" for equivalence (two tokens fewer a row)."""
    return render(stmt, list(names), iff="iff")


def _leaf_truth(leaf: Statement, roles: dict[int, bool]) -> bool:
    return roles[leaf[1]] == (leaf[0] == "knight")


def truth(stmt: Statement, roles: dict[int, bool]) -> bool:
    op = stmt[0]
    if op in ("knight", "knave"):
        return _leaf_truth(stmt, roles)
    if op == "not":
        return not truth(stmt[1], roles)
    a, b = truth(stmt[1], roles), truth(stmt[2], roles)
    return {"and": a and b, "or": a or b, "->": (not a) or b, "<=>": a == b}[op]


def _atom_text(leaf: Statement, roles: dict[int, bool], names: list[str], negated: bool) -> str:
    person, claimed = leaf[1], leaf[0]
    value = _leaf_truth(leaf, roles) != negated
    claim = f"not {claimed}" if negated else claimed
    return f"{names[person]} {role(roles[person])} vs {claim} {yes_no(value)}"


def evaluation_text(stmt: Statement, roles: dict[int, bool], names: list[str]) -> str:
    """`Ava knight vs knave no, Noah knight vs knight yes, no or yes = true`."""
    op = stmt[0]
    if op in ("knight", "knave"):
        return f"{_atom_text(stmt, roles, names, False)} = {true_false(truth(stmt, roles))}"
    if op == "not":
        return f"{_atom_text(stmt[1], roles, names, True)} = {true_false(truth(stmt, roles))}"
    a, b = truth(stmt[1], roles), truth(stmt[2], roles)
    left = _atom_text(stmt[1], roles, names, False)
    right = _atom_text(stmt[2], roles, names, False)
    combined = f"{yes_no(a)} {_OP_WORDS[op]} {yes_no(b)}"
    if op == "->":
        combined = f"if {combined}"
    return f"{left}, {right}, {combined} = {true_false(truth(stmt, roles))}"


def check_text(
    speaker: int, stmt: Statement, roles: dict[int, bool], names: list[str]
) -> tuple[str, bool]:
    """The statement evaluated under `roles` and whether the speaker's role fits it."""
    needs = roles[speaker]
    fits = truth(stmt, roles) == needs
    text = (
        f"{evaluation_text(stmt, roles, names)}, {names[speaker]} {role(needs)} needs "
        f"{true_false(needs)}"
    )
    return text, fits


@dataclass(frozen=True)
class TableStep:
    speakers: tuple[int, ...]
    columns: tuple[int, ...]  # row header order: speakers first, then people as mentioned
    rows: tuple[dict[int, bool], ...]  # every assignment written, in order
    fitting: tuple[dict[int, bool], ...]
    forced: dict[int, bool]  # unknown people with one role in every fitting row

    def cost(self) -> tuple[int, int]:
        """Rows to write, then whether the first answer waits for the whole table: among
        equally small tables, one whose lead settles after its knight half comes first."""
        lead = self.columns[0]
        early = self.forced.get(lead) is False
        return len(self.rows) * len(self.speakers), 0 if early else 1

    def derives_speaker(self, statements: list[Statement]) -> bool:
        """One speaker, unknown, talking only about known people: no table is needed, the
        statement's truth value is the speaker's role (one line instead of two rows)."""
        (speaker,) = self.speakers if len(self.speakers) == 1 else (None,)
        return (
            speaker is not None
            and list(self.forced) == [speaker]
            and len(self.rows) == 2
            and speaker not in people_in(statements[speaker])
        )


def _columns(speakers: tuple[int, ...], statements: list[Statement]) -> tuple[int, ...]:
    order: list[int] = list(speakers)
    for s in speakers:
        order += people_in(statements[s])
    return tuple(dict.fromkeys(order))


def table_step(
    speakers: tuple[int, ...], statements: list[Statement], known: dict[int, bool]
) -> TableStep:
    columns = _columns(speakers, statements)
    unknown = [p for p in columns if p not in known]
    rows, fitting = [], []
    for values in product((True, False), repeat=len(unknown)):
        roles = {p: known.get(p) for p in columns}
        roles.update(zip(unknown, values, strict=True))
        row = {p: bool(v) for p, v in roles.items()}
        rows.append(row)
        if all(truth(statements[s], row) == row[s] for s in speakers):
            fitting.append(row)
    forced = {
        p: fitting[0][p] for p in unknown if fitting and all(r[p] == fitting[0][p] for r in fitting)
    }
    return TableStep(speakers, columns, tuple(rows), tuple(fitting), forced)


def plan(statements: list[Statement], max_group: int | None = None) -> list[TableStep]:
    """Steps until everyone is known; each the cheapest table that forces someone."""
    n = len(statements)
    known: dict[int, bool] = {}
    steps: list[TableStep] = []
    limit = max_group or n
    while len(known) < n:
        best: TableStep | None = None
        for size in range(1, limit + 1):
            for speakers in combinations(range(n), size):
                step = table_step(speakers, statements, known)
                if step.forced and (best is None or step.cost() < best.cost()):
                    best = step
            if best is not None:
                break  # a smaller group always reads more easily than a bigger one
        if best is None:
            raise ValueError("puzzle does not determine everyone")
        steps.append(best)
        known.update(best.forced)
    return steps


def _assignment(row: dict[int, bool], columns: tuple[int, ...], names: list[str]) -> str:
    return ", ".join(f"{names[p]} {role(row[p])}" for p in columns)


def _known_line(known: dict[int, bool], names: list[str]) -> list[str]:
    if not known:
        return []
    return ["Known: " + ", ".join(f"{names[p]} {role(v)}" for p, v in known.items()) + "."]


def _block_lines(
    rows: list[dict[int, bool]],
    step: TableStep,
    columns: tuple[int, ...],
    statements: list[Statement],
    names: list[str],
) -> list[str]:
    lines = []
    for row in rows:
        parts = []
        verdict = "fits"
        for s in step.speakers:
            text, fits = check_text(s, statements[s], row, names)
            parts.append(text)
            if not fits:
                verdict = "fails"
                break
        lines.append(f"{_assignment(row, columns, names)}: {'; '.join(parts)}: {verdict}.")
    return lines


def trace_step(
    step: TableStep, statements: list[Statement], names: list[str], known: dict[int, bool]
) -> list[tuple[int, bool, str]]:
    """(person, is_knight, think text) per person the step answers, in the order answered.

    The table is written in its fixed order, the first column (the "lead", a speaker) as the
    outer variable with knight first, so the model never needs the answer to pick the order.
    It commits as soon as half the table settles something: when every row with the lead a
    knight fails, the lead is answered a knave before the other half is written (likewise a
    knight when every row of the knave half fails). The others the step forces are then read
    off the fitting rows, each answered in turn.
    """
    if step.derives_speaker(statements):
        (speaker,) = step.speakers
        value = step.forced[speaker]
        lines = [*_known_line(known, names)]
        row = next(r for r in step.fitting)
        evaluation = evaluation_text(statements[speaker], row, names)
        lines.append(
            f"Use {names[speaker]} says {canonical(statements[speaker], names)}: {evaluation}, "
            f"so {names[speaker]} is a {role(value)}."
        )
        return [(speaker, value, "\n".join(lines))]
    lead = step.columns[0]
    uses = "; ".join(f"{names[s]} says {canonical(statements[s], names)}" for s in step.speakers)
    lines = [*_known_line(known, names), f"Use {uses}."]
    out: list[tuple[int, bool, str]] = []

    def settle(person: int, value: bool, line: str) -> None:
        nonlocal lines
        out.append((person, value, "\n".join([*lines, line])))
        lines = []

    for half in (True, False):
        rows = [r for r in step.rows if r[lead] == half]
        if not rows:
            continue  # the lead was known before this step
        lines += _block_lines(rows, step, step.columns, statements, names)
        if step.forced.get(lead) == (not half) and not any(r in step.fitting for r in rows):
            settle(
                lead,
                not half,
                f"Every row with {names[lead]} {role(half)} fails, so {names[lead]} is a "
                f"{role(not half)}.",
            )
    others = [p for p in step.columns if p in step.forced and p != lead]
    where = "every fitting row" if len(step.fitting) > 1 else "the fitting row"
    if others:
        lines.append(
            "Fits: " + "; ".join(_assignment(r, step.columns, names) for r in step.fitting) + "."
        )
    for p in others:
        also = "Also in" if lines == [] and out and out[-1][0] != lead else "In"
        settle(p, step.forced[p], f"{also} {where}, {names[p]} is a {role(step.forced[p])}.")
    return out


def wrap_up(names: list[str] | tuple[str, ...], solution: tuple[bool, ...]) -> str:
    """The think before the final answer: every role, in the question's order."""
    roles = ", ".join(f"{name} {role(k)}" for name, k in zip(names, solution, strict=True))
    return f"All known: {roles}."
