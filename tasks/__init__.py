"""Datasets with intermediate ground truths, all as `Example` records.

Generated (deterministic by seed, split by content hash so held-out items never reach
training): `kk` (knights and knaves), `multihop` (MuSiQue-shaped, fictional world),
`arithmetic` (multi-step word problems, out of domain). Loaded from local files: MuSiQue,
generic JSONL, GPQA, MMLU, MATH (see `loaders`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from training.data import arithmetic, knights_knaves, multihop
from training.data.example import ANSWER_TYPES, SPLITS, Example, read_jsonl, write_jsonl
from training.data.loaders import LOADERS, load
from training.data.splits import assert_disjoint, check_split, dedupe, split_of

GENERATORS: dict[str, Callable[..., list[Example]]] = {
    "kk": knights_knaves.generate,
    "multihop": multihop.generate,
    "arithmetic": arithmetic.generate,
}


def generate(
    dataset: str, n: int, split: str = "train", seed: int = 0, **options: Any
) -> list[Example]:
    """`n` examples of a generated dataset; same arguments, same examples."""
    if dataset not in GENERATORS:
        raise ValueError(f"unknown dataset {dataset!r}; known: {sorted(GENERATORS)}")
    return GENERATORS[dataset](n, split=check_split(split), seed=seed, **options)


__all__ = [
    "ANSWER_TYPES",
    "GENERATORS",
    "LOADERS",
    "SPLITS",
    "Example",
    "assert_disjoint",
    "dedupe",
    "generate",
    "load",
    "read_jsonl",
    "split_of",
    "write_jsonl",
]
