"""What is asked, and what counts as correct: torch-free, importing only `parsing` and the
standard library, shared by training, the server and the benchmarks.

- Datasets with intermediate ground truths, all as `Example` records (`example`): generated
  ones through `generate` (the registry below) and local files through `load` (`loaders`).
- `prompts`: the instruction of each output style (`INSTRUCTIONS`), the chat messages
  (`build_messages`) and the SFT targets of both styles.
- `judging`: answer normalization, the verdict on a response (`judge_response`) and the exact
  matching of intermediate answers, the rules training's rewards and evaluation share.

Generated (deterministic by seed, split by content hash so held-out items never reach
training): `kk` (knights and knaves), `multihop` (MuSiQue-shaped, fictional world),
`arithmetic` (chained arithmetic as word problems), `chains` (the same typed as chat
questions, "What is 2+3? Then multiply by 4."), `everyday`
(everyday prompts with the base model's own answers, shipped as a file). Loaded from local
files: MuSiQue, generic JSONL, GPQA, MMLU, MATH (see `loaders`).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from tasks import arithmetic, everyday, knights_knaves, multihop
from tasks.example import ANSWER_TYPES, SPLITS, Example, read_jsonl, write_jsonl
from tasks.judging import judge_response
from tasks.loaders import LOADERS, load
from tasks.prompts import INSTRUCTIONS, STYLES, build_messages
from tasks.splits import assert_disjoint, check_split, dedupe, split_of

GENERATORS: dict[str, Callable[..., list[Example]]] = {
    "kk": knights_knaves.generate,
    "multihop": multihop.generate,
    "arithmetic": arithmetic.generate,
    "chains": arithmetic.generate_chains,
    "everyday": everyday.generate,
}


def generate(
    dataset: str, n: int, split: str = "train", seed: int = 0, **options: Any
) -> list[Example]:
    """`n` examples of a generated dataset; same arguments, same examples."""
    if dataset not in GENERATORS:
        raise ValueError(f"unknown dataset {dataset!r}; known: {sorted(GENERATORS)}")
    generator = GENERATORS[dataset]
    # Checked by name here, so an option a user mistyped is a ValueError that says which
    # options exist, while a TypeError from inside a generator stays the bug it is.
    takes = [p for p in inspect.signature(generator).parameters if p not in ("n", "split", "seed")]
    unknown = sorted(set(options) - set(takes))
    if unknown:
        raise ValueError(
            f"{dataset} takes no option {', '.join(unknown)}; it takes {', '.join(takes) or 'none'}"
        )
    return generator(n, split=check_split(split), seed=seed, **options)


def generator_options(texts: list[str]) -> dict[str, Any]:
    """A generator's options as written on command lines, `["people=3,5", "phrasing=unseen"]`:
    numbers become tuples of ints, one word stays a string. ValueError on anything else."""
    options: dict[str, Any] = {}
    for text in texts:
        key, sep, value = text.partition("=")
        if not sep or not key or not value:
            raise ValueError(f"expected option=value, got {text!r}")
        values = value.split(",")
        if all(v.lstrip("-").isdigit() for v in values):
            options[key] = tuple(int(v) for v in values)
        elif len(values) == 1:
            options[key] = value
        else:
            raise ValueError(f"option {key}: a list must be numbers, got {value!r}")
    return options


__all__ = [
    "ANSWER_TYPES",
    "GENERATORS",
    "INSTRUCTIONS",
    "LOADERS",
    "SPLITS",
    "STYLES",
    "Example",
    "assert_disjoint",
    "build_messages",
    "dedupe",
    "generate",
    "generator_options",
    "judge_response",
    "load",
    "read_jsonl",
    "split_of",
    "write_jsonl",
]
