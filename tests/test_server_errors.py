"""The errors a client can cause that the real engine decides, against the real server:
OpenAI's error shape, the right status, a message naming the problem, no stack trace, and the
server still answering after.

The errors the app decides before any backend is involved (invalid fields, malformed JSON, the
API key, unknown models and routes, body size, the docs routes, the 429 past the concurrency
limit) are checked the same way, without an engine, in test_server_validation.py.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from server.schemas import ErrorResponse

pytestmark = [pytest.mark.engine, pytest.mark.timeout(300)]


def post(
    server: Any,
    path: str,
    body: Any = None,
    *,
    headers: dict[str, str] | None = None,
    content: bytes | None = None,
) -> httpx.Response:
    return httpx.post(
        f"{server.base_url}{path}",
        json=body if content is None else None,
        content=content,
        headers={**server.headers(), **(headers or {})},
        timeout=60,
    )


def assert_error(
    response: httpx.Response, status: int, *, mentions: str = "", param: str | None = None
) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["x-request-id"]
    assert "Traceback" not in response.text and 'File "' not in response.text
    error = ErrorResponse.model_validate(response.json()).error
    assert set(response.json()["error"]) == {"message", "type", "param", "code"}
    assert mentions.lower() in error.message.lower(), error.message
    if param is not None:
        assert error.param == param
    return response.json()["error"]


def user(text: str = "Hi") -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def test_max_tokens_over_the_context_is_400(server) -> None:
    # The engine knows the context length (2048 here); the request's own bound is far above.
    body = {"messages": user(), "max_tokens": 100_000}
    error = assert_error(
        post(server, "/v1/chat/completions", body), 400, mentions="only", param="max_tokens"
    )
    assert error["type"] == "invalid_request_error"


def test_values_the_engine_refuses_are_400(server) -> None:
    # vLLM's own check of the sampling values: several greedy choices would all be the same.
    body = {"messages": user(), "n": 2, "temperature": 0, "max_tokens": 4}
    error = assert_error(post(server, "/v1/chat/completions", body), 400, mentions="greedy")
    assert error["code"] == "invalid_value"


def test_prompt_longer_than_the_context_is_400(server) -> None:
    long_text = "word " * 3000  # > 2048 tokens, < the 256 KiB body limit
    error = assert_error(
        post(server, "/v1/chat/completions", {"messages": user(long_text)}), 400, mentions="context"
    )
    assert error["code"] == "context_length_exceeded"


# Issue 13's 500s and library messages, against the real tokenizer and engine (the same cases
# and many more run engine-free in test_server_hardening.py and test_server_fuzz.py).
LONE = "\ud83d"  # a lone high surrogate: json.dumps writes the escape a client sends


@pytest.mark.parametrize(
    ("path", "body", "param"),
    [
        ("/v1/chat/completions", {"messages": user(), "stop": [LONE]}, "stop.0"),
        (
            "/v1/chat/completions",
            {"messages": user(), "stop": [LONE], "stream": True, "n": 2},
            "stop.0",
        ),
        ("/v1/chat/completions", {"messages": user(f"a{LONE}")}, "messages.0.content"),
        ("/v1/responses", {"input": "hi", "instructions": LONE}, "instructions"),
        ("/v1/responses", {"input": LONE, "stream": True}, "input"),
    ],
)
def test_lone_surrogates_are_400_before_the_engine(
    server, path: str, body: dict[str, Any], param: str
) -> None:
    raw = json.dumps(body).encode()
    response = post(server, path, content=raw, headers={"content-type": "application/json"})
    error = assert_error(response, 400, mentions="unpaired surrogate", param=param)
    assert "TextEncodeInput" not in error["message"]


def test_an_oversized_chunked_body_is_413(server) -> None:
    def chunks():  # no Content-Length: 5 MB, over the session server's 256 KiB
        yield b'{"messages": [{"role": "user", "content": "'
        for _ in range(80):
            yield b"x" * 65536
        yield b'"}]}'

    for path in ("/v1/chat/completions", "/v1/responses"):
        response = httpx.post(
            f"{server.base_url}{path}",
            content=chunks(),
            headers={**server.headers(), "content-type": "application/json"},
            timeout=60,
        )
        assert_error(response, 413, mentions="exceeds")


def test_the_server_is_still_healthy_after_all_that(server) -> None:
    assert httpx.get(f"{server.base_url}/health", timeout=30).status_code == 200
    ok = post(server, "/v1/chat/completions", {"messages": user(), "max_tokens": 2})
    assert ok.status_code == 200 and ok.json()["usage"]["completion_tokens"] == 2
