"""`start_prepared`, the start every generation route shares: what the run is given comes from
two places, and each field from one of them. The request's sampling values are the route's;
the constraint, the upstream's tools, the budget, call parsing and the final-answer check are the
prepared request's, whatever the route's sampling says of them. The access record is the
request's. (The routes' own tests cover what each API puts in its sampling.)

Engine-free: the scripted backend of fakes.py records what it was asked to generate.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from typing import Any

import pytest
from fakes import FakeBackend
from starlette.requests import Request
from starlette.types import Message as ASGIMessage

from server.backends.base import GenerationParams
from server.config import parse_settings
from server.generation.budgets import NO_BUDGET
from server.generation.preparation import Prepared, prepare, start_prepared
from server.http.middleware import ACCESS_KEY, AccessRecord
from server.state import AppState
from server.tools.prompt import Turn
from server.tools.spec import NAMED, ToolDef, ToolRequest, check_tools, choose

pytestmark = pytest.mark.timeout(60)

ADD = ToolDef(
    "add",
    "Add two numbers.",
    {"type": "object", "properties": {"a": {"type": "number"}, "b": {"type": "number"}}},
    None,
    "tools.0.function.name",
    "tools.0.function.parameters",
)
# The route's sampling, with constraint fields a route never sets: the prepared ones win.
SAMPLING = GenerationParams(
    max_tokens=7,
    temperature=0.5,
    top_p=0.9,
    n=2,
    stop=("x",),
    seed=3,
    regex="not this",
    structural_tag="nor this",
    tools={"nor": "this"},
)


def forced_add() -> ToolRequest:
    return choose(
        check_tools([ADD]),
        NAMED,
        "add",
        True,
        choice_param="tool_choice",
        named_param="tool_choice.function.name",
    )


def request_with(access: AccessRecord) -> Request:
    async def receive() -> ASGIMessage:  # a client that stays
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    scope: dict[str, Any] = {
        "type": "http",
        "method": "POST",
        "path": "/v1/chat/completions",
        "headers": [],
        ACCESS_KEY: access,
    }
    return Request(scope, receive)


async def started(state: AppState, prepared: Prepared) -> tuple[Any, AccessRecord]:
    access = AccessRecord("req-1", time.monotonic())
    run = await start_prepared(state, request_with(access), prepared, SAMPLING)
    return run, access


def test_the_run_gets_the_requests_sampling_and_the_prepared_constraint() -> None:
    backend = FakeBackend()
    state = AppState(parse_settings([]), backend)
    final = {"type": "object", "properties": {"sum": {"type": "number"}}}
    prepared = prepare(
        state, [Turn("user", "1 + 2?")], tools=forced_add(), final=final, budget=NO_BUDGET
    )
    assert prepared.constraint.structural_tag is not None and prepared.calls is not None

    async def scenario() -> None:
        run, access = await started(state, prepared)
        messages, params = backend.calls[-1]
        assert messages == prepared.messages
        assert params == dataclasses.replace(
            SAMPLING,
            regex=prepared.constraint.regex,
            structural_tag=prepared.constraint.structural_tag,
            tools=None,
        )
        assert (run.request_id, run.t0) == (access.request_id, access.t0)
        assert run.steering.budget is prepared.budget
        assert len(run.shapers) == SAMPLING.n
        for shaper in run.shapers:
            assert shaper.tracker is not None  # the prepared call parsing
            assert shaper.final_check is prepared.final_check is not None
        assert state.admission.in_flight == 1  # the run holds its slot
        await run.close("completed")
        assert state.admission.in_flight == 0

    asyncio.run(scenario())


def test_a_gateway_passes_the_prepared_tools_on_and_no_grammar() -> None:
    backend = FakeBackend()
    settings = parse_settings(["--upstream", "http://127.0.0.1:9/v1", "--upstream-tools"])
    state = AppState(settings, backend)
    prepared = prepare(state, [Turn("user", "1 + 2?")], tools=forced_add(), budget=NO_BUDGET)
    assert prepared.upstream_tools is not None

    async def scenario() -> None:
        run, _ = await started(state, prepared)
        _, params = backend.calls[-1]
        assert params.tools == prepared.upstream_tools
        assert params.regex is None and params.structural_tag is None
        assert (params.max_tokens, params.n, params.stop) == (7, 2, ("x",))
        await run.close("completed")

    asyncio.run(scenario())
