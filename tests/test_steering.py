"""Budget steering (`server.generation.steering`) on its own: no engine, no HTTP.

A `Reply` drives one choice as `server.generation.run.Run` does: each output's text goes through
the steering into a real `ChoiceShaper`, then the steering decides. Each scenario asserts what
the steering did (text held, cut or dropped, tags inserted, answers marked, the prefix a
continuation starts from) and returns the (phase, event) pairs it went through; the last test
checks that together they take every transition of `TABLE`. The same behaviour end to end, with
exact token counts, is in test_server_budgets_app.py and test_server_prefill.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from parsing import get_format
from server.backends.base import GenerationParams
from server.generation.budgets import (
    ARRIVAL_KEY,
    BUDGET_KEY,
    MAX_FORCED_CLOSES,
    OPENING_KEY,
    ReasoningBudget,
)
from server.generation.shaping import ChoiceShaper, Op
from server.generation.steering import TABLE, Action, Event, Phase, Steering

T0 = 1000.0  # the request's arrival on the monotonic clock

Pair = tuple[Phase, Event]


class Recording(Steering):
    """The steering, noting each (phase, event) it went through."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.taken: list[Pair] = []

    def _on(self, event: Event) -> Action:
        self.taken.append((self.phase, event))
        return super()._on(event)


class Reply:
    """Choice 0 of a run: output in, through the steering, into its shaper."""

    def __init__(self, fmt: str = "interleaved", in_engine: bool = False, **budget: Any) -> None:
        self.shaper = ChoiceShaper(fmt, T0)
        self.steering = Recording(
            ReasoningBudget(**budget), self.shaper, get_format(fmt), T0, in_engine
        )
        self.now = T0
        self.parsed = ""  # what the parser was given

    def write(self, text: str, tokens: int = 1, finish: str | None = None) -> str:
        passed = self.steering.text(text, finish is not None)
        self.parsed += passed
        self.shaper.feed(passed, tokens, self.now)
        if finish is not None:
            self.shaper.close(self.now, finish)
        return passed

    def step(self, text: str, tokens: int = 1, finish: str | None = None) -> list[Op] | None:
        """One output and the decision after it."""
        self.write(text, tokens, finish)
        return self.steering.after_output(self.now)

    @property
    def phase(self) -> Phase:
        return self.steering.phase

    def reasons(self) -> list[str]:
        return [f.reason for f in self.shaper.forced]

    def think(self, words: int) -> None:
        """Think `words` tokens after the opening tag, with no decision firing."""
        for _ in range(words):
            assert self.step(" hmm") is None, self.reasons()


def answer_texts(ops: list[Op]) -> list[str]:
    return [op.text for op in ops if op.kind == "answer"]


# -- scenarios -----------------------------------------------------------------------------------


def no_budget() -> list[Pair]:
    reply = Reply()
    assert reply.phase is Phase.OFF
    reply.steering.start(T0)
    assert (
        reply.step("<think>") is None and reply.write("x</think><answer>1") == "x</think><answer>1"
    )
    assert reply.step("</answer><think>", finish="stop") is None
    assert reply.steering.prefix == "" and reply.reasons() == []
    params = GenerationParams()
    assert reply.steering.engine_params(params, "", 0) is params
    return reply.steering.taken


def segment_cap_inside_thinking() -> list[Pair]:
    """An empty think segment is not closed; at the cap the tags go in, the answer they open is
    marked forced, and the continuation starts after them."""
    reply = Reply(max_segment_tokens=3)
    reply.steering.start(T0)
    assert reply.step("<think>") is None  # nothing written yet: closing would break the format
    reply.think(1)
    ops = reply.step(" hmm")
    assert ops is not None and [op.op for op in ops] == ["end"]  # the think segment ends
    assert reply.steering.prefix == "<think> hmm hmm</think><answer>"
    assert reply.reasons() == ["max_segment_tokens"]
    assert reply.phase is Phase.WATCH
    # The continuation: an answer is open, nothing is forced inside it.
    assert reply.step(" 42") is None
    assert reply.step("</answer>") is None
    assert reply.shaper.answers[0].forced and reply.shaper.answers[0].text == "42"
    assert reply.step("<think>", finish="stop") is None
    assert reply.phase is Phase.OFF
    return reply.steering.taken


def held_back_closing_tag() -> list[Pair]:
    """A half-written `</think>` the parser holds back is not closed over."""
    reply = Reply(max_segment_tokens=3)
    reply.step("<think>")
    reply.think(1)
    assert reply.step(" hmm</thi") is None  # at the cap, but "</thi" may be the model's tag
    assert reply.step("nk>") is None  # it was: the model closed it itself
    assert reply.reasons() == []
    return reply.steering.taken


def first_answer_deadline_fires_once() -> list[Pair]:
    reply = Reply(first_answer_tokens=3)
    reply.step("<think>")
    reply.think(1)
    ops = reply.step(" hmm")
    assert ops is not None and reply.reasons() == ["first_answer_tokens"]
    reply.step(" 42")
    reply.step("</answer>")
    reply.step("<think>")
    reply.think(40)  # answered already: the deadline does not fire again
    assert reply.reasons() == ["first_answer_tokens"]
    return reply.steering.taken


def deadline_in_ms_at_start() -> list[Pair]:
    """A deadline already past at submission opens the reply with an answer: the first
    submission starts from it."""
    reply = Reply(first_answer_ms=5.0)
    reply.steering.start(T0 + 0.01)
    assert reply.steering.prefix == "<answer>" and reply.reasons() == ["first_answer_ms"]
    return reply.steering.taken


def no_thinking_at_all() -> list[Pair]:
    reply = Reply(max_total_tokens=0)
    assert not reply.steering.allows_opening()
    reply.steering.start(T0)
    assert reply.steering.prefix == "<answer>" and reply.reasons() == ["max_total_tokens"]
    return reply.steering.taken


def total_cap_holds_cuts_and_opens_an_answer() -> list[Pair]:
    """Past the total cap the model may not think again: a possible tag start is held back,
    a complete tag is cut with what follows, its output is dropped until the restart, and
    the restart opens an answer in its place."""
    reply = Reply(max_total_tokens=3)
    assert reply.write("<th", tokens=0) == "<th"  # under the cap nothing is held back
    reply.step("ink>")
    reply.think(1)
    assert reply.step(" hmm") is not None and reply.reasons() == ["max_total_tokens"]
    reply.step(" 42")
    assert reply.write(" <") == " "  # held back: maybe the opening tag
    assert reply.write("/answer>") == "</answer>"  # it was not
    assert reply.write(" <th") == " "
    assert reply.write("ink> more") == ""  # it was: cut, with what followed
    assert reply.phase is Phase.CUT
    assert reply.write(" hmm") == "" and reply.write(" x<think>") == ""  # dropped
    assert reply.phase is Phase.CUT
    ops = reply.steering.after_output(reply.now)
    assert ops == [] and reply.phase is Phase.WATCH  # restart, as an answer
    assert reply.steering.prefix.endswith(" 42 </answer> <answer>")
    assert reply.reasons() == ["max_total_tokens"] * 2
    assert reply.write(" 7") == " 7" and reply.write("</answer>") == "</answer>"
    assert reply.write(" <th", finish="length") == " <th"  # the last piece: nothing held
    return reply.steering.taken


def cut_inside_an_answer() -> list[Pair]:
    """The opening tag right after answer text in one piece: the cut leaves the answer open,
    so nothing is inserted, but the backend is still restarted (its text was cut)."""
    reply = Reply(max_total_tokens=2)
    reply.step("<think>")
    assert reply.step(" hmm") is not None
    reply.step(" 42</answer>")
    assert reply.write("<answer>4<think>x") == "<answer>4"
    assert reply.steering.after_output(reply.now) == []
    assert reply.phase is Phase.WATCH
    assert reply.steering.prefix.endswith("</answer><answer>4")  # nothing inserted
    assert reply.reasons() == ["max_total_tokens"] * 2
    return reply.steering.taken


def cut_after_a_half_tag() -> list[Pair]:
    """Text before the cut left the parser holding `</th`: after a cut the restart is due
    regardless."""
    reply = Reply(max_total_tokens=2)
    reply.step("<think>")
    reply.step(" hmm")
    reply.step(" 42</answer>")
    assert reply.write("</th<think>") == "</th"
    assert reply.steering.after_output(reply.now) is not None
    assert reply.phase is Phase.WATCH
    return reply.steering.taken


def cut_while_a_deadline_is_due() -> list[Pair]:
    """An empty forced answer, then thinking again past the cap: the restart opens an answer
    for the total cap, and the first-answer deadline stays unspent (it fires later)."""
    reply = Reply(max_total_tokens=2, first_answer_tokens=50)
    reply.step("<think>")
    assert reply.step(" hmm") is not None
    # The forced answer closed with no text, and thinking again, in one output.
    assert reply.write("</answer><think>", tokens=50) == "</answer>"
    assert reply.steering.after_output(reply.now) is not None
    assert reply.reasons() == ["max_total_tokens"] * 2
    assert reply.step("</answer>") is not None
    assert reply.reasons()[-1] == "first_answer_tokens"
    return reply.steering.taken


def cut_on_the_last_piece() -> list[Pair]:
    reply = Reply(max_total_tokens=1)
    reply.step("<think>")
    reply.step(" hmm")
    assert reply.step("</answer><think>", finish="length") is None
    assert reply.phase is Phase.OFF
    return reply.steering.taken


def r1_deadline_with_nothing_to_insert() -> list[Pair]:
    """r1's answer has no tag: a deadline due between segments inserts nothing, and counts
    as spent."""
    reply = Reply("r1", first_answer_tokens=3)
    reply.step("x")
    reply.step(" y")
    assert reply.step("</think>") is None
    assert reply.reasons() == [] and reply.steering.prefix == "x y</think>"
    assert reply.phase is Phase.WATCH
    reply.step("\n")
    reply.step("<think>")
    assert reply.step("more") is None  # spent: it does not fire in the next segment
    return reply.steering.taken


def r1_cut_with_nothing_to_insert() -> list[Pair]:
    reply = Reply("r1", max_total_tokens=2, first_answer_tokens=3)
    reply.step("x")
    assert reply.step(" y") is not None  # `</think>` inserted
    assert reply.steering.prefix == "x y</think>"
    assert reply.write("<think>") == ""
    assert reply.steering.after_output(reply.now) == []  # restart, nothing inserted
    assert reply.phase is Phase.WATCH
    assert reply.reasons() == ["max_total_tokens"] * 2
    assert reply.step("\n") is None  # the deadline was not spent by the cut...
    assert reply.reasons() == ["max_total_tokens"] * 2  # ...and with no tags it only counts
    return reply.steering.taken


def endless_reopening_stops_at_the_guard() -> list[Pair]:
    reply = Reply(max_segment_tokens=1)
    for _ in range(MAX_FORCED_CLOSES):
        reply.step("<think>")
        assert reply.step(" hmm") is not None
    assert reply.write("</answer>") == "</answer>"  # the next output: steering has stopped
    assert reply.phase is Phase.OFF
    reply.think(3)
    assert len(reply.reasons()) == MAX_FORCED_CLOSES
    return reply.steering.taken


def engine_marks_and_waits_for_the_answer() -> list[Pair]:
    """The engine writes the tags: the steering only marks the answer they open, decides
    nothing while they are being written, and never touches the text."""
    reply = Reply(in_engine=True, max_segment_tokens=3, max_total_tokens=100)
    params = reply.steering.engine_params(GenerationParams(), "", 0)
    assert params.extra_args is not None and params.extra_args[BUDGET_KEY]["max_segment_tokens"]
    assert params.extra_args[ARRIVAL_KEY] > 0 and OPENING_KEY not in params.extra_args
    reply.steering.start(T0)
    reply.step("<think>")
    reply.think(1)
    assert reply.step(" hmm") is None and reply.phase is Phase.ENGINE_CLOSING
    assert reply.reasons() == ["max_segment_tokens"]
    assert reply.shaper.forced[0].resume_ms is None
    assert reply.step(" hmm") is None  # a step already under way: still over the cap
    assert reply.step("</thi") is None and reply.step("nk>") is None
    assert reply.phase is Phase.ENGINE_CLOSING
    assert reply.step("<answer>") is None and reply.step(" 42") is None
    assert reply.phase is Phase.ENGINE
    reply.step("</answer>")
    assert reply.shaper.answers[0].forced
    assert reply.reasons() == ["max_segment_tokens"]  # marked once
    assert reply.steering.prefix == ""  # no continuation: no prefix kept
    assert reply.step("<think>", finish="stop") is None and reply.phase is Phase.OFF
    return reply.steering.taken


def engine_total_cap_is_the_engines() -> list[Pair]:
    """Past the total cap the engine's output is not filtered here: reopened thinking is
    closed again by the engine, on the same decision."""
    reply = Reply(in_engine=True, max_total_tokens=2)
    reply.step("<think>")
    reply.step(" hmm")
    reply.step(" hmm")
    assert reply.phase is Phase.ENGINE_CLOSING
    for token in ("</think>", "<answer>", " 42", "</answer>"):  # one per engine step
        reply.step(token)
    assert reply.write("<think>") == "<think>"
    assert reply.step(" hmm") is None and reply.reasons() == ["max_total_tokens"] * 2
    reply.step("</think>", finish="stop")
    assert reply.steering.after_output(reply.now) is None and reply.phase is Phase.OFF
    return reply.steering.taken


def engine_opens_with_an_answer() -> list[Pair]:
    reply = Reply(in_engine=True, max_total_tokens=0)
    reply.steering.start(T0)
    assert reply.phase is Phase.ENGINE_CLOSING and reply.steering.prefix == ""
    assert reply.reasons() == ["max_total_tokens"]
    return reply.steering.taken


def engine_r1_deadline_and_closing() -> list[Pair]:
    """r1 in the engine: a deadline with nothing to insert is only noted, also while the
    engine is writing a forced `</think>`; then it finishes."""
    reply = Reply("r1", in_engine=True, first_answer_tokens=2)
    reply.step("x")
    assert reply.step("</think>") is None and reply.reasons() == []  # noted, not marked
    assert reply.phase is Phase.ENGINE
    reply.step("\n")
    reply.step("<think>")
    assert reply.step("more") is None and reply.reasons() == []  # spent: not again
    closing = Reply("r1", in_engine=True, max_segment_tokens=2, first_answer_tokens=3)
    closing.step("x")
    closing.step(" y")
    assert closing.phase is Phase.ENGINE_CLOSING
    closing.step("</think>")  # the deadline is due, with nothing to insert: it waits
    assert closing.reasons() == ["max_segment_tokens"]
    assert closing.phase is Phase.ENGINE_CLOSING
    closing.step("ans", finish="stop")
    assert closing.phase is Phase.OFF
    return reply.steering.taken + closing.steering.taken


def engine_deadline_due_while_closing() -> list[Pair]:
    """A deadline that comes due while the engine writes tags for another reason is not
    spent: after an empty answer it fires in the next think segment."""
    reply = Reply(in_engine=True, max_segment_tokens=2, first_answer_tokens=4)
    reply.step("<think>")
    reply.step(" hmm")
    assert reply.phase is Phase.ENGINE_CLOSING
    reply.step(" hmm")
    reply.step(" hmm")  # 4 tokens, no answer yet: due, but the engine is writing tags
    for token in ("</think>", "<answer>", "</answer>", "<think>", " x"):
        reply.step(token)
    assert reply.reasons() == ["max_segment_tokens", "first_answer_tokens"]
    return reply.steering.taken


def engine_output_carries_the_tags_and_the_whole_answer() -> list[Pair]:
    """The consumer lagged and vLLM merged the forced tags and the whole answer they open into
    one output: the answer never shows open, and still ends the closing, so the next think
    segment over the cap is marked again."""
    reply = Reply(in_engine=True, max_segment_tokens=2, max_total_tokens=100)
    reply.step("<think>")
    reply.step(" hmm")
    assert reply.step(" hmm") is None and reply.phase is Phase.ENGINE_CLOSING
    assert reply.step("</think><answer> 42</answer>", tokens=5) is None
    assert reply.shaper.answers[0].forced and reply.phase is Phase.ENGINE
    reply.step("<think>")
    reply.step(" hmm")
    reply.step(" hmm")
    assert reply.reasons() == ["max_segment_tokens"] * 2 and reply.phase is Phase.ENGINE_CLOSING
    return reply.steering.taken


def engine_finishes_while_closing() -> list[Pair]:
    reply = Reply(in_engine=True, max_segment_tokens=1)
    reply.step("<think>")
    reply.step(" hmm")
    assert reply.phase is Phase.ENGINE_CLOSING
    reply.step("</think>", finish="length")
    assert reply.phase is Phase.OFF
    return reply.steering.taken


def prefilled_opening() -> list[Pair]:
    """The opening tag written for the model: the continuation starts from it, no decision is
    taken before it (even a deadline already past), and it counts as the model's own."""
    budget = {"max_segment_tokens": 3, "first_answer_ms": 5.0}
    reply = Reply(**budget)
    assert reply.steering.allows_opening()
    reply.steering.start(T0 + 1.0, "<think>")
    assert reply.steering.prefix == "<think>" and reply.reasons() == []
    reply.shaper.feed("<think>", 1, reply.now)  # as the run does
    reply.think(1)
    assert reply.step(" hmm") is not None
    assert reply.steering.prefix == "<think> hmm hmm</think><answer>"
    engine = Reply(in_engine=True, **budget)
    params = engine.steering.engine_params(GenerationParams(), "<think>", 1)
    assert params.extra_args is not None and params.extra_args[OPENING_KEY] == ["<think>", 1]
    return reply.steering.taken


def defensive_text_while_cut() -> list[Pair]:
    """Text the total cap does not concern cannot follow a cut (the cap stays spent and the
    parser never saw the tag), but were it to, it is dropped like any text until the restart."""
    reply = Reply(max_total_tokens=2)
    reply.steering.phase = Phase.CUT
    assert reply.write("xy") == "" and reply.phase is Phase.CUT
    return reply.steering.taken


SCENARIOS: list[Callable[[], list[Pair]]] = [
    no_budget,
    segment_cap_inside_thinking,
    held_back_closing_tag,
    first_answer_deadline_fires_once,
    deadline_in_ms_at_start,
    no_thinking_at_all,
    total_cap_holds_cuts_and_opens_an_answer,
    cut_inside_an_answer,
    cut_after_a_half_tag,
    cut_while_a_deadline_is_due,
    cut_on_the_last_piece,
    r1_deadline_with_nothing_to_insert,
    r1_cut_with_nothing_to_insert,
    endless_reopening_stops_at_the_guard,
    engine_marks_and_waits_for_the_answer,
    engine_total_cap_is_the_engines,
    engine_opens_with_an_answer,
    engine_r1_deadline_and_closing,
    engine_deadline_due_while_closing,
    engine_output_carries_the_tags_and_the_whole_answer,
    engine_finishes_while_closing,
    prefilled_opening,
    defensive_text_while_cut,
]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda f: f.__name__)
def test_scenario(scenario: Callable[[], list[Pair]]) -> None:
    scenario()


def test_every_transition_of_the_table_is_taken() -> None:
    taken = {pair for scenario in SCENARIOS for pair in scenario()}
    assert taken == set(TABLE), sorted((p.value, e.value) for p, e in set(TABLE) ^ taken)


def test_the_table_answers_every_event_the_steering_can_see() -> None:
    """Output text is classified while steering by continuation; the decision after each
    output in every phase but OFF. Each of those has a row, and there are no others."""
    text = (Event.TEXT, Event.PAST_CAP, Event.REOPEN, Event.SPENT)
    output = (
        Event.SPENT,
        Event.ANSWERING,
        Event.UNSTEERABLE,
        Event.CALM,
        Event.DUE,
        Event.DUE_UNTAGGED,
    )
    expected = {(p, e) for p in (Phase.WATCH, Phase.CUT) for e in text}
    expected |= {(p, e) for p in Phase if p is not Phase.OFF for e in output}
    assert set(TABLE) == expected
    assert all(TABLE[p, Event.SPENT] == (Phase.OFF, Action.GO_ON) for p, _ in expected)
