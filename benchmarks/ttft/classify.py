"""Which streamed token is thinking and which is answer, and when each answer completed.

Three kinds of server, one result (`Timeline`):

- ours: `delta.reasoning` is thinking, `delta.content` is answer text, and a chunk with
  `delta.answer_complete` marks the moment an answer segment completed. Detected by that
  extension (mode "auto"), or forced with mode "ours".
- others with split fields (vLLM with a reasoning parser, DeepSeek, ...): `reasoning` /
  `reasoning_content` is thinking; `content` is run through `parsing.StreamParser`, which
  treats plain text outside tags as answer text.
- others with raw text (vLLM without a reasoning parser): `content` carries the tags, and the
  parser splits it. Answers complete at the chunk in which the parser emitted their "end"
  event; an answer still open when the stream ends completes at the last chunk.

Token unit: one chunk with non-empty reasoning or content is one token. A chunk whose text the
parser turned into no visible text (a tag, or text held back as a possible tag) is a token of
kind "other": it counts toward the output tokens, like the tag tokens it is, but not toward
positions in the text (`text_kinds`), because our server never streams tags: positions counted
over text tokens mean the same for every server.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from benchmarks.ttft.client import Chunk
from parsing import ANSWER, DELTA, END, THINK, StreamParser

OTHER = "other"
MODES = ("auto", "ours", "fields")
KIND_LETTERS = {THINK: "T", ANSWER: "A", OTHER: "O"}


@dataclass
class Answer:
    """One completed answer segment as the client saw it.

    t: seconds since the request was sent, when the chunk completing it arrived.
    server_elapsed_ms / token_offset: what our server reported in `answer_complete`, if any.
    """

    index: int
    t: float
    text: str
    complete: bool
    server_elapsed_ms: float | None = None
    token_offset: int | None = None


@dataclass
class Timeline:
    """The token stream of one response, classified."""

    mode: str
    token_times: list[float] = field(default_factory=list)
    token_kinds: list[str] = field(default_factory=list)
    answers: list[Answer] = field(default_factory=list)

    @property
    def text_kinds(self) -> list[str]:
        """Kinds of the tokens with visible text (think or answer), tags and the like left out."""
        return [k for k in self.token_kinds if k != OTHER]

    @property
    def first_answer_position(self) -> int | None:
        """0-based index of the first answer token among the text tokens, or None."""
        try:
            return self.text_kinds.index(ANSWER)
        except ValueError:
            return None

    def count(self, kind: str) -> int:
        return self.token_kinds.count(kind)

    @property
    def kinds_string(self) -> str:
        """Compact form for JSON: one letter per token (T think, A answer, O other)."""
        return "".join(KIND_LETTERS[k] for k in self.token_kinds)


def classify(chunks: Sequence[Chunk], mode: str = "auto", format: str = "interleaved") -> Timeline:
    if mode not in MODES:
        raise ValueError(f"classify mode must be one of {MODES}, got {mode!r}")
    if mode == "auto":
        mode = "ours" if any(c.answer_complete is not None for c in chunks) else "fields"
    return _ours(chunks) if mode == "ours" else _fields(chunks, format)


def _ours(chunks: Sequence[Chunk]) -> Timeline:
    timeline = Timeline(mode="ours")
    for chunk in chunks:
        if chunk.is_token:
            # A chunk with both fields straddles a think→answer boundary: the user sees answer
            # text in it, so it is the answer token.
            timeline.token_times.append(chunk.t)
            timeline.token_kinds.append(ANSWER if chunk.content else THINK)
        if chunk.answer_complete is not None:
            timeline.answers.append(_server_answer(chunk.answer_complete, chunk.t, timeline))
    return timeline


def _server_answer(info: dict[str, Any], t: float, timeline: Timeline) -> Answer:
    return Answer(
        index=int(info.get("index", len(timeline.answers))),
        t=t,
        text=str(info.get("text", "")),
        complete=bool(info.get("complete", True)),
        server_elapsed_ms=info.get("elapsed_ms"),
        token_offset=info.get("token_offset"),
    )


def _fields(chunks: Sequence[Chunk], format: str) -> Timeline:
    timeline = Timeline(mode="fields")
    parser = StreamParser(format)
    for chunk in chunks:
        kinds: set[str] = set()
        if chunk.reasoning:
            kinds.add(THINK)
        if chunk.content:
            kinds |= _take(parser.feed(chunk.content), chunk.t, timeline)
        if chunk.is_token:
            kind = ANSWER if ANSWER in kinds else THINK if THINK in kinds else OTHER
            timeline.token_times.append(chunk.t)
            timeline.token_kinds.append(kind)
    # The stream's end ends an open answer; it completed when the last event arrived.
    _take(parser.close(), chunks[-1].t if chunks else 0.0, timeline)
    return timeline


def _take(events: Sequence[Any], t: float, timeline: Timeline) -> set[str]:
    """Record answer ends; return the kinds that received visible text."""
    kinds: set[str] = set()
    for event in events:
        if event.type == DELTA and event.text:
            kinds.add(event.kind)
        elif event.type == END and event.kind == ANSWER:
            timeline.answers.append(
                Answer(index=len(timeline.answers), t=t, text=event.text, complete=event.complete)
            )
    return kinds
