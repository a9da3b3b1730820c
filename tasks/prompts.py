"""What each output style asks of the model, and the targets that show it, for the two styles
the paper compares.

- `interleaved`: think, answer each conclusion as soon as it is reached, think again, ...,
  final answer last (`parsing.instructions.INTERLEAVED_INSTRUCTION`).
- `think_answer`: all thinking first, then one final answer (DeepSeek-R1 style,
  `parsing.instructions.THINK_ANSWER_INSTRUCTION`).

`INSTRUCTIONS` is the one style -> system instruction map: training's prompts, the server's
default system prompt and the benchmarks' requests all read it. Messages are plain chat dicts;
turning them into a model's prompt text needs its tokenizer and is training's job
(`training.templates.apply_template`). Targets are the same reasoning content in the two
arrangements, so an SFT warm start differs between the styles only in where the answers stand.
"""

from __future__ import annotations

from typing import Literal

from parsing.instructions import INTERLEAVED_INSTRUCTION, THINK_ANSWER_INSTRUCTION
from tasks.example import Example

Style = Literal["interleaved", "think_answer"]
STYLES: tuple[str, ...] = ("interleaved", "think_answer")

INSTRUCTIONS: dict[str, str] = {
    "interleaved": INTERLEAVED_INSTRUCTION,
    "think_answer": THINK_ANSWER_INSTRUCTION,
}

# What the final answer should look like, per answer type; the judging compares against this.
ANSWER_HINTS: dict[str, str] = {
    "kk": "Give the final answer as (1) Name is a knight/knave (2) ... for every inhabitant.",
    "number": "Give the final answer as a single number.",
    "choice": "Give the final answer as the letter of the correct option.",
    "math": "Give the final answer as a simplified expression.",
    "text": "Give the final answer as a short phrase.",
}

# Between the last intermediate answer and a final answer that differs from it (K&K: the last
# person resolved, then everyone listed) a think segment must stand, or the format breaks.
_WRAP_UP = "Every step is resolved; collecting the conclusions into the final answer."


def _check_style(style: str) -> str:
    if style not in STYLES:
        raise ValueError(f"style must be one of {STYLES}, got {style!r}")
    return style


def system_prompt(style: Style | str) -> str:
    return INSTRUCTIONS[_check_style(style)]


def user_prompt(ex: Example) -> str:
    """The question, after its context paragraphs (multi-hop) and before the answer-form hint."""
    parts: list[str] = []
    if ex.context:
        paragraphs = "\n\n".join(f"Paragraph {i}: {p}" for i, p in enumerate(ex.context, 1))
        parts.append(f"Context:\n{paragraphs}")
        parts.append(f"Question: {ex.question}")
    else:
        parts.append(ex.question)
    if ex.meta.get("hint", True):  # everyday prompts are sent as the user typed them
        parts.append(ANSWER_HINTS.get(ex.answer_type, ANSWER_HINTS["text"]))
    return "\n\n".join(parts)


def build_messages(ex: Example, style: Style | str = "interleaved") -> list[dict[str, str]]:
    return [
        {"role": "system", "content": system_prompt(style)},
        {"role": "user", "content": user_prompt(ex)},
    ]


def _norm(text: str) -> str:
    return " ".join(text.lower().split()).rstrip(".")


def _require_steps(ex: Example) -> None:
    if not ex.reasoning_steps:
        raise ValueError(f"example {ex.id} has no reasoning steps to build a target from")


def interleaved_target(ex: Example) -> str:
    """`<think> step1 </think> <answer> ia1 </answer> ... <answer> final </answer>`.

    When the last intermediate answer already is the final answer (multi-hop, arithmetic) it is
    not repeated; otherwise (K&K) a short wrap-up think precedes the final answer.
    """
    _require_steps(ex)
    parts = [
        f"<think> {step} </think> <answer> {ia} </answer>"
        for step, ia in zip(ex.reasoning_steps, ex.intermediate_answers, strict=True)
    ]
    if _norm(ex.intermediate_answers[-1]) != _norm(ex.final_answer):
        # A generator may write its own wrap-up (K&K lists every role for the answer to copy).
        wrap_up = ex.meta.get("wrap_up", _WRAP_UP)
        parts.append(f"<think> {wrap_up} </think> <answer> {ex.final_answer} </answer>")
    return " ".join(parts)


def think_answer_target(ex: Example) -> str:
    """`<think> all steps </think> <answer> final </answer>`: same reasoning, one answer."""
    _require_steps(ex)
    return f"<think> {' '.join(ex.reasoning_steps)} </think> <answer> {ex.final_answer} </answer>"


def target(ex: Example, style: Style | str = "interleaved") -> str:
    return (
        interleaved_target(ex) if _check_style(style) == "interleaved" else think_answer_target(ex)
    )
