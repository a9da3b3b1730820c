"""Concurrency, disconnects and metrics against the real server (session fixture)."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest
from conftest import OPENING_TOKENS, scrape, value

pytestmark = [pytest.mark.engine, pytest.mark.timeout(600)]


def test_16_concurrent_streams_all_complete(server) -> None:
    async def one(client: httpx.AsyncClient, i: int) -> tuple[str, int, str | None, bool]:
        body = {
            "messages": [{"role": "user", "content": f"Say something about the number {i}."}],
            "stream": True,
            "max_tokens": 24,
            "temperature": 0.8,
            "seed": i,
        }
        text, finish, done = "", None, False
        async with client.stream("POST", "/v1/chat/completions", json=body) as response:
            assert response.status_code == 200
            async for line in response.aiter_lines():
                if line == "data: [DONE]":
                    done = True
                elif line.startswith("data: "):
                    chunk = json.loads(line[6:])
                    for choice in chunk["choices"]:
                        delta = choice["delta"]
                        text += (delta.get("content") or "") + (delta.get("reasoning") or "")
                        finish = choice["finish_reason"] or finish
        return text, i, finish, done

    async def run() -> list[tuple[str, int, str | None, bool]]:
        async with httpx.AsyncClient(
            base_url=server.base_url, headers=server.headers(), timeout=300
        ) as client:
            return await asyncio.gather(*(one(client, i) for i in range(16)))

    before = scrape(server)
    started = time.monotonic()
    results = asyncio.run(run())
    elapsed = time.monotonic() - started
    assert all(done for *_, done in results)
    assert all(finish in ("stop", "length") for _, _, finish, _ in results)
    assert all(text.strip() for text, *_ in results)
    after = scrape(server)
    # They ran side by side, batched by the engine: far faster than 16 in a row would be.
    e2e_sum = value(after, "interleaved_e2e_latency_seconds_sum") - value(
        before, "interleaved_e2e_latency_seconds_sum"
    )
    assert (
        value(after, "interleaved_e2e_latency_seconds_count")
        - value(before, "interleaved_e2e_latency_seconds_count")
        == 16
    )
    assert e2e_sum > 1.5 * elapsed, (e2e_sum, elapsed)


def test_disconnect_aborts_the_engine_request_within_a_second(server) -> None:
    body = {
        "messages": [{"role": "user", "content": "Write a very long story about a dragon."}],
        "stream": True,
        "max_tokens": 1500,
        "temperature": 1.0,
    }
    with httpx.Client(base_url=server.base_url, headers=server.headers(), timeout=120) as client:
        with client.stream("POST", "/v1/chat/completions", json=body) as response:
            request_id = response.headers["x-request-id"]
            lines = response.iter_lines()
            for _ in range(8):  # a few tokens in: the engine is busy with it
                next(lines)
            during = scrape(server)
            assert value(during, "interleaved_requests_in_flight") >= 1
            assert value(during, "vllm:num_requests_running") >= 1
        hung_up = time.monotonic()  # leaving the block closed the connection
    while True:
        now = scrape(server)
        idle = (
            value(now, "vllm:num_requests_running") == 0
            and value(now, "interleaved_requests_in_flight") == 0
        )
        if idle or time.monotonic() - hung_up > 5:
            break
        time.sleep(0.05)
    assert idle, "the engine request is still running after the client left"
    assert time.monotonic() - hung_up < 1.0
    # The access log records how it ended.
    (record,) = server.wait_for_log_lines(request_id)
    assert '"outcome": "client_disconnected"' in record


def test_metrics_histograms_move(server) -> None:
    before = scrape(server)
    response = httpx.post(
        f"{server.base_url}/v1/chat/completions",
        headers=server.headers(),
        timeout=300,
        json={
            "messages": [{"role": "user", "content": "What is 7 times 6?"}],
            "max_tokens": 200,
            "temperature": 0.0,
            "enforce_format": True,
        },
    )
    assert response.status_code == 200
    answers = response.json()["choices"][0]["message"]["answers"]
    assert len(answers) >= 2
    after = scrape(server)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    for histogram in (
        "time_to_first_token_seconds",
        "time_to_first_answer_seconds",
        "e2e_latency_seconds",
        "answers_per_response",
    ):
        assert moved(f"interleaved_{histogram}_count") == 1, histogram
    assert moved("interleaved_time_between_answers_seconds_count") == len(answers) - 1
    assert moved("interleaved_answers_per_response_sum") == len(answers)
    assert moved("interleaved_responses_total") == 1
    assert moved("interleaved_format_valid_total") == int(
        response.json()["choices"][0]["format_ok"]
    )
    usage = response.json()["usage"]
    assert (
        moved("interleaved_think_tokens_total")
        == usage["completion_tokens_details"]["reasoning_tokens"]
    )
    assert (
        moved("interleaved_think_tokens_total") + moved("interleaved_answer_tokens_total")
        == usage["completion_tokens"]
    )
    assert moved("interleaved_requests_total", endpoint="/v1/chat/completions", status="200") == 1
    # vLLM's own engine metrics are on the same endpoint (the prefilled opening tag is counted
    # in the reply's usage, not decoded by the engine).
    assert moved("vllm:generation_tokens_total") >= usage["completion_tokens"] - OPENING_TOKENS
