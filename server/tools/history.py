"""Chat Completions messages as conversation `Turn`s (`server.tools.prompt`).

An assistant message is replayed as plain content, as before, unless it carries more: its
`reasoning` / `reasoning_content`, our `answers` and `segments`, or `tool_calls`. Then its
parts are put back in the order the model wrote them:
  - with `segments` (our extension on responses to requests with tools): exactly that order;
  - else the thinking (split where the server joined segments) and the answers alternate,
    thinking first, when their counts allow it, and otherwise all thinking comes first;
  - calls not placed by `segments` come last, where a model writes them before it waits for
    their results.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from parsing import ANSWER, THINK
from server.tools.prompt import CALL, Part, Turn

# How the server joins the thinking segments of a message (`server.generation.shaping`).
SEPARATOR = "\n\n"


def _alternate(thinks: list[str], answers: list[str]) -> list[Part]:
    if len(thinks) in (len(answers), len(answers) + 1):
        parts: list[Part] = []
        for i, think in enumerate(thinks):
            parts.append(Part(THINK, think))
            if i < len(answers):
                parts.append(Part(ANSWER, answers[i]))
        return parts
    return [Part(THINK, t) for t in thinks] + [Part(ANSWER, a) for a in answers]


def assistant_parts(message: Any) -> tuple[Part, ...] | None:
    """The parts of an assistant `ChatMessage` (`server.schemas`), or None when it is plain
    content."""
    reasoning = message.reasoning or message.reasoning_content
    calls = {c.id: c for c in message.tool_calls or ()}
    if not (reasoning or calls or message.segments or message.answers):
        return None
    parts: list[Part] = []
    placed: set[str] = set()
    if message.segments:
        for ref in message.segments:
            if ref.type == "tool_call":
                call = calls.get(ref.id or "")
                if call is not None and call.id not in placed:
                    placed.add(call.id)
                    parts.append(
                        Part(
                            CALL,
                            name=call.function.name,
                            arguments=call.function.arguments,
                            id=call.id,
                        )
                    )
            else:
                parts.append(Part(ref.type, ref.text or ""))
    else:
        thinks = [t for t in (reasoning or "").split(SEPARATOR) if t.strip()]
        if message.answers:
            answers = [a.text for a in message.answers]
        else:
            content = message.text()
            answers = [content] if content else []
        parts = _alternate(thinks, answers)
    for call in message.tool_calls or ():
        if call.id not in placed:
            parts.append(
                Part(CALL, name=call.function.name, arguments=call.function.arguments, id=call.id)
            )
    return tuple(parts)


def chat_turns(messages: Sequence[Any], param: str = "messages") -> list[Turn]:
    """`ChatMessage`s as turns (tool messages keep their `tool_call_id`)."""
    turns: list[Turn] = []
    for i, message in enumerate(messages):
        where = f"{param}.{i}"
        if message.role == "tool":
            turns.append(
                Turn(
                    "tool",
                    message.text(),
                    tool_call_id=message.tool_call_id,
                    param=f"{where}.tool_call_id",
                )
            )
        elif message.role == "assistant":
            parts = assistant_parts(message)
            turns.append(Turn("assistant", message.text(), parts=parts, param=where))
        else:
            turns.append(Turn(message.role, message.text(), param=where))
    return turns
