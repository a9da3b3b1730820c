"""What the model is shown of tools: the tools block of the system message, and a conversation's
earlier turns (thinking, answers, calls, results) as the text the model wrote and read.

The chat template sees plain (role, text) messages, so everything here works with any template:
  - the tools are listed in the system message, with the call syntax (`ToolCallSyntax`);
  - an assistant turn that carries more than plain content (thinking, answers, calls) is
    rendered in the model's own format, in the order it was written: `<think>…</think>
    <answer>…</answer><tool_call>{…}</tool_call>` for the interleaved format;
  - tool results become a user message of `<tool_response>` blocks, one per result, in order.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from parsing import ANSWER, THINK, Format, ToolCallSyntax
from server.backends.base import Message
from server.http.errors import APIError
from server.tools.spec import ToolRequest

RESPONSE_OPEN = "<tool_response>"
RESPONSE_CLOSE = "</tool_response>"
CALL = "call"


@dataclass(frozen=True, slots=True)
class Part:
    """One piece of an assistant turn, in the order written: THINK / ANSWER text, or a CALL
    (name, arguments JSON text, id)."""

    kind: str
    text: str = ""
    name: str | None = None
    arguments: str | None = None
    id: str | None = None


@dataclass(frozen=True, slots=True)
class Turn:
    """One message of a conversation, from any of the APIs.

    role: system, developer, user, assistant or tool. text: the content (for an assistant turn
    without `parts`). parts: an assistant turn with thinking, answers or calls, in order.
    tool_call_id: which call a tool turn answers. param: where it came from, for errors
    ("messages.3"; for a tool turn, the field of its call id: "messages.3.tool_call_id").
    """

    role: str
    text: str = ""
    parts: tuple[Part, ...] | None = None
    tool_call_id: str | None = None
    param: str = ""


def tools_block(tools: ToolRequest, syntax: ToolCallSyntax) -> str:
    """The system-message text that lists the tools and says how to call them."""
    lines = "\n".join(json.dumps(t.as_openai(), ensure_ascii=False) for t in tools.tools)
    example = json.dumps({syntax.name_key: "function_name", syntax.arguments_key: {"arg": "value"}})
    return (
        "# Tools\n\n"
        "You can call the following functions. Their signatures, as JSON Schema:\n"
        f"<tools>\n{lines}\n</tools>\n\n"
        "To call a function, write its name and arguments as one JSON object inside "
        f"{syntax.open}{syntax.close} tags, for example:\n"
        f"{syntax.open}{example}{syntax.close}\n"
        f"Each result comes back inside {RESPONSE_OPEN}{RESPONSE_CLOSE} tags."
    )


def render_parts(parts: Sequence[Part], fmt: Format, syntax: ToolCallSyntax) -> str:
    """An assistant turn as the model writes it in `fmt`. Thinking needs think tags: a format
    without them (`none`) has no way to show it, and it is left out."""
    out: list[str] = []
    for part in parts:
        if part.kind == CALL:
            out.append(syntax.render(part.name or "", part.arguments or "{}"))
        elif part.kind == THINK:
            if fmt.think_open and fmt.think_close and part.text:
                out.append(f"{fmt.think_open}{part.text}{fmt.think_close}")
        elif part.kind == ANSWER and fmt.answer_open and fmt.answer_close:
            out.append(f"{fmt.answer_open}{part.text}{fmt.answer_close}")
        elif part.text:
            out.append(part.text)
    return "".join(out)


def render_turns(
    turns: Sequence[Turn], fmt: Format, syntax: ToolCallSyntax
) -> list[tuple[str, str]]:
    """(role, text) pairs for the chat template. Tool turns must answer a call of an earlier
    assistant turn (else a 400 naming their `tool_call_id`); consecutive ones become one user
    message."""
    out: list[tuple[str, str]] = []
    calls: dict[str, str] = {}  # id -> function name, of the calls so far
    merging = False
    for turn in turns:
        if turn.role == "tool":
            param = turn.param or "tool_call_id"
            if not turn.tool_call_id:
                raise APIError(
                    400,
                    f"{param}: a tool message needs the id of the call it answers",
                    param=param,
                    code="invalid_value",
                )
            if turn.tool_call_id not in calls:
                raise APIError(
                    400,
                    f"{param}: no earlier assistant message has a tool call with id "
                    f"{turn.tool_call_id!r}",
                    param=param,
                    code="invalid_value",
                )
            block = f"{RESPONSE_OPEN}\n{turn.text}\n{RESPONSE_CLOSE}"
            if merging:
                out[-1] = ("user", out[-1][1] + "\n" + block)
            else:
                out.append(("user", block))
            merging = True
            continue
        merging = False
        if turn.role == "assistant" and turn.parts is not None:
            for part in turn.parts:
                if part.kind == CALL and part.id:
                    calls[part.id] = part.name or ""
            out.append(("assistant", render_parts(turn.parts, fmt, syntax)))
        else:
            out.append((turn.role, turn.text))
    return out


def with_tools_block(messages: list[Message], block: str) -> list[Message]:
    """`messages` (after the default system prompt was added) with `block` appended to the
    first system message, or as a system message of its own at the start."""
    for i, message in enumerate(messages):
        if message.role == "system":
            text = f"{message.content}\n\n{block}" if message.content else block
            return [*messages[:i], Message("system", text), *messages[i + 1 :]]
    return [Message("system", block), *messages]
