"""Tool calls in model output: the one declaration of their syntax, and the reader of a call body.

A model calls a tool by writing a tagged JSON object, by default the Hermes / Qwen form

    <tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}</tool_call>

`ToolCallSyntax` declares it: the two tags, the keys of the JSON body, and where a call may
stand (inside a think segment, between segments, inside an answer). Where a call may not stand,
its tags are plain text. `StreamParser(tool_calls=...)` finds calls wherever they are allowed
and emits them as ordered events among the think and answer events (`parsing.events`).

`CallBody` reads one body incrementally, character by character, so that a server can send the
call's name as soon as it is known and then its arguments as they arrive (the OpenAI chunking),
whatever the chunking of the text: the outputs depend only on the characters, never on where
the deltas were cut. The final verdict on a body is `json.loads` of the whole of it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

THINK_CONTEXT = "think"
ANSWER_CONTEXT = "answer"
BETWEEN_CONTEXT = "between"


@dataclass(frozen=True, slots=True)
class ToolCallSyntax:
    """How a model writes a tool call.

    open / close: the tags around the call's JSON body. They must not occur inside the format's
    tags or the other way round (`StreamParser` checks it).
    name_key / arguments_key: the body's keys for the function name (a string) and its
    arguments (a JSON object, or a string holding one; a body without it means no arguments).
    in_think / between / in_answer: where a call is recognised: inside a think segment, outside
    any segment (before, between or after them), inside an answer segment.
    """

    name: str = "hermes"
    open: str = "<tool_call>"
    close: str = "</tool_call>"
    name_key: str = "name"
    arguments_key: str = "arguments"
    in_think: bool = True
    between: bool = True
    in_answer: bool = True

    def __post_init__(self) -> None:
        if not self.open or not self.close:
            raise ValueError("tool call tags must be non-empty")
        if self.open == self.close or self.open in self.close or self.close in self.open:
            raise ValueError(f"tool call tags must not contain each other: {self.open!r}")
        if self.name_key == self.arguments_key:
            raise ValueError("name_key and arguments_key must differ")

    def tags(self) -> tuple[str, str]:
        return (self.open, self.close)

    def allowed(self, context: str) -> bool:
        """Whether a call is recognised in `context` (THINK_CONTEXT, ANSWER_CONTEXT or
        BETWEEN_CONTEXT)."""
        if context == THINK_CONTEXT:
            return self.in_think
        if context == ANSWER_CONTEXT:
            return self.in_answer
        return self.between

    def render(self, name: str, arguments: str) -> str:
        """A call as the model writes it (for prompts and replayed history). `arguments` is
        the JSON text of the arguments object."""
        try:
            args: Any = json.loads(arguments) if arguments.strip() else {}
        except ValueError:
            args = arguments  # not JSON: replayed as the string it is
        body = json.dumps({self.name_key: name, self.arguments_key: args}, ensure_ascii=False)
        return f"{self.open}{body}{self.close}"


HERMES = ToolCallSyntax()
"""`<tool_call>{"name": ..., "arguments": {...}}</tool_call>` (Hermes, Qwen2.5/3): the default."""

TOOL_CALL_SYNTAXES: dict[str, ToolCallSyntax] = {HERMES.name: HERMES}


def get_tool_call_syntax(syntax: ToolCallSyntax | str) -> ToolCallSyntax:
    """Look up a preset by name ("hermes"); a `ToolCallSyntax` passes through."""
    if isinstance(syntax, ToolCallSyntax):
        return syntax
    try:
        return TOOL_CALL_SYNTAXES[syntax]
    except KeyError:
        known = sorted(TOOL_CALL_SYNTAXES)
        raise ValueError(f"unknown tool call syntax {syntax!r}; presets: {known}") from None


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A finished tool call of a transcript.

    index: 0-based among the response's calls. name / arguments: the function name and the JSON
    text of its arguments (None when the body did not yield them). error: why the call is not
    valid (malformed JSON, no name, ...), None when it is. text: the raw body, stripped.
    complete: closed by its closing tag. segment: the segment it stands inside, None when it
    stands between segments. after: how many segments had started before it.
    """

    index: int
    name: str | None
    arguments: str | None
    error: str | None
    text: str
    complete: bool
    segment: int | None
    after: int

    @property
    def valid(self) -> bool:
        return self.error is None


# -- the incremental body reader --------------------------------------------------------------

# Top-level positions in the body object.
_BEFORE = 0  # before "{"
_KEY_OR_END = 1  # after "{": a key or "}"
_KEY = 2  # after ",": a key
_IN_KEY = 3  # inside a key string
_COLON = 4  # after a key
_VALUE = 5  # before a value
_IN_VALUE = 6  # inside a value
_NEXT = 7  # after a value: "," or "}"
_AFTER = 8  # after the closing "}": whitespace only
_LOST = 9  # the body is not an object this reader follows; json.loads has the last word

_WS = " \t\r\n"


class CallBody:
    """Reads one call body as it arrives. `feed(text)` returns what became known: the name
    (once) and argument fragments, as (key, text) pairs with key "name" or "arguments".

    The arguments are streamed as their raw JSON text when they are an object and the name is
    known (fragments found before the name are held until it is); any other arguments value is
    held and delivered whole by `finish`. So the fragments of a valid call always join up to its
    final `arguments`.
    """

    __slots__ = (
        "_args_object",
        "_depth",
        "_escape",
        "_held_args",
        "_in_string",
        "_key",
        "_key_parts",
        "_name_parts",
        "_parts",
        "_scalar",
        "_sent",
        "_state",
        "name",
        "syntax",
    )

    def __init__(self, syntax: ToolCallSyntax) -> None:
        self.syntax = syntax
        self.name: str | None = None
        self._parts: list[str] = []
        self._state = _BEFORE
        self._key_parts: list[str] = []
        self._key: str | None = None
        self._name_parts: list[str] = []
        self._held_args: list[str] = []  # object arguments read before the name was known
        self._sent: list[str] = []  # argument fragments handed out
        self._depth = 0
        self._in_string = False
        self._escape = False
        self._scalar = False
        self._args_object = False  # the arguments value being read is an object

    @property
    def text(self) -> str:
        return "".join(self._parts)

    def feed(self, text: str) -> list[tuple[str, str]]:
        self._parts.append(text)
        out: list[tuple[str, str]] = []
        if self._state == _LOST:
            return out
        args: list[str] = []
        for ch in text:
            self._step(ch, args, out)
            if self._state == _LOST:
                break
        if args:
            self._arguments("".join(args), out)
        return out

    def _arguments(self, fragment: str, out: list[tuple[str, str]]) -> None:
        if self.name is None:
            self._held_args.append(fragment)
        else:
            self._sent.append(fragment)
            out.append(("arguments", fragment))

    def _named(self, out: list[tuple[str, str]]) -> None:
        try:
            name = json.loads('"' + "".join(self._name_parts) + '"')
        except ValueError:
            self._state = _LOST
            return
        if self.name is not None:  # a second name key: json.loads decides at the end
            return
        self.name = name
        out.append(("name", name))
        if self._held_args:
            held, self._held_args = "".join(self._held_args), []
            self._sent.append(held)
            out.append(("arguments", held))

    def _step(self, ch: str, args: list[str], out: list[tuple[str, str]]) -> None:
        state = self._state
        if state == _IN_VALUE:
            self._value_char(ch, args, out)
        elif state == _IN_KEY:
            if self._escape:
                self._escape = False
                self._key_parts.append(ch)
            elif ch == "\\":
                self._escape = True
                self._key_parts.append(ch)
            elif ch == '"':
                try:
                    self._key = json.loads('"' + "".join(self._key_parts) + '"')
                except ValueError:
                    self._state = _LOST
                    return
                self._key_parts = []
                self._state = _COLON
            else:
                self._key_parts.append(ch)
        elif ch in _WS:
            return
        elif state == _BEFORE:
            self._state = _KEY_OR_END if ch == "{" else _LOST
        elif state in (_KEY_OR_END, _KEY):
            if ch == '"':
                self._state = _IN_KEY
            elif ch == "}" and state == _KEY_OR_END:
                self._state = _AFTER
            else:
                self._state = _LOST
        elif state == _COLON:
            self._state = _VALUE if ch == ":" else _LOST
        elif state == _VALUE:
            self._state = _IN_VALUE
            if self._key == self.syntax.name_key:
                self._name_parts = []
            self._args_object = self._key == self.syntax.arguments_key and ch == "{"
            self._depth = 0
            self._in_string = ch == '"'
            self._escape = False
            self._scalar = ch not in '"{['
            if ch in "{[":
                self._depth = 1
            if self._scalar and ch in ",}":
                self._state = _LOST
                return
            self._keep(ch, args)
        elif state == _NEXT:
            if ch == ",":
                self._state = _KEY
            elif ch == "}":
                self._state = _AFTER
            else:
                self._state = _LOST
        else:  # _AFTER: only whitespace may follow the object
            self._state = _LOST

    def _keep(self, ch: str, args: list[str]) -> None:
        """A character of the value being read."""
        key = self._key
        if key == self.syntax.arguments_key:
            if self._args_object:
                args.append(ch)
        elif key == self.syntax.name_key:
            self._name_parts.append(ch)

    def _value_char(self, ch: str, args: list[str], out: list[tuple[str, str]]) -> None:
        if self._scalar:
            if ch in _WS or ch in ",}":
                self._end_value(args, out)
                self._step(ch, args, out)  # the character after a scalar is structure
                return
            self._keep(ch, args)
            return
        self._keep(ch, args)
        if self._in_string:
            if self._escape:
                self._escape = False
            elif ch == "\\":
                self._escape = True
            elif ch == '"':
                self._in_string = False
                if self._depth == 0:
                    self._end_value(args, out)
            return
        if ch == '"':
            self._in_string = True
        elif ch in "{[":
            self._depth += 1
        elif ch in "}]":
            self._depth -= 1
            if self._depth == 0:
                self._end_value(args, out)

    def _end_value(self, args: list[str], out: list[tuple[str, str]]) -> None:
        self._state = _NEXT
        key = self._key
        if key == self.syntax.name_key:
            raw = "".join(self._name_parts)
            if len(raw) >= 2 and raw[0] == '"' and raw[-1] == '"':
                self._name_parts = [raw[1:-1]]
                self._named(out)
            else:
                self._state = _LOST  # a name that is not a string
        # Object arguments went out as they were read (`feed`); any other arguments value (a
        # string holding JSON, ...) is delivered by `finish`.

    def finish(self) -> tuple[str | None, str | None, str | None, list[tuple[str, str]]]:
        """The body is over: (name, arguments, error, last outputs). The outputs are what was
        still held: the name if it only now became known, and argument text not yet sent."""
        out: list[tuple[str, str]] = []
        raw = self.text.strip()
        try:
            body = json.loads(raw)
        except ValueError as exc:
            return self.name, None, f"the call is not valid JSON: {exc}", out
        keys = self.syntax
        if not isinstance(body, dict):
            return self.name, None, "the call is not a JSON object", out
        name = body.get(keys.name_key)
        if not isinstance(name, str) or not name:
            return None, None, f"the call has no {keys.name_key!r} string", out
        if self.name is not None and self.name != name:
            return self.name, None, f"the call has more than one {keys.name_key!r}", out
        args = body.get(keys.arguments_key, {})
        if isinstance(args, str):
            try:
                parsed = json.loads(args)
            except ValueError:
                parsed = None
            if not isinstance(parsed, dict):
                return name, None, f"{keys.arguments_key!r} is not a JSON object", out
        elif not isinstance(args, dict):
            return name, None, f"{keys.arguments_key!r} is not a JSON object", out
        if self.name is None:
            self.name = name
            out.append(("name", name))
        if self._sent or self._held_args:
            # Object arguments were read as they came: their raw text is the arguments.
            if self._held_args:
                held, self._held_args = "".join(self._held_args), []
                self._sent.append(held)
                out.append(("arguments", held))
            sent = "".join(self._sent)
            try:
                same = json.loads(sent) == args
            except ValueError:
                same = False
            if not same:
                return name, None, f"{keys.arguments_key!r} appears more than once", out
            return name, sent, None, out
        text = args if isinstance(args, str) else json.dumps(args, ensure_ascii=False)
        out.append(("arguments", text))
        return name, text, None, out
