"""The parser's output types: streaming events, finished segments, anomalies, transcripts.

All are frozen dataclasses with slots: immutable (safe to hand to other tasks or threads) and
cheap to build, because one event (a `SegmentDelta`) is created per streamed delta.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from parsing.formats import ANSWER
from parsing.toolcalls import ToolCall

DELTA = "delta"
END = "end"
TOOL_CALL = "tool_call"  # the `kind` of tool call events
CALL_START = "call_start"
CALL_DELTA = "call_delta"
CALL_END = "call_end"


@dataclass(frozen=True, slots=True)
class Event:
    """What the stream parser saw: the base of its event classes, in the manner of h11.

    Every event has `type` (a class constant: "delta" or "end"), `kind` ("think" or "answer"),
    `index` (0-based position of the segment among all segments of the response) and `text`.
    The parser emits only the subclasses below; more may come, each with its own `type`.
    """

    type: ClassVar[str]
    kind: str
    index: int
    text: str


@dataclass(frozen=True, slots=True)
class SegmentDelta(Event):
    """New text of segment `index`: the raw text as it arrived (the segment's leading
    whitespace is never sent; later deltas keep theirs, trailing whitespace included)."""

    type: ClassVar[str] = DELTA


@dataclass(frozen=True, slots=True)
class SegmentEnd(Event):
    """Segment `index` finished. `text` is the whole segment, stripped of surrounding
    whitespace. complete: True when the segment was closed the way the format closes it,
    False when it was cut off (the stream ended, or another tag interrupted it)."""

    type: ClassVar[str] = END
    complete: bool


@dataclass(frozen=True, slots=True)
class ToolCallStart(Event):
    """Tool call `index` (0-based among the response's calls) began and its function name is
    known: `text` is the name. Sent before any of its arguments."""

    type: ClassVar[str] = CALL_START


@dataclass(frozen=True, slots=True)
class ToolCallDelta(Event):
    """More of tool call `index`'s arguments: `text` is the next piece of their JSON text."""

    type: ClassVar[str] = CALL_DELTA


@dataclass(frozen=True, slots=True)
class ToolCallEnd(Event):
    """Tool call `index` finished: `text` is its raw body (stripped), `call` the whole call,
    with `call.error` saying why it is not valid (malformed JSON, no name...). An invalid call
    still ends with this event: it is reported, never dropped."""

    type: ClassVar[str] = CALL_END
    call: ToolCall


@dataclass(frozen=True, slots=True)
class Segment:
    """A finished segment: its kind, its text (stripped) and whether it was properly closed."""

    kind: str
    text: str
    complete: bool


@dataclass(frozen=True, slots=True)
class Anomaly:
    """A malformation the parser tolerated: `code` (see `parsing.rules.ANOMALIES`) and the
    character offset in the response where it was detected."""

    code: str
    offset: int


@dataclass(frozen=True, slots=True)
class Transcript:
    """A whole parsed response.

    problems: every reason the response breaks the format rule, in order of discovery: the
    anomaly codes (each once) followed by structural codes (see `parsing.rules`). Empty means
    the format is followed.

    tool_calls: the tool calls found (only when the parser was given a `ToolCallSyntax`), in
    order, valid or not; they are not segments.
    """

    segments: tuple[Segment, ...]
    anomalies: tuple[Anomaly, ...]
    problems: tuple[str, ...]
    tool_calls: tuple[ToolCall, ...] = ()

    @property
    def answers(self) -> list[str]:
        """Texts of the answer segments, in order (intermediate answers, then the final one)."""
        return [s.text for s in self.segments if s.kind == ANSWER]

    @property
    def final_answer(self) -> str | None:
        """Text of the last answer segment, or None when there is none."""
        for segment in reversed(self.segments):
            if segment.kind == ANSWER:
                return segment.text
        return None

    @property
    def format_ok(self) -> bool:
        """The paper's format reward: True when the response follows the format exactly."""
        return not self.problems
