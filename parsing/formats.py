"""Output formats: which tag strings delimit which segment kind, and which structure is valid.

A format is plain data (a frozen dataclass). The parser derives everything it needs from it
once, at construction, so the per-token path never looks at a `Format` again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

THINK = "think"
ANSWER = "answer"

Structure = Literal["alternating", "think_then_answer", "answer_only"]
_STRUCTURES: tuple[str, ...] = ("alternating", "think_then_answer", "answer_only")


@dataclass(frozen=True, slots=True)
class Format:
    """Tag strings for the two segment kinds, plus the structural rule for `format_ok`.

    A kind whose tags are `None` has no tags: its text is whatever stands outside the other
    kind's tags (the answer in the `r1` preset, everything in the `none` preset).

    `structure` picks the format rule (see `parsing.rules`):
      - "alternating": think and answer alternate, at least one answer, ends with an answer.
      - "think_then_answer": exactly one think segment followed by one non-empty answer.
      - "answer_only": exactly one non-empty answer.

    `start_in_think` is the default for `StreamParser(start_in_think=...)`: the opening think
    tag is part of the prompt (DeepSeek-R1 / Qwen3 chat templates), so the response starts
    inside a think segment.

    Constraints (checked here, so the parser can rely on them): each kind has both tags or
    neither; tags are non-empty and distinct; no tag occurs inside another. The last rule is
    what makes streaming exact: a complete tag in the buffer can never turn out to be part of
    a longer tag once more text arrives.
    """

    name: str = "custom"
    think_open: str | None = "<think>"
    think_close: str | None = "</think>"
    answer_open: str | None = "<answer>"
    answer_close: str | None = "</answer>"
    structure: Structure = "alternating"
    start_in_think: bool = False

    def __post_init__(self) -> None:
        for kind, opener, closer in (
            (THINK, self.think_open, self.think_close),
            (ANSWER, self.answer_open, self.answer_close),
        ):
            if (opener is None) != (closer is None):
                raise ValueError(f"{kind}: give both tags or neither, got {opener!r}/{closer!r}")
            if opener == "" or closer == "":
                raise ValueError(f"{kind}: tags must be non-empty")
        tags = self.tags()
        if len(set(tags)) != len(tags):
            raise ValueError(f"tags must be distinct, got {tags!r}")
        for i, a in enumerate(tags):
            for j, b in enumerate(tags):
                if i != j and a in b:
                    raise ValueError(f"tag {a!r} occurs inside tag {b!r}")
        if self.structure not in _STRUCTURES:
            raise ValueError(f"structure must be one of {_STRUCTURES}, got {self.structure!r}")
        if self.start_in_think and self.think_open is None:
            raise ValueError("start_in_think needs think tags")

    def tags(self) -> tuple[str, ...]:
        """All tag strings of this format, in a fixed order."""
        found = (self.think_open, self.think_close, self.answer_open, self.answer_close)
        return tuple(t for t in found if t is not None)

    def tagged(self, kind: str) -> bool:
        """Whether segments of `kind` are delimited by tags in this format."""
        return (self.think_open if kind == THINK else self.answer_open) is not None


INTERLEAVED = Format(name="interleaved")
"""`<think>…</think> <answer>…</answer>` repeated: the paper's format (the default)."""

R1 = Format(
    name="r1",
    answer_open=None,
    answer_close=None,
    structure="think_then_answer",
    start_in_think=True,
)
"""DeepSeek-R1 / Qwen3: one `<think>…</think>` block (opening tag usually in the prompt),
then the answer as plain text."""

NONE = Format(
    name="none",
    think_open=None,
    think_close=None,
    answer_open=None,
    answer_close=None,
    structure="answer_only",
)
"""No tags: the whole response is one answer (ordinary chat models)."""

FORMATS: dict[str, Format] = {f.name: f for f in (INTERLEAVED, R1, NONE)}


def get_format(format: Format | str) -> Format:
    """Look up a preset by name ("interleaved", "r1", "none"); a `Format` passes through."""
    if isinstance(format, Format):
        return format
    try:
        return FORMATS[format]
    except KeyError:
        raise ValueError(f"unknown format {format!r}; presets: {sorted(FORMATS)}") from None
