"""The incremental (sans-IO) parser: text deltas in, events out.

Design, in the manner of h11:
  - The state is one small integer (which way the open segment was opened, or none open) plus
    the open segment's kind, index and text parts. What every tag does in every state is the
    data in `_TRANSITIONS`; what the end of the response does is `_AT_END`.
  - The only text ever re-examined is the held-back suffix that could still become a tag
    (fewer characters than the longest tag), so `feed()` costs O(len(delta)) however long the
    response grows.
  - The common delta (inside a segment that already has text, no tag character in it, nothing
    held back) takes a fast path of a substring test, one list append and one event.
"""

from __future__ import annotations

import re

from parsing.events import (
    TOOL_CALL,
    Anomaly,
    Event,
    Segment,
    SegmentDelta,
    SegmentEnd,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
    Transcript,
)
from parsing.formats import ANSWER, INTERLEAVED, THINK, Format, get_format
from parsing.rules import problems
from parsing.toolcalls import (
    ANSWER_CONTEXT,
    BETWEEN_CONTEXT,
    THINK_CONTEXT,
    CallBody,
    ToolCall,
    ToolCallSyntax,
    get_tool_call_syntax,
)

# Parser states: whether a segment is open and how it was opened, because that decides what
# a tag does to it, whether its end is an anomaly and whether it counts as complete.
_OUTSIDE = 0  # no segment open
_TAGGED = 1  # opened by its opening tag
_PROMPT = 2  # a think segment opened by the prompt (start_in_think)
_IMPLICIT = 3  # an answer opened by text outside tags, in a format where answers have tags
_TAGLESS = 4  # a segment of a kind that has no tags (the r1 answer, the none preset)

_OPEN = 0
_CLOSE = 1
_CALL_OPEN = 2  # tool call tags (only with a ToolCallSyntax)
_CALL_CLOSE = 3

# (state, tag role, tag kind == open segment's kind) ->
#     (anomaly to record or None,
#      end the open segment: None = no, else the segment's `complete` flag,
#      open a new segment of the tag's kind)
_Transition = tuple[str | None, bool | None, bool]
_TRANSITIONS: dict[tuple[int, int, bool], _Transition] = {
    (_OUTSIDE, _OPEN, False): (None, None, True),
    (_OUTSIDE, _CLOSE, False): ("stray_close_tag", None, False),
    # An opening tag always wins: the model has moved on, so the open segment is cut off
    # (complete=False) rather than swallowing the new segment's text.
    (_TAGGED, _OPEN, True): ("open_inside_segment", False, True),
    (_TAGGED, _OPEN, False): ("open_inside_segment", False, True),
    (_TAGGED, _CLOSE, True): (None, True, False),
    (_TAGGED, _CLOSE, False): ("stray_close_tag", None, False),
    # (_PROMPT, _OPEN, True) before any text is the opening tag the prompt may or may not have
    # contained; StreamParser._tag accepts it before consulting this table.
    (_PROMPT, _OPEN, True): ("open_inside_segment", False, True),
    (_PROMPT, _OPEN, False): ("open_inside_segment", False, True),
    (_PROMPT, _CLOSE, True): (None, True, False),
    (_PROMPT, _CLOSE, False): ("stray_close_tag", None, False),
    # The implicit answer was already flagged (text_outside_tags) when it opened; a tag after
    # it is where the model got back into the format, so it is not flagged again...
    (_IMPLICIT, _OPEN, True): (None, False, True),
    (_IMPLICIT, _OPEN, False): (None, False, True),
    # ...except the missing-opening-tag case: its closing tag does close it, complete.
    (_IMPLICIT, _CLOSE, True): ("missing_open_tag", True, False),
    (_IMPLICIT, _CLOSE, False): ("stray_close_tag", None, False),
    # A tagless segment (r1 answer) has no closing tag: the next tag ends it, complete.
    (_TAGLESS, _OPEN, True): (None, True, True),
    (_TAGLESS, _OPEN, False): (None, True, True),
    (_TAGLESS, _CLOSE, False): ("stray_close_tag", None, False),
}

# state -> (anomaly or None, complete) for a segment still open when the response ends.
_AT_END: dict[int, tuple[str | None, bool]] = {
    _TAGGED: ("unclosed_segment", False),
    _PROMPT: ("unclosed_segment", False),
    _IMPLICIT: (None, False),  # already flagged as text_outside_tags
    _TAGLESS: (None, True),  # the end of the response is how a tagless segment ends
}


class StreamParser:
    """Parse a response incrementally: `feed()` each text delta, then `close()` once.

    Both return the events the new text produced, in order. After `feed()`, everything except
    a held-back suffix that could still be the start of a tag (`pending`, always shorter than
    the longest tag) has been turned into events. After `close()`, `transcript()` returns the
    same `Transcript` that `parse()` gives for the concatenated deltas, however they were split.

    With `tool_calls` (a `ToolCallSyntax` or a preset name), tool calls are recognised where the
    syntax allows them. A call inside a segment interrupts it: the segment's events stop, the
    call's events (`ToolCallStart`, `ToolCallDelta`..., `ToolCallEnd`) follow, then the same
    segment (same index) goes on. Inside a call body only the closing tag counts; every other
    tag is body text.
    """

    __slots__ = (
        "_anomalies",
        "_call",
        "_call_after",
        "_call_mark",
        "_call_segment",
        "_call_started",
        "_calls",
        "_closed",
        "_holdmax",
        "_index",
        "_kind",
        "_needle",
        "_offset",
        "_parts",
        "_pending",
        "_prefixes",
        "_seg_offset",
        "_segments",
        "_started",
        "_state",
        "_tag_re",
        "_tags",
        "format",
        "tool_calls",
    )

    def __init__(
        self,
        format: Format | str = INTERLEAVED,
        *,
        start_in_think: bool | None = None,
        tool_calls: ToolCallSyntax | str | None = None,
    ) -> None:
        fmt = get_format(format)
        self.format: Format = fmt
        tags: dict[str, tuple[int, str]] = {}
        for kind, opener, closer in (
            (THINK, fmt.think_open, fmt.think_close),
            (ANSWER, fmt.answer_open, fmt.answer_close),
        ):
            if opener is not None and closer is not None:
                tags[opener] = (_OPEN, kind)
                tags[closer] = (_CLOSE, kind)
        syntax = None if tool_calls is None else get_tool_call_syntax(tool_calls)
        self.tool_calls: ToolCallSyntax | None = syntax
        if syntax is not None:
            for tag in fmt.tags():
                for call_tag in syntax.tags():
                    if tag in call_tag or call_tag in tag:
                        raise ValueError(
                            f"tool call tag {call_tag!r} and format tag {tag!r} contain each other"
                        )
            tags[syntax.open] = (_CALL_OPEN, TOOL_CALL)
            tags[syntax.close] = (_CALL_CLOSE, TOOL_CALL)
        self._tags = tags
        # No tag occurs inside another (Format checks it), so leftmost matching finds exactly
        # the tags a whole-text scan would, whatever the chunking.
        self._tag_re = re.compile("|".join(map(re.escape, tags))) if tags else None
        # Proper prefixes of tags: the only suffixes worth holding back.
        self._prefixes = frozenset(t[:i] for t in tags for i in range(1, len(t)))
        self._holdmax = max(map(len, tags), default=1) - 1
        # `_needle` gates the fast path: a delta without it cannot contain the start of a tag.
        # All presets' tags start with "<". With several first characters, "" (found in every
        # delta) sends each delta down the general path; with no tags, any needle is safe.
        firsts = {t[0] for t in tags}
        self._needle = firsts.pop() if len(firsts) == 1 else ("" if firsts else "<")

        self._state = _OUTSIDE
        self._kind = ANSWER
        self._index = -1
        self._parts: list[str] = []
        self._started = False  # the open segment has non-whitespace text, so deltas flow as-is
        self._seg_offset = 0
        self._pending = ""
        self._offset = 0  # characters fed so far, pending included
        self._segments: list[Segment] = []
        self._anomalies: list[Anomaly] = []
        self._closed = False
        # Tool calls: the open call's body reader (None outside calls), where it stands, and
        # whether the segment it interrupted had text (restored when it ends).
        self._call: CallBody | None = None
        self._call_segment: int | None = None
        self._call_after = 0
        self._call_started = False
        self._calls: list[ToolCall] = []
        # (segment index, parts count) at the end of the last call while nothing but
        # whitespace followed it; None once something did (or before any call).
        self._call_mark: tuple[int, int] | None = None
        if fmt.start_in_think if start_in_think is None else start_in_think:
            if fmt.think_open is None:
                raise ValueError(f"format {fmt.name!r} has no think tags to start in")
            self._open(THINK, _PROMPT, 0)

    # -- public surface -------------------------------------------------------------------

    def feed(self, delta: str) -> list[Event]:
        """Consume the next piece of the response; return the events it completes."""
        if self._started and not self._pending and self._needle not in delta and delta:
            # Fast path: plain text continuing a segment that already has text.
            self._offset += len(delta)
            self._parts.append(delta)
            return [SegmentDelta(self._kind, self._index, delta)]
        return self._feed_general(delta)

    def close(self) -> list[Event]:
        """Mark the end of the response: flush held-back text, end the open segment."""
        if self._closed:
            return []
        out: list[Event] = []
        pending = self._pending
        if pending:
            # The response ended inside what looked like a tag: it is text after all.
            self._pending = ""
            self._text(pending, self._offset - len(pending), out)
        if self._call is not None:
            self._end_call(False, self._offset, out)
        if self._state != _OUTSIDE:
            anomaly, complete = _AT_END[self._state]
            if anomaly is not None:
                self._anomalies.append(Anomaly(anomaly, self._offset))
            self._end(complete, out)
        self._closed = True
        return out

    def transcript(self) -> Transcript:
        """The whole parsed response; call after `close()`."""
        if not self._closed:
            raise RuntimeError("transcript() needs close() first")
        segments = tuple(self._segments)
        anomalies = tuple(self._anomalies)
        calls = tuple(self._calls)
        ends_with_call = self._call_mark is not None and calls[-1].valid
        found = problems(segments, anomalies, self.format, ends_with_tool_call=ends_with_call)
        return Transcript(segments, anomalies, found, calls)

    @property
    def pending(self) -> str:
        """The held-back suffix: text that could still be the start of a tag."""
        return self._pending

    @property
    def segments(self) -> tuple[Segment, ...]:
        """Segments finished so far."""
        return tuple(self._segments)

    @property
    def anomalies(self) -> tuple[Anomaly, ...]:
        """Anomalies recorded so far."""
        return tuple(self._anomalies)

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def open_kind(self) -> str | None:
        """Kind of the segment open now ("think" or "answer"), None between segments.

        A segment is open from its opening tag on, before any of its text arrived: what a
        caller that steers generation (the server's reasoning budgets) needs to know.
        """
        return None if self._state == _OUTSIDE else self._kind

    @property
    def in_tool_call(self) -> bool:
        """Whether a tool call's body is being read now (its closing tag not yet seen)."""
        return self._call is not None

    @property
    def calls(self) -> tuple[ToolCall, ...]:
        """Tool calls finished so far."""
        return tuple(self._calls)

    # -- internals ------------------------------------------------------------------------

    def _feed_general(self, delta: str) -> list[Event]:
        if self._closed:
            raise RuntimeError("feed() after close()")
        if not delta:
            return []
        out: list[Event] = []
        pending = self._pending
        text = pending + delta if pending else delta
        base = self._offset - len(pending)  # offset of text[0] in the response
        self._offset += len(delta)
        pos = 0
        if self._tag_re is not None:
            for match in self._tag_re.finditer(text):
                start = match.start()
                if start > pos:
                    self._text(text[pos:start], base + pos, out)
                self._tag(match.group(), base + start, out)
                pos = match.end()
        end = len(text) - self._held(text, pos)
        if end > pos:
            self._text(text[pos:end], base + pos, out)
        self._pending = text[end:]
        return out

    def _held(self, text: str, pos: int) -> int:
        """Length of the longest suffix of text[pos:] that is a proper prefix of a tag."""
        n = len(text)
        i = max(pos, n - self._holdmax)
        prefixes = self._prefixes
        needle = self._needle
        if needle:  # every tag starts with `needle`: only those positions can start one
            i = text.find(needle, i)
            while i >= 0:
                if text[i:] in prefixes:
                    return n - i
                i = text.find(needle, i + 1)
            return 0
        for j in range(i, n):
            if text[j:] in prefixes:
                return n - j
        return 0

    def _text(self, piece: str, offset: int, out: list[Event]) -> None:
        """Route text that is not a tag into the open segment (opening one if needed)."""
        if self._call is not None:
            self._call_text(piece, out)
            return
        if not self._started:
            # A segment's leading whitespace is dropped, and whitespace between segments is
            # allowed by the format, so nothing happens until non-whitespace text arrives.
            stripped = piece.lstrip()
            if not stripped:
                return
            if self._state == _OUTSIDE:
                offset += len(piece) - len(stripped)
                if self.format.tagged(ANSWER):
                    self._anomalies.append(Anomaly("text_outside_tags", offset))
                    self._open(ANSWER, _IMPLICIT, offset)
                else:
                    self._open(ANSWER, _TAGLESS, offset)
            self._started = True
            piece = stripped
        self._parts.append(piece)
        out.append(SegmentDelta(self._kind, self._index, piece))

    def _tag(self, tag: str, offset: int, out: list[Event]) -> None:
        role, kind = self._tags[tag]
        if self._call is not None:
            # Inside a call body only its closing tag counts.
            if role == _CALL_CLOSE:
                self._end_call(True, offset, out)
            else:
                self._call_text(tag, out)
            return
        if role >= _CALL_OPEN:
            self._call_tag(role, tag, offset, out)
            return
        state = self._state
        same = state != _OUTSIDE and kind == self._kind
        if state == _PROMPT and same and role == _OPEN and not self._started:
            self._state = _TAGGED  # the prompt did not contain the opening tag after all
            return
        anomaly, end, opens = _TRANSITIONS[state, role, same]
        if anomaly is not None:
            self._anomalies.append(Anomaly(anomaly, offset))
        if end is not None:
            self._end(end, out)
        if opens:
            self._open(kind, _TAGGED, offset)

    def _call_tag(self, role: int, tag: str, offset: int, out: list[Event]) -> None:
        """A tool call tag outside a call body: where calls are allowed the opening tag opens
        one (the open segment, if any, is interrupted) and a closing tag is stray; elsewhere
        both are text."""
        assert self.tool_calls is not None
        if self._state == _OUTSIDE:
            context = BETWEEN_CONTEXT
        else:
            context = THINK_CONTEXT if self._kind == THINK else ANSWER_CONTEXT
        if not self.tool_calls.allowed(context):
            self._text(tag, offset, out)
            return
        if role == _CALL_CLOSE:
            self._anomalies.append(Anomaly("stray_close_tag", offset))
            return
        self._call = CallBody(self.tool_calls)
        inside = self._state != _OUTSIDE
        self._call_segment = self._index if inside else None
        self._call_after = self._index + 1
        self._call_started = self._started
        self._started = False  # keeps `feed`'s fast path (segment text) away from the body
        self._call_mark = None

    def _call_text(self, piece: str, out: list[Event]) -> None:
        assert self._call is not None
        index = len(self._calls)
        for key, value in self._call.feed(piece):
            out.append((ToolCallStart if key == "name" else ToolCallDelta)(TOOL_CALL, index, value))

    def _end_call(self, complete: bool, offset: int, out: list[Event]) -> None:
        body = self._call
        assert body is not None
        self._call = None
        index = len(self._calls)
        name, arguments, error, last = body.finish()
        for key, value in last:
            out.append((ToolCallStart if key == "name" else ToolCallDelta)(TOOL_CALL, index, value))
        if error is not None:
            self._anomalies.append(Anomaly("invalid_tool_call", offset))
        if not complete:
            self._anomalies.append(Anomaly("unclosed_tool_call", offset))
        call = ToolCall(
            index=index,
            name=name,
            arguments=arguments,
            error=error,
            text=body.text.strip(),
            complete=complete,
            segment=self._call_segment,
            after=self._call_after,
        )
        self._calls.append(call)
        out.append(ToolCallEnd(TOOL_CALL, index, call.text, call))
        self._started = self._call_started
        self._call_mark = (self._index, len(self._parts))

    def _open(self, kind: str, state: int, offset: int) -> None:
        self._call_mark = None  # something follows the last call
        self._index += 1
        self._kind = kind
        self._state = state
        self._started = False
        self._parts = []
        self._seg_offset = offset

    def _end(self, complete: bool, out: list[Event]) -> None:
        mark = self._call_mark
        if mark is not None and mark[0] == self._index:
            # Did the segment that the last call interrupted go on after it?
            self._call_mark = None if "".join(self._parts[mark[1] :]).strip() else (mark[0], 0)
        text = "".join(self._parts).strip()
        if not text:
            self._anomalies.append(Anomaly("empty_segment", self._seg_offset))
        self._segments.append(Segment(self._kind, text, complete))
        out.append(SegmentEnd(self._kind, self._index, text, complete))
        self._state = _OUTSIDE
        self._started = False
        self._parts = []
