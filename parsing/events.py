"""The parser's output types: streaming events, finished segments, anomalies, transcripts.

All are frozen dataclasses with slots: immutable (safe to hand to other tasks or threads) and
cheap to build, because one `Event` is created per streamed delta.
"""

from __future__ import annotations

from dataclasses import dataclass

from parsing.formats import ANSWER

DELTA = "delta"
END = "end"


@dataclass(frozen=True, slots=True)
class Event:
    """One thing the stream parser saw.

    type: "delta" (new text of segment `index`) or "end" (segment `index` finished).
    kind: "think" or "answer".
    index: 0-based position of the segment among all segments of the response.
    text: for "delta", the new raw text (the segment's leading whitespace is never sent);
        for "end", the whole segment text, stripped of surrounding whitespace.
    complete: only meaningful on "end": True when the segment was closed the way the format
        closes it, False when it was cut off (stream ended, or another tag interrupted it).
    """

    type: str
    kind: str
    index: int
    text: str
    complete: bool = False


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
    """

    segments: tuple[Segment, ...]
    anomalies: tuple[Anomaly, ...]
    problems: tuple[str, ...]

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
