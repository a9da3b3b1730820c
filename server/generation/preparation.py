"""From a validated request to its started run, the same for every API: `prepare` makes what
the run needs (the prompt messages: history with thinking, calls and results replayed, the tools
block; the engine constraint: `enforce_format`, forced or strict calls, a JSON final answer; how
to read calls from the output), and `start_prepared` starts it with the request's sampling."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from starlette.requests import Request

from parsing import get_format, get_tool_call_syntax
from server.backends.base import GenerationParams, Message
from server.generation.budgets import ReasoningBudget
from server.generation.prompting import enforce_regex, to_messages
from server.generation.run import Run
from server.http.middleware import access_record
from server.state import AppState
from server.structured.check import check_constraint
from server.structured.final import FinalAnswerCheck
from server.structured.grammar import Constraint, build
from server.tools.calls import CallParsing
from server.tools.prompt import Turn, render_turns, tools_block, with_tools_block
from server.tools.spec import NAMED, NO_TOOLS, ToolRequest, check_schema


@dataclass(frozen=True, slots=True)
class Prepared:
    messages: list[Message]
    constraint: Constraint
    calls: CallParsing | None
    final_check: FinalAnswerCheck | None
    budget: ReasoningBudget
    # Gateway mode with --upstream-tools: what the upstream is given instead of the tools block.
    upstream_tools: dict[str, Any] | None = None


def prepare(
    state: AppState,
    turns: Sequence[Turn],
    *,
    tools: ToolRequest = NO_TOOLS,
    enforce_format: bool = False,
    final: dict[str, Any] | None = None,
    budget: ReasoningBudget,
    param: str = "messages",
    tools_param: str = "tools",
    final_param: str = "response_format",
) -> Prepared:
    """Raises `APIError` (400) for what the request got wrong, naming the field."""
    settings = state.settings
    if final is not None:
        check_schema(final, final_param)
    fmt = get_format(settings.format)
    syntax = get_tool_call_syntax(settings.tool_call_syntax)
    raw = render_turns(turns, fmt, syntax)
    messages = to_messages(raw, state.system_prompt, param=param)
    passed_on = upstream_tools(tools) if settings.upstream and settings.upstream_tools else None
    if tools.active and passed_on is None:
        messages = with_tools_block(messages, tools_block(tools, syntax))
    constraint = build(
        fmt,
        enforce_regex=enforce_regex(settings) if enforce_format else None,
        tools=tools if passed_on is None else None,  # the upstream forces its own calls
        syntax=syntax,
        final=final,
        final_param=final_param,
    )
    if tools.forced:
        source = "tool_choice"
    elif final is not None:
        source = final_param
    else:
        source = tools_param
    check_constraint(state.backend, constraint, budget, source)
    calls = CallParsing(syntax, tools.names(), tools.parallel) if tools.active else None
    final_check = FinalAnswerCheck(final) if final is not None else None
    return Prepared(messages, constraint, calls, final_check, budget, passed_on)


async def start_prepared(
    state: AppState, request: Request, prepared: Prepared, sampling: GenerationParams
) -> Run:
    """The prepared request's run, started: `sampling` holds the request's own values (tokens,
    temperature, top_p, n, stop, seed); the constraint and the upstream's tools are the prepared
    ones, whatever `sampling` says of them. Raises what `AppState.start_run_for` raises
    (`ClientGone` when the client left first, `APIError`)."""
    params = replace(
        sampling,
        regex=prepared.constraint.regex,
        structural_tag=prepared.constraint.structural_tag,
        tools=prepared.upstream_tools,
    )
    return await state.start_run_for(
        request,
        access_record(request),
        prepared.messages,
        params,
        prepared.budget,
        prepared.calls,
        prepared.final_check,
    )


def upstream_tools(tools: ToolRequest) -> dict[str, Any] | None:
    """The request's tools in OpenAI's Chat Completions shape, for an upstream."""
    if not tools.tools:
        return None
    choice: Any = tools.choice
    if tools.choice == NAMED:
        choice = {"type": "function", "function": {"name": tools.named}}
    return {
        "tools": [t.as_openai() for t in tools.tools],
        "tool_choice": choice,
        "parallel_tool_calls": tools.parallel,
    }
