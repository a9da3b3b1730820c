"""Tool calls in the stream parser: ordered events wherever a call stands, whatever the chunking.

Properties (hypothesis), on texts built from think / answer segments and tool calls placed
inside think segments, between segments and inside answers, valid or malformed:
- the events, in order, are the segments' text and the calls as they were written;
- every chunking gives the same events (joined per run) and the same transcript as parse();
- a valid call's name comes before its arguments, and its argument fragments join up to its
  final arguments; a malformed call ends with an error, never raises, is never dropped;
- nothing is lost: every non-whitespace character outside tags is in a segment or a call body;
- the held-back text stays a proper prefix of a tag.
"""

from __future__ import annotations

import json
from itertools import pairwise
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from parsing import (
    HERMES,
    INTERLEAVED,
    R1,
    Event,
    Format,
    SegmentDelta,
    SegmentEnd,
    StreamParser,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
    ToolCallSyntax,
    parse,
)

SETTINGS = settings(max_examples=300, deadline=None)

WORDS = st.text(alphabet="abc xyz<>{}\"':,.5é\n", min_size=0, max_size=12)
NAMES = st.sampled_from(["get_weather", "add", "f", "déjà_vu", 'a"b'])
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-5, 500)
    | st.text(alphabet='ab <>{}"\\,:}', max_size=6),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=6,
)
ARGS = st.dictionaries(st.text(alphabet='xyz_<>"', max_size=5), JSON_VALUES, max_size=4)
MALFORMED = st.sampled_from(
    [
        '{"name": "f", "arguments": {"x": 1}',  # cut short
        "not json at all",
        '{"arguments": {"x": 1}}',  # no name
        '{"name": 5, "arguments": {}}',
        '["name", "f"]',
        '{"name": "f", "arguments": [1, 2]}',
        '{"name": "f", "arguments": "not an object"}',
        "",
        '{"name": "f"} trailing',
    ]
)


@st.composite
def call_bodies(draw: st.DrawFn) -> tuple[str, str | None, dict[str, Any] | None]:
    """(body text, name, arguments) of a call; name None for a malformed one."""
    if draw(st.integers(0, 4)) == 0:
        return draw(MALFORMED), None, None
    name = draw(NAMES)
    args = draw(ARGS)
    spacing = draw(st.sampled_from([(", ", ": "), (",", ":"), (",\n  ", ": ")]))
    order = draw(st.booleans())
    dumped = json.dumps(args, separators=spacing, ensure_ascii=draw(st.booleans()))
    parts = [f'"name"{spacing[1]}{json.dumps(name)}', f'"arguments"{spacing[1]}{dumped}']
    if order:
        parts.reverse()
    pad = draw(st.sampled_from(["", " ", "\n"]))
    return pad + "{" + spacing[0].join(parts) + "}" + pad, name, args


@st.composite
def conversations(draw: st.DrawFn) -> tuple[str, list[tuple[Any, ...]]]:
    """A response text and the runs it must give, in order: ("think"|"answer", text) for
    segment text and ("call", name, args) for a call (name None when malformed)."""
    text_parts: list[str] = []
    runs: list[tuple[Any, ...]] = []

    def call() -> None:
        body, name, args = draw(call_bodies())
        text_parts.append(f"<tool_call>{body}</tool_call>")
        runs.append(("call", name, args))

    for _ in range(draw(st.integers(1, 5))):
        choice = draw(st.sampled_from(["think", "answer", "call"]))
        if choice == "call":
            text_parts.append(draw(st.sampled_from(["", " ", "\n"])))
            call()
            continue
        opener, closer = f"<{choice}>", f"</{choice}>"
        text_parts.append(opener)
        pieces = draw(st.lists(WORDS.filter(lambda w: w.strip() and "<" not in w), max_size=3))
        inside_calls = draw(st.lists(st.booleans(), min_size=len(pieces), max_size=len(pieces)))
        if not pieces and draw(st.booleans()):
            call()  # a call in an otherwise empty segment
        for piece, then_call in zip(pieces, inside_calls, strict=True):
            text_parts.append(piece)
            runs.append((choice, piece))
            if then_call:
                call()
        text_parts.append(closer)
    return "".join(text_parts), runs


@st.composite
def chunkings(draw: st.DrawFn, text: str) -> list[str]:
    cuts = sorted(set(draw(st.lists(st.integers(0, len(text)), max_size=40))))
    bounds = [0, *cuts, len(text)]
    return [text[a:b] for a, b in pairwise(bounds)]


def stream(chunks: list[str], fmt: Format = INTERLEAVED, **kw: Any) -> tuple[list[Event], Any]:
    parser = StreamParser(fmt, tool_calls=kw.pop("syntax", HERMES), **kw)
    events: list[Event] = []
    for chunk in chunks:
        events += parser.feed(chunk)
        assert len(parser.pending) < max(len(t) for t in (*fmt.tags(), *HERMES.tags()))
    events += parser.close()
    return events, parser.transcript()


def runs_of(events: list[Event]) -> list[tuple[Any, ...]]:
    """Consecutive text of one segment joined into one run; a call as ("call", name, args)."""
    runs: list[tuple[Any, ...]] = []
    last: tuple[str, int] | None = None
    for event in events:
        if isinstance(event, SegmentDelta):
            if last == (event.kind, event.index) and runs[-1][0] == event.kind:
                runs[-1] = (event.kind, runs[-1][1] + event.text)
            else:
                runs.append((event.kind, event.text))
            last = (event.kind, event.index)
        elif isinstance(event, ToolCallEnd):
            call = event.call
            args = json.loads(call.arguments) if call.valid and call.arguments else None
            runs.append(("call", call.name if call.valid else None, args))
            last = None
    return runs


def squash(runs: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Runs with whitespace-only text dropped and text compared without whitespace; adjacent
    text runs of one kind merged (whitespace between them may or may not be a run)."""
    out: list[tuple[Any, ...]] = []
    for run in runs:
        if run[0] == "call":
            out.append(run)
            continue
        text = "".join(run[1].split())
        if not text:
            continue
        if out and out[-1][0] == run[0]:
            out[-1] = (run[0], out[-1][1] + text)
        else:
            out.append((run[0], text))
    return out


@SETTINGS
@given(st.data())
def test_events_come_in_the_order_written_for_every_chunking(data: st.DataObject) -> None:
    text, expected = data.draw(conversations())
    chunks = data.draw(chunkings(text))
    events, transcript = stream(chunks)
    assert squash(runs_of(events)) == squash(expected)
    whole_events, whole = stream([text])
    assert transcript == whole == parse(text, tool_calls=HERMES)
    assert squash(runs_of(whole_events)) == squash(expected)
    assert len(transcript.tool_calls) == sum(1 for r in expected if r[0] == "call")


@SETTINGS
@given(st.data())
def test_call_events_name_first_then_fragments_that_join_up(data: st.DataObject) -> None:
    text, _ = data.draw(conversations())
    events, transcript = stream(data.draw(chunkings(text)))
    for call in transcript.tool_calls:
        mine = [e for e in events if e.kind == "tool_call" and e.index == call.index]
        assert isinstance(mine[-1], ToolCallEnd) and mine[-1].call == call
        starts = [e for e in mine if isinstance(e, ToolCallStart)]
        fragments = [e.text for e in mine if isinstance(e, ToolCallDelta)]
        if call.valid:
            assert isinstance(mine[0], ToolCallStart) and [e.text for e in starts] == [call.name]
            assert "".join(fragments) == call.arguments
            assert isinstance(json.loads(call.arguments or ""), dict)
        else:
            assert call.error and len(starts) <= 1
            assert "invalid_tool_call" in transcript.problems


@SETTINGS
@given(st.data())
def test_nothing_is_lost(data: st.DataObject) -> None:
    text, _ = data.draw(conversations())
    _, transcript = stream(data.draw(chunkings(text)))
    kept = "".join(s.text for s in transcript.segments) + "".join(
        c.text for c in transcript.tool_calls
    )
    stripped = text
    for tag in (*INTERLEAVED.tags(), *HERMES.tags()):
        stripped = stripped.replace(tag, "")
    assert sorted("".join(kept.split())) == sorted("".join(stripped.split()))


@SETTINGS
@given(st.text(alphabet='<>/tolcah_{}"nme: xthinkswr', max_size=80), st.data())
def test_arbitrary_text_never_raises_and_is_chunking_invariant(
    text: str, data: st.DataObject
) -> None:
    events, transcript = stream(data.draw(chunkings(text)))
    assert transcript == parse(text, tool_calls=HERMES)
    assert all(e.kind in ("think", "answer", "tool_call") for e in events)


def test_a_call_inside_a_think_segment_interrupts_it_and_the_segment_goes_on() -> None:
    text = (
        '<think>I need the weather <tool_call>{"name": "get_weather", "arguments": '
        '{"city": "Paris"}}</tool_call> then I answer</think><answer>Sunny</answer>'
    )
    events, transcript = stream([text[i : i + 3] for i in range(0, len(text), 3)])
    kinds = [(type(e).__name__, e.kind, e.index) for e in events]
    first_call = kinds.index(("ToolCallStart", "tool_call", 0))
    assert all(k[1] == "think" for k in kinds[:first_call])
    after = [k for k in kinds[first_call:] if k[1] != "tool_call"]
    assert after[0] == ("SegmentDelta", "think", 0)  # same segment, same index
    assert [s.kind for s in transcript.segments] == ["think", "answer"]
    assert transcript.segments[0].text == "I need the weather  then I answer"
    (call,) = transcript.tool_calls
    assert (call.name, call.arguments, call.segment, call.after) == (
        "get_weather",
        '{"city": "Paris"}',
        0,
        1,
    )
    assert transcript.format_ok


def test_split_tags_and_one_character_chunks() -> None:
    text = '<think>a</think><tool_call>{"name":"f","arguments":{"x":"</tool"}}</tool_call>'
    events, transcript = stream(list(text))
    assert [c.arguments for c in transcript.tool_calls] == ['{"x":"</tool"}']
    assert "".join(e.text for e in events if isinstance(e, ToolCallDelta)) == '{"x":"</tool"}'
    assert transcript.format_ok  # ends with a valid call: no answer needed


def test_other_tags_inside_a_call_body_are_body_text() -> None:
    text = '<tool_call>{"name": "f", "arguments": {"t": "<think>x</answer>"}}</tool_call>'
    transcript = parse(text, tool_calls=HERMES)
    assert transcript.segments == ()
    assert transcript.tool_calls[0].arguments == '{"t": "<think>x</answer>"}'


def test_malformed_calls_are_reported_not_dropped() -> None:
    text = "<think>x</think><tool_call>{oops}</tool_call><answer>done</answer>"
    events, transcript = stream([text])
    (call,) = transcript.tool_calls
    assert not call.valid and "not valid JSON" in (call.error or "")
    assert call.text == "{oops}"
    assert any(isinstance(e, ToolCallEnd) and e.call.error for e in events)
    assert transcript.answers == ["done"]
    assert "invalid_tool_call" in transcript.problems and not transcript.format_ok


def test_an_unclosed_call_ends_at_close_valid_if_its_body_is() -> None:
    ok = parse('<tool_call>{"name": "f", "arguments": {}}', tool_calls=HERMES)
    assert ok.tool_calls[0].valid and not ok.tool_calls[0].complete
    assert "unclosed_tool_call" in ok.problems
    cut = parse('<tool_call>{"name": "f", "arguments": {"a"', tool_calls=HERMES)
    assert not cut.tool_calls[0].valid and cut.tool_calls[0].name == "f"


def test_where_a_call_may_stand_is_part_of_the_declaration() -> None:
    body = '<tool_call>{"name": "f", "arguments": {}}</tool_call>'
    only_between = ToolCallSyntax(name="between", in_think=False, in_answer=False)
    inside = parse(f"<think>a {body}</think><answer>b</answer>", tool_calls=only_between)
    assert inside.tool_calls == () and body in inside.segments[0].text
    between = parse(f"<think>a</think>{body}", tool_calls=only_between)
    assert [c.name for c in between.tool_calls] == ["f"]
    stray = parse("<answer>x</answer></tool_call>", tool_calls=HERMES)
    assert "stray_close_tag" in stray.problems


def test_a_call_after_the_final_answer_and_text_after_a_call() -> None:
    body = '<tool_call>{"name": "f", "arguments": {}}</tool_call>'
    after_answer = parse(f"<think>a</think><answer>b</answer>{body}", tool_calls=HERMES)
    assert after_answer.format_ok and after_answer.tool_calls[0].after == 2
    went_on = parse(f"<think>a {body} more</think>", tool_calls=HERMES)
    assert "no_answer" in went_on.problems  # text after the call: the waiver is off


def test_r1_calls_after_the_thinking_and_custom_tags() -> None:
    body = '{"name": "f", "arguments": {"q": 1}}'
    r1 = parse(f"thinking</think>\n<tool_call>{body}</tool_call>", R1, tool_calls=HERMES)
    assert [s.kind for s in r1.segments] == ["think"] and r1.format_ok
    custom = ToolCallSyntax(name="fn", open="[CALL]", close="[/CALL]", arguments_key="parameters")
    t = parse(
        '<think>a</think>[CALL]{"name": "g", "parameters": {"z": 2}}[/CALL]', tool_calls=custom
    )
    assert (t.tool_calls[0].name, t.tool_calls[0].arguments) == ("g", '{"z": 2}')


def test_without_a_syntax_the_call_tags_are_text() -> None:
    text = '<answer><tool_call>{"name": "f"}</tool_call></answer>'
    assert parse(text).answers == ['<tool_call>{"name": "f"}</tool_call>']
    assert parse(text).tool_calls == ()


def test_colliding_tags_are_refused() -> None:
    with pytest.raises(ValueError, match="contain each other"):
        StreamParser(
            INTERLEAVED, tool_calls=ToolCallSyntax(name="x", open="<think>c", close="</c>")
        )
    with pytest.raises(ValueError):
        ToolCallSyntax(name="x", open="<c>", close="<c>")


def test_segment_end_events_are_unchanged_by_calls() -> None:
    text = '<think>a<tool_call>{"name": "f", "arguments": {}}</tool_call>b</think>'
    events, _ = stream([text])
    ends = [e for e in events if isinstance(e, SegmentEnd)]
    assert [(e.kind, e.index, e.text, e.complete) for e in ends] == [("think", 0, "ab", True)]
