"""Train / validation / test separation that holds by construction.

A generated item belongs to the split its *canonical key* hashes into (80 / 10 / 10 buckets),
whatever seed produced it. So a puzzle that can appear in training can never appear in a
held-out split, even if two runs with different seeds happen to draw it. The generators also
draw from per-split random streams and dedupe within a split; `assert_disjoint` is the check
the tests (and careful users) run on the result.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Iterable

from tasks.example import SPLITS, Example

# Percent of the hash space each split owns, in SPLITS order.
SPLIT_PERCENT: dict[str, int] = {"train": 80, "validation": 10, "test": 10}


def check_split(split: str) -> str:
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    return split


def split_of(key: str) -> str:
    """The split a canonical key belongs to (stable across runs and machines)."""
    bucket = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") % 100
    edge = 0
    for split in SPLITS:
        edge += SPLIT_PERCENT[split]
        if bucket < edge:
            return split
    raise AssertionError("SPLIT_PERCENT must sum to 100")


def split_seed(dataset: str, split: str, seed: int) -> str:
    """Seed material for a random stream; distinct per dataset and split, stable per seed."""
    return f"{dataset}/{check_split(split)}/{seed}"


def normalized_question(ex: Example) -> str:
    return " ".join(ex.question.lower().split())


def dedupe(
    examples: Iterable[Example], key: Callable[[Example], str] = normalized_question
) -> list[Example]:
    """Drop later examples whose key was already seen (keeps order)."""
    seen: set[str] = set()
    out: list[Example] = []
    for ex in examples:
        k = key(ex)
        if k not in seen:
            seen.add(k)
            out.append(ex)
    return out


def overlap(
    a: Iterable[Example], b: Iterable[Example], key: Callable[[Example], str] = normalized_question
) -> set[str]:
    """Keys present in both collections."""
    return {key(ex) for ex in a} & {key(ex) for ex in b}


def assert_disjoint(
    a: Iterable[Example], b: Iterable[Example], key: Callable[[Example], str] = normalized_question
) -> None:
    shared = overlap(a, b, key)
    if shared:
        sample = sorted(shared)[:3]
        raise AssertionError(f"{len(shared)} items in both splits, e.g. {sample}")


# What a generator's `draw` returns for one candidate: the key its split is decided by, the key
# that makes it a duplicate, and how to build the example once it is accepted (building may use
# the random stream further, so it happens only for accepted candidates).
Candidate = tuple[str, str, Callable[[], Example]]


def draw_distinct(
    dataset: str,
    n: int,
    split: str,
    seed: int,
    sizes: int | Iterable[int],
    draw: Callable[[random.Random, int], Candidate],
) -> list[Example]:
    """`n` distinct examples of `split`, difficulty sizes used in turn.

    Every generator shares this loop: one random stream per dataset, split and seed; candidates
    whose key hashes into another split are skipped, and so are duplicates.
    """
    counts = (sizes,) if isinstance(sizes, int) else tuple(sizes)
    rng = random.Random(split_seed(dataset, split, seed))
    out: list[Example] = []
    seen: set[str] = set()
    attempts = 0
    while len(out) < n:
        attempts += 1
        if attempts > 50 * n + 1000:
            raise RuntimeError(
                f"only {len(out)} distinct {split} {dataset} items for sizes {counts} after "
                f"{attempts} draws; the space is too small for n={n}"
            )
        split_key, identity, build = draw(rng, counts[len(out) % len(counts)])
        if split_of(split_key) != split or identity in seen:
            continue
        seen.add(identity)
        out.append(build())
    return out
