"""Gateway mode against the real thing: vLLM's own OpenAI server as the upstream.

vLLM's server streams raw text (no reasoning parser), so it is also the reference for "the raw
completion": with the same greedy request and format expression, the gateway's answer markers
must be exactly its `<answer>` contents.

(Our in-process engine is not compared with it token for token: two engines with different
prefix-cache histories can take different greedy paths on this small model, since cached and
recomputed prefills differ in the last bits of the logits. The in-process engine's stream is
checked against its own non-streaming completion in test_server_chat.py.)
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from conftest import ServerProcess, start_server

from parsing import INTERLEAVED_INSTRUCTION, parse
from server.generation.prompting import INTERLEAVED_REGEX

pytestmark = [pytest.mark.engine, pytest.mark.timeout(600)]

UPSTREAM_MODEL = "smol-upstream"
QUESTION = "What is 9 minus 4? Then add 10."
GATEWAY_KEY = "gateway-key"


@pytest.fixture(scope="module")
def vllm_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    from modelprep import ensure_base_model

    proc = start_server(
        "--model", str(ensure_base_model()), "--served-model-name", UPSTREAM_MODEL,
        "--enforce-eager", "--max-model-len", "2048", "--kv-cache-memory-bytes", str(1 << 30),
        module="vllm.entrypoints.openai.api_server", name="vllm-upstream", new_session=True,
        log_dir=tmp_path_factory.mktemp("vllm-logs"),
        # Compiling the format expression takes seconds on a busy CPU; vLLM's default limit
        # is 5 s (our server raises it the same way).
        env={"VLLM_REGEX_COMPILATION_TIMEOUT_S": "120"},
    )  # fmt: skip
    yield proc
    proc.kill_group()


@pytest.fixture(scope="module")
def gateway(vllm_server, tmp_path_factory) -> Iterator[ServerProcess]:
    proc = start_server(
        "--upstream",
        f"{vllm_server.base_url}/v1",
        api_key=GATEWAY_KEY,
        log_dir=tmp_path_factory.mktemp("gateway-logs"),
        name="gateway",
    )
    yield proc
    proc.stop()


def raw_completion(vllm_server: ServerProcess, max_tokens: int = 200) -> dict[str, Any]:
    """What vLLM itself generates for the request our servers make from QUESTION."""
    body = {
        "model": UPSTREAM_MODEL,
        "messages": [
            {"role": "system", "content": INTERLEAVED_INSTRUCTION},
            {"role": "user", "content": QUESTION},
        ],
        "temperature": 0.0,
        "structured_outputs": {"regex": INTERLEAVED_REGEX},
    }
    url = f"{vllm_server.base_url}/v1/chat/completions"
    # Warm vLLM's prefix cache first: a prompt's first (uncached) run can take another greedy
    # path than later runs (see test_server_chat.warm); all compared runs must be "later".
    httpx.post(url, json={**body, "max_tokens": 1}, timeout=120).raise_for_status()
    response = httpx.post(url, json={**body, "max_tokens": max_tokens}, timeout=300)
    response.raise_for_status()
    return response.json()


def stream_markers(proc: ServerProcess, **extra: Any) -> tuple[list[dict], dict, str | None]:
    client = proc.openai_client(timeout=300)
    request = {
        "model": proc.model,
        "messages": [{"role": "user", "content": QUESTION}],
        "temperature": 0.0,
        "max_tokens": 200,
        "extra_body": {"enforce_format": True},
        **extra,
    }
    client.chat.completions.create(**{**request, "max_tokens": 1})  # warm, as above
    markers, usage, finish = [], {}, None
    for chunk in client.chat.completions.create(
        stream=True, stream_options={"include_usage": True}, **request
    ):
        if chunk.usage:
            usage = chunk.usage.model_dump()
        for choice in chunk.choices:
            marker = getattr(choice.delta, "answer_complete", None)
            if marker:
                markers.append(marker)
            finish = choice.finish_reason or finish
    return markers, usage, finish


def test_gateway_markers_are_the_answers_of_vllms_raw_completion(vllm_server, gateway) -> None:
    raw = raw_completion(vllm_server)
    text = raw["choices"][0]["message"]["content"]
    assert "<think>" in text  # vLLM itself splits nothing: raw tagged text
    raw_answers = [a.strip() for a in re.findall(r"<answer>(.*?)</answer>", text, re.S)]
    assert len(raw_answers) >= 2 and raw_answers == parse(text).answers
    markers, usage, finish = stream_markers(gateway)
    assert [m["text"] for m in markers] == raw_answers
    assert all(m["complete"] for m in markers)
    assert finish == raw["choices"][0]["finish_reason"]
    assert usage["completion_tokens"] == raw["usage"]["completion_tokens"]
    assert usage["prompt_tokens"] == raw["usage"]["prompt_tokens"]
    # Offsets count upstream chunks (one per token for vLLM): within the completion, in order.
    offsets = [m["token_offset"] for m in markers]
    assert offsets == sorted(offsets) and offsets[-1] <= usage["completion_tokens"]

    # Non-streaming through the gateway describes the same completion.
    whole = httpx.post(
        f"{gateway.base_url}/v1/chat/completions",
        timeout=300,
        headers=gateway.headers(),
        json={
            "messages": [{"role": "user", "content": QUESTION}],
            "temperature": 0.0,
            "max_tokens": 200,
            "enforce_format": True,
        },
    )
    assert [a["text"] for a in whole.json()["choices"][0]["message"]["answers"]] == raw_answers


def test_gateway_models_auth_and_upstream_rejections(gateway) -> None:
    models = httpx.get(f"{gateway.base_url}/v1/models", headers=gateway.headers()).json()
    assert [m["id"] for m in models["data"]] == [UPSTREAM_MODEL]
    url = f"{gateway.base_url}/v1/chat/completions"
    assert httpx.post(url, json={"messages": []}).status_code == 401
    unknown = httpx.post(
        url,
        headers=gateway.headers(),
        json={"model": "nope", "messages": [{"role": "user", "content": "x"}]},
    )
    assert unknown.status_code == 404
    # The upstream's own 400 (prompt longer than its context) reaches the client as a 400.
    too_long = httpx.post(
        url,
        headers=gateway.headers(),
        timeout=60,
        json={"messages": [{"role": "user", "content": "word " * 3000}]},
    )
    assert too_long.status_code == 400, too_long.text
    error = too_long.json()["error"]
    assert error["message"].startswith("upstream:") and error["code"] == "upstream_rejected"


def test_upstream_dying_mid_stream_ends_the_stream_with_an_error_and_the_gateway_lives(
    vllm_server, gateway
) -> None:
    """Runs last in this module: it kills the upstream."""
    body = {
        "messages": [{"role": "user", "content": "Write a very long story about a dragon."}],
        "stream": True,
        "max_tokens": 1500,
        "temperature": 1.0,
    }
    lines: list[str] = []
    with httpx.stream(
        "POST",
        f"{gateway.base_url}/v1/chat/completions",
        json=body,
        headers=gateway.headers(),
        timeout=120,
    ) as response:
        assert response.status_code == 200
        for line in response.iter_lines():
            if not line:
                continue
            lines.append(line)
            if len(lines) == 6:
                vllm_server.kill_group()  # SIGKILL: no goodbye, the connection just breaks
    assert lines[-1] == "data: [DONE]"
    error = json.loads(lines[-2][6:])
    assert error["error"]["code"] == "upstream_error"
    # The gateway itself is fine: it answers, reports the upstream down, and refuses clearly.
    assert httpx.get(f"{gateway.base_url}/v1/models", headers=gateway.headers()).status_code == 200
    assert httpx.get(f"{gateway.base_url}/health").status_code == 503
    after = httpx.post(
        f"{gateway.base_url}/v1/chat/completions",
        headers=gateway.headers(),
        json={"messages": [{"role": "user", "content": "x"}]},
        timeout=30,
    )
    assert after.status_code == 502 and after.json()["error"]["code"] == "upstream_unreachable"
