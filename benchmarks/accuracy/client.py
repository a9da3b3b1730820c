"""Non-streaming chat requests, a bounded number in flight; failures become records."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

import httpx

from benchmarks.accuracy.judge import Judged, failed, judge, response_view
from tasks.example import Example
from tasks.prompts import build_messages


def request_body(
    ex: Example,
    style: str,
    model: str | None,
    max_tokens: int,
    temperature: float,
    extra_body: dict[str, Any],
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "messages": build_messages(ex, style),  # the prompt training used
        "max_tokens": max_tokens,
        "temperature": temperature,
        **extra_body,
    }
    if model is not None:
        body["model"] = model
    return body


async def _one(
    client: httpx.AsyncClient, url: str, ex: Example, body: dict[str, Any], limit: asyncio.Semaphore
) -> Judged:
    async with limit:
        start = time.perf_counter()
        try:
            response = await client.post(url, json=body)
        except httpx.HTTPError as e:
            return failed(ex, f"{type(e).__name__}: {e}")
        latency = time.perf_counter() - start
        if response.status_code != 200:
            return failed(ex, f"HTTP {response.status_code}: {response.text}")
        try:
            view = response_view(response.json())
        except (ValueError, KeyError, IndexError, TypeError) as e:
            return failed(ex, f"unexpected response: {e}")
        return judge(ex, view, latency)


async def run(
    base_url: str,
    examples: Sequence[Example],
    style: str = "interleaved",
    model: str | None = None,
    api_key: str | None = None,
    max_tokens: int = 1024,
    temperature: float = 0.0,
    extra_body: dict[str, Any] | None = None,
    concurrency: int = 8,
    timeout: float = 600.0,
) -> list[Judged]:
    url = f"{base_url.rstrip('/')}/v1/chat/completions"
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    limit = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(headers=headers, timeout=timeout) as client:
        tasks = [
            _one(
                client,
                url,
                ex,
                request_body(ex, style, model, max_tokens, temperature, extra_body or {}),
                limit,
            )
            for ex in examples
        ]
        return list(await asyncio.gather(*tasks))
