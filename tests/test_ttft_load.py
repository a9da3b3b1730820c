"""Load generation without HTTP: a fake `send` that takes a known time."""

from __future__ import annotations

import asyncio
import json
import time
from itertools import pairwise
from pathlib import Path

import pytest

from benchmarks.replay import DONE, ReplayServer, Script, chunk
from benchmarks.ttft import load
from benchmarks.ttft.__main__ import main
from benchmarks.ttft.client import RequestRecord, Target
from benchmarks.ttft.prompts import Prompt

PROMPTS = [Prompt(f"p{i}", [{"role": "user", "content": str(i)}]) for i in range(6)]
A, B = Target("a", "http://a"), Target("b", "http://b")


class FakeServer:
    """Each request takes `seconds`; records how many were in flight per target."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.in_flight: dict[str, int] = {}
        self.peak: dict[str, int] = {}
        self.sent: list[tuple[str, int, float]] = []

    async def send(self, job: load.Job) -> RequestRecord:
        name = job.target.name
        record = RequestRecord(name, job.prompt_index, sent_at=time.perf_counter())
        self.sent.append((name, job.prompt_index, record.sent_at))
        self.in_flight[name] = self.in_flight.get(name, 0) + 1
        self.peak[name] = max(self.peak.get(name, 0), self.in_flight[name])
        await asyncio.sleep(self.seconds)
        self.in_flight[name] -= 1
        record.ended_at = time.perf_counter()
        return record


def test_concurrency_cap_is_per_target_and_durations_add_up() -> None:
    fake = FakeServer(0.1)
    config = load.LoadConfig(max_concurrency=2)
    done: list[RequestRecord] = []
    result = asyncio.run(
        load.run(load.plan([A, B], PROMPTS, config), fake.send, config, done.append)
    )
    assert fake.peak == {"a": 2, "b": 2} and len(done) == len(result.records) == 12
    # 6 requests, 2 at a time, 0.1 s each: 3 waves, both targets side by side.
    assert result.durations["a"] == pytest.approx(0.3, abs=0.06)
    assert result.durations["b"] == pytest.approx(0.3, abs=0.06)
    assert [(n, i) for n, i, _ in fake.sent[:4]] == [("a", 0), ("b", 0), ("a", 1), ("b", 1)]


def test_block_mode_runs_one_target_at_a_time() -> None:
    fake = FakeServer(0.05)
    config = load.LoadConfig(interleave="block", block_size=3)
    result = asyncio.run(load.run(load.plan([A, B], PROMPTS, config), fake.send, config))
    names = [n for n, _, _ in fake.sent]
    assert names == ["a"] * 3 + ["b"] * 3 + ["a"] * 3 + ["b"] * 3
    # Two blocks of 0.05 s each per target, never overlapping with the other target.
    assert result.durations["a"] == pytest.approx(0.1, abs=0.04)
    assert fake.peak == {"a": 3, "b": 3}


def test_finite_rate_paces_the_sends() -> None:
    fake = FakeServer(0.0)
    config = load.LoadConfig(request_rate=20.0, burstiness=1000.0)  # nearly regular: 50 ms
    asyncio.run(load.run(load.plan([A], PROMPTS, config), fake.send, config))
    times = [t for _, _, t in fake.sent]
    gaps = [b - a for a, b in pairwise(times)]
    assert all(g == pytest.approx(0.05, abs=0.02) for g in gaps)


def test_warm_up_sends_unmeasured_requests_per_target() -> None:
    fake = FakeServer(0.0)
    records = asyncio.run(load.warm_up([A, B], PROMPTS, 2, fake.send))
    assert [(r.target, r.prompt_index) for r in records] == [
        ("a", -1), ("a", -2), ("b", -1), ("b", -2),
    ]  # fmt: skip


def test_cli_sweep_runs_synchronous_rising_rates_then_saturation(tmp_path: Path) -> None:
    events = [(0.02, chunk({"reasoning": "r"})), (0.02, chunk({"content": "5"})), (0.0, DONE)]
    out = tmp_path / "sweep.json"
    with ReplayServer({"*": Script(events)}) as server:
        code = main([
            "--target", server.base_url, "--num-prompts", "4", "--sweep", "--sweep-steps", "1",
            "--max-concurrency", "4", "--warmups", "0", "--output", str(out), "--no-progress",
        ])  # fmt: skip
    assert code == 0
    runs = json.loads(out.read_text())["runs"]
    assert [r["max_concurrency"] for r in runs] == [1, 4, 4]
    assert runs[0]["label"].startswith("synchronous") and runs[2]["label"].startswith("saturation")
    sync, middle, saturated = (r["targets"]["target"]["request_throughput"] for r in runs)
    assert sync < saturated  # 4 in parallel beat 1 at a time
    assert sync < runs[1]["request_rate"] < saturated and middle > 0
    assert (tmp_path / "sweep-run2-timeline.png").exists()
