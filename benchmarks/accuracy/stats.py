"""Percentile-bootstrap confidence intervals for the accuracy tables.

Held-out sets of 25-100 items make Pass@1 move by 0.1 between samples of the same model, so
every comparison we publish carries an interval:

- `mean_ci`: one model's mean over items (Pass@1, normalized TTFT).
- `macro_mean_ci`: the paper's "Avg." column, the unweighted mean of per-dataset means; each
  resample draws within every dataset (stratified), so a dataset's weight never changes.
- `paired_difference`: model B minus model A on the *same* items, resampling items (pairs).
  This is the test that says whether a training step moved accuracy: pairing removes the
  between-item variance that two independent intervals would both carry.

Stdlib only, seeded: the same inputs give the same interval on every machine.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

RESAMPLES = 2000
LEVEL = 0.95


@dataclass(frozen=True)
class Interval:
    estimate: float
    low: float
    high: float
    n: int

    def excludes_zero(self) -> bool:
        return self.low > 0.0 or self.high < 0.0

    def to_dict(self) -> dict[str, float | int]:
        return {"estimate": self.estimate, "low": self.low, "high": self.high, "n": self.n}


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values)


def _percentiles(stats: list[float], level: float) -> tuple[float, float]:
    stats.sort()
    tail = (1.0 - level) / 2.0
    last = len(stats) - 1
    return stats[round(tail * last)], stats[round((1.0 - tail) * last)]


def mean_ci(
    values: Sequence[float], *, level: float = LEVEL, resamples: int = RESAMPLES, seed: int = 0
) -> Interval | None:
    """The mean of `values` with its percentile-bootstrap interval; None for no values."""
    if not values:
        return None
    rng = random.Random(seed)
    n = len(values)
    stats = [_mean(rng.choices(values, k=n)) for _ in range(resamples)]
    low, high = _percentiles(stats, level)
    return Interval(_mean(values), low, high, n)


def macro_mean_ci(
    groups: Sequence[Sequence[float]],
    *,
    level: float = LEVEL,
    resamples: int = RESAMPLES,
    seed: int = 0,
) -> Interval | None:
    """The unweighted mean of the groups' means, resampled within each group; None when any
    group is empty (an average over some datasets is not the paper's Avg.)."""
    if not groups or any(not g for g in groups):
        return None
    rng = random.Random(seed)
    stats = [_mean([_mean(rng.choices(g, k=len(g))) for g in groups]) for _ in range(resamples)]
    low, high = _percentiles(stats, level)
    return Interval(_mean([_mean(g) for g in groups]), low, high, sum(len(g) for g in groups))


def paired_difference(
    pairs: Sequence[tuple[float, float]],
    *,
    level: float = LEVEL,
    resamples: int = RESAMPLES,
    seed: int = 0,
) -> Interval | None:
    """Mean of (b - a) over matched items, with the interval from resampling the pairs."""
    return mean_ci([b - a for a, b in pairs], level=level, resamples=resamples, seed=seed)
