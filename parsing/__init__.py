"""One definition of the think/answer output format, for the server, training and benchmarks.

Sans-IO and standard-library only: text in, segments and events out.

    >>> t = parse("<think> 2+3? </think> <answer> 5 </answer>")
    >>> t.answers, t.final_answer, t.format_ok
    (['5'], '5', True)

    >>> p = StreamParser()
    >>> [e.type for d in ("<think>a", "</thi", "nk><ans", "wer>5</answer>") for e in p.feed(d)]
    ['delta', 'end', 'delta', 'end']

Streaming
---------
`StreamParser.feed(delta)` returns events (subclasses of `Event`, frozen dataclasses, h11
style): `SegmentDelta(kind, index, text)` with the new text as soon as it is known not to be
part of a tag, and `SegmentEnd(kind, index, text, complete)` with the whole text when a segment
finishes. Every event has `.type` ("delta" or "end"), `.kind`, `.index` and `.text`; only
`SegmentEnd` has `.complete`. Only a suffix that could still be the start of a tag is held
back (`pending`, always shorter than the longest tag), so an intermediate answer is complete the
moment its closing tag arrives. `feed()` costs O(len(delta)); nothing already consumed is
scanned again.

Whitespace: a segment's leading whitespace is never sent; later deltas carry the raw text,
trailing whitespace included. The "end" text, and `Segment.text` in a `Transcript`, is the
concatenation of the segment's deltas with surrounding whitespace stripped. This holds for every
chunking, so `parse(text)` equals streaming `text` cut anywhere (`parse` is implemented by
feeding a `StreamParser`). A segment with no non-whitespace text has no "delta" events, only its
"end" event (text "").

Malformed output
----------------
Parsing never raises on model output. Every tolerated malformation is recorded as an
`Anomaly(code, offset)` in `Transcript.anomalies`, and makes `format_ok` False:

- Text outside tags (`text_outside_tags`): non-whitespace text with no segment open opens an
  implicit *answer* segment. The visible text a model writes outside its reasoning is what it
  means the user to read, and in the `r1` format text after `</think>` *is* the answer; making it
  think would hide it from the user. It ends at the next tag; unless that is `</answer>` it ends
  with `complete=False`. (In formats whose answers have no tags, `r1` and `none`, such text is
  simply the answer, not an anomaly.)
- Missing opening tag (`missing_open_tag`): `x </answer>` with no `<answer>`: `x` was already
  streamed as an implicit answer (also flagged `text_outside_tags`); `</answer>` closes it,
  `complete=True`. A kind cannot change after its text has been streamed, so `x </think>` stays
  an answer and the `</think>` is a stray closing tag. If the prompt ends with `<think>`, say so
  with `start_in_think=True` (the `r1` preset's default).
- Opening tag inside an open segment (`open_inside_segment`): `<think> a <answer> b` ends the
  think segment with `complete=False` and opens the answer; same for `<think> a <think> b`. (With
  `start_in_think`, one `<think>` before any text is taken as the prompt's tag, no anomaly.)
- Stray closing tag (`stray_close_tag`): a closing tag that does not match the open segment, or
  comes with none open, is dropped (it is a tag, not content) and changes nothing else.
- A tag at the very end: a complete opening tag opens a segment that ends empty and unclosed
  (`unclosed_segment`, `empty_segment`); an incomplete tag (`...</ans`) is text after all and is
  flushed into the open segment (or an implicit answer) at `close()`.
- Empty segment (`empty_segment`): `<answer></answer>` or `<answer>  </answer>` still produces a
  segment, with text "", so indices stay aligned with tags and an empty final answer is not
  mistaken for the previous one.
- Unclosed segment at `close()` (`unclosed_segment`): it ends with `complete=False`.
- A 1 MB segment: nothing special; parsing is linear, streamed or whole.

Format rule (`format_ok`, the paper's format reward)
----------------------------------------------------
`Transcript.problems` lists anomaly codes then structural codes; `format_ok` means it is empty.
For `interleaved`: every tag opened and closed, nothing but whitespace outside tags (anomalies),
plus at least one answer, the last segment an answer, no two consecutive segments of one kind.
A response need not start with think: `<answer>5</answer>` alone follows the rule as stated.
For `r1`: exactly one think segment then a non-empty answer. For `none`: a non-empty answer.

Tool calls
----------
`StreamParser(tool_calls=HERMES)` (or any `ToolCallSyntax`) also finds tool calls, by default
`<tool_call>{"name": ..., "arguments": {...}}</tool_call>`, inside think segments, between
segments and inside answers (each place can be turned off). They are not segments: their events
have kind "tool_call" and their own index (0-based among calls), in order among the segment
events: `ToolCallStart` (the name is known), `ToolCallDelta` (argument JSON text as it
arrives), `ToolCallEnd` (the whole `ToolCall`, with `error` set when the body is not a valid
call: reported, never dropped, and an `invalid_tool_call` anomaly). A segment a call interrupts
goes on after it with the same index. A call still open when the response ends is ended there
(`unclosed_tool_call`; valid if its body is). `Transcript.tool_calls` lists them; a response
that ends with a valid call need not end with an answer.

    >>> t = parse('<think>weather?</think><tool_call>{"name": "w", "arguments": {}}</tool_call>',
    ...           tool_calls=HERMES)
    >>> [(c.name, c.arguments) for c in t.tool_calls], t.format_ok
    ([('w', '{}')], True)

Formats
-------
`Format` holds the tag strings; presets `interleaved` (default), `r1` (DeepSeek-R1 / Qwen3:
starts inside `<think>`, answer is the plain text after `</think>`) and `none` (no tags, all
answer); `get_format(name)`. Custom tags: `Format(think_open="<reasoning>", ...)`.
"""

from __future__ import annotations

from parsing.events import (
    CALL_DELTA,
    CALL_END,
    CALL_START,
    DELTA,
    END,
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
from parsing.formats import ANSWER, FORMATS, INTERLEAVED, NONE, R1, THINK, Format, get_format
from parsing.instructions import INTERLEAVED_INSTRUCTION, THINK_ANSWER_INSTRUCTION
from parsing.rules import ANOMALIES, STRUCTURE_PROBLEMS
from parsing.stream import StreamParser
from parsing.toolcalls import (
    HERMES,
    TOOL_CALL_SYNTAXES,
    ToolCall,
    ToolCallSyntax,
    get_tool_call_syntax,
)

__all__ = [
    "ANOMALIES",
    "ANSWER",
    "CALL_DELTA",
    "CALL_END",
    "CALL_START",
    "DELTA",
    "END",
    "FORMATS",
    "HERMES",
    "INTERLEAVED",
    "INTERLEAVED_INSTRUCTION",
    "NONE",
    "R1",
    "STRUCTURE_PROBLEMS",
    "THINK",
    "THINK_ANSWER_INSTRUCTION",
    "TOOL_CALL",
    "TOOL_CALL_SYNTAXES",
    "Anomaly",
    "Event",
    "Format",
    "Segment",
    "SegmentDelta",
    "SegmentEnd",
    "StreamParser",
    "ToolCall",
    "ToolCallDelta",
    "ToolCallEnd",
    "ToolCallStart",
    "ToolCallSyntax",
    "Transcript",
    "get_format",
    "get_tool_call_syntax",
    "parse",
]


def parse(
    text: str,
    format: Format | str = INTERLEAVED,
    *,
    start_in_think: bool | None = None,
    tool_calls: ToolCallSyntax | str | None = None,
) -> Transcript:
    """Parse a whole response. Same result as streaming it through `StreamParser`."""
    parser = StreamParser(format, start_in_think=start_in_think, tool_calls=tool_calls)
    parser.feed(text)
    parser.close()
    return parser.transcript()
