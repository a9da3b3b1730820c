"""Smoke test of `python -m benchmarks.parser` on a tiny stream (the figures are not checked:
timing belongs to the benchmark, not to the test suite)."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks.parser import main, make_deltas
from parsing import parse


def test_deltas_are_seeded_and_sized() -> None:
    deltas = make_deltas(500, seed=1)
    assert deltas == make_deltas(500, seed=1)
    assert len(deltas) == 500
    assert all(1 <= len(d) <= 8 for d in deltas)
    assert parse("".join(deltas)).segments  # a real interleaved response


def test_benchmark_writes_json(tmp_path: Path) -> None:
    out = tmp_path / "parser.json"
    main(["--num-deltas", "2000", "--naive-deltas", "200", "--repeats", "1", "--output", str(out)])
    result = json.loads(out.read_text())
    assert result["stream"]["deltas"] == 2000
    assert result["naive"]["deltas"] == 200
    for key in ("us_per_delta", "first_10pct_us_per_delta", "last_first_ratio"):
        assert result["stream"][key] > 0
