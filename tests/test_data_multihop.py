"""Multi-hop questions over a generated world: hops stated in context, splits disjoint."""

from __future__ import annotations

import random

import pytest

from training.data import multihop
from training.data.splits import assert_disjoint


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
