"""Which sample rejection-sampling fine-tuning imitates, and what it is trained on."""

from __future__ import annotations

from tasks import generate
from tasks.prompts import target
from training.rewards import RewardConfig, score
from training.rft import pick_best
from training.rl.rollout import Sample
from training.templates import sft_pair


class _Tokenizer:
    eos_token = "<|im_end|>"

    def apply_chat_template(self, conversation, **kwargs):  # type: ignore[no-untyped-def]
        return "".join(m["content"] for m in conversation)


def _sample(text: str, length: int, truncated: bool = False) -> Sample:
    return Sample(0, [1], list(range(length)), text, truncated)


def test_the_best_correct_sample_wins_then_the_shortest() -> None:
    ex = generate("arithmetic", 1, split="train", seed=3, phrasing="direct", steps=2)[0]
    first, final = ex.intermediate_answers
    right_early = f"<think> a </think> <answer> {first} </answer> <think> b </think> "
    right_early += f"<answer> {final} </answer>"
    right_late = f"<think> a b </think> <answer> {final} </answer>"
    wrong = f"<think> a </think> <answer> {first} </answer> <think> b </think> <answer> 0 </answer>"
    config = RewardConfig(intermediate="time_discounted", gate="conditional")
    scored = [
        (s, score(s.text, ex, config))
        for s in (
            _sample(wrong, 5),
            _sample(right_late, 4),
            _sample(right_early, 9),
            _sample(right_early, 7),
        )
    ]
    best = pick_best(scored)
    assert best is not None and best[0].text == right_early and len(best[0].response_ids) == 7
    # The intermediate reward is what puts the interleaved sample ahead of the late one.
    assert best[1].intermediate > scored[1][1].intermediate
    assert pick_best(scored[:1]) is None  # nothing right: nothing kept
    cut = [(_sample(right_early, 9, truncated=True), scored[2][1])]
    assert pick_best(cut) is None  # cut at the limit never counts


def test_a_kept_sample_is_imitated_as_written() -> None:
    ex = generate("kk", 1, split="train", seed=1, people=(2,))[0]
    _, reference = sft_pair(_Tokenizer(), ex)
    assert reference == target(ex) + "<|im_end|>"
    ex.meta["target"] = "<think> mine </think> <answer> x </answer>"
    assert sft_pair(_Tokenizer(), ex)[1] == "<think> mine </think> <answer> x </answer><|im_end|>"
