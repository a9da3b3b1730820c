"""A request's tools and tool choice, checked once: what the rest of the request path relies on.

Every problem is a 400 that names the field, decided before the backend is involved:
`tool_choice` without `tools`, a named tool that is not among them, two tools of one name, a
name outside OpenAI's alphabet, and a `parameters` schema that is not a valid JSON Schema.
(Whether the engine can compile a schema is the engine's to say; see `server.structured`.)
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from server.http.errors import APIError
from server.tools.protocol import FunctionTool, NamedToolChoice, ToolChoice

_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
EMPTY_PARAMETERS: dict[str, Any] = {"type": "object", "properties": {}}

AUTO = "auto"
NONE = "none"
REQUIRED = "required"
NAMED = "named"


@dataclass(frozen=True, slots=True)
class Tool:
    name: str
    description: str | None
    parameters: dict[str, Any]
    strict: bool
    param: str  # the request field of its schema, e.g. "tools.0.function.parameters"

    def as_openai(self) -> dict[str, Any]:
        """The tool as OpenAI's `{"type": "function", "function": {...}}` object."""
        function: dict[str, Any] = {"name": self.name}
        if self.description:
            function["description"] = self.description
        function["parameters"] = self.parameters
        return {"type": "function", "function": function}


@dataclass(frozen=True, slots=True)
class ToolRequest:
    """What a request asks of function calling.

    choice: AUTO (the model decides), NONE (no calls: tools are neither shown nor parsed),
    REQUIRED (at least one call) or NAMED (a call of `named`). parallel: whether one turn may
    hold several calls.
    """

    tools: tuple[Tool, ...]
    choice: str
    named: str | None = None
    parallel: bool = True

    @property
    def active(self) -> bool:
        """Calls are shown to the model and parsed from its output."""
        return bool(self.tools) and self.choice != NONE

    @property
    def forced(self) -> bool:
        """The output must be calls (REQUIRED or NAMED): the engine's grammar makes it so."""
        return self.choice in (REQUIRED, NAMED)

    def names(self) -> frozenset[str]:
        return frozenset(t.name for t in self.tools)

    def callable_tools(self) -> tuple[Tool, ...]:
        """The tools the output may call: the named one, or all."""
        if self.choice == NAMED:
            return tuple(t for t in self.tools if t.name == self.named)
        return self.tools


NO_TOOLS = ToolRequest(tools=(), choice=NONE)


def _error(param: str, message: str) -> APIError:
    return APIError(400, f"{param}: {message}", param=param, code="invalid_value")


def check_schema(schema: Any, param: str) -> None:
    """400 naming `param` unless `schema` is a valid JSON Schema (draft 2020-12)."""
    if not isinstance(schema, dict):
        raise _error(param, "must be a JSON Schema object")
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        where = "/".join(str(p) for p in exc.path)
        raise _error(
            param, f"not a valid JSON Schema: {exc.message}" + (f" (at {where})" if where else "")
        ) from None


@dataclass(frozen=True, slots=True)
class ToolDef:
    """A tool as any API describes it, with the request fields to name in errors."""

    name: str
    description: str | None
    parameters: dict[str, Any] | None
    strict: bool | None
    name_param: str  # e.g. "tools.0.function.name"
    schema_param: str  # e.g. "tools.0.function.parameters"


def check_tools(defs: Sequence[ToolDef]) -> tuple[Tool, ...]:
    """The tools, checked: valid and distinct names, valid JSON Schemas."""
    checked: list[Tool] = []
    seen: dict[str, str] = {}
    for d in defs:
        if not _NAME.fullmatch(d.name):
            raise _error(
                d.name_param,
                f"{d.name!r} is not a valid function name (1-64 of a-z, A-Z, 0-9, _ and -)",
            )
        if d.name in seen:
            first = seen[d.name].rsplit(".", 2)[0]
            raise _error(d.name_param, f"{d.name!r} is also the name of {first}")
        seen[d.name] = d.name_param
        parameters = d.parameters if d.parameters is not None else EMPTY_PARAMETERS
        check_schema(parameters, d.schema_param)
        checked.append(Tool(d.name, d.description, parameters, bool(d.strict), d.schema_param))
    return tuple(checked)


def choose(
    tools: tuple[Tool, ...],
    choice: str | None,
    named: str | None,
    parallel: bool,
    *,
    choice_param: str,
    named_param: str,
) -> ToolRequest:
    """The `ToolRequest` of checked tools and a choice (AUTO, NONE, REQUIRED, NAMED or None
    for the default: AUTO with tools, NONE without)."""
    if choice is None:
        return ToolRequest(tools, AUTO if tools else NONE, parallel=parallel)
    names = {t.name for t in tools}
    if choice == NAMED:
        if named not in names:
            known = ", ".join(sorted(names)) or "none"
            raise _error(named_param, f"unknown tool {named!r}; the request's tools are: {known}")
        return ToolRequest(tools, NAMED, named, parallel)
    if choice != NONE and not tools:
        raise _error(choice_param, f"{choice!r} needs tools; the request has none")
    return ToolRequest(tools, choice, parallel=parallel)


def tool_request(
    tools: Sequence[FunctionTool] | None,
    tool_choice: ToolChoice | None,
    parallel_tool_calls: bool | None,
) -> ToolRequest:
    """The validated `ToolRequest` of a Chat Completions request (NO_TOOLS when it has none)."""
    defs = [
        ToolDef(
            t.function.name,
            t.function.description,
            t.function.parameters,
            t.function.strict,
            f"tools.{i}.function.name",
            f"tools.{i}.function.parameters",
        )
        for i, t in enumerate(tools or ())
    ]
    checked = check_tools(defs)
    parallel = parallel_tool_calls is not False
    if isinstance(tool_choice, NamedToolChoice):
        return choose(
            checked,
            NAMED,
            tool_choice.function.name,
            parallel,
            choice_param="tool_choice",
            named_param="tool_choice.function.name",
        )
    return choose(
        checked,
        tool_choice,
        None,
        parallel,
        choice_param="tool_choice",
        named_param="tool_choice.function.name",
    )
