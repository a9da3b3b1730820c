"""The hand-written multi-hop set (tasks/data/multihop-novel.jsonl): questions on relations no
generator makes, to measure whether a model reads a relation or recognises one of the
generator's. It is evaluation only; nothing in training may resemble its items."""

from __future__ import annotations

from pathlib import Path

from tasks import multihop
from tasks.example import read_jsonl
from tasks.judging import judge_final

DATA = Path(__file__).resolve().parent.parent / "tasks" / "data" / "multihop-novel.jsonl"


def test_every_item_is_answerable_from_its_context_alone() -> None:
    items = read_jsonl(DATA)
    assert len(items) >= 24 and len({e.id for e in items}) == len(items)
    for ex in items:
        assert ex.split == "test" and ex.dataset == "multihop-novel"
        assert 2 <= len(ex.intermediate_answers) == ex.difficulty <= 3
        assert ex.final_answer == ex.intermediate_answers[-1]
        text = " ".join(ex.context)
        assert all(answer in text for answer in ex.intermediate_answers), ex.question
        assert len(ex.context) > ex.difficulty  # a distractor beside the facts
        assert judge_final(ex.final_answer, ex) == "correct"
        for alias in ex.meta["final_answer_aliases"]:
            assert judge_final(alias, ex) == "correct"


def test_no_item_uses_a_relation_the_generators_word() -> None:
    """No question names a relation the way a generator's noun phrase does ("the mayor of",
    "the owner of"), the training-only bank's included: the relations here are ones training
    never states."""
    phrases = {
        t.split("{x}")[0].strip().lower()
        for k, t in multihop.TEMPLATES.items()
        if "/noun_phrases/" in k and t.split("{x}")[0].endswith(" of ")
    }
    assert "the owner of" in phrases and "the mayor of" in phrases
    for ex in read_jsonl(DATA):
        assert not any(p in ex.question.lower() for p in phrases), ex.question
