"""The one record every dataset in `tasks` produces, and its JSONL form.

Generators (knights and knaves, multi-hop, arithmetic) and loaders (MuSiQue, generic JSONL,
GPQA, MMLU, MATH) all return `Example`s, so templates, rewards and the trainer never look at a
dataset-specific shape.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

# How a final answer is compared with the ground truth (see tasks.judging):
#   "text"   normalized exact match (case, punctuation, articles, whitespace, number forms)
#   "number" same as text; says the answer is one number
#   "kk"     per-person knight/knave assignment, in any order
#   "choice" option letter (or the option's text) of a multiple-choice question
#   "math"   text match after stripping LaTeX wrappers (\boxed, \text, $, \left, \right, ...)
AnswerType = Literal["text", "number", "kk", "choice", "math"]
ANSWER_TYPES: tuple[str, ...] = ("text", "number", "kk", "choice", "math")

Split = Literal["train", "validation", "test"]
SPLITS: tuple[str, ...] = ("train", "validation", "test")


@dataclass
class Example:
    """One question with its final answer and the intermediate ground truths.

    `reasoning_steps[i]` is the deduction that reaches `intermediate_answers[i]`; the two lists
    have the same length whenever steps are known (loaded evaluation data may have none), so
    SFT targets can be laid out interleaved or think-then-answer from the same content.
    """

    id: str
    dataset: str
    question: str
    final_answer: str
    intermediate_answers: list[str] = field(default_factory=list)
    reasoning_steps: list[str] = field(default_factory=list)
    difficulty: int = 0
    split: str = "train"
    answer_type: str = "text"
    # Paragraphs the question must be answered from (multi-hop); shown to the model.
    context: list[str] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.answer_type not in ANSWER_TYPES:
            raise ValueError(f"answer_type must be one of {ANSWER_TYPES}, got {self.answer_type!r}")
        if self.reasoning_steps and len(self.reasoning_steps) != len(self.intermediate_answers):
            raise ValueError(
                f"example {self.id}: {len(self.reasoning_steps)} reasoning steps for "
                f"{len(self.intermediate_answers)} intermediate answers"
            )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> Example:
        known = {f.name for f in fields(cls)}
        unknown = set(record) - known
        if unknown:
            raise ValueError(f"unknown Example fields: {sorted(unknown)}")
        return cls(**record)


def content_id(prefix: str, *parts: str) -> str:
    """A stable id from content, so the same question gets the same id in every run."""
    digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()
    return f"{prefix}-{digest[:12]}"


def write_jsonl(examples: Iterable[Example], path: str | Path) -> int:
    """Write examples one JSON object a line; returns how many were written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with path.open("w", encoding="utf-8") as f:
        for ex in examples:
            f.write(json.dumps(ex.to_dict(), ensure_ascii=False) + "\n")
            count += 1
    return count


def read_jsonl(path: str | Path) -> list[Example]:
    """Read what `write_jsonl` wrote (blank lines are skipped)."""
    out: list[Example] = []
    with Path(path).open(encoding="utf-8") as f:
        for line_no, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                out.append(Example.from_dict(json.loads(line)))
            except (ValueError, TypeError) as e:
                raise ValueError(f"{path}:{line_no}: {e}") from e
    return out
