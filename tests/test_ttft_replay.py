"""The latency harness against the replay server: recorded streams with known timings.

Token positions, counts and texts are checked exactly; times come from the wall clock (the
replay server sleeps known intervals), so they get a tolerance (TOL) that covers scheduling
noise on a busy 2-core machine, well below the 100 ms steps that tell values apart.
"""

from __future__ import annotations

import asyncio
import json
import socket
from pathlib import Path

import pytest

from benchmarks.replay import DONE, DROP, ReplayServer, Script, chunk, usage_chunk
from benchmarks.ttft.__main__ import main
from benchmarks.ttft.classify import classify
from benchmarks.ttft.client import RequestRecord, Target, make_client, request_body, send
from benchmarks.ttft.metrics import request_metrics

TOL = 0.05  # seconds

ROLE = chunk({"role": "assistant", "content": ""})


def ours_events(first: float = 0.1, step: float = 0.1) -> list:
    """Our server's shape: think, think, answer (complete), think, answer (complete).

    Times after sending: role at first, tokens at first + step * (1, 2, 3, 5, 6),
    answer completions at first + step * (4, 7).
    """
    return [
        (first, ROLE),
        (step, chunk({"reasoning": "a"})),
        (step, chunk({"reasoning": " b"})),
        (step, chunk({"content": "5"})),
        (
            step,
            chunk(
                {
                    "answer_complete": {
                        "index": 0,
                        "text": "5",
                        "elapsed_ms": 1.0,
                        "first_token_offset": 3,
                        "token_offset": 4,
                        "complete": True,
                    }
                }
            ),
        ),
        (step, chunk({"reasoning": "c"})),
        (step, chunk({"content": "\n\n7"})),
        (step, chunk({"answer_complete": {"index": 1, "text": "7", "complete": True}})),
        (0.0, chunk({}, finish_reason="stop")),
        (0.0, usage_chunk(completion_tokens=11, prompt_tokens=42)),
        (0.0, DONE),
    ]


def vllm_events(first: float = 0.1, step: float = 0.1) -> list:
    """vLLM's own server without a reasoning parser: one chunk per token, tags in content."""
    tokens = ["<think>", "a", "</think>", "<answer>", "5", "</answer>"]
    return [
        (first, ROLE),
        *[(step, chunk({"content": t})) for t in tokens],
        (0.0, chunk({"content": ""}, finish_reason="stop")),
        (0.0, DONE),
    ]


FAILURES = {
    "err500": (Script(status=500, body={"error": {"message": "engine exploded"}}), "http_500"),
    "err429": (Script(status=429, body={"error": {"message": "busy"}}), "http_429"),
    "drop": (Script([(0.05, ROLE), (0.05, chunk({"content": "x"})), (0.05, DROP)]), "dropped"),
    "nodone": (Script([(0.05, ROLE), (0.05, chunk({"content": "x"}))]), "dropped"),
    "errchunk": (
        Script(
            [
                (0.05, chunk({"content": "x"})),
                (0.05, {"error": {"message": "oops", "type": "server_error", "code": 500}}),
                (0.0, DONE),
            ]
        ),
        "error_chunk",
    ),
    "badjson": (Script([(0.05, "{not json"), (0.0, DONE)]), "bad_json"),
    "empty": (Script([(0.05, ROLE), (0.0, chunk({}, finish_reason="stop")), (0.0, DONE)]), "empty"),
    "finerr": (
        Script(
            [(0.05, chunk({"content": "x"})), (0.0, chunk({}, finish_reason="error")), (0.0, DONE)]
        ),
        "finish_error",
    ),
}


@pytest.fixture(scope="module")
def replay():
    scripts = {
        "ours": Script(ours_events()),
        "vllm": Script(vllm_events()),
        "slow": Script([(5.0, ROLE), (0.0, DONE)]),
        **{name: script for name, (script, _) in FAILURES.items()},
    }
    # Percentile run: ttft 0.1..0.4 s, ttfa 0.2 s later, one answer each, no usage chunk.
    for i in range(4):
        scripts[f"p{i}"] = Script([*ours_events(first=0.1 * i, step=0.1)[:5], (0.0, DONE)])
    # Compare run: model b streams the same, at twice the delays.
    for i in range(2):
        scripts[f"a:c{i}"] = Script(ours_events(first=0.05, step=0.05))
        scripts[f"b:c{i}"] = Script(ours_events(first=0.1, step=0.1))
    with ReplayServer(scripts) as server:
        yield server


def fetch(server: ReplayServer, text: str, target: Target | None = None, timeout: float = 10.0):
    target = target or Target("t", server.base_url, model="replay", extra_body={"x_ext": 1})
    body = request_body(target, [{"role": "user", "content": text}], 64, 0.0)

    async def go() -> RequestRecord:
        async with make_client(timeout) as client:
            return await send(client, target, body, prompt_index=3, timeout=timeout)

    return asyncio.run(go())


def test_ours_stream_timings_and_tokens(replay: ReplayServer) -> None:
    rec = fetch(replay, "ours")
    assert rec.ok, rec.error
    m = request_metrics(rec, classify(rec.chunks), run_start=rec.sent_at)
    # Exact: positions, counts, texts.
    assert m.classified_as == "ours" and m.token_kinds == "TTATA"
    assert (m.think_tokens, m.answer_tokens) == (3, 2)
    assert (m.output_tokens, m.input_tokens) == (11, 42)  # usage wins over counting
    assert m.first_answer_position == 2 and m.normalized_ttft == 2 / 5
    assert m.answer_texts == ["5", "7"]
    # Wall clock: role 0.1 (not a token), tokens 0.2 0.3 0.4 0.6 0.7, answers 0.5 0.8.
    assert m.ttft == pytest.approx(0.2, abs=TOL)
    assert m.ttfa == pytest.approx(0.4, abs=TOL)
    assert m.e2el == pytest.approx(0.7, abs=TOL)
    assert m.answer_times == pytest.approx([0.5, 0.8], abs=TOL)
    assert m.answer_gaps == pytest.approx([0.3], abs=TOL)
    assert m.itl == pytest.approx([0.1, 0.1, 0.2, 0.1], abs=TOL)
    assert m.tpot == pytest.approx(0.5 / 10, abs=TOL / 10)
    # What was sent: streaming with usage, our fields, the extra body merged in.
    sent = replay.requests[-1]
    assert sent["stream"] is True and sent["stream_options"] == {"include_usage": True}
    assert (sent["model"], sent["max_tokens"], sent["temperature"], sent["x_ext"]) == (
        "replay",
        64,
        0.0,
        1,
    )


def test_vllm_raw_stream_is_split_by_the_parser(replay: ReplayServer) -> None:
    rec = fetch(replay, "vllm")
    m = request_metrics(rec, classify(rec.chunks), run_start=rec.sent_at)
    assert m.classified_as == "fields" and m.token_kinds == "OTOOAO"
    assert m.output_tokens == 6 and m.normalized_ttft == 1 / 2  # text tokens: a, 5
    assert m.ttft == pytest.approx(0.2, abs=TOL)
    assert m.ttfa == pytest.approx(0.6, abs=TOL)
    assert m.answer_times == pytest.approx([0.7], abs=TOL) and m.answer_texts == ["5"]


@pytest.mark.parametrize("name", sorted(FAILURES))
def test_failures_are_counted_by_kind_not_raised(replay: ReplayServer, name: str) -> None:
    rec = fetch(replay, name)
    assert not rec.ok and rec.error_kind == FAILURES[name][1]
    assert rec.error


def test_server_error_message_is_kept(replay: ReplayServer) -> None:
    assert fetch(replay, "err500").error == "engine exploded"
    assert "oops" in (fetch(replay, "errchunk").error or "")


def test_timeout_and_refused_connection(replay: ReplayServer) -> None:
    rec = fetch(replay, "slow", timeout=0.3)
    assert rec.error_kind == "timeout"
    assert rec.ended_at - rec.sent_at == pytest.approx(0.3, abs=0.2)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, not listening: connections are refused
        rec = fetch(replay, "ours", target=Target("t", f"http://127.0.0.1:{port}"))
    assert rec.error_kind == "connect"


def write_prompts(path: Path, texts: list[str]) -> str:
    path.write_text(
        "".join(json.dumps({"messages": [{"role": "user", "content": t}]}) + "\n" for t in texts)
    )
    return f"jsonl:{path}"


def test_cli_run_percentiles_goodput_failures_and_files(
    replay: ReplayServer, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    dataset = write_prompts(tmp_path / "p.jsonl", ["p0", "p1", "p2", "p3", "err500"])
    out = tmp_path / "run.json"
    code = main(
        [
            "--target",
            f"rp={replay.base_url}/v1,model=replay",
            "--dataset",
            dataset,
            "--num-prompts",
            "5",
            "--max-concurrency",
            "5",
            "--warmups",
            "0",
            "--slo",
            "ttfa:450",
            "--percentiles",
            "90,99",
            "--output",
            str(out),
            "--save-detailed",
            "--no-progress",
            "--extra-body",
            '{"enforce_format": true}',
        ]
    )
    assert code == 0
    result = json.loads(out.read_text())
    (run,) = result["runs"]
    r = run["targets"]["rp"]
    assert result["completed"] == r["completed"] == 4 and r["failed"] == 1
    assert r["failures"] == {"http_500": 1}
    # ttft 0.1, 0.2, 0.3, 0.4 s (the first token one step after the role chunk), ttfa +0.2 s.
    assert r["mean_ttft_ms"] == pytest.approx(250, abs=TOL * 1000)
    assert r["median_ttft_ms"] == pytest.approx(250, abs=TOL * 1000)
    assert r["p90_ttft_ms"] == pytest.approx(370, abs=TOL * 1000)
    assert r["p99_ttft_ms"] == pytest.approx(397, abs=TOL * 1000)
    assert r["median_ttfa_ms"] == pytest.approx(450, abs=TOL * 1000)
    # Exact: every response is think, think, answer.
    assert r["mean_normalized_ttft"] == pytest.approx(2 / 3, rel=1e-12)
    assert r["total_output_tokens"] == 12 and r["total_input_tokens"] == 0  # no usage sent
    assert r["without_answer"] == 0 and r["mean_answers_per_response"] == 1.0
    # ttfa 0.3, 0.4, 0.5, 0.6 s: two within 450 ms.
    assert r["good_requests"] == 2
    assert r["request_goodput"] == pytest.approx(2 / r["duration"], rel=1e-9)
    assert r["duration"] == pytest.approx(0.7, abs=0.2)
    ttfts = sorted(t for t in r["ttfts"] if t is not None)
    assert ttfts == pytest.approx([0.1, 0.2, 0.3, 0.4], abs=TOL)
    assert sorted(map(len, r["answer_times"])) == [0, 1, 1, 1, 1]
    assert r["error_kinds"].count("http_500") == 1
    assert all(body.get("enforce_format") is True for body in replay.requests[-5:])
    assert (tmp_path / "run-cdf.png").stat().st_size > 1000
    assert (tmp_path / "run-timeline.png").stat().st_size > 1000
    table = capsys.readouterr().out
    assert "TTFA (ms)" in table and "http_500: 1" in table


def test_cli_compare_prints_ratios(
    replay: ReplayServer, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    dataset = write_prompts(tmp_path / "p.jsonl", ["c0", "c1"])
    out = tmp_path / "cmp.json"
    code = main(
        [
            "--compare",
            f"a={replay.base_url},model=a",
            f"b={replay.base_url},model=b",
            "--dataset",
            dataset,
            "--num-prompts",
            "2",
            "--warmups",
            "0",
            "--output",
            str(out),
            "--no-plots",
            "--no-progress",
        ]
    )
    assert code == 0
    run = json.loads(out.read_text())["runs"][0]
    assert set(run["targets"]) == {"a", "b"} and run["targets"]["a"]["completed"] == 2
    # The ratios are b's figures over a's. b's stream is a twice slower replay of a's (0.2 vs
    # 0.1 s to the first token); on a busy machine the absolute times wander, so only the
    # arithmetic and the order are the claim, not the size of the ratio.
    a, b = run["targets"]["a"], run["targets"]["b"]
    for metric in ("median_ttft_ms", "median_ttfa_ms"):
        assert run["ratios"]["b"][metric] == pytest.approx(b[metric] / a[metric])
        assert run["ratios"]["b"][metric] > 1.0, run["ratios"]["b"]
    assert "b/a" in capsys.readouterr().out
