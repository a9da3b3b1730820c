"""Checks of a request's constraint before it is submitted: 400s that name the field."""

from __future__ import annotations

from server.backends.base import Backend
from server.generation.budgets import ReasoningBudget
from server.http.errors import APIError
from server.structured.grammar import Constraint


def check_constraint(
    backend: Backend, constraint: Constraint, budget: ReasoningBudget, source: str
) -> None:
    """A schema the engine cannot compile is a 400 naming its field; so is a grammar (from
    `source`, the field that asked for it) beside a reasoning budget, which cannot resume a
    grammar after a forced close."""
    probe = getattr(backend, "schema_problem", None)
    if probe is not None:
        for param, schema in constraint.schemas:
            problem = probe(schema)
            if problem:
                raise APIError(400, f"{param}: {problem}", param=param, code="invalid_value")
    if constraint.structural_tag is not None and budget.steers:
        raise APIError(
            400,
            f"{source}: cannot be combined with reasoning budgets (the engine's grammar cannot "
            "be resumed after a forced close)",
            param=source,
            code="unsupported",
        )
