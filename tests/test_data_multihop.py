"""Multi-hop questions over a generated world: hops stated in context, splits disjoint."""

from __future__ import annotations

import random
import re

import pytest

from tasks import multihop
from tasks.splits import assert_disjoint, split_of


@pytest.mark.parametrize("hops", [2, 3, 4])
def test_shape(hops: int) -> None:
    for ex in multihop.generate(30, "train", seed=0, hops=hops, distractors=3):
        assert ex.difficulty == hops
        assert len(ex.intermediate_answers) == len(ex.reasoning_steps) == hops
        assert ex.final_answer == ex.intermediate_answers[-1]
        assert len(ex.context) == hops + 3
        assert len(set(ex.intermediate_answers)) == hops  # every hop lands somewhere new
        assert ex.question.endswith("?") and ex.meta["start"] in ex.question
        assert len(ex.meta["relations"]) == hops


def test_every_hop_is_stated_in_exactly_one_paragraph() -> None:
    for ex in multihop.generate(60, "train", seed=1):
        for step in ex.reasoning_steps:
            fact = step.split(" So ")[0]
            assert sum(fact in paragraph for paragraph in ex.context) == 1, (fact, ex.context)


def test_each_step_names_its_answer() -> None:
    for ex in multihop.generate(30, "train", seed=2):
        for step, answer in zip(ex.reasoning_steps, ex.intermediate_answers, strict=True):
            assert step.endswith(f" is {answer}.")


def test_question_reads_naturally() -> None:
    rng = random.Random(0)
    chain = [r for r in multihop.RELATIONS if r.name in ("author_of", "born_in")]
    phrase = chain[0].noun_phrase.format(x="'The Glass River'")
    assert chain[1].question.format(x=phrase) == "Where was the author of 'The Glass River' born?"
    ex = multihop.random_example(rng, 3, "train")
    assert ex.question[0].isupper()


def test_deterministic_by_seed() -> None:
    a = multihop.generate(20, "train", seed=4)
    b = multihop.generate(20, "train", seed=4)
    assert [e.to_dict() for e in a] == [e.to_dict() for e in b]
    assert [e.question for e in a] != [e.question for e in multihop.generate(20, "train", 5)]


def test_splits_never_share_a_question() -> None:
    train = multihop.generate(500, "train", seed=0)
    held = multihop.generate(100, "validation", seed=0) + multihop.generate(100, "test", seed=0)
    assert_disjoint(train, held)
    assert_disjoint(multihop.generate(100, "validation", 0), multihop.generate(100, "test", 0))


def test_rejects_bad_hops() -> None:
    with pytest.raises(ValueError, match="hops"):
        multihop.generate(1, hops=5)


def _pattern(template: str) -> re.Pattern[str]:
    """A template as a regex: its fixed text, any placeholder standing for a name or phrase."""
    parts = re.split(r"\{\w+(?::\w+)?\}", template)
    return re.compile(r"[^.?]+".join(re.escape(p) for p in parts))


def _pool_patterns(pool: str, parts: tuple[str, ...]) -> list[tuple[str, re.Pattern[str]]]:
    out = []
    for tid, text in multihop.TEMPLATES.items():
        kind = tid.split("/")[1] if tid.split("/")[1] == "frame" else tid.split("/")[2]
        fixed = re.sub(r"[^a-z]", "", re.sub(r"\{\w+(?::\w+)?\}", "", text.lower()))
        if tid.startswith(f"{pool}/") and kind in parts and len(fixed) > 3:  # not "{x} has"
            out.append((tid, _pattern(text)))
    return out


def test_template_pools_are_disjoint() -> None:
    pools = {
        pool: {t for k, t in multihop.TEMPLATES.items() if k.startswith(f"{pool}/")}
        for pool in multihop.ALL_POOLS
    }
    assert all(pools.values())
    assert not pools["seen"] & pools["unseen"] and not pools["extra"] & pools["unseen"]
    assert not pools["seen"] & pools["extra"]
    for rel in multihop.RELATIONS:
        for pool in multihop.ALL_POOLS:
            wording = multihop.WORDINGS[rel.name][pool]
            for part in (wording.noun_phrases, wording.questions, wording.indirect):
                assert any("{x}'s" not in t for t in part), (rel.name, pool)  # nestable
            assert wording.facts and all(" So " not in t for t in wording.facts)


@pytest.mark.parametrize(
    ("pool", "other"),
    [("seen", "unseen"), ("unseen", "seen"), ("extra", "unseen"), ("unseen", "extra")],
)
def test_each_pool_uses_only_its_own_templates(pool: str, other: str) -> None:
    question_parts = ("frame", "noun_phrases", "questions", "indirect")
    foreign_questions = _pool_patterns(other, question_parts)
    foreign_facts = _pool_patterns(other, ("facts",))
    for ex in multihop.generate(200, "train", seed=6, phrasing=pool):
        assert ex.meta["phrasing"] == pool
        ids = [i for used in ex.meta["templates"].values() for i in used]
        assert ids and all(i.startswith(f"{pool}/") and i in multihop.TEMPLATES for i in ids)
        for tid, pattern in foreign_questions:
            assert not pattern.search(ex.question), (tid, ex.question)
        for paragraph in ex.context:
            for tid, pattern in foreign_facts:
                assert not pattern.search(paragraph.split(": ", 1)[1]), (tid, paragraph)


def test_pools_vary_their_wording() -> None:
    for pool in multihop.POOLS:
        exs = multihop.generate(300, "train", seed=7, phrasing=pool)
        frames = {ex.meta["templates"]["question"][0] for ex in exs}
        facts = {i for ex in exs for i in ex.meta["templates"]["facts"]}
        assert frames == {f"{pool}/frame/{f}" for f in multihop.FRAMES[pool]}
        assert len(facts) >= 2 * len(multihop.RELATIONS)
    mixed = multihop.generate(100, "train", seed=7, phrasing="any")
    assert {ex.meta["phrasing"] for ex in mixed} == {"seen", "unseen"}
    wide = multihop.generate(300, "train", seed=7, phrasing="wide")
    assert {ex.meta["phrasing"] for ex in wide} == {"seen", "extra"}
    extra_frames = {ex.meta["templates"]["question"][0] for ex in wide}
    assert {f"extra/frame/{f}" for f in multihop.FRAMES["extra"]} <= extra_frames


@pytest.mark.parametrize("phrasing", ["seen", "unseen", "any", "wide"])
def test_trace_quotes_its_context_fact_and_concludes_the_hop(phrasing: str) -> None:
    for ex in multihop.generate(100, "train", seed=8, phrasing=phrasing):
        steps, facts = ex.reasoning_steps, ex.meta["facts"]
        for step, fact, answer in zip(steps, facts, ex.intermediate_answers, strict=True):
            assert step.startswith(f"{fact} So ") and step.endswith(f" is {answer}.")
            assert sum(fact in paragraph for paragraph in ex.context) == 1, (fact, ex.context)
            assert answer in fact
        assert ex.meta["start"] in ex.question and ex.question.endswith("?")
        assert ex.question.lstrip("'")[0].isupper()


def test_phrasing_changes_wording_not_items_or_splits() -> None:
    by_pool = {p: multihop.generate(100, "train", seed=9, phrasing=p) for p in multihop.PHRASINGS}
    logical = {
        p: [(e.meta["key"], e.intermediate_answers, e.meta["relations"]) for e in exs]
        for p, exs in by_pool.items()
    }
    assert logical["seen"] == logical["unseen"] == logical["any"] == logical["wide"]
    assert [e.question for e in by_pool["seen"]] != [e.question for e in by_pool["unseen"]]
    for exs in by_pool.values():
        assert all(split_of(e.meta["key"]) == "train" for e in exs)
    train = multihop.generate(300, "train", seed=0, phrasing="any")
    held = multihop.generate(60, "test", seed=0, phrasing="unseen")
    assert_disjoint(train, held, key=lambda e: e.meta["key"])


@pytest.mark.parametrize("phrasing", ["unseen", "any"])
def test_phrasing_is_deterministic_by_seed(phrasing: str) -> None:
    a = multihop.generate(30, "validation", seed=3, phrasing=phrasing)
    b = multihop.generate(30, "validation", seed=3, phrasing=phrasing)
    assert [e.to_dict() for e in a] == [e.to_dict() for e in b]


def test_rejects_bad_phrasing() -> None:
    with pytest.raises(ValueError, match="phrasing"):
        multihop.generate(1, phrasing="novel")


def test_the_wider_relation_bank_is_read_like_the_core() -> None:
    """relations="wide" adds the training-only bank (other relations, other kinds of entity):
    the same shape, every hop stated once in context and quoted by the trace, no chain that
    strands on a kind nothing is asked about, and every bank relation drawn."""
    bank = {r.name for r in multihop.BANK_RELATIONS}
    exs = multihop.generate(400, "train", seed=4, hops=(2, 3, 4), relations="wide")
    drawn = {name for ex in exs for name in ex.meta["relations"]}
    assert bank <= drawn and drawn & {r.name for r in multihop.RELATIONS}
    for ex in exs:
        assert len(ex.intermediate_answers) == len(ex.reasoning_steps) == ex.difficulty
        assert len(set(ex.intermediate_answers)) == ex.difficulty
        for step, fact, answer in zip(
            ex.reasoning_steps, ex.meta["facts"], ex.intermediate_answers, strict=True
        ):
            assert step.startswith(f"{fact} So ") and step.endswith(f" is {answer}.")
            assert sum(fact in paragraph for paragraph in ex.context) == 1
        assert ex.meta["start"] in ex.question and ex.question.endswith("?")
        ids = [i for part in ex.meta["templates"].values() for i in part]
        assert all(i in multihop.TEMPLATES for i in ids)
    again = multihop.generate(400, "train", seed=4, hops=(2, 3, 4), relations="wide")
    assert [e.to_dict() for e in exs] == [e.to_dict() for e in again]


def test_the_core_relations_and_their_items_are_unchanged_by_the_bank() -> None:
    """The evaluation sets never see a bank relation or wording: "core" is the default, and the
    bank's templates are none of the pools'."""
    for phrasing in ("seen", "unseen"):
        for ex in multihop.generate(60, "test", seed=0, hops=(2, 3), phrasing=phrasing):
            assert not set(ex.meta["relations"]) & {r.name for r in multihop.BANK_RELATIONS}
    bank = {t for k, t in multihop.TEMPLATES.items() if k.startswith("bank/")}
    pools = {t for k, t in multihop.TEMPLATES.items() if not k.startswith("bank/")}
    assert bank and not bank & pools
    with pytest.raises(ValueError, match="relations"):
        multihop.generate(1, relations="all")


@pytest.mark.parametrize(("phrasing", "relations"), [("wide", "wide"), ("unseen", "core")])
def test_local_traces_restate_each_hop_about_its_own_subject(phrasing: str, relations: str) -> None:
    """trace="local" changes only the steps: each quotes its fact, then names the hop about the
    entity in hand (never an earlier one), in the question's own noun phrase where the question
    has one for that hop."""
    nested = multihop.generate(200, "train", seed=5, phrasing=phrasing, relations=relations)
    local = multihop.generate(
        200, "train", seed=5, phrasing=phrasing, relations=relations, trace="local"
    )
    assert [e.to_dict() | {"reasoning_steps": None} for e in nested] == [
        e.to_dict() | {"reasoning_steps": None} for e in local
    ]
    copied = 0
    for ex in local:
        subjects = [ex.meta["start"], *ex.intermediate_answers[:-1]]
        for i, (step, fact, answer) in enumerate(
            zip(ex.reasoning_steps, ex.meta["facts"], ex.intermediate_answers, strict=True)
        ):
            assert step.startswith(f"{fact} So ") and step.endswith(f" is {answer}.")
            hop = step[len(fact) + len(" So ") : -len(f" is {answer}.")]
            assert subjects[i] in hop and not any(s in hop for s in subjects[:i])
            shown = f"'{subjects[i]}'" if f"'{subjects[i]}'" in hop else subjects[i]
            template = hop.replace(shown, "{x}", 1)
            relation = ex.meta["relations"][i]
            ids = {t for t, text in multihop.TEMPLATES.items() if text == template}
            assert any(f"/{relation}/noun_phrases/" in t for t in ids), (hop, relation)
            copied += bool(ids & set(ex.meta["templates"]["question"]))
    assert copied > 0.7 * sum(ex.difficulty for ex in local)


def test_rejects_bad_trace() -> None:
    with pytest.raises(ValueError, match="trace"):
        multihop.generate(1, trace="canonical")
