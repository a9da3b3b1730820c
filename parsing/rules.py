"""The format rule (the paper's format reward) and the vocabulary of what can go wrong.

`format_ok` is derived from two sources, both listed in `Transcript.problems`:
  1. anomalies the stream parser recorded while tolerating malformed text (ANOMALIES), and
  2. the structural rule of the format, checked on the finished segments (STRUCTURE_PROBLEMS).
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

from parsing.events import Anomaly, Segment
from parsing.formats import ANSWER, THINK, Format

ANOMALIES: dict[str, str] = {
    "text_outside_tags": "non-whitespace text outside any tag; it opened an implicit answer",
    "missing_open_tag": "a closing tag closed an implicit segment that had no opening tag",
    "open_inside_segment": "an opening tag inside an open segment; it cut that segment off",
    "stray_close_tag": "a closing tag that matches no open segment; it was dropped",
    "empty_segment": "a segment with no non-whitespace text",
    "unclosed_segment": "a segment still open when the response ended",
    "invalid_tool_call": "a tool call whose body is not a valid call (see its error)",
    "unclosed_tool_call": "a tool call still open when the response ended",
}

STRUCTURE_PROBLEMS: dict[str, str] = {
    "no_answer": "no answer segment",
    "does_not_end_with_answer": "the last segment is not an answer",
    "not_alternating": "two segments of the same kind in a row",
    "no_think": "no think segment (think_then_answer)",
    "not_think_then_answer": "not exactly one think segment followed by one answer",
}


def structure_problems(
    segments: Sequence[Segment], fmt: Format, *, ends_with_tool_call: bool = False
) -> list[str]:
    """Codes of the structural rules of `fmt` that `segments` break (empty when none).

    A response that ends with a valid tool call (nothing after it) waits for the tool's result:
    it need not end with, or contain, an answer.
    """
    kinds = [s.kind for s in segments]
    found: list[str] = []
    if ends_with_tool_call:
        if any(a == b for a, b in pairwise(kinds)):
            found.append("not_alternating")
        if fmt.structure == "think_then_answer" and kinds not in ([], [THINK], [THINK, ANSWER]):
            found.append("not_think_then_answer")
        return found
    if fmt.structure == "alternating":
        if ANSWER not in kinds:
            found.append("no_answer")
        elif kinds[-1] != ANSWER:
            found.append("does_not_end_with_answer")
        if any(a == b for a, b in pairwise(kinds)):
            found.append("not_alternating")
    elif fmt.structure == "think_then_answer":
        if kinds != [THINK, ANSWER]:
            if THINK not in kinds:
                found.append("no_think")
            if ANSWER not in kinds:
                found.append("no_answer")
            if not found:
                found.append("not_think_then_answer")
    elif kinds != [ANSWER]:  # answer_only; with no tags there is at most one segment
        found.append("no_answer")
    return found


def problems(
    segments: Sequence[Segment],
    anomalies: Sequence[Anomaly],
    fmt: Format,
    *,
    ends_with_tool_call: bool = False,
) -> tuple[str, ...]:
    """Every reason the response breaks the format: anomaly codes (once each), then structure."""
    codes = list(dict.fromkeys(a.code for a in anomalies))
    structure = structure_problems(segments, fmt, ends_with_tool_call=ends_with_tool_call)
    return (*codes, *structure)
