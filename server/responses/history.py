"""Responses API input items as conversation turns (`server.tools.prompt`).

Consecutive items that make one assistant turn (reasoning items, assistant messages, function
calls) become one turn whose parts keep their order; a lone assistant message with no
reasoning or calls beside it stays plain text, as before. A `function_call_output` is a tool
turn (its `call_id` must name an earlier call, else a 400 naming it); `phase` is accepted on
messages and needs nothing more: the order carries the same information.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from parsing import ANSWER, THINK
from server.responses.protocol import FunctionCallInput, FunctionCallOutputInput, ReasoningInput
from server.tools.prompt import CALL, Part, Turn


def _is_assistant_item(item: Any) -> bool:
    if isinstance(item, ReasoningInput | FunctionCallInput):
        return True
    return getattr(item, "type", "") == "message" and getattr(item, "role", "") == "assistant"


def response_turns(items: str | Sequence[Any]) -> list[Turn]:
    if isinstance(items, str):
        return [Turn("user", items, param="input")]
    turns: list[Turn] = []
    group: list[tuple[int, Any]] = []

    def flush() -> None:
        if not group:
            return
        first_index, first = group[0]
        if len(group) == 1 and not isinstance(first, ReasoningInput | FunctionCallInput):
            turns.append(Turn("assistant", first.text(), param=f"input.{first_index}"))
        else:
            parts: list[Part] = []
            for _, item in group:
                if isinstance(item, ReasoningInput):
                    parts.append(Part(THINK, item.text()))
                elif isinstance(item, FunctionCallInput):
                    parts.append(
                        Part(CALL, name=item.name, arguments=item.arguments, id=item.call_id)
                    )
                else:
                    parts.append(Part(ANSWER, item.text()))
            turns.append(Turn("assistant", parts=tuple(parts), param=f"input.{first_index}"))
        group.clear()

    for i, item in enumerate(items):
        if _is_assistant_item(item):
            group.append((i, item))
            continue
        flush()
        if isinstance(item, FunctionCallOutputInput):
            turns.append(
                Turn("tool", item.text(), tool_call_id=item.call_id, param=f"input.{i}.call_id")
            )
        else:
            turns.append(Turn(item.role, item.text(), param=f"input.{i}"))
    flush()
    return turns
