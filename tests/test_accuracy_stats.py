"""The intervals the accuracy tables publish, and the paired comparison."""

from __future__ import annotations

import json
import random
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks.accuracy import compare, stats


def test_an_interval_covers_the_mean_and_narrows_with_more_items() -> None:
    rng = random.Random(1)
    small = [float(rng.random() < 0.3) for _ in range(25)]
    large = [float(rng.random() < 0.3) for _ in range(400)]
    a, b = stats.mean_ci(small), stats.mean_ci(large)
    assert a is not None and b is not None
    assert a.low <= a.estimate <= a.high and b.low <= b.estimate <= b.high
    assert (b.high - b.low) < (a.high - a.low) / 2  # ~1/sqrt(n): 4x narrower for 16x the items
    # 25 Bernoulli(0.3) items: the normal approximation's 95% half-width is ~0.18.
    assert 0.25 < a.high - a.low < 0.45
    assert stats.mean_ci([]) is None
    assert stats.mean_ci(small) == stats.mean_ci(small)  # seeded


def test_constant_values_have_a_zero_width_interval() -> None:
    ci = stats.mean_ci([1.0] * 10)
    assert ci is not None and (ci.low, ci.estimate, ci.high) == (1.0, 1.0, 1.0)
    assert ci.excludes_zero()
    zero = stats.paired_difference([(1.0, 1.0), (0.0, 0.0)])
    assert zero is not None and not zero.excludes_zero()


@settings(max_examples=30, deadline=None)
@given(
    st.lists(st.lists(st.sampled_from([0.0, 1.0]), min_size=1, max_size=30), min_size=1, max_size=4)
)
def test_the_macro_mean_weights_datasets_equally(groups: list[list[float]]) -> None:
    ci = stats.macro_mean_ci(groups, resamples=200)
    assert ci is not None
    expected = sum(sum(g) / len(g) for g in groups) / len(groups)
    assert abs(ci.estimate - expected) < 1e-12
    assert ci.low - 1e-12 <= ci.estimate <= ci.high + 1e-12
    assert ci.n == sum(len(g) for g in groups)
    assert stats.macro_mean_ci([*groups, []]) is None


def test_pairing_detects_a_change_that_independent_intervals_do_not() -> None:
    # 60 items; model b fixes 8 of a's errors and breaks none. The two unpaired intervals
    # overlap, but every pair moves the same way, so the paired interval excludes zero.
    rng = random.Random(0)
    a = [float(rng.random() < 0.5) for _ in range(60)]
    wrong = [i for i, v in enumerate(a) if v == 0.0][:8]
    b = [1.0 if i in wrong else v for i, v in enumerate(a)]
    ca, cb = stats.mean_ci(a), stats.mean_ci(b)
    assert ca is not None and cb is not None and cb.low < ca.high  # overlapping
    diff = stats.paired_difference(list(zip(a, b, strict=True)))
    assert diff is not None and diff.excludes_zero()
    assert abs(diff.estimate - 8 / 60) < 1e-12


def _responses(dataset: str, correct: list[bool], ttft: float = 0.5) -> list[dict]:
    return [
        {
            "id": f"{dataset}-{i}",
            "dataset": dataset,
            "difficulty": 2 + i % 2,
            "ok": True,
            "correct": c,
            "normalized_ttft": ttft,
        }
        for i, c in enumerate(correct)
    ]


def _result(kk: list[bool], multihop: list[bool]) -> dict:
    responses = _responses("kk", kk) + _responses("multihop", multihop)

    def cell(values: list[bool]) -> dict:
        return {
            "n": len(values),
            "pass_at_1": sum(values) / len(values),
            "normalized_ttft": 0.5,
            "format_rate": 1.0,
        }

    by_difficulty = {}
    for level in (2, 3):
        values = [
            r["correct"] for r in responses if r["dataset"] == "kk" and r["difficulty"] == level
        ]
        by_difficulty[f"kk/{level}"] = cell(values)
    return {
        "by_dataset": {"kk": cell(kk), "multihop": cell(multihop)},
        "by_difficulty": by_difficulty,
        "responses": responses,
    }


def test_compare_prints_intervals_and_the_paired_change(tmp_path: Path) -> None:
    before = [i % 2 == 0 for i in range(40)]  # 0.5
    after = [True if i < 30 else v for i, v in enumerate(before)]  # 15 more right, 0.875
    files = {"start": _result(before, before), "trained": _result(after, before)}
    specs = []
    for name, result in files.items():
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(result))
        specs.append(f"{name}={path}")
    out = tmp_path / "t.md"
    assert (
        compare.main(
            [*specs, "--baseline", "start", "--output", str(out), "--plot", str(tmp_path / "k.png")]
        )
        == 0
    )
    text = out.read_text()
    start = stats.mean_ci([float(v) for v in before])
    assert start is not None
    assert f"| start | 0.500 [{start.low:.2f}, {start.high:.2f}] / 0.500 [0.50, 0.50]" in text
    saved = json.loads(out.with_suffix(".json").read_text())
    kk = saved["paired"]["models"]["trained"]["kk"]
    assert kk["n"] == 40 and abs(kk["estimate"] - 15 / 40) < 1e-12 and kk["low"] > 0
    multihop = saved["paired"]["models"]["trained"]["multihop"]
    assert multihop["estimate"] == 0.0 and multihop["low"] == 0.0 == multihop["high"]
    assert "+0.375" in text and "(40) *" in text
    assert saved["kk_by_people"]["start"]["2"]["pass_at_1_ci"] == [1.0, 1.0]  # even ids right
