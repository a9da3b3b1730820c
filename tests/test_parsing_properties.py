"""Property-based tests of the parsing contract (DESIGN.md, "The parsing contract").

- chunking invariance: any split of a text streams to the same transcript and events as parse();
- bounded hold-back: after each feed() only a proper prefix of a tag is held back, and
  everything before it has been emitted;
- losslessness: every non-whitespace character that is not part of a tag is in a segment, in
  order;
- robustness: arbitrary text never raises.
"""

from __future__ import annotations

import re
from collections import defaultdict
from itertools import pairwise

from hypothesis import given, settings
from hypothesis import strategies as st

from parsing import (
    INTERLEAVED,
    NONE,
    R1,
    Event,
    Format,
    SegmentDelta,
    SegmentEnd,
    StreamParser,
    Transcript,
    parse,
)

SETTINGS = settings(max_examples=250, deadline=None)

CUSTOM = Format(
    name="custom",
    think_open="<reasoning>",
    think_close="</reasoning>",
    answer_open="<final>",
    answer_close="</final>",
)
MIXED = Format(
    name="mixed", think_open="[T]", think_close="[/T]", answer_open="<a>", answer_close="</a>"
)

# (format, start_in_think)
CASES: list[tuple[Format, bool]] = [
    (INTERLEAVED, False),
    (INTERLEAVED, True),
    (R1, True),
    (R1, False),
    (NONE, False),
    (CUSTOM, False),
    (MIXED, False),
]

NOISE = ["<", ">", "</", "a < b", "x<y", "<<", "<>", "[", "]", " ", "  ", "\n", "\t", "w", "5", "é"]
# Tags of every preset appear in every format's texts: in other formats they are plain text.
ALL_TAGS = sorted({t for fmt, _ in CASES for t in fmt.tags()})


def nows(text: str) -> str:
    return "".join(text.split())


@st.composite
def texts(draw: st.DrawFn, fmt: Format) -> str:
    tags = fmt.tags()
    partials = [t[:i] for t in tags for i in range(1, len(t))]
    pieces = st.sampled_from([*tags, *ALL_TAGS, *partials, *NOISE])
    parts = draw(st.lists(st.one_of(pieces, pieces, st.text(max_size=4)), max_size=40))
    return "".join(parts)


@st.composite
def chunkings(draw: st.DrawFn, text: str) -> list[str]:
    cuts = sorted(set(draw(st.lists(st.integers(0, len(text)), max_size=30))))
    bounds = [0, *cuts, len(text)]
    return [text[a:b] for a, b in pairwise(bounds)]


def run(chunks: list[str], fmt: Format, start_in_think: bool) -> tuple[list[Event], Transcript]:
    parser = StreamParser(fmt, start_in_think=start_in_think)
    events = [e for chunk in chunks for e in parser.feed(chunk)]
    events += parser.close()
    return events, parser.transcript()


def deltas_by_index(events: list[Event]) -> dict[int, str]:
    joined: dict[int, str] = defaultdict(str)
    for e in events:
        if e.type == "delta":
            joined[e.index] += e.text
    return dict(joined)


def ends(events: list[Event]) -> list[Event]:
    return [e for e in events if e.type == "end"]


case_and_text = st.sampled_from(CASES).flatmap(
    lambda case: st.tuples(st.just(case), texts(case[0]))
)


@SETTINGS
@given(case_and_text, st.data())
def test_any_chunking_gives_the_same_result(
    case_text: tuple[tuple[Format, bool], str], data: st.DataObject
) -> None:
    (fmt, start_in_think), text = case_text
    chunks = data.draw(chunkings(text))
    whole_events, whole = run([text], fmt, start_in_think)
    events, transcript = run(chunks, fmt, start_in_think)
    assert transcript == whole == parse(text, fmt, start_in_think=start_in_think)
    assert ends(events) == ends(whole_events)
    assert deltas_by_index(events) == deltas_by_index(whole_events)
    if transcript.anomalies:
        assert not transcript.format_ok


@SETTINGS
@given(case_and_text)
def test_one_character_at_a_time(case_text: tuple[tuple[Format, bool], str]) -> None:
    (fmt, start_in_think), text = case_text
    events, transcript = run(list(text), fmt, start_in_think)
    whole_events, whole = run([text], fmt, start_in_think)
    assert transcript == whole
    assert ends(events) == ends(whole_events)
    assert deltas_by_index(events) == deltas_by_index(whole_events)


@SETTINGS
@given(case_and_text, st.data())
def test_event_stream_is_consistent(
    case_text: tuple[tuple[Format, bool], str], data: st.DataObject
) -> None:
    (fmt, start_in_think), text = case_text
    events, transcript = run(data.draw(chunkings(text)), fmt, start_in_think)
    index = 0
    deltas: list[str] = []
    for e in events:
        # Segments are sequential: deltas of segment i, then its end, then segment i + 1.
        assert e.index == index
        # One class per event type: a delta carries no `complete`, an end does.
        assert type(e) is (SegmentDelta if e.type == "delta" else SegmentEnd)
        if e.type == "delta":
            assert not hasattr(e, "complete")
            assert e.text
            if not deltas:
                assert e.text == e.text.lstrip()
            deltas.append(e.text)
        else:
            assert e.type == "end"
            assert e.text == "".join(deltas).strip()
            segment = transcript.segments[index]
            assert (e.kind, e.text, e.complete) == (segment.kind, segment.text, segment.complete)
            index += 1
            deltas = []
    assert index == len(transcript.segments)


@SETTINGS
@given(case_and_text, st.data())
def test_hold_back_is_bounded(
    case_text: tuple[tuple[Format, bool], str], data: st.DataObject
) -> None:
    (fmt, start_in_think), text = case_text
    tags = fmt.tags()
    longest = max(map(len, tags), default=0)
    parser = StreamParser(fmt, start_in_think=start_in_think)
    fed = ""
    emitted = ""
    for chunk in data.draw(chunkings(text)):
        fed += chunk
        emitted += "".join(e.text for e in parser.feed(chunk) if e.type == "delta")
        held = parser.pending
        # Only a proper prefix of a tag is held back, so it is shorter than the longest tag...
        assert fed.endswith(held)
        assert held == "" or any(t.startswith(held) and t != held for t in tags)
        assert len(held) < max(longest, 1)
        # ...and everything before it has already been emitted.
        consumed = parse(fed[: len(fed) - len(held)], fmt, start_in_think=start_in_think)
        assert nows(emitted) == nows("".join(s.text for s in consumed.segments))


@SETTINGS
@given(case_and_text)
def test_lossless(case_text: tuple[tuple[Format, bool], str]) -> None:
    (fmt, start_in_think), text = case_text
    transcript = parse(text, fmt, start_in_think=start_in_think)
    tags = fmt.tags()
    content = re.sub("|".join(map(re.escape, tags)), "", text) if tags else text
    assert nows("".join(s.text for s in transcript.segments)) == nows(content)


@SETTINGS
@given(st.sampled_from(CASES), st.text(max_size=300), st.data())
def test_arbitrary_text_never_raises(
    case: tuple[Format, bool], text: str, data: st.DataObject
) -> None:
    fmt, start_in_think = case
    _, transcript = run(data.draw(chunkings(text)), fmt, start_in_think)
    assert transcript == parse(text, fmt, start_in_think=start_in_think)
    assert isinstance(transcript.format_ok, bool)


segment_text = st.text(
    alphabet=st.characters(blacklist_characters="<", blacklist_categories=("Cs",)), min_size=1
).filter(lambda s: s.strip() != "")
blank = st.sampled_from(["", " ", "\n", "\n\n", " \t "])


@SETTINGS
@given(st.lists(st.tuples(st.sampled_from(["think", "answer"]), segment_text, blank, blank)))
def test_well_formed_segments_round_trip(segments: list[tuple[str, str, str, str]]) -> None:
    text = "".join(f"{pad}<{kind}>{pad2}{body}</{kind}>" for kind, body, pad, pad2 in segments)
    transcript = parse(text)
    assert [(s.kind, s.text, s.complete) for s in transcript.segments] == [
        (kind, body.strip(), True) for kind, body, _, _ in segments
    ]
    assert transcript.anomalies == ()
    kinds = [kind for kind, _, _, _ in segments]
    alternates = all(a != b for a, b in pairwise(kinds))
    assert transcript.format_ok == (bool(kinds) and kinds[-1] == "answer" and alternates)
