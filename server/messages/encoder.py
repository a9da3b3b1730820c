"""A run's ops (`server.generation.shaping.Op`) as Messages API content blocks and stream events.

Pure: no I/O, no clock. The blocks come in the order the model wrote them:
  - each run of thinking text is a `thinking` block (a think segment; a call inside it splits it
    in two blocks), signed when it ends (`signature_delta` just before its `content_block_stop`);
  - each answer segment is its own `text` block, intermediate answers included;
  - each call the client should make is a `tool_use` block: its start carries the id and name,
    then `input_json_delta`s carry the arguments' JSON text as it arrives.

Events: message_start; per block content_block_start, content_block_delta...,
content_block_stop; message_delta (stop_reason, output usage; our `timings`, `metrics` and
`tool_call_errors`); message_stop. A failure after the start ends the stream with an `error`
event. The non-streaming route runs the same encoder with `stream=False` and answers with
`result`.
"""

from __future__ import annotations

import json
from typing import Any

from sse_starlette import ServerSentEvent

from parsing import THINK
from server.generation.shaping import (
    CALL_ARGS,
    CALL_START,
    END,
    TEXT,
    Op,
    RunSummary,
    call_error,
    sse,
)
from server.http.errors import APIError
from server.messages.errors import error_body
from server.messages.protocol import (
    ContentBlock,
    ContentBlockDeltaEvent,
    ContentBlockStartEvent,
    ContentBlockStopEvent,
    DeltaUsage,
    InputJSONDelta,
    MessageDelta,
    MessageDeltaEvent,
    MessageObject,
    MessagesEvent,
    MessageStartEvent,
    MessageStopEvent,
    MessagesUsage,
    SignatureDelta,
    StopReason,
    TextBlock,
    TextDelta,
    ThinkingBlock,
    ThinkingDelta,
    ToolUseBlock,
)
from server.messages.signing import ThinkingSigner
from server.schemas import ChoiceTimings

_STOP_REASONS: dict[str, StopReason] = {
    "stop": "end_turn",
    "tool_calls": "tool_use",
    "length": "max_tokens",
}


def tool_use_id(call_id: str) -> str:
    """Anthropic's id form for one of our call ids (`call_…` -> `toolu_…`)."""
    return "toolu_" + call_id.removeprefix("call_")


class MessagesEncoder:
    def __init__(
        self,
        message_id: str,
        model: str,
        input_tokens: int,
        signer: ThinkingSigner,
        *,
        stream: bool = True,
        metrics: bool = False,
    ) -> None:
        self.message_id = message_id
        self.model = model
        self.input_tokens = input_tokens
        self.signer = signer
        self.stream = stream
        self.metrics = metrics
        self.blocks: list[ContentBlock] = []
        self.result: MessageObject | None = None  # set by `end`
        self._open: int | None = None  # index of the block being written
        self._open_key: tuple[str, int] | None = None  # (kind, segment or call index)
        self._errors: list[Any] = []
        self._finish: str | None = None
        self._timings: ChoiceTimings | None = None

    # -- events -----------------------------------------------------------------------------

    def _emit(self, out: list[ServerSentEvent], event: MessagesEvent) -> None:
        if self.stream:
            out.append(sse(event.model_dump_json(), event=event.type))

    def start(self) -> list[ServerSentEvent]:
        out: list[ServerSentEvent] = []
        self._emit(out, MessageStartEvent(message=self._message(content=[], output_tokens=0)))
        return out

    def _open_block(
        self, block: ContentBlock, key: tuple[str, int], out: list[ServerSentEvent]
    ) -> int:
        self._close(out)
        index = len(self.blocks)
        self.blocks.append(block)
        self._open, self._open_key = index, key
        self._emit(out, ContentBlockStartEvent(index=index, content_block=block.model_copy()))
        return index

    def _close(self, out: list[ServerSentEvent]) -> None:
        index = self._open
        if index is None:
            return
        block = self.blocks[index]
        if isinstance(block, ThinkingBlock):
            block.signature = self.signer.sign(block.thinking)
            delta = SignatureDelta(signature=block.signature)
            self._emit(out, ContentBlockDeltaEvent(index=index, delta=delta))
        self._emit(out, ContentBlockStopEvent(index=index))
        self._open = self._open_key = None

    def ops(self, index: int, ops: list[Op]) -> list[ServerSentEvent]:
        """Choice `index`'s ops (a message has one choice)."""
        out: list[ServerSentEvent] = []
        for op in ops:
            if op.call is not None:
                self._call(op, out)
            elif op.op == TEXT:
                key = (op.kind, op.segment)
                if self._open_key != key:
                    block: ContentBlock = (
                        ThinkingBlock(thinking="", signature="")
                        if op.kind == THINK
                        else TextBlock(text="")
                    )
                    self._open_block(block, key, out)
                assert self._open is not None
                current = self.blocks[self._open]
                if isinstance(current, ThinkingBlock):
                    current.thinking += op.text
                    self._emit(
                        out,
                        ContentBlockDeltaEvent(
                            index=self._open, delta=ThinkingDelta(thinking=op.text)
                        ),
                    )
                elif isinstance(current, TextBlock):
                    current.text += op.text
                    self._emit(
                        out, ContentBlockDeltaEvent(index=self._open, delta=TextDelta(text=op.text))
                    )
            elif op.op == END and self._open_key == (op.kind, op.segment):
                self._close(out)
        return out

    def _call(self, op: Op, out: list[ServerSentEvent]) -> None:
        call = op.call
        assert call is not None
        key = ("tool_call", call.index)
        if op.op == CALL_START:
            block = ToolUseBlock(id=tool_use_id(call.id), name=call.name or "", input={})
            self._open_block(block, key, out)
        elif op.op == CALL_ARGS:
            if self._open_key == key and self._open is not None:
                delta = InputJSONDelta(partial_json=op.text)
                self._emit(out, ContentBlockDeltaEvent(index=self._open, delta=delta))
        else:  # the call ended
            if self._open_key == key and self._open is not None:
                started = self.blocks[self._open]
                assert isinstance(started, ToolUseBlock)
                if call.error is None and call.arguments:
                    started.input = json.loads(call.arguments)
                self._close(out)
            if call.error is not None:
                self._errors.append(call_error(call))

    def finish(
        self, index: int, finish_reason: str, timings: ChoiceTimings | None = None
    ) -> list[ServerSentEvent]:
        self._finish = finish_reason
        self._timings = timings
        return []

    def end(self, summary: RunSummary) -> list[ServerSentEvent]:
        out: list[ServerSentEvent] = []
        self._close(out)
        choice = summary.choices[0]
        finish = choice.finish_reason or self._finish or "stop"
        stop_reason = _STOP_REASONS.get(finish, "end_turn")
        output_tokens = summary.usage.completion_tokens if summary.usage is not None else 0
        if summary.usage is not None and summary.usage.prompt_tokens:
            self.input_tokens = summary.usage.prompt_tokens  # a gateway learns them at the end
        extra = self._extensions(summary, choice.timings)
        self.result = self._message(self.blocks, output_tokens, stop_reason, extra)
        delta = MessageDeltaEvent(
            delta=MessageDelta(stop_reason=stop_reason),
            usage=DeltaUsage(output_tokens=output_tokens),
            **extra,
        )
        self._emit(out, delta)
        self._emit(out, MessageStopEvent())
        return out

    def _extensions(self, summary: RunSummary, timings: ChoiceTimings) -> dict[str, Any]:
        extra: dict[str, Any] = {"timings": timings}
        if self.metrics and summary.metrics is not None:
            extra["metrics"] = summary.metrics
        if self._errors:
            extra["tool_call_errors"] = self._errors
        return extra

    def error(self, error: APIError) -> list[ServerSentEvent]:
        out: list[ServerSentEvent] = []
        self._emit(out, error_body(error))
        return out

    def _message(
        self,
        content: list[ContentBlock],
        output_tokens: int,
        stop_reason: StopReason | None = None,
        extra: dict[str, Any] | None = None,
    ) -> MessageObject:
        return MessageObject(
            id=self.message_id,
            model=self.model,
            content=list(content),
            stop_reason=stop_reason,
            usage=MessagesUsage(input_tokens=self.input_tokens, output_tokens=output_tokens),
            **(extra or {}),
        )
