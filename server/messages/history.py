"""Messages API input as conversation turns (`server.tools.prompt`), checked on the way.

- `system` (a string or text blocks) is the system turn.
- A user message: its `tool_result` blocks become tool turns (in order), its text one user
  turn after them.
- An assistant message: its blocks in order, thinking / text / tool_use as think / answer /
  call parts. A thinking block must carry the signature this server gave it (400 naming the
  signature otherwise); `redacted_thinking` is never produced here, so it cannot be checked
  and is a 400 too.
- The conversation must end with a user message (an assistant prefill is not continued).
"""

from __future__ import annotations

import json

from parsing import ANSWER, THINK
from server.http.errors import APIError
from server.messages.protocol import (
    InputBlock,
    MessagesRequest,
    RedactedThinkingBlockParam,
    TextBlockParam,
    ThinkingBlockParam,
    ToolResultBlockParam,
    ToolUseBlockParam,
)
from server.messages.signing import ThinkingSigner
from server.tools.prompt import CALL, Part, Turn


def _error(param: str, message: str) -> APIError:
    return APIError(400, f"{param}: {message}", param=param, code="invalid_value")


def _text(blocks: str | list[TextBlockParam] | None) -> str:
    if blocks is None:
        return ""
    if isinstance(blocks, str):
        return blocks
    return "\n".join(b.text for b in blocks)


def message_turns(body: MessagesRequest, signer: ThinkingSigner) -> list[Turn]:
    turns: list[Turn] = []
    if body.system:
        turns.append(Turn("system", _text(body.system), param="system"))
    last = len(body.messages) - 1
    for i, message in enumerate(body.messages):
        where = f"messages.{i}"
        if message.role == "assistant" and i == last:
            raise _error(
                where, "the conversation must end with a user message (prefill is not supported)"
            )
        if isinstance(message.content, str):
            turns.append(Turn(message.role, message.content, param=where))
            continue
        if message.role == "user":
            turns += _user_turns(message.content, where)
        else:
            turns.append(
                Turn(
                    "assistant", parts=_assistant_parts(message.content, where, signer), param=where
                )
            )
    return turns


def _user_turns(blocks: list[InputBlock], where: str) -> list[Turn]:
    turns: list[Turn] = []
    texts: list[str] = []
    for j, block in enumerate(blocks):
        param = f"{where}.content.{j}"
        if isinstance(block, ToolResultBlockParam):
            text = _text(block.content)
            if block.is_error:
                text = f"Error: {text}"
            turns.append(
                Turn(
                    "tool",
                    text,
                    tool_call_id=block.tool_use_id,
                    param=f"{param}.tool_use_id",
                )
            )
        elif isinstance(block, TextBlockParam):
            texts.append(block.text)
        else:
            raise _error(f"{param}.type", f"a user message cannot hold a {block.type} block")
    if texts:
        turns.append(Turn("user", "\n".join(texts), param=where))
    return turns


def _assistant_parts(
    blocks: list[InputBlock], where: str, signer: ThinkingSigner
) -> tuple[Part, ...]:
    parts: list[Part] = []
    for j, block in enumerate(blocks):
        param = f"{where}.content.{j}"
        if isinstance(block, ThinkingBlockParam):
            if not signer.verify(block.thinking, block.signature):
                raise _error(
                    f"{param}.signature",
                    "the thinking block's signature does not match its thinking (changed, or "
                    "not written by this server)",
                )
            parts.append(Part(THINK, block.thinking))
        elif isinstance(block, RedactedThinkingBlockParam):
            raise _error(
                f"{param}.type", "redacted_thinking blocks are not produced by this server"
            )
        elif isinstance(block, TextBlockParam):
            parts.append(Part(ANSWER, block.text))
        elif isinstance(block, ToolUseBlockParam):
            parts.append(
                Part(
                    CALL,
                    name=block.name,
                    arguments=json.dumps(block.input, ensure_ascii=False),
                    id=block.id,
                )
            )
        else:
            raise _error(f"{param}.type", f"an assistant message cannot hold a {block.type} block")
    return tuple(parts)
