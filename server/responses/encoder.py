"""Ops of one choice (see `server.generation.shaping`) → OpenAI Responses API output items and
events.

Pure: no I/O, no clock. The items are the `server.schemas` models (`MessageItem`,
`ReasoningItem`) and every event is one of its `ResponsesEvent` models, serialized once into
an SSE event named by its type. Each think segment becomes a `reasoning` output item, each
answer segment its own `message` output item:

    response.created, response.in_progress
    reasoning:  output_item.added, content_part.added, reasoning_text.delta…,
                reasoning_text.done, content_part.done, output_item.done
    message:    output_item.added, content_part.added, output_text.delta…,
                output_text.done, content_part.done, … output_item.done (with `phase`)
    function_call (a call the model made, with tools): output_item.added (empty arguments),
                function_call_arguments.delta…, function_call_arguments.done, output_item.done
    response.completed (or response.incomplete when the token budget ran out)

Items come in the order the model wrote them: a call inside a think segment splits it into two
reasoning items with the call's item between them. A call the model wrote that is not a valid
call is reported in the response's `tool_call_errors` (our extension); if its item was already
added, it is done with status "incomplete".

How the last answer is known: an answer's `phase` is "final_answer" when the response ends
with it (no segment follows it) and "commentary" when the model goes on after it. The answer's
text events are sent at once; only its `output_item.done`, which carries the phase, waits until
the next segment starts or the response ends (typically one token later). A response cut off
while thinking after its last answer therefore has no "final_answer" item: the model never
gave one. The non-streaming response applies the same rule, so both describe the same thing.
"""

from __future__ import annotations

from typing import Any

from sse_starlette import ServerSentEvent

from parsing import ANSWER
from server.generation.shaping import CALL_ARGS, CALL_START, TEXT, Op, RunSummary, call_error, sse
from server.http.errors import APIError
from server.responses.protocol import (
    FunctionCallArgumentsDelta,
    FunctionCallArgumentsDone,
    FunctionCallItem,
)
from server.schemas import (
    ChoiceTimings,
    ContentPartEvent,
    ErrorEvent,
    MessageItem,
    OutputItemEvent,
    OutputText,
    OutputTextDelta,
    OutputTextDone,
    ReasoningItem,
    ReasoningText,
    ReasoningTextDelta,
    ReasoningTextDone,
    ResponseLifecycleEvent,
    ResponseObject,
    ResponsesEvent,
    ResponsesUsage,
    Usage,
)


class ResponsesEncoder:
    """Builds the output items of one response and, when `stream`, its SSE events.

    The non-streaming route runs the same encoder over the same ops with `stream=False` (no
    events are built) and answers with `result`, the final response object `end` made.
    """

    def __init__(
        self,
        response_id: str,
        created_at: int,
        model: str,
        request_fields: dict[str, Any],
        *,
        stream: bool = True,
        metrics: bool = False,
    ) -> None:
        self.response_id = response_id
        self.metrics = metrics  # vLLM's per-request `metrics` on the final object
        self.created_at = created_at
        self.model = model
        self.request_fields = request_fields  # echoed in the response object
        self.stream = stream
        self.output: list[MessageItem | ReasoningItem | FunctionCallItem] = []
        self._calls: dict[int, int] = {}  # call index -> output index
        self._continued: set[int] = set()  # output indices of segments resumed after a call
        self._interrupted: set[int] = set()  # output indices done early: a call came inside
        self._call_errors: list[Any] = []
        self.result: ResponseObject | None = None  # set by `end`
        self._by_segment: dict[int, int] = {}  # segment index -> output index
        self._awaiting_phase: int | None = None  # output index of an answer not yet "done"
        self._seq = 0

    # -- events ---------------------------------------------------------------------------------

    def _emit(self, out: list[ServerSentEvent], event: type[ResponsesEvent], **fields: Any) -> None:
        """Append one event (serialized now: later changes to the items do not reach it)."""
        if not self.stream:
            return
        model = event(sequence_number=self._seq, **fields)
        self._seq += 1
        # An item's `answer` exists once the answer completed; an item added has none yet.
        unset = {"item": {"answer"}} if getattr(fields.get("item"), "answer", 0) is None else None
        out.append(sse(model.model_dump_json(exclude=unset), event=model.type))

    def start(self) -> list[ServerSentEvent]:
        out: list[ServerSentEvent] = []
        snapshot = self.response("in_progress")
        self._emit(out, ResponseLifecycleEvent, type="response.created", response=snapshot)
        self._emit(out, ResponseLifecycleEvent, type="response.in_progress", response=snapshot)
        return out

    def ops(self, index: int, ops: list[Op]) -> list[ServerSentEvent]:
        """Choice `index`'s ops (a response has one choice)."""
        out: list[ServerSentEvent] = []
        for op in ops:
            if op.call is not None:
                self._call(op, out)
                continue
            out_index = self._by_segment.get(op.segment)
            if op.op != TEXT and out_index in self._interrupted:
                continue  # its item was done when the call interrupted it; nothing followed
            if out_index is None or (out_index != len(self.output) - 1 and op.op == TEXT):
                # A new segment, or one that goes on after a call: a new item.
                if out_index is not None:
                    self._continued.add(len(self.output))
                out_index = self._open(op.kind, op.segment, out)
            item = self.output[out_index]
            assert not isinstance(item, FunctionCallItem)
            part = item.content[0]
            where = {"item_id": item.id, "output_index": out_index, "content_index": 0}
            answer = op.kind == ANSWER
            if op.op == TEXT:
                part.text += op.text
                if answer:
                    self._emit(
                        out,
                        OutputTextDelta,
                        type="response.output_text.delta",
                        delta=op.text,
                        **where,
                    )
                else:
                    self._emit(
                        out,
                        ReasoningTextDelta,
                        type="response.reasoning_text.delta",
                        delta=op.text,
                        **where,
                    )
                continue
            # The segment ended. (An item that continues a segment after a call holds only
            # the text after the call.)
            part.text = part.text.strip() if out_index in self._continued else op.text
            item.status = "completed" if op.complete else "incomplete"
            if isinstance(item, MessageItem):
                item.answer = op.answer
                self._emit(
                    out, OutputTextDone, type="response.output_text.done", text=op.text, **where
                )
            else:
                self._emit(
                    out,
                    ReasoningTextDone,
                    type="response.reasoning_text.done",
                    text=op.text,
                    **where,
                )
            self._emit(out, ContentPartEvent, type="response.content_part.done", part=part, **where)
            if answer:
                # Its phase is known only when what follows is: the item waits for it.
                self._awaiting_phase = out_index
            else:
                self._item_done(out, out_index)
        return out

    def _call(self, op: Op, out: list[ServerSentEvent]) -> None:
        call = op.call
        assert call is not None
        if op.op == CALL_START:
            out.extend(self._settle_phase("commentary"))
            self._close_interrupted(out)
            out_index = len(self.output)
            self._calls[call.index] = out_index
            item = FunctionCallItem(
                id=f"fc_{self.response_id}_{out_index}",
                status="in_progress",
                call_id=call.id,
                name=call.name or "",
                arguments="",
            )
            self.output.append(item)
            self._emit(
                out,
                OutputItemEvent,
                type="response.output_item.added",
                output_index=out_index,
                item=item,
            )
            return
        out_index = self._calls.get(call.index, -1)
        started = self.output[out_index] if out_index >= 0 else None
        if op.op == CALL_ARGS:
            if isinstance(started, FunctionCallItem):
                started.arguments += op.text
                self._emit(
                    out,
                    FunctionCallArgumentsDelta,
                    type="response.function_call_arguments.delta",
                    item_id=started.id,
                    output_index=out_index,
                    delta=op.text,
                )
            return
        if call.error is not None:
            self._call_errors.append(call_error(call))
        if isinstance(started, FunctionCallItem):
            started.status = "completed" if call.error is None else "incomplete"
            if call.error is None:
                started.arguments = call.arguments
            self._emit(
                out,
                FunctionCallArgumentsDone,
                type="response.function_call_arguments.done",
                item_id=started.id,
                output_index=out_index,
                name=started.name,
                arguments=started.arguments,
            )
            self._item_done(out, out_index)

    def _close_interrupted(self, out: list[ServerSentEvent]) -> None:
        """A call inside a segment: the segment's item so far is done (the segment goes on in
        a new item after the call)."""
        if not self.output:
            return
        last = len(self.output) - 1
        item = self.output[last]
        if isinstance(item, FunctionCallItem) or item.status != "in_progress":
            return
        part = item.content[0]
        where = {"item_id": item.id, "output_index": last, "content_index": 0}
        item.status = "completed"
        self._interrupted.add(last)
        if isinstance(item, MessageItem):
            item.phase = "commentary"  # the model went on: a call follows
            self._emit(
                out, OutputTextDone, type="response.output_text.done", text=part.text, **where
            )
        else:
            self._emit(
                out, ReasoningTextDone, type="response.reasoning_text.done", text=part.text, **where
            )
        self._emit(out, ContentPartEvent, type="response.content_part.done", part=part, **where)
        self._item_done(out, last)

    def _item_done(self, out: list[ServerSentEvent], out_index: int) -> None:
        item = self.output[out_index]
        self._emit(
            out,
            OutputItemEvent,
            type="response.output_item.done",
            output_index=out_index,
            item=item,
        )

    def _open(self, kind: str, segment: int, out: list[ServerSentEvent]) -> int:
        # A new segment after an answer means the model went on: that answer was commentary.
        out.extend(self._settle_phase("commentary"))
        out_index = len(self.output)
        self._by_segment[segment] = out_index
        item: MessageItem | ReasoningItem
        if kind == ANSWER:
            item = MessageItem(
                id=f"msg_{self.response_id}_{out_index}",
                status="in_progress",
                phase=None,
                content=[OutputText(text="")],
            )
        else:
            item = ReasoningItem(
                id=f"rs_{self.response_id}_{out_index}",
                status="in_progress",
                content=[ReasoningText(text="")],
            )
        self.output.append(item)
        self._emit(
            out,
            OutputItemEvent,
            type="response.output_item.added",
            output_index=out_index,
            item=item.model_copy(update={"content": []}),
        )
        self._emit(
            out,
            ContentPartEvent,
            type="response.content_part.added",
            item_id=item.id,
            output_index=out_index,
            content_index=0,
            part=item.content[0],
        )
        return out_index

    def _settle_phase(self, phase: str) -> list[ServerSentEvent]:
        if self._awaiting_phase is None:
            return []
        out_index, self._awaiting_phase = self._awaiting_phase, None
        item = self.output[out_index]
        assert isinstance(item, MessageItem)
        item.phase = phase  # type: ignore[assignment]  # "commentary" or "final_answer"
        out: list[ServerSentEvent] = []
        self._item_done(out, out_index)
        return out

    def finish(
        self, index: int, finish_reason: str, timings: ChoiceTimings | None = None
    ) -> list[ServerSentEvent]:
        """A choice finished: nothing to send yet (the terminal event carries it)."""
        return []

    def end(self, summary: RunSummary) -> list[ServerSentEvent]:
        """Close the last answer (final_answer) and send the terminal response event; the
        final response object is kept in `result`."""
        out = self._settle_phase("final_answer")
        choice = summary.choices[0]
        status = "incomplete" if choice.finish_reason == "length" else "completed"
        usage = responses_usage(summary.usage) if summary.usage is not None else None
        extra: dict[str, Any] = {}
        if self._call_errors:
            extra["tool_call_errors"] = self._call_errors
        if self.metrics and summary.metrics is not None:
            extra["metrics"] = summary.metrics
        final = self.response(
            status, usage=usage, format_ok=choice.format_ok, timings=choice.timings, **extra
        )
        self.result = final
        name = "response.incomplete" if status == "incomplete" else "response.completed"
        self._emit(out, ResponseLifecycleEvent, type=name, response=final)
        return out

    def error(self, error: APIError) -> list[ServerSentEvent]:
        out: list[ServerSentEvent] = []
        self._emit(
            out,
            ErrorEvent,
            type="error",
            code=error.code or "error",
            message=error.message,
            param=None,
        )
        return out

    # -- the response object --------------------------------------------------------------------

    def response(
        self,
        status: str,
        *,
        usage: ResponsesUsage | None = None,
        format_ok: bool | None = None,
        timings: ChoiceTimings | None = None,
        **extra: Any,
    ) -> ResponseObject:
        fields: dict[str, Any] = {"parallel_tool_calls": False, "tool_choice": "none", "tools": []}
        fields.update(self.request_fields)
        return ResponseObject(
            id=self.response_id,
            object="response",
            created_at=self.created_at,
            status=status,  # one of ResponseObject's statuses
            model=self.model,
            output=self.output,
            incomplete_details={"reason": "max_output_tokens"} if status == "incomplete" else None,
            error=None,
            usage=usage,
            format_ok=format_ok,
            timings=timings,
            **fields,
            **extra,
        )


def responses_usage(usage: Usage) -> ResponsesUsage:
    """The chat usage of a run, in the Responses API's words."""
    return ResponsesUsage(
        input_tokens=usage.prompt_tokens,
        input_tokens_details={"cached_tokens": 0, "cache_write_tokens": 0},
        output_tokens=usage.completion_tokens,
        output_tokens_details={
            "reasoning_tokens": usage.completion_tokens_details.reasoning_tokens
        },
        total_tokens=usage.total_tokens,
    )
