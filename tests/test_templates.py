"""Prompts in both styles, SFT targets that the parser accepts, the real chat template."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from parsing import parse
from parsing.instructions import INTERLEAVED_INSTRUCTION, THINK_ANSWER_INSTRUCTION
from tasks import Example, generate
from tasks.prompts import (
    build_messages,
    interleaved_target,
    target,
    think_answer_target,
    user_prompt,
)
from training.templates import apply_template, sft_pair

MODEL_DIR = Path(__file__).resolve().parents[1] / ".cache" / "models" / "SmolLM2-135M-Instruct"
DATASETS = ("kk", "multihop", "arithmetic")


def test_messages_use_the_parsing_instructions() -> None:
    ex = generate("kk", 1, seed=0)[0]
    inter, base = build_messages(ex, "interleaved"), build_messages(ex, "think_answer")
    assert inter[0] == {"role": "system", "content": INTERLEAVED_INSTRUCTION}
    assert base[0] == {"role": "system", "content": THINK_ANSWER_INSTRUCTION}
    assert inter[1] == base[1] and inter[1]["role"] == "user"
    assert inter[1]["content"].startswith(ex.question)
    assert "(1) Name is a knight/knave" in inter[1]["content"]
    with pytest.raises(ValueError, match="style"):
        build_messages(ex, "cot")


def test_multihop_prompt_carries_the_context() -> None:
    ex = generate("multihop", 1, seed=0)[0]
    prompt = user_prompt(ex)
    assert prompt.startswith("Context:\nParagraph 1: ")
    for i, paragraph in enumerate(ex.context, 1):
        assert f"Paragraph {i}: {paragraph}" in prompt
    assert f"Question: {ex.question}" in prompt
    assert prompt.index("Context") < prompt.index("Question")


@settings(max_examples=30, deadline=None)
@given(st.sampled_from(DATASETS), st.integers(0, 10_000))
def test_both_targets_parse_with_the_right_answers(dataset: str, seed: int) -> None:
    ex = generate(dataset, 1, "train", seed=seed)[0]
    inter = parse(interleaved_target(ex))
    assert inter.format_ok, inter.problems
    assert inter.final_answer == ex.final_answer
    # Every intermediate truth is answered, in order, each in its own segment.
    assert inter.answers[: len(ex.intermediate_answers)] == ex.intermediate_answers
    extra = len(inter.answers) - len(ex.intermediate_answers)
    assert extra == (1 if dataset == "kk" else 0)  # K&K adds the whole listing at the end

    base = parse(think_answer_target(ex))
    assert base.format_ok, base.problems
    assert [s.kind for s in base.segments] == ["think", "answer"]
    assert base.answers == [ex.final_answer]
    assert base.segments[0].text == " ".join(ex.reasoning_steps)


def test_target_dispatch_and_missing_steps() -> None:
    ex = generate("arithmetic", 1, seed=0)[0]
    assert target(ex, "interleaved") == interleaved_target(ex)
    assert target(ex, "think_answer") == think_answer_target(ex)
    bare = Example(id="x", dataset="gpqa", question="q", final_answer="A", answer_type="choice")
    with pytest.raises(ValueError, match="no reasoning steps"):
        interleaved_target(bare)


class _NoSystemTokenizer:
    """Stands in for chat templates that reject a system turn (Gemma-style)."""

    eos_token = "<eos>"

    def apply_chat_template(self, conversation: list[dict[str, str]], **kwargs: Any) -> str:
        if any(m["role"] == "system" for m in conversation):
            raise ValueError("System role not supported")
        assert kwargs == {"add_generation_prompt": True, "tokenize": False}
        return "".join(f"<{m['role']}>{m['content']}" for m in conversation) + "<model>"


def test_template_without_system_role_gets_the_instruction_in_the_user_turn() -> None:
    ex = generate("kk", 1, seed=0)[0]
    text = apply_template(_NoSystemTokenizer(), ex, "interleaved")
    assert text.startswith(f"<user>{INTERLEAVED_INSTRUCTION}\n\n{ex.question}")
    _, completion = sft_pair(_NoSystemTokenizer(), ex, "think_answer")
    assert completion == think_answer_target(ex) + "<eos>"


@pytest.mark.skipif(not MODEL_DIR.is_dir(), reason=f"tokenizer folder {MODEL_DIR} not prepared")
@pytest.mark.skipif(
    importlib.util.find_spec("transformers") is None or importlib.util.find_spec("jinja2") is None,
    reason="transformers (with jinja2) is not installed",
)
@pytest.mark.parametrize("style", ["interleaved", "think_answer"])
def test_real_smollm2_chat_template(style: str) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(MODEL_DIR)
    ex = generate("multihop", 1, seed=0)[0]
    text = apply_template(tokenizer, ex, style)
    instruction = INTERLEAVED_INSTRUCTION if style == "interleaved" else THINK_ANSWER_INSTRUCTION
    assert text.startswith(f"<|im_start|>system\n{instruction}<|im_end|>\n<|im_start|>user\n")
    assert user_prompt(ex) in text
    assert text.endswith("<|im_start|>assistant\n")
    assert "SmolLM" not in text  # our system prompt replaced the template's default
    prompt, completion = sft_pair(tokenizer, ex, style)
    assert prompt == text and completion.endswith(tokenizer.eos_token)
