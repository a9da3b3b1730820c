"""Unit tests for `parsing`: exact segments, events and anomalies for every documented policy.

The property-based tests (chunking invariance, hold-back, losslessness) are in
tests/test_parsing_properties.py.
"""

from __future__ import annotations

import ast
import dataclasses
import sys
from pathlib import Path

import pytest

import parsing
from parsing import (
    DELTA,
    END,
    INTERLEAVED,
    INTERLEAVED_INSTRUCTION,
    NONE,
    R1,
    THINK_ANSWER_INSTRUCTION,
    Anomaly,
    Event,
    Format,
    Segment,
    SegmentDelta,
    SegmentEnd,
    StreamParser,
    get_format,
    parse,
)


def think(text: str, complete: bool = True) -> Segment:
    return Segment("think", text, complete)


def answer(text: str, complete: bool = True) -> Segment:
    return Segment("answer", text, complete)


def codes(text: str, fmt: Format | str = INTERLEAVED, **kwargs: bool) -> list[str]:
    return [a.code for a in parse(text, fmt, **kwargs).anomalies]


def stream(chunks: list[str], fmt: Format | str = INTERLEAVED, **kwargs: bool) -> list[Event]:
    parser = StreamParser(fmt, **kwargs)
    events = [e for chunk in chunks for e in parser.feed(chunk)]
    return events + parser.close()


# -- well-formed responses --------------------------------------------------------------------


def test_well_formed_interleaved() -> None:
    t = parse("<think> 2+3? </think>\n<answer> 5 </answer> <think>check</think><answer>5</answer>")
    assert t.segments == (think("2+3?"), answer("5"), think("check"), answer("5"))
    assert t.answers == ["5", "5"]
    assert t.final_answer == "5"
    assert t.anomalies == ()
    assert t.problems == ()
    assert t.format_ok


def test_answer_alone_follows_the_rule() -> None:
    # The rule is "alternate, at least one answer, end with an answer"; a lone answer does.
    assert parse("<answer>5</answer>").format_ok


def test_empty_response() -> None:
    t = parse("")
    assert t.segments == ()
    assert t.answers == []
    assert t.final_answer is None
    assert t.problems == ("no_answer",)
    assert not t.format_ok


def test_whitespace_only_response() -> None:
    t = parse(" \n\t ")
    assert t.segments == ()
    assert t.anomalies == ()
    assert not t.format_ok


def test_exact_event_stream_with_tags_split_across_deltas() -> None:
    parser = StreamParser()
    assert parser.feed("<think>a") == [SegmentDelta("think", 0, "a")]
    assert parser.feed("</thi") == []
    assert parser.pending == "</thi"
    assert parser.feed("nk><ans") == [SegmentEnd("think", 0, "a", True)]
    assert parser.pending == "<ans"
    assert parser.feed("wer> 5 ") == [SegmentDelta("answer", 1, "5 ")]
    assert parser.feed("</answer>") == [SegmentEnd("answer", 1, "5", True)]
    assert parser.close() == []
    assert parser.transcript() == parse("<think>a</think><answer> 5 </answer>")


def test_whitespace_policy_deltas_raw_end_stripped() -> None:
    events = stream(["<answer>", "  ", " a", " b ", "\n", "</answer>"])
    assert events == [
        SegmentDelta("answer", 0, "a"),  # leading whitespace of a segment is never sent
        SegmentDelta("answer", 0, " b "),
        SegmentDelta("answer", 0, "\n"),  # trailing whitespace flows as it comes
        SegmentEnd("answer", 0, "a b", True),  # end text is stripped
    ]


def test_lt_that_is_not_a_tag_is_not_held_back() -> None:
    parser = StreamParser()
    parser.feed("<answer>x")
    assert parser.feed(" a < b") == [SegmentDelta("answer", 0, " a < b")]
    assert parser.pending == ""
    assert parser.feed(" <") == [SegmentDelta("answer", 0, " ")]
    assert parser.pending == "<"
    assert parser.feed("=") == [SegmentDelta("answer", 0, "<=")]


def test_end_event_carries_complete_flag() -> None:
    events = stream(["<think>a"])
    assert events[-1] == SegmentEnd("think", 0, "a", False)


# -- malformed responses: one test per policy ------------------------------------------------


def test_text_outside_tags_opens_implicit_answer() -> None:
    t = parse("hello <think>a</think><answer>b</answer>")
    assert t.segments == (answer("hello", complete=False), think("a"), answer("b"))
    assert t.anomalies == (Anomaly("text_outside_tags", 0),)
    assert not t.format_ok


def test_text_after_final_answer() -> None:
    t = parse("<think>a</think><answer>b</answer> trailing")
    assert t.segments == (think("a"), answer("b"), answer("trailing", complete=False))
    assert t.anomalies == (Anomaly("text_outside_tags", 35),)
    assert t.final_answer == "trailing"
    assert not t.format_ok


def test_answer_without_tags_after_think_in_interleaved() -> None:
    t = parse("<think>a</think> 42")
    assert t.segments == (think("a"), answer("42", complete=False))
    assert codes("<think>a</think> 42") == ["text_outside_tags"]
    assert not t.format_ok


def test_whitespace_outside_tags_is_allowed() -> None:
    t = parse("\n <think>a</think>\n\n <answer>b</answer>\n ")
    assert t.format_ok


def test_missing_opening_tag_closes_implicit_answer() -> None:
    t = parse("<think>a</think> b </answer>")
    assert t.segments == (think("a"), answer("b"))
    assert t.anomalies == (Anomaly("text_outside_tags", 17), Anomaly("missing_open_tag", 19))
    assert not t.format_ok


def test_missing_opening_think_tag_is_stray() -> None:
    # Already streamed as an answer, the text cannot become think; the close tag is stray.
    t = parse("reasoning </think> <answer>5</answer>")
    assert t.segments == (answer("reasoning", complete=False), answer("5"))
    assert codes("reasoning </think> <answer>5</answer>") == [
        "text_outside_tags",
        "stray_close_tag",
    ]
    assert not t.format_ok


def test_start_in_think_for_prompt_that_ends_with_think_tag() -> None:
    t = parse("reasoning </think> <answer>5</answer>", start_in_think=True)
    assert t.segments == (think("reasoning"), answer("5"))
    assert t.format_ok


def test_opening_tag_inside_open_segment_cuts_it_off() -> None:
    t = parse("<think> a <answer> b </answer>")
    assert t.segments == (think("a", complete=False), answer("b"))
    assert t.anomalies == (Anomaly("open_inside_segment", 10),)
    assert not t.format_ok


def test_same_kind_opening_tag_inside_open_segment() -> None:
    t = parse("<think>a<think>b</think><answer>c</answer>")
    assert t.segments == (think("a", complete=False), think("b"), answer("c"))
    assert codes("<think>a<think>b</think><answer>c</answer>") == ["open_inside_segment"]
    assert t.problems == ("open_inside_segment", "not_alternating")


def test_stray_closing_tag_inside_segment_is_dropped() -> None:
    t = parse("<think>a</answer>b</think><answer>c</answer>")
    assert t.segments == (think("ab"), answer("c"))
    assert t.anomalies == (Anomaly("stray_close_tag", 8),)
    assert not t.format_ok


def test_stray_closing_tag_outside_is_dropped() -> None:
    t = parse("</think><answer>x</answer></answer>")
    assert t.segments == (answer("x"),)
    assert t.anomalies == (Anomaly("stray_close_tag", 0), Anomaly("stray_close_tag", 26))
    assert not t.format_ok


def test_opening_tag_at_the_very_end() -> None:
    t = parse("<think>a</think><answer>")
    assert t.segments == (think("a"), answer("", complete=False))
    assert t.anomalies == (Anomaly("unclosed_segment", 24), Anomaly("empty_segment", 16))
    assert t.final_answer == ""
    assert not t.format_ok


def test_partial_tag_at_the_very_end_is_text() -> None:
    parser = StreamParser()
    events = parser.feed("<think>a</think><answer>b</ans")
    assert parser.pending == "</ans"
    assert events[-1] == SegmentDelta("answer", 1, "b")
    assert parser.close() == [
        SegmentDelta("answer", 1, "</ans"),
        SegmentEnd("answer", 1, "b</ans", False),
    ]
    assert parser.transcript().segments == (think("a"), answer("b</ans", complete=False))
    assert [a.code for a in parser.transcript().anomalies] == ["unclosed_segment"]


def test_lone_lt_at_the_very_end_is_text_outside() -> None:
    t = parse("<think>a</think><answer>b</answer><")
    assert t.segments == (think("a"), answer("b"), answer("<", complete=False))
    assert codes("<think>a</think><answer>b</answer><") == ["text_outside_tags"]


@pytest.mark.parametrize("body", ["", "  ", "\n\t "])
def test_empty_segment_produces_a_segment(body: str) -> None:
    t = parse(f"<think>a</think><answer>{body}</answer>")
    assert t.segments == (think("a"), answer(""))
    assert t.anomalies == (Anomaly("empty_segment", 16),)
    assert t.answers == [""]
    assert t.final_answer == ""
    assert not t.format_ok


def test_empty_segment_streams_only_an_end_event() -> None:
    assert stream(["<think>", " ", "</think>"]) == [SegmentEnd("think", 0, "", True)]


def test_unclosed_segment_at_close() -> None:
    t = parse("<think>a</think><answer>partial")
    assert t.segments == (think("a"), answer("partial", complete=False))
    assert t.anomalies == (Anomaly("unclosed_segment", 31),)
    assert t.final_answer == "partial"
    assert not t.format_ok


def test_structure_not_alternating() -> None:
    t = parse("<answer>a</answer><answer>b</answer>")
    assert t.anomalies == ()
    assert t.problems == ("not_alternating",)


def test_structure_does_not_end_with_answer() -> None:
    t = parse("<think>a</think><answer>b</answer><think>c</think>")
    assert t.problems == ("does_not_end_with_answer",)


def test_structure_no_answer() -> None:
    assert parse("<think>a</think>").problems == ("no_answer",)


def test_one_megabyte_segment_whole_and_streamed() -> None:
    body = "x < y; a<b " * 100_000  # about 1.1 MB, full of "<" that are not tags
    text = f"<think>{body}</think><answer>1</answer>"
    t = parse(text)
    assert t.segments == (think(body.strip()), answer("1"))
    assert t.format_ok
    parser = StreamParser()
    step = 997  # odd step so tags straddle chunk boundaries
    for i in range(0, len(text), step):
        parser.feed(text[i : i + step])
    parser.close()
    assert parser.transcript() == t


def test_one_megabyte_unclosed_segment() -> None:
    t = parse("<answer>" + "y" * 1_000_000)
    assert t.segments == (answer("y" * 1_000_000, complete=False),)
    assert not t.format_ok


# -- StreamParser lifecycle -------------------------------------------------------------------


def test_empty_delta_is_harmless() -> None:
    parser = StreamParser()
    assert parser.feed("") == []
    parser.feed("<answer>a")
    assert parser.feed("") == []
    assert parser.close()[-1] == SegmentEnd("answer", 0, "a", False)


def test_feed_after_close_raises() -> None:
    parser = StreamParser()
    parser.close()
    with pytest.raises(RuntimeError):
        parser.feed("x")


def test_close_is_idempotent() -> None:
    parser = StreamParser()
    parser.feed("<answer>a")
    assert parser.close() != []
    assert parser.close() == []
    assert parser.closed


def test_transcript_needs_close() -> None:
    with pytest.raises(RuntimeError):
        StreamParser().transcript()


def test_segments_and_anomalies_so_far() -> None:
    parser = StreamParser()
    parser.feed("</answer><think>a</think><ans")
    assert parser.segments == (think("a"),)
    assert parser.anomalies == (Anomaly("stray_close_tag", 0),)


def test_events_and_segments_are_frozen_with_slots() -> None:
    for cls in (Event, SegmentDelta, SegmentEnd, Segment, Anomaly, parsing.Transcript, Format):
        assert dataclasses.is_dataclass(cls)
        assert "__slots__" in cls.__dict__
    for event in (SegmentDelta("think", 0, "a"), SegmentEnd("think", 0, "a", True)):
        with pytest.raises(dataclasses.FrozenInstanceError):
            event.text = "b"  # type: ignore[misc]
        # No stray attributes either (Python 3.11's frozen slots classes raise TypeError here).
        with pytest.raises((AttributeError, TypeError)):
            event.extra = 1  # type: ignore[attr-defined]


def test_event_classes_h11_style() -> None:
    """One class per event type; each has the contract's type, kind, index and text, and
    `complete` exists only where it means something (the end of a segment)."""
    events = stream(["<think>a</think><answer>5"])
    assert [type(e) for e in events] == [SegmentDelta, SegmentEnd, SegmentDelta, SegmentEnd]
    for event in events:
        assert isinstance(event, Event)  # the base: `list[Event]` keeps describing them
        assert event.type in (DELTA, END) and event.type == type(event).type
        assert (event.kind, event.index) in {("think", 0), ("answer", 1)}
        assert isinstance(event.text, str)
    assert (SegmentDelta.type, SegmentEnd.type) == ("delta", "end")
    assert not hasattr(events[0], "complete")
    assert (events[1].complete, events[3].complete) == (True, False)
    assert [f.name for f in dataclasses.fields(SegmentDelta)] == ["kind", "index", "text"]
    assert [f.name for f in dataclasses.fields(SegmentEnd)] == ["kind", "index", "text", "complete"]
    # Equal only to the same event: a delta and an end with the same text differ.
    assert SegmentDelta("answer", 1, "5") != SegmentEnd("answer", 1, "5", True)
    assert SegmentEnd("answer", 1, "5", True) == SegmentEnd("answer", 1, "5", True)
    match events[1]:
        case SegmentEnd(kind="think", text="a", complete=True) as matched:
            assert matched is events[1]
        case _:
            pytest.fail("pattern matching on event classes")


# -- presets and custom formats ---------------------------------------------------------------


def test_r1_starts_inside_think() -> None:
    t = parse("Let me add.\n</think>\n\nThe answer is 5.", "r1")
    assert t.segments == (think("Let me add."), answer("The answer is 5."))
    assert t.format_ok


def test_r1_accepts_the_opening_tag_when_the_model_writes_it() -> None:
    t = parse("\n<think>\nLet me add.</think>5", R1)
    assert t.segments == (think("Let me add."), answer("5"))
    assert t.anomalies == ()
    assert t.format_ok


def test_r1_streams_answer_as_plain_text() -> None:
    events = stream(["a</thi", "nk>", "\n\n5", " apples"], "r1")
    assert events == [
        SegmentDelta("think", 0, "a"),
        SegmentEnd("think", 0, "a", True),
        SegmentDelta("answer", 1, "5"),
        SegmentDelta("answer", 1, " apples"),
        SegmentEnd("answer", 1, "5 apples", True),
    ]


def test_r1_answer_tags_are_plain_text() -> None:
    t = parse("a</think><answer>5</answer>", "r1")
    assert t.segments == (think("a"), answer("<answer>5</answer>"))
    assert t.format_ok


def test_r1_unclosed_think() -> None:
    t = parse("still thinking", "r1")
    assert t.segments == (think("still thinking", complete=False),)
    assert t.problems == ("unclosed_segment", "no_answer")


def test_r1_empty_answer() -> None:
    t = parse("a</think>  \n", "r1")
    assert t.segments == (think("a"),)
    assert t.problems == ("no_answer",)


def test_r1_empty_think_is_an_empty_segment() -> None:
    t = parse("\n\n</think>\n\n5", "r1")
    assert t.segments == (think(""), answer("5"))
    assert t.problems == ("empty_segment",)


def test_r1_second_think_block() -> None:
    t = parse("a</think>b<think>c</think>d", "r1")
    assert t.segments == (think("a"), answer("b"), think("c"), answer("d"))
    assert t.anomalies == ()
    assert t.problems == ("not_think_then_answer",)


def test_r1_without_start_in_think() -> None:
    assert parse("<think>a</think>b", "r1", start_in_think=False).format_ok
    t = parse("just an answer", "r1", start_in_think=False)
    assert t.segments == (answer("just an answer"),)
    assert t.anomalies == ()
    assert t.problems == ("no_think",)


def test_r1_answer_close_tag_is_text_in_think() -> None:
    assert parse("a</answer></think>b", "r1").segments == (think("a</answer>"), answer("b"))


def test_none_preset_is_all_answer() -> None:
    t = parse(" <think>x</think> <answer>y</answer> ", "none")
    assert t.segments == (answer("<think>x</think> <answer>y</answer>"),)
    assert t.format_ok
    assert parse("  ", NONE).problems == ("no_answer",)
    events = stream(["a", "<", "b"], "none")
    assert "".join(e.text for e in events if e.type == "delta") == "a<b"


def test_custom_tags() -> None:
    fmt = Format(
        think_open="<reasoning>",
        think_close="</reasoning>",
        answer_open="<final>",
        answer_close="</final>",
    )
    text = "<reasoning>r</reasoning><final>f</final><think>x</think>"
    t = parse(text, fmt)
    assert t.segments == (think("r"), answer("f"), answer("<think>x</think>", complete=False))
    assert codes(text, fmt) == ["text_outside_tags"]
    events = stream(["<reas", "oning>r</re", "asoning><fin", "al>f</final>"], fmt)
    assert [(e.type, e.kind, e.text) for e in events] == [
        ("delta", "think", "r"),
        ("end", "think", "r"),
        ("delta", "answer", "f"),
        ("end", "answer", "f"),
    ]


def test_custom_tags_with_different_first_characters() -> None:
    fmt = Format(think_open="[T]", think_close="[/T]", answer_open="<a>", answer_close="</a>")
    t = parse("[T]x[/T]<a>y</a>", fmt)
    assert t.segments == (think("x"), answer("y"))
    assert t.format_ok
    parser = StreamParser(fmt)
    parser.feed("[T]x[")
    assert parser.pending == "["


def test_custom_r1_style_format() -> None:
    fmt = dataclasses.replace(R1, name="r1-reasoning", think_open="<r>", think_close="</r>")
    assert parse("x</r>y", fmt).segments == (think("x"), answer("y"))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"think_open": None},
        {"answer_close": ""},
        {"think_open": "<a>", "think_close": "<a>"},
        {"think_open": "<t>", "answer_open": "<t>x"},  # a tag inside another tag
        {"structure": "freeform"},
        {"think_open": None, "think_close": None, "start_in_think": True},
    ],
)
def test_invalid_formats_are_rejected(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        Format(**kwargs)  # type: ignore[arg-type]


def test_get_format() -> None:
    assert get_format("interleaved") is INTERLEAVED
    assert get_format("r1") is R1
    assert get_format("none") is NONE
    assert get_format(R1) is R1
    with pytest.raises(ValueError, match="unknown format"):
        get_format("xml")


def test_start_in_think_needs_think_tags() -> None:
    with pytest.raises(ValueError):
        StreamParser("none", start_in_think=True)


# -- package hygiene --------------------------------------------------------------------------


def test_instructions_are_reexported() -> None:
    assert "<think>" in INTERLEAVED_INSTRUCTION
    assert "<answer>" in THINK_ANSWER_INSTRUCTION


def test_every_code_is_documented() -> None:
    doc = parsing.__doc__ or ""
    for code in parsing.ANOMALIES:
        assert f"`{code}`" in doc


def test_parsing_imports_only_the_standard_library() -> None:
    package = Path(parsing.__file__).parent
    for path in package.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                assert top == "parsing" or top in sys.stdlib_module_names, (path, name)
