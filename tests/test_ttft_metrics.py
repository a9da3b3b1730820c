"""Arithmetic of the latency harness on hand-made timelines: exact expected values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from benchmarks.ttft import load
from benchmarks.ttft.classify import classify
from benchmarks.ttft.client import Chunk, RequestRecord, Target
from benchmarks.ttft.metrics import (
    distribution,
    meets_slos,
    parse_slos,
    percentile_key,
    ratios,
    request_metrics,
    summarize,
)
from benchmarks.ttft.prompts import Prompt

EXACT = {"rel": 1e-12, "abs": 1e-12}


def ours_chunks() -> list[Chunk]:
    """Role, think a b, answer 5 (complete at 0.30), think c, answer 7 (complete at 0.45)."""
    return [
        Chunk(0.10),  # role-only: not a token
        Chunk(0.15, reasoning="a"),
        Chunk(0.20, reasoning=" b"),
        Chunk(0.25, content="5"),
        Chunk(0.30, answer_complete={"index": 0, "text": "5", "elapsed_ms": 290.0}),
        Chunk(0.35, reasoning="c"),
        Chunk(0.40, content="\n\n7"),
        Chunk(0.45, answer_complete={"index": 1, "text": "7", "complete": True}),
        Chunk(0.46, finish_reason="stop"),
    ]


def record(chunks: list[Chunk], usage: dict | None = None, **kw) -> RequestRecord:
    r = RequestRecord(target="t", prompt_index=0, sent_at=100.0, chunks=chunks, usage=usage)
    r.stream_end = chunks[-1].t + 0.01 if chunks else None
    for key, value in kw.items():
        setattr(r, key, value)
    return r


def test_ours_stream_per_request_metrics() -> None:
    rec = record(ours_chunks())
    timeline = classify(rec.chunks)
    assert timeline.mode == "ours"
    assert timeline.kinds_string == "TTATA"
    m = request_metrics(rec, timeline, run_start=99.5)
    assert m.start == pytest.approx(0.5, **EXACT)
    assert m.ttft == 0.15 and m.ttfa == 0.25 and m.e2el == 0.40
    assert m.answer_times == [0.30, 0.45]
    assert m.answer_gaps == pytest.approx([0.15], **EXACT)
    assert m.answer_texts == ["5", "7"]
    assert m.itl == pytest.approx([0.05, 0.05, 0.10, 0.05], **EXACT)
    # No usage: every token chunk is one token.
    assert (m.output_tokens, m.think_tokens, m.answer_tokens) == (5, 3, 2)
    assert m.tpot == pytest.approx((0.40 - 0.15) / 4, **EXACT)
    assert m.first_answer_position == 2
    assert m.normalized_ttft == 2 / 5


def test_usage_sets_output_tokens_and_tpot_but_not_normalized_ttft() -> None:
    rec = record(ours_chunks(), usage={"prompt_tokens": 30, "completion_tokens": 9})
    m = request_metrics(rec, classify(rec.chunks), run_start=100.0)
    assert (m.output_tokens, m.input_tokens) == (9, 30)
    assert m.tpot == pytest.approx((0.40 - 0.15) / 8, **EXACT)
    assert m.normalized_ttft == 2 / 5  # positions and length both in streamed tokens


def test_raw_tags_in_content_are_split_by_the_parser() -> None:
    # vLLM without a reasoning parser: one chunk per token, tags included, split across chunks.
    pieces = ["<think>", " a", "</think>", "<ans", "wer>", "5", "</answer>", "<think>b</think>"]
    pieces += ["<answer>", "7", "</answer>"]
    chunks = [Chunk(0.0)] + [Chunk(0.1 * (i + 1), content=p) for i, p in enumerate(pieces)]
    timeline = classify(chunks)
    assert timeline.mode == "fields"
    assert timeline.kinds_string == "OTOOOAOTOAO"
    m = request_metrics(record(chunks), timeline, run_start=100.0)
    # Positions count text tokens only (T A T A): tags are not streamed by our server.
    assert m.first_answer_position == 1 and m.normalized_ttft == 1 / 4
    assert m.ttfa == pytest.approx(0.6, **EXACT)
    assert m.answer_times == pytest.approx([0.7, 1.1], **EXACT)  # the chunks with </answer>
    assert m.answer_texts == ["5", "7"]
    assert (m.think_tokens, m.answer_tokens, m.output_tokens) == (2, 2, 11)


def test_reasoning_field_then_plain_content_is_one_answer_ending_with_the_stream() -> None:
    chunks = [
        Chunk(0.1, reasoning="step one"),
        Chunk(0.2, reasoning=" step two"),
        Chunk(0.3, content="The answer"),
        Chunk(0.4, content=" is 5."),
        Chunk(0.5, finish_reason="stop"),
    ]
    m = request_metrics(record(chunks), classify(chunks), run_start=100.0)
    assert m.token_kinds == "TTAA"
    assert m.ttfa == 0.3 and m.normalized_ttft == 0.5
    assert m.answer_times == [0.5] and m.answer_texts == ["The answer is 5."]


def test_forced_fields_mode_ignores_answer_complete_and_reads_content() -> None:
    chunks = ours_chunks()
    timeline = classify(chunks, mode="fields")
    # Our content has no tags: the parser sees one implicit answer "5\n\n7" closed at the end.
    assert [a.text for a in timeline.answers] == ["5\n\n7"]
    assert timeline.answers[0].t == 0.46


def test_response_without_answer() -> None:
    chunks = [Chunk(0.1, reasoning="a"), Chunk(0.2, reasoning="b")]
    m = request_metrics(record(chunks), classify(chunks, mode="ours"), run_start=100.0)
    assert m.ttfa is None and m.normalized_ttft is None and m.answer_times == []
    assert m.tpot == pytest.approx(0.1, **EXACT)


def test_single_token_has_no_tpot() -> None:
    chunks = [Chunk(0.1, content="5")]
    m = request_metrics(record(chunks), classify(chunks), run_start=100.0)
    assert m.tpot is None and m.itl == [] and m.normalized_ttft == 0.0


def test_failed_request_keeps_only_the_error() -> None:
    rec = record(ours_chunks())
    rec.fail("dropped", "RemoteProtocolError: peer closed")
    m = request_metrics(rec, classify(rec.chunks), run_start=100.0)
    assert not m.ok and m.error_kind == "dropped" and m.ttft is None and m.output_tokens == 0


def metrics_with(ttft: float, ttfa: float | None, tokens: int = 3, kind: str | None = None):
    """A request whose ttft/ttfa are given exactly (one token per 0.1 s after ttft)."""
    times = [ttft + 0.1 * i for i in range(tokens)]
    chunks = [Chunk(t, reasoning="r") for t in times]
    if ttfa is not None:
        chunks.append(Chunk(ttfa, content="a"))
        chunks.append(Chunk(ttfa, answer_complete={"index": 0, "text": "a"}))
    rec = record(chunks)
    if kind:
        rec.fail(kind, "x")
    return request_metrics(rec, classify(chunks, mode="ours"), run_start=100.0)


def test_summary_percentiles_throughput_goodput_and_failures() -> None:
    requests = [
        metrics_with(0.1, 0.4),
        metrics_with(0.2, 0.5),
        metrics_with(0.3, 0.6),
        metrics_with(0.4, None),
        metrics_with(0.5, 0.9, kind="http_500"),
        metrics_with(0.5, 0.9, kind="dropped"),
        metrics_with(0.5, 0.9, kind="http_500"),
    ]
    s = summarize(requests, duration=2.0, percentiles=(90, 99.5), slos={"ttfa": 500.0})
    assert (s["completed"], s["failed"], s["without_answer"]) == (4, 3, 1)
    assert s["failures"] == {"dropped": 1, "http_500": 2}
    ttfts = np.array([0.1, 0.2, 0.3, 0.4]) * 1000
    assert s["mean_ttft_ms"] == pytest.approx(250.0, **EXACT)
    assert s["median_ttft_ms"] == pytest.approx(250.0, **EXACT)
    assert s["std_ttft_ms"] == pytest.approx(float(np.std(ttfts)), **EXACT)
    assert s["p90_ttft_ms"] == pytest.approx(370.0, **EXACT)  # linear: 300 + 0.7 * 100
    assert s["p99.5_ttft_ms"] == pytest.approx(398.5, **EXACT)
    assert s["median_ttfa_ms"] == pytest.approx(500.0, **EXACT)
    assert s["mean_normalized_ttft"] == pytest.approx(0.75, **EXACT)  # 3 thinks, then answer
    # Output tokens: 4, 4, 4, 3; throughputs over the 2 s duration.
    assert s["total_output_tokens"] == 15
    assert s["output_throughput"] == pytest.approx(7.5, **EXACT)
    assert s["request_throughput"] == pytest.approx(2.0, **EXACT)
    # ttfa ≤ 500 ms: requests 1 and 2; no answer and failures are not good.
    assert s["good_requests"] == 2
    assert s["request_goodput"] == pytest.approx(1.0, **EXACT)
    assert s["mean_answers_per_response"] == pytest.approx(0.75, **EXACT)


def test_itl_and_answer_gaps_pool_all_requests() -> None:
    chunks_a = [Chunk(0.1, content="x"), Chunk(0.3, content="y")]
    chunks_b = [
        Chunk(0.2, content="p"),
        Chunk(0.25, answer_complete={"index": 0, "text": "p"}),
        Chunk(0.6, content="q"),
        Chunk(0.65, answer_complete={"index": 1, "text": "q"}),
        Chunk(1.0, content="r"),
        Chunk(1.45, answer_complete={"index": 2, "text": "r"}),
    ]
    requests = [
        request_metrics(record(c), classify(c, mode="ours"), run_start=100.0)
        for c in (chunks_a, chunks_b)
    ]
    s = summarize(requests, duration=1.0, percentiles=(50,))
    # itls 0.2 | 0.4, 0.4 -> mean 1/3 s; answer gaps 0.4, 0.8.
    assert s["mean_itl_ms"] == pytest.approx(1000 / 3, rel=1e-12)
    assert s["median_itl_ms"] == pytest.approx(400.0, **EXACT)
    assert s["mean_answer_gap_ms"] == pytest.approx(600.0, **EXACT)
    assert s["p50_answer_gap_ms"] == pytest.approx(600.0, **EXACT)


def test_empty_distributions_are_null_not_zero() -> None:
    s = summarize([metrics_with(0.1, None, kind="connect")], duration=1.0)
    assert s["completed"] == 0 and s["mean_ttft_ms"] is None and s["p99_ttfa_ms"] is None
    assert s["mean_answers_per_response"] is None and s["request_goodput"] is None


def test_zero_duration_gives_no_throughput() -> None:
    s = summarize([], duration=0.0)
    assert s["request_throughput"] is None and s["output_throughput"] is None


def test_distribution_and_percentile_keys_follow_vllm() -> None:
    assert percentile_key(99) == "p99" and percentile_key(99.9) == "p99.9"
    d = distribution([1.0, 2.0, 3.0, 4.0, 10.0], (25, 75), scale=2.0)
    assert d == {
        "mean": 8.0,
        "median": 6.0,
        "std": pytest.approx(10.0**0.5 * 2, **EXACT),
        "p25": 4.0,
        "p75": 8.0,
    }


def test_slo_parsing_and_checks() -> None:
    assert parse_slos(["ttfa:500", "e2el:2000.5"]) == {"ttfa": 500.0, "e2el": 2000.5}
    for bad in ("itl:5", "ttft", "ttft:abc", "ttft:-1"):
        with pytest.raises(ValueError):
            parse_slos([bad])
    m = metrics_with(0.1, 0.4, tokens=1)  # tokens: think + answer
    assert meets_slos(m, {"ttft": 100.0, "ttfa": 400.0})
    assert not meets_slos(m, {"ttfa": 399.0})
    no_answer = metrics_with(0.1, None, tokens=1)  # one token: tpot None counts as 0
    assert meets_slos(no_answer, {"tpot": 1.0}) and not meets_slos(no_answer, {"ttfa": 1e9})


def test_ratios_divide_by_the_first_target() -> None:
    r = ratios(
        {"median_ttft_ms": 100.0, "output_throughput": 50.0, "mean_ttfa_ms": None},
        {"median_ttft_ms": 150.0, "output_throughput": 25.0, "mean_ttfa_ms": 3.0},
    )
    assert r["median_ttft_ms"] == 1.5 and r["output_throughput"] == 0.5
    assert r["mean_ttfa_ms"] is None


def test_arrival_offsets() -> None:
    rng = np.random.default_rng(0)
    assert load.arrival_offsets(3, math.inf, 1.0, rng) == [0.0, 0.0, 0.0]
    offsets = load.arrival_offsets(20001, 4.0, 1.0, rng)
    gaps = np.diff(offsets)
    assert offsets[0] == 0.0 and len(offsets) == 20001
    assert np.mean(gaps) == pytest.approx(0.25, rel=0.03)  # mean gap 1 / rate
    assert np.std(gaps) == pytest.approx(0.25, rel=0.05)  # Poisson: std = mean
    regular = np.diff(load.arrival_offsets(20001, 4.0, 100.0, np.random.default_rng(1)))
    assert np.mean(regular) == pytest.approx(0.25, rel=0.01) and np.std(regular) < 0.03
    same = load.arrival_offsets(5, 2.0, 0.5, np.random.default_rng(7))
    assert same == load.arrival_offsets(5, 2.0, 0.5, np.random.default_rng(7))


def test_plan_interleaves_targets_per_prompt_or_in_blocks() -> None:
    a, b = Target("a", "http://x"), Target("b", "http://y")
    prompts = [Prompt(f"p{i}", [{"role": "user", "content": str(i)}]) for i in range(5)]
    (phase,) = load.plan([a, b], prompts, load.LoadConfig())
    assert [(j.target.name, j.prompt_index) for j in phase] == [
        (n, i) for i in range(5) for n in "ab"
    ]
    phases = load.plan([a, b], prompts, load.LoadConfig(interleave="block", block_size=2))
    assert [[(j.target.name, j.prompt_index) for j in p] for p in phases] == [
        [("a", 0), ("a", 1)],
        [("b", 0), ("b", 1)],
        [("a", 2), ("a", 3)],
        [("b", 2), ("b", 3)],
        [("a", 4)],
        [("b", 4)],
    ]


def test_load_config_rejects_nonsense() -> None:
    for kwargs in (
        {"request_rate": 0},
        {"burstiness": -1},
        {"max_concurrency": 0},
        {"interleave": "x"},
        {"block_size": 0},
    ):
        with pytest.raises(ValueError):
            load.LoadConfig(**kwargs)


def test_sweep_rates_lie_strictly_between_the_ends() -> None:
    assert load.sweep_rates(1.0, 5.0, 3) == pytest.approx([2.0, 3.0, 4.0], **EXACT)
    assert load.sweep_rates(2.0, 1.0, 3) == []  # no headroom: nothing to sweep
