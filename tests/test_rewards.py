"""The paper's rewards on hand-computed cases: format, final, every intermediate variant, the
gate, normalization, and the K&K / multiple-choice / MATH comparisons."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from parsing import parse
from tasks import Example, generate
from tasks.judging import (
    judge_final,
    judge_response,
    kk_assignment,
    kk_claims,
    match_steps,
    normalize_answer,
    normalize_math,
)
from tasks.prompts import interleaved_target, think_answer_target
from training.rewards import (
    RewardConfig,
    batch_gate_open,
    intermediate_reward,
    score,
    score_batch,
    summarize,
)

H3 = 1 + 1 / 2 + 1 / 3  # 11/6

KK = Example(
    id="kk-test",
    dataset="kk",
    question="(puzzle)",
    final_answer="(1) Zoey is a knight (2) Oliver is a knave (3) Aurora is a knight",
    intermediate_answers=["Zoey is a knight", "Oliver is a knave", "Aurora is a knight"],
    reasoning_steps=["s1", "s2", "s3"],
    difficulty=3,
    answer_type="kk",
    meta={"people": ["Zoey", "Oliver", "Aurora"]},
)
FINAL = "(1) Zoey is a knight (2) Oliver is a knave (3) Aurora is a knight"

HOP = Example(
    id="mh-test",
    dataset="multihop",
    question="Where was the author of 'The Glass River' born?",
    final_answer="Korvath",
    intermediate_answers=["Mira Solen", "Korvath"],
    reasoning_steps=["s1", "s2"],
    difficulty=2,
)


def respond(*answers: str) -> str:
    return " ".join(f"<think> step </think> <answer> {a} </answer>" for a in answers)


def cfg(variant: str = "time_discounted", gate: str = "conditional") -> RewardConfig:
    return RewardConfig(intermediate=variant, gate=gate)  # type: ignore[arg-type]


# --- format and final ---------------------------------------------------------------------


def test_perfect_interleaved_kk_response() -> None:
    text = respond("Zoey is a knight", "Oliver is a knave", "Aurora is a knight", FINAL)
    for variant in ("all_or_none", "partial", "time_discounted"):
        b = score(text, KK, cfg(variant))
        assert (b.format, b.final, b.intermediate, b.total) == (1.0, 2.0, 0.5, 3.5)
        assert b.correct and b.format_ok and b.final_status == "correct"
        assert b.match_steps == (1, 2, 3) and b.intermediate_matched == 3
    assert score(text, KK, cfg("none")).total == 3.0


def test_bad_format_gets_minus_one_and_nothing_else() -> None:
    text = "I think Zoey is a knight. " + respond(FINAL)  # text outside the tags
    for gate in ("conditional", "direct"):
        b = score(text, KK, cfg("partial", gate))
        assert (b.format, b.final, b.intermediate, b.total) == (-1.0, 0.0, 0.0, -1.0)
        assert not b.format_ok and not b.correct and b.final_status == "no_format"
    unclosed = "<think> step </think> <answer> " + FINAL
    assert score(unclosed, KK).total == -1.0
    ends_in_think = respond(FINAL) + " <think> more </think>"
    assert score(ends_in_think, KK).total == -1.0


def test_wrong_final_answer() -> None:
    text = respond(
        "Zoey is a knight", "(1) Zoey is a knight (2) Oliver is a knave (3) Aurora is a knave"
    )
    b = score(text, KK, cfg("partial"))
    assert (b.format, b.final, b.intermediate, b.total) == (1.0, -1.5, 0.0, -0.5)
    assert b.final_status == "wrong" and not b.correct
    # The conditional gate withheld what partial credit would have paid: 0.5 * 1/3.
    assert b.gated and b.intermediate_raw == pytest.approx(0.5 / 3)


def test_unparseable_final_answers() -> None:
    missing_person = respond("(1) Zoey is a knight (2) Oliver is a knave")
    both_roles = respond(FINAL + " (4) Aurora is a knave")
    empty = respond("Oliver is a knave", ".")
    for text in (missing_person, both_roles):
        b = score(text, KK)
        assert (b.format, b.final, b.total, b.final_status) == (1.0, -2.0, -1.0, "unparseable")
    b = score(empty, HOP)
    assert (b.final, b.final_status) == (-2.0, "unparseable")


def test_kk_final_in_any_order_and_form() -> None:
    people = KK.meta["people"]
    gold = kk_assignment(FINAL, people)
    assert gold == {"Zoey": "knight", "Oliver": "knave", "Aurora": "knight"}
    assert kk_assignment("Aurora is a knight, oliver: knave; ZOEY IS A KNIGHT.", people) == gold
    assert (
        kk_assignment("Zoey is not a knight, Oliver is a knave, Aurora is a knight", people) is None
    )
    assert judge_final("Aurora is a knight. Oliver is a knave. Zoey is a knight.", KK) == "correct"


# --- K&K hedges are not claims ---------------------------------------------------------------

ALL_KNIGHTS = Example(
    id="kk-all-knights",
    dataset="kk",
    question="(puzzle)",
    final_answer="(1) Zoey is a knight (2) Oliver is a knight (3) Aurora is a knight",
    intermediate_answers=["Zoey is a knight", "Oliver is a knight", "Aurora is a knight"],
    reasoning_steps=["s1", "s2", "s3"],
    difficulty=3,
    answer_type="kk",
    meta={"people": ["Zoey", "Oliver", "Aurora"]},
)
PEOPLE = ["Zoey", "Oliver", "Aurora"]
HEDGES = [
    "Oliver is a knight/knave",
    "Oliver is a knave/knight",
    "Oliver: knight/knave",
    "Oliver is a knight or a knave",
    "Oliver is a knight or knave",
    "Oliver is a knight (or a knave)",
    "Oliver is either a knight or a knave",
    "Oliver is a knight and a knave",
    "Oliver is a knight or not",
    "Oliver is a knight?",
    "Oliver is not a knight",
    "Oliver is not a knave",
    "Oliver could be a knight",
    "Oliver may be a knight",
    "Oliver might be a knight",
    "Oliver is probably a knight",
    "Oliver is a knight or Oliver is a knave",
    "Either Oliver is a knight or Oliver is a knave",
    "If Oliver is a knight",
    "Suppose Oliver is a knave",
]


@pytest.mark.parametrize("hedge", HEDGES)
def test_hedges_are_not_claims(hedge: str) -> None:
    assert kk_claims(hedge, PEOPLE) == set()
    # As the only statement about Oliver, a hedge leaves him unassigned: unparseable.
    final = f"(1) Zoey is a knight (2) {hedge} (3) Aurora is a knight"
    assert kk_assignment(final, PEOPLE) is None
    for ex in (KK, ALL_KNIGHTS):
        b = score(respond(final), ex)
        assert b.final_status == "unparseable" and not b.correct and b.total == -1.0
    # Nor does a hedge earn an intermediate reward (truth 2 is "Oliver is a knave").
    assert score(respond(hedge, FINAL), KK, cfg("partial", "direct")).match_steps[1] is None


def test_negation_is_no_claim_not_even_of_the_other_role() -> None:
    # Oliver *is* a knave, but "not a knight" is not the answer "knave".
    final = "(1) Zoey is a knight (2) Oliver is not a knight (3) Aurora is a knight"
    assert kk_claims(final, PEOPLE) == {("Zoey", "knight"), ("Aurora", "knight")}
    assert judge_final(final, KK) == "unparseable"
    assert judge_final(final + " (4) Oliver is a knave", KK) == "correct"  # a firm claim too


def test_answer_form_hint_copied_scores_nothing_on_an_all_knight_puzzle() -> None:
    hint = "(1) Name is a knight/knave (2) ... for every inhabitant."  # tasks/prompts.py
    filled = "(1) Zoey is a knight/knave (2) Oliver is a knight/knave (3) Aurora is a knight/knave"
    spaced = "Zoey is a knight / knave, Oliver is a knight / knave, Aurora is a knight / knave"
    for text in (hint, filled, spaced):
        b = score(respond(text), ALL_KNIGHTS)
        assert not b.correct and b.final_status == "unparseable"
        assert (b.format, b.final, b.total) == (1.0, -2.0, -1.0)
    # The firm answer still scores.
    assert score(respond(ALL_KNIGHTS.final_answer), ALL_KNIGHTS).final_status == "correct"


def test_firm_claims_still_count() -> None:
    gold = {"Zoey": "knight", "Oliver": "knave", "Aurora": "knight"}
    for text in (
        "Zoey is a knight, not a knave. Oliver is a knave. Aurora is a knight.",
        "Zoey: knight / Oliver: knave / Aurora: knight",
        "Zoey is a knight and Oliver is a knave and Aurora is a knight",
        "Zoey is a knight & Oliver is a knave & Aurora is a knight",
        "Zoey = knight, Oliver - knave, Aurora is knight",
    ):
        assert kk_assignment(text, PEOPLE) == gold, text


def test_partial_lists_and_contradictions_are_unparseable() -> None:
    partial = ["(1) Zoey is a knight", "(1) Zoey is a knight (3) Aurora is a knight", ""]
    contradictions = [
        FINAL + " (4) Zoey is a knave",
        "(1) Zoey is a knight (2) Oliver is a knave (3) Aurora is a knight (4) Aurora: knave",
    ]
    for text in partial + contradictions:
        assert kk_assignment(text, PEOPLE) is None, text
        b = score(respond(text or "."), KK)
        assert b.final_status == "unparseable" and not b.correct


def test_judge_response_is_the_verdict_score_gives() -> None:
    for text in (
        respond(FINAL),
        respond("Zoey is a knight", FINAL.replace("Aurora is a knight", "Aurora is a knave")),
        respond("(1) Zoey is a knight"),
        "I think " + respond(FINAL),  # right final answer, invalid format
        "<think> step </think> <answer> " + FINAL,  # unclosed
    ):
        t = parse(text)
        b = score(text, KK)
        assert judge_response(t.answers, t.format_ok, KK) == b.final_status
    assert judge_response([FINAL], False, KK) == "no_format"
    assert judge_response([FINAL], True, KK) == "correct"
    assert judge_response([], True, KK) == "unparseable"


@settings(max_examples=50, deadline=None)
@given(st.permutations(["Zoey is a knight", "Oliver is a knave", "Aurora is a knight"]))
def test_kk_final_order_never_matters(order: list[str]) -> None:
    assert judge_final(" and ".join(order), KK) == "correct"


def test_multihop_final_normalized_and_aliases() -> None:
    assert judge_final("korvath.", HOP) == "correct"
    assert judge_final("The city of Korvath", HOP) == "wrong"
    assert judge_final("Korvath or Mira", HOP) == "wrong"  # no substring matching
    aliased = Example(**{**HOP.to_dict(), "meta": {"final_answer_aliases": ["Korvath City"]}})
    assert judge_final("korvath city", aliased) == "correct"


# --- intermediate variants, hand-computed ----------------------------------------------------


def test_partial_set_of_intermediate_answers() -> None:
    # Oliver never answered on his own; Zoey at step 1, Aurora at step 2, final at step 3.
    text = respond("Zoey is a knight", "Aurora is a knight", FINAL)
    expected = {"all_or_none": 0.0, "partial": 0.5 * 2 / 3, "time_discounted": 0.5 * 1.5 / H3}
    for variant, value in expected.items():
        b = score(text, KK, cfg(variant))
        assert b.match_steps == (1, None, 2)
        assert b.intermediate == pytest.approx(value)
        assert b.total == pytest.approx(3.0 + value)
    assert expected["time_discounted"] == pytest.approx(9 / 22)


def test_late_answers_are_discounted() -> None:
    # A wrong guess first pushes every truth one step later: steps 2, 3, 4.
    text = respond("Zoey is a knave", "Zoey is a knight", "Oliver is a knave", "Aurora is a knight",
                   FINAL)  # fmt: skip
    assert score(text, KK, cfg("time_discounted")).intermediate == pytest.approx(
        0.5 * (1 / 2 + 1 / 3 + 1 / 4) / H3
    )  # = 13/44
    assert score(text, KK, cfg("partial")).intermediate == 0.5
    assert score(text, KK, cfg("all_or_none")).intermediate == 0.5


def test_listing_candidates_earns_nothing() -> None:
    text = respond("Zoey is a knight or Zoey is a knave", "Zoey is a knight and Oliver is a knave",
                   FINAL)  # fmt: skip
    b = score(text, KK, cfg("partial"))
    assert b.match_steps == (None, None, None) and b.intermediate == 0.0 and b.total == 3.0
    hop = score(respond("Mira Solen or Arden Vale", "Korvath"), HOP, cfg("partial"))
    assert hop.match_steps == (None, 2) and hop.intermediate == 0.25


def test_final_answer_counts_as_the_last_step() -> None:
    # Multi-hop: the last hop's truth is the final answer; answered only there, at step 1.
    only_final = respond("Korvath")
    assert score(only_final, HOP, cfg("all_or_none")).intermediate == 0.0
    assert score(only_final, HOP, cfg("partial")).intermediate == 0.25
    assert score(only_final, HOP, cfg("time_discounted")).intermediate == pytest.approx(0.5 / 1.5)
    full = respond("Mira Solen", "Korvath")
    assert score(full, HOP, cfg("time_discounted")).intermediate == pytest.approx(0.5)
    # K&K: the final listing states everyone at once, so it matches no single truth.
    assert score(respond(FINAL), KK, cfg("partial")).match_steps == (None, None, None)


def test_each_answer_pays_once_and_numbers_normalize() -> None:
    ex = Example(id="a", dataset="arithmetic", question="q", final_answer="1000",
                 intermediate_answers=["5", "5", "1000"], answer_type="number")  # fmt: skip
    assert match_steps(["five", "1,000"], ex.intermediate_answers, ex) == [1, None, 2]
    assert match_steps(["5.0", "5", "one thousand"], ex.intermediate_answers, ex) == [1, 2, 3]
    b = score(respond("5", "1,000"), ex, cfg("partial"))
    assert b.correct and b.intermediate == pytest.approx(0.5 * 2 / 3)


@pytest.mark.parametrize(
    ("steps", "variant", "value"),
    [
        ((1, 2, 3), "all_or_none", 0.5),
        ((1, None, 3), "all_or_none", 0.0),
        ((1, None, 3), "partial", 0.5 * 2 / 3),
        ((None, None, None), "partial", 0.0),
        ((1, 2, 3), "time_discounted", 0.5),
        ((3, 2, 1), "time_discounted", 0.5),
        ((2,), "time_discounted", 0.25),
        ((1, None), "time_discounted", 0.5 / 1.5),
        ((None, 1), "time_discounted", 0.5 / 1.5),
        ((4, 5), "time_discounted", 0.5 * (1 / 4 + 1 / 5) / 1.5),
        ((), "partial", 0.0),
        ((1, 2), "none", 0.0),
    ],
)
def test_intermediate_reward_table(
    steps: tuple[int | None, ...], variant: str, value: float
) -> None:
    assert intermediate_reward(steps, variant) == pytest.approx(value)


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_variants_never_exceed_r_base(data: st.DataObject) -> None:
    n = data.draw(st.integers(1, 6))
    ks = data.draw(st.lists(st.integers(1, 12), min_size=n, max_size=n, unique=True))
    steps = [k if data.draw(st.booleans()) else None for k in ks]
    for variant in ("all_or_none", "partial", "time_discounted"):
        assert 0.0 <= intermediate_reward(steps, variant, r_base=0.5) <= 0.5 + 1e-12


def test_r_base_is_configurable() -> None:
    text = respond("Zoey is a knight", "Oliver is a knave", "Aurora is a knight", FINAL)
    config = RewardConfig(intermediate="partial", r_base=1.0)
    assert score(text, KK, config).intermediate == 1.0


# --- gate -----------------------------------------------------------------------------------


def _batch() -> tuple[list[str], list[Example]]:
    good = respond("Zoey is a knight", "Oliver is a knave", "Aurora is a knight", FINAL)
    half = respond("Zoey is a knight", FINAL)
    wrong = respond("Zoey is a knight", FINAL.replace("Aurora is a knight", "Aurora is a knave"))
    broken = "Zoey " + good
    return [good, half, wrong, broken], [KK] * 4  # accuracy 2/4


def test_gate_open_when_accuracy_holds() -> None:
    responses, examples = _batch()
    for prev in (None, 0.3, 0.5, 0.54, 0.55):  # 0.5 >= prev - 0.05 (0.55 is the boundary)
        scored, accuracy = score_batch(responses, examples, prev, cfg("partial"))
        assert accuracy == 0.5
        assert [b.intermediate for b in scored] == pytest.approx([0.5, 0.5 / 3, 0.0, 0.0])
        assert [b.total for b in scored] == pytest.approx([3.5, 3 + 0.5 / 3, -0.5, -1.0])
        # Withheld by the gate's per-response part: the wrong final, the broken format.
        assert [b.gated for b in scored] == [False, False, True, True]


def test_gate_closed_when_accuracy_drops() -> None:
    responses, examples = _batch()
    scored, accuracy = score_batch(responses, examples, prev_accuracy=0.56, config=cfg("partial"))
    assert accuracy == 0.5
    assert [b.intermediate for b in scored] == [0.0, 0.0, 0.0, 0.0]
    assert [b.total for b in scored] == [3.0, 3.0, -0.5, -1.0]
    assert [b.gated for b in scored] == [True, True, True, True]
    assert scored[0].intermediate_raw == 0.5  # still visible for logging


def test_direct_gate_pays_any_well_formed_response() -> None:
    responses, examples = _batch()
    scored, _ = score_batch(responses, examples, prev_accuracy=1.0, config=cfg("partial", "direct"))
    assert [b.intermediate for b in scored] == pytest.approx([0.5, 0.5 / 3, 0.5 / 3, 0.0])
    assert [b.total for b in scored] == pytest.approx([3.5, 3 + 0.5 / 3, -1.5 + 1 + 0.5 / 3, -1.0])


def test_batch_gate_rule() -> None:
    assert batch_gate_open(0.5, None, 0.05)
    assert batch_gate_open(0.5, 0.55, 0.05)
    assert not batch_gate_open(0.5, 0.5501, 0.05)
    assert batch_gate_open(0.0, 0.0, 0.0)
    assert not batch_gate_open(0.4, 0.5, 0.0)


def test_score_batch_checks_lengths_and_config() -> None:
    with pytest.raises(ValueError, match="responses"):
        score_batch(["x"], [])
    with pytest.raises(ValueError, match="intermediate"):
        RewardConfig(intermediate="substring")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="gate"):
        RewardConfig(gate="always")  # type: ignore[arg-type]


def test_summarize() -> None:
    responses, examples = _batch()
    scored, _ = score_batch(responses, examples, None, cfg("partial"))
    s = summarize(scored)
    assert s["format_rate"] == 0.75 and s["accuracy"] == 0.5
    assert s["reward/total"] == pytest.approx((3.5 + 3 + 0.5 / 3 - 0.5 - 1.0) / 4)
    assert s["intermediate_accuracy"] == pytest.approx((3 + 1 + 1 + 3) / 12)
    assert s["gated_rate"] == 0.5
    assert s["intermediate_paid_rate"] == 0.5  # good and half are paid; wrong and broken not
    closed, _ = score_batch(responses, examples, prev_accuracy=0.56, config=cfg("partial"))
    assert summarize(closed)["intermediate_paid_rate"] == 0.0  # accuracy dropped: none paid
    assert summarize([]) == {}


# --- normalization and other answer types ------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("5", "5.0"),
        ("five", "5"),
        ("1,000", "1000"),
        ("one thousand", "1,000"),
        ("Twenty-five", "25"),
        ("$12.50", "12.5"),
        ("The Glass River", "glass river"),
        ("Korvath!", "  korvath "),
        ("Zoey is a knight.", "zoey is knight"),
        ("-3", "-3.00"),
    ],
)
def test_normalization_equal(a: str, b: str) -> None:
    assert normalize_answer(a) == normalize_answer(b)


@pytest.mark.parametrize(("a", "b"), [("5", "50"), ("Paris", "Paris France"), ("-3", "3"),
                                      ("1.5", "15"), ("knight", "knave")])  # fmt: skip
def test_normalization_different(a: str, b: str) -> None:
    assert normalize_answer(a) != normalize_answer(b)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="abcXYZ 0123456789.,-!?'$%()", max_size=30))
def test_normalization_is_idempotent(text: str) -> None:
    once = normalize_answer(text)
    assert normalize_answer(once) == once


CHOICE = Example(id="c", dataset="gpqa", question="q", final_answer="C", answer_type="choice",
                 meta={"choices": {"A": "red", "B": "green", "C": "A decrease in pressure",
                                   "D": "blue"}})  # fmt: skip


@pytest.mark.parametrize(
    ("answer", "status"),
    [
        ("C", "correct"),
        ("(C)", "correct"),
        ("c", "correct"),
        ("C. A decrease in pressure", "correct"),
        ("a decrease in pressure", "correct"),  # the option's text, not the letter "A"
        ("B", "wrong"),
        ("green", "wrong"),
        ("E", "unparseable"),
        ("Because it is", "unparseable"),
    ],
)
def test_multiple_choice(answer: str, status: str) -> None:
    assert judge_final(answer, CHOICE) == status


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("\\boxed{\\dfrac{1}{2}}", "\\frac12"),
        ("\\frac{1}{2}", "1/2"),
        ("$0.50$", "0.5"),
        ("\\text{(B)}", "(B)"),
        ("10^\\circ", "10"),
        ("\\left( 3, 4 \\right)", "(3,4)"),
        ("1,000", "1000"),
    ],
)
def test_math_normalization(a: str, b: str) -> None:
    assert normalize_math(a) == normalize_math(b)


def test_math_is_not_token_soup() -> None:
    assert normalize_math("x^2+1") != normalize_math("x^2-1")
    ex = Example(id="m", dataset="math", question="q", final_answer="\\frac{1}{2}",
                 answer_type="math")  # fmt: skip
    assert judge_final("\\boxed{1/2}", ex) == "correct"
    assert judge_final("\\boxed{}", ex) == "unparseable"


# --- generated data end to end ---------------------------------------------------------------


@pytest.mark.parametrize("dataset", ["kk", "multihop", "arithmetic"])
def test_generated_targets_earn_full_reward(dataset: str) -> None:
    for ex in generate(dataset, 40, "train", seed=random.Random(dataset).randrange(1000)):
        inter = score(interleaved_target(ex), ex, cfg("time_discounted"))
        assert (inter.total, inter.match_steps) == (
            3.5, tuple(range(1, len(ex.intermediate_answers) + 1))
        )  # fmt: skip
        base = score(think_answer_target(ex), ex, cfg("partial"))
        assert base.correct and base.format == 1.0 and base.final == 2.0
