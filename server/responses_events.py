"""Ops of one choice (see `server.shaping`) → OpenAI Responses API output items and events.

Pure: no I/O, no clock. Each think segment becomes a `reasoning` output item, each answer
segment its own `message` output item:

    response.created, response.in_progress
    reasoning:  output_item.added, content_part.added, reasoning_text.delta…,
                reasoning_text.done, content_part.done, output_item.done
    message:    output_item.added, content_part.added, output_text.delta…,
                output_text.done, content_part.done, … output_item.done (with `phase`)
    response.completed (or response.incomplete when the token budget ran out)

How the last answer is known: an answer's `phase` is "final_answer" when the response ends
with it (no segment follows it) and "commentary" when the model goes on after it. The answer's
text events are sent at once; only its `output_item.done`, which carries the phase, waits until
the next segment starts or the response ends (typically one token later). A response cut off
while thinking after its last answer therefore has no "final_answer" item: the model never
gave one. The non-streaming response applies the same rule, so both describe the same thing.
"""

from __future__ import annotations

from typing import Any

from parsing import ANSWER
from server.shaping import TEXT, Op, dumps


class ResponsesEncoder:
    """Builds the output items of one response and, when streaming, its SSE event lines."""

    def __init__(
        self, response_id: str, created_at: int, model: str, request_fields: dict[str, Any]
    ) -> None:
        self.response_id = response_id
        self.created_at = created_at
        self.model = model
        self.request_fields = request_fields  # echoed in the response object
        self.output: list[dict[str, Any]] = []
        self._by_segment: dict[int, int] = {}  # segment index -> output index
        self._awaiting_phase: int | None = None  # output index of an answer not yet "done"
        self._seq = 0

    # -- events ---------------------------------------------------------------------------------

    def _event(self, type_: str, **fields: Any) -> str:
        fields["type"] = type_
        fields["sequence_number"] = self._seq
        self._seq += 1
        return f"event: {type_}\ndata: {dumps(fields)}\n\n"

    def start(self) -> list[str]:
        snapshot = self.response("in_progress")
        return [
            self._event("response.created", response=snapshot),
            self._event("response.in_progress", response=snapshot),
        ]

    def ops(self, ops: list[Op]) -> list[str]:
        lines: list[str] = []
        for op in ops:
            out_index = self._by_segment.get(op.segment)
            if out_index is None:
                out_index = self._open(op.kind, op.segment, lines)
            item = self.output[out_index]
            part = item["content"][0]
            if op.op == TEXT:
                part["text"] += op.text
                name = (
                    "response.output_text.delta"
                    if op.kind == ANSWER
                    else "response.reasoning_text.delta"
                )
                extra = {"logprobs": []} if op.kind == ANSWER else {}
                lines.append(
                    self._event(
                        name,
                        item_id=item["id"],
                        output_index=out_index,
                        content_index=0,
                        delta=op.text,
                        **extra,
                    )
                )
                continue
            # The segment ended.
            part["text"] = op.text
            item["status"] = "completed" if op.complete else "incomplete"
            if op.kind == ANSWER:
                item["answer"] = op.answer
                text_done = self._event(
                    "response.output_text.done",
                    item_id=item["id"],
                    output_index=out_index,
                    content_index=0,
                    text=op.text,
                    logprobs=[],
                )
            else:
                text_done = self._event(
                    "response.reasoning_text.done",
                    item_id=item["id"],
                    output_index=out_index,
                    content_index=0,
                    text=op.text,
                )
            lines.append(text_done)
            lines.append(
                self._event(
                    "response.content_part.done",
                    item_id=item["id"],
                    output_index=out_index,
                    content_index=0,
                    part=part,
                )
            )
            if op.kind == ANSWER:
                # Its phase is known only when what follows is: the item waits for it.
                self._awaiting_phase = out_index
            else:
                lines.append(
                    self._event("response.output_item.done", output_index=out_index, item=item)
                )
        return lines

    def _open(self, kind: str, segment: int, lines: list[str]) -> int:
        # A new segment after an answer means the model went on: that answer was commentary.
        lines.extend(self._settle_phase("commentary"))
        out_index = len(self.output)
        self._by_segment[segment] = out_index
        if kind == ANSWER:
            item: dict[str, Any] = {
                "id": f"msg_{self.response_id}_{out_index}",
                "type": "message",
                "role": "assistant",
                "status": "in_progress",
                "phase": None,
                "content": [{"type": "output_text", "text": "", "annotations": [], "logprobs": []}],
            }
        else:
            item = {
                "id": f"rs_{self.response_id}_{out_index}",
                "type": "reasoning",
                "summary": [],
                "status": "in_progress",
                "content": [{"type": "reasoning_text", "text": ""}],
            }
        self.output.append(item)
        added = {**item, "content": []}
        lines.append(self._event("response.output_item.added", output_index=out_index, item=added))
        lines.append(
            self._event(
                "response.content_part.added",
                item_id=item["id"],
                output_index=out_index,
                content_index=0,
                part=dict(item["content"][0]),
            )
        )
        return out_index

    def _settle_phase(self, phase: str) -> list[str]:
        if self._awaiting_phase is None:
            return []
        out_index, self._awaiting_phase = self._awaiting_phase, None
        item = self.output[out_index]
        item["phase"] = phase
        return [self._event("response.output_item.done", output_index=out_index, item=item)]

    def finish(
        self,
        finish_reason: str | None,
        usage: dict[str, Any],
        format_ok: bool,
        timings: dict[str, Any] | None = None,
    ) -> list[str]:
        """Close the last answer (final_answer) and send the terminal response event."""
        lines = self._settle_phase("final_answer")
        status = "incomplete" if finish_reason == "length" else "completed"
        final = self.response(status, usage=usage, format_ok=format_ok, timings=timings)
        name = "response.incomplete" if status == "incomplete" else "response.completed"
        lines.append(self._event(name, response=final))
        return lines

    def error(self, message: str, code: str) -> str:
        return self._event("error", code=code, message=message, param=None)

    # -- the response object --------------------------------------------------------------------

    def settle_all(self) -> None:
        """Non-streaming: decide the last answer's phase without emitting events."""
        self._settle_phase("final_answer")

    def response(
        self,
        status: str,
        *,
        usage: dict[str, Any] | None = None,
        format_ok: bool | None = None,
        timings: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.response_id,
            "object": "response",
            "created_at": self.created_at,
            "status": status,
            "model": self.model,
            "output": self.output,
            "parallel_tool_calls": False,
            "tool_choice": "none",
            "tools": [],
            "incomplete_details": {"reason": "max_output_tokens"}
            if status == "incomplete"
            else None,
            "error": None,
            "usage": usage,
            "format_ok": format_ok,
            "timings": timings,
            **self.request_fields,
        }
        return body


def responses_usage(
    prompt_tokens: int, completion_tokens: int, think_tokens: int
) -> dict[str, Any]:
    return {
        "input_tokens": prompt_tokens,
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "output_tokens": completion_tokens,
        "output_tokens_details": {"reasoning_tokens": think_tokens},
        "total_tokens": prompt_tokens + completion_tokens,
    }
