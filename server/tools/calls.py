"""One choice's tool calls, from the parser's call events to what the APIs send.

The parser reports every call the model wrote (`parsing.ToolCallStart` / `ToolCallDelta` /
`ToolCallEnd`). Here each gets an id, and the request decides which ones are calls the client
is told to make: the name must be one of the request's tools, and without parallel calls only
the first valid call counts. A call that is not one (unknown tool, malformed JSON, a second
call when parallel calls are off) is still reported, as an error, at its end.

`CallTracker.event` turns each parser event into at most one `CallUpdate`:
    START  a call the client should make began: its id and name are known (sent first)
    ARGS   more of its arguments' JSON text
    END    the call finished; `call.error` is set when it is not a valid call
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace

from parsing import ToolCallDelta, ToolCallEnd, ToolCallStart, ToolCallSyntax

START = "start"
ARGS = "args"
END = "end"


@dataclass(frozen=True, slots=True)
class CallParsing:
    """What a request's tools mean for reading the output: the syntax to look for, the names
    that may be called, and whether several calls may be made in one turn."""

    syntax: ToolCallSyntax
    names: frozenset[str]
    parallel: bool = True


@dataclass(frozen=True, slots=True)
class CallInfo:
    """A call as far as it is known.

    index: 0-based among all the calls the model wrote in this choice. tool_call_index: its
    index among the calls the client is told to make (None when it is not one). arguments: the
    JSON text so far (final at END). error: why it is not a valid call (None when it is).
    text: the raw body (at END).
    """

    index: int
    id: str
    name: str | None
    tool_call_index: int | None
    arguments: str = ""
    error: str | None = None
    text: str = ""
    done: bool = False

    @property
    def valid(self) -> bool:
        return self.done and self.error is None and self.tool_call_index is not None


@dataclass(frozen=True, slots=True)
class CallUpdate:
    what: str  # START, ARGS or END
    call: CallInfo
    text: str = ""  # ARGS: the new argument text


def new_call_id() -> str:
    return f"call_{uuid.uuid4().hex[:24]}"


class CallTracker:
    __slots__ = ("_calls", "_open_error", "_sent", "parsing")

    def __init__(self, parsing: CallParsing) -> None:
        self.parsing = parsing
        self._calls: list[CallInfo] = []
        self._sent = 0  # calls started for the client
        self._open_error: str | None = None  # why the open call will not be one

    @property
    def calls(self) -> list[CallInfo]:
        """Every call so far, in order (the last may still be open)."""
        return self._calls

    def valid_calls(self) -> list[CallInfo]:
        return [c for c in self._calls if c.valid]

    def _open(self, index: int, name: str | None) -> CallInfo:
        call = CallInfo(index=index, id=new_call_id(), name=name, tool_call_index=None)
        self._calls.append(call)
        return call

    def event(self, event: ToolCallStart | ToolCallDelta | ToolCallEnd) -> CallUpdate | None:
        if isinstance(event, ToolCallStart):
            name = event.text
            self._open_error = None
            if name not in self.parsing.names:
                known = ", ".join(sorted(self.parsing.names))
                self._open_error = f"unknown tool {name!r}; the request's tools are: {known}"
            elif not self.parsing.parallel and self._sent:
                self._open_error = "parallel_tool_calls is false: only the first call is made"
            call = self._open(event.index, name)
            if self._open_error is not None:
                return None
            call = replace(call, tool_call_index=self._sent)
            self._calls[-1] = call
            self._sent += 1
            return CallUpdate(START, call)
        if isinstance(event, ToolCallDelta):
            call = self._calls[-1]
            if call.tool_call_index is None:
                return None
            call = replace(call, arguments=call.arguments + event.text)
            self._calls[-1] = call
            return CallUpdate(ARGS, call, event.text)
        parsed = event.call
        if not self._calls or self._calls[-1].index != event.index or self._calls[-1].done:
            self._open(event.index, parsed.name)  # no name was ever read: no start was sent
            self._open_error = None
        call = self._calls[-1]
        error = parsed.error or self._open_error
        self._open_error = None
        arguments = parsed.arguments if parsed.arguments is not None else call.arguments
        call = replace(call, arguments=arguments, error=error, text=parsed.text, done=True)
        self._calls[-1] = call
        return CallUpdate(END, call)
