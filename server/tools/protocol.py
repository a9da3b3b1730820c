"""Wire models of function calling (OpenAI Chat Completions shapes, plus our error report).

Requests: `FunctionTool` in `tools`, `ToolChoice` in `tool_choice`, `MessageToolCall` in an
assistant message's `tool_calls`. Responses: `ToolCallOut` in `message.tool_calls`,
`ToolCallChunk` in a chunk's `delta.tool_calls` (the first chunk of a call carries its id,
type and name with empty arguments, the next ones argument fragments), and `ToolCallError`,
our extension, for a call the model wrote that is not a valid call (malformed JSON, an unknown
tool...): reported in `message.tool_call_errors` / `delta.tool_call_error`, never dropped.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class FunctionDefinition(_Strict):
    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None  # a JSON Schema; none means no parameters
    strict: bool | None = None  # true: the call's arguments are constrained to the schema


class FunctionTool(_Strict):
    type: Literal["function"]
    function: FunctionDefinition


class NamedFunction(_Strict):
    name: str


class NamedToolChoice(_Strict):
    type: Literal["function"]
    function: NamedFunction


ToolChoice = Literal["none", "auto", "required"] | NamedToolChoice


class CalledFunction(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str
    arguments: str


class MessageToolCall(BaseModel):
    """A call in an assistant message of the conversation (echoed from an earlier response)."""

    model_config = ConfigDict(extra="ignore")

    id: str
    type: Literal["function"] = "function"
    function: CalledFunction


# -- responses --------------------------------------------------------------------------------


class ToolCallFunction(BaseModel):
    name: str
    arguments: str


class ToolCallOut(BaseModel):
    id: str
    type: Literal["function"] = "function"
    function: ToolCallFunction


class ToolCallChunkFunction(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = None
    arguments: str | None = None


class ToolCallChunk(BaseModel):
    model_config = ConfigDict(extra="forbid")

    index: int  # 0-based among the choice's calls
    id: str | None = None
    type: Literal["function"] | None = None
    function: ToolCallChunkFunction | None = None


class ToolCallError(BaseModel):
    """A call the model wrote that is not a valid call (our extension).

    index: the call's position among all calls the model wrote (valid or not); tool_call_index:
    in a stream, the `tool_calls` index under which its start was already sent (its name was a
    known tool but its arguments turned out malformed), else None. A non-streaming message
    lists only valid calls in `tool_calls`. id / name: as far as known. message: what is
    wrong. text: the raw call body.
    """

    index: int
    tool_call_index: int | None = None
    id: str | None = None
    name: str | None = None
    message: str
    text: str = Field(default="")


class SegmentRef(BaseModel):
    """One entry of `message.segments` (our extension, with tools): the order in which the
    model wrote its thinking, answers and calls, so that a client that sends the message back
    has the conversation replayed as it was written. `text` for think and answer entries, `id`
    (the `tool_calls` id) for calls."""

    model_config = ConfigDict(extra="ignore")

    type: Literal["think", "answer", "tool_call"]
    text: str | None = None
    id: str | None = None
