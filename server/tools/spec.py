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

from server.errors import APIError
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
    param: str  # where it came from in the request, e.g. "tools.0.function"

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


def tool_request(
    tools: Sequence[FunctionTool] | None,
    tool_choice: ToolChoice | None,
    parallel_tool_calls: bool | None,
    *,
    tools_param: str = "tools",
    choice_param: str = "tool_choice",
) -> ToolRequest:
    """The validated `ToolRequest` of a request's fields (NO_TOOLS when it has none)."""
    checked: list[Tool] = []
    seen: dict[str, int] = {}
    for i, tool in enumerate(tools or ()):
        where = f"{tools_param}.{i}.function"
        fn = tool.function
        if not _NAME.fullmatch(fn.name):
            raise _error(
                f"{where}.name",
                f"{fn.name!r} is not a valid function name (1-64 of a-z, A-Z, 0-9, _ and -)",
            )
        if fn.name in seen:
            raise _error(f"{where}.name", f"{fn.name!r} is also the name of tools.{seen[fn.name]}")
        seen[fn.name] = i
        parameters = fn.parameters if fn.parameters is not None else EMPTY_PARAMETERS
        check_schema(parameters, f"{where}.parameters")
        checked.append(Tool(fn.name, fn.description, parameters, bool(fn.strict), where))
    parallel = parallel_tool_calls is not False
    if tool_choice is None:
        return ToolRequest(tuple(checked), AUTO if checked else NONE, parallel=parallel)
    if isinstance(tool_choice, NamedToolChoice):
        name = tool_choice.function.name
        if name not in seen:
            known = ", ".join(sorted(seen)) or "none"
            raise _error(
                f"{choice_param}.function.name",
                f"unknown tool {name!r}; the request's tools are: {known}",
            )
        return ToolRequest(tuple(checked), NAMED, name, parallel)
    if tool_choice != NONE and not checked:
        raise _error(choice_param, f"{tool_choice!r} needs tools; the request has none")
    return ToolRequest(tuple(checked), tool_choice, parallel=parallel)
