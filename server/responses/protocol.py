"""Responses API shapes for function calling (OpenAI's): `function` tools, the tool choice,
`function_call` items (output, and input when sent back), `function_call_output` and
`reasoning` input items, and the argument stream events."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class _Echoed(BaseModel):
    # Items sent back from an earlier response carry fields this server does not need (id,
    # status, ...): ignored.
    model_config = ConfigDict(extra="ignore")


class ResponsesFunctionTool(_Strict):
    type: Literal["function"]
    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class ResponsesNamedChoice(_Strict):
    type: Literal["function"]
    name: str


ResponsesToolChoice = Literal["none", "auto", "required"] | ResponsesNamedChoice


class FunctionCallInput(_Echoed):
    type: Literal["function_call"]
    call_id: str
    name: str
    arguments: str


class FunctionCallOutputInput(_Echoed):
    type: Literal["function_call_output"]
    call_id: str
    output: str | list[dict[str, Any]]

    def text(self) -> str:
        if isinstance(self.output, str):
            return self.output
        return "".join(str(part.get("text", "")) for part in self.output)


class ReasoningPart(_Echoed):
    type: str
    text: str = ""


class ReasoningInput(_Echoed):
    type: Literal["reasoning"]
    summary: list[ReasoningPart] = []
    content: list[ReasoningPart] | None = None

    def text(self) -> str:
        parts = self.content if self.content else self.summary
        return "".join(p.text for p in parts)


class FunctionCallItem(BaseModel):
    """A call the model made, as an output item."""

    id: str
    type: Literal["function_call"] = "function_call"
    status: Literal["in_progress", "completed", "incomplete"]
    call_id: str
    name: str
    arguments: str


class FunctionCallArgumentsDelta(BaseModel):
    item_id: str
    output_index: int
    delta: str
    type: str
    sequence_number: int


class FunctionCallArgumentsDone(BaseModel):
    item_id: str
    output_index: int
    name: str
    arguments: str
    type: str
    sequence_number: int
