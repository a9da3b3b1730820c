"""Every error a client can cause, against the real server: OpenAI's error shape, the right
status, a message naming the problem, no stack trace, and the server still answering after."""

from __future__ import annotations

import asyncio
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


@pytest.mark.parametrize(
    ("body", "mentions", "param"),
    [
        ({"messages": [{"role": "wizard", "content": "hi"}]}, "unknown role", "messages.0.role"),
        ({"messages": user(), "max_tokens": -1}, "greater than or equal to 1", "max_tokens"),
        ({"messages": user(), "max_tokens": 0}, "greater than or equal to 1", "max_tokens"),
        ({"messages": user(), "max_tokens": 10**9}, "less than or equal", "max_tokens"),
        ({"messages": user(), "max_tokens": 100_000}, "only", "max_tokens"),  # > context
        ({"messages": user(), "temperature": 2.5}, "less than or equal to 2", "temperature"),
        ({"messages": user(), "temperature": -0.1}, "greater than or equal", "temperature"),
        ({"messages": user(), "top_p": 0}, "greater than 0", "top_p"),
        ({"messages": []}, "at least 1", "messages"),
        ({"model": None}, "field required", "messages"),
        ({"messages": user(), "n": 0}, "greater than or equal to 1", "n"),
        ({"messages": user(), "tools": [{"type": "function"}]}, "unsupported field", "tools"),
        ({"messages": user(), "frequency_penalty": 0.5}, "", "frequency_penalty"),
        ({"messages": user(), "stop": [""]}, "non-empty", "stop"),
        (
            {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]},
            "'text'",
            "messages.0.content.0.type",
        ),
        ({"messages": user(), "stream": "yes"}, "boolean", "stream"),
        ([1, 2], "", None),
    ],
)
def test_invalid_chat_fields_are_400(server, body: Any, mentions: str, param: str | None) -> None:
    error = assert_error(
        post(server, "/v1/chat/completions", body), 400, mentions=mentions, param=param
    )
    assert error["type"] == "invalid_request_error"


def test_neutral_values_of_unsupported_fields_are_accepted(server) -> None:
    response = post(
        server,
        "/v1/chat/completions",
        {
            "messages": user(),
            "max_tokens": 1,
            "frequency_penalty": 0,
            "presence_penalty": 0.0,
            "logprobs": False,
            "store": False,
            "user": "u1",
        },
    )
    assert response.status_code == 200, response.text


def test_prompt_longer_than_the_context_is_400(server) -> None:
    long_text = "word " * 3000  # > 2048 tokens, < the 256 KiB body limit
    error = assert_error(
        post(server, "/v1/chat/completions", {"messages": user(long_text)}), 400, mentions="context"
    )
    assert error["code"] == "context_length_exceeded"


def test_malformed_json_is_400(server) -> None:
    response = post(
        server,
        "/v1/chat/completions",
        content=b'{"messages": [',
        headers={"content-type": "application/json"},
    )
    assert_error(response, 400, mentions="not valid JSON")


def test_api_key_is_required_and_checked(server) -> None:
    url = f"{server.base_url}/v1/chat/completions"
    missing = httpx.post(url, json={"messages": user()}, timeout=30)
    assert_error(missing, 401, mentions="missing API key")
    wrong = httpx.post(
        url, json={"messages": user()}, timeout=30, headers={"Authorization": "Bearer not-the-key"}
    )
    assert_error(wrong, 401, mentions="invalid API key")
    # Auth comes first: a client without a key learns nothing about its request body.
    assert_error(httpx.post(url, content=b"{", timeout=30), 401)
    assert_error(httpx.get(f"{server.base_url}/v1/models", timeout=30), 401)
    assert httpx.get(f"{server.base_url}/health", timeout=30).status_code == 200


def test_unknown_model_and_route_are_404(server) -> None:
    error = assert_error(
        post(server, "/v1/chat/completions", {"model": "gpt-17", "messages": user()}),
        404,
        mentions="gpt-17",
        param="model",
    )
    assert error["code"] == "model_not_found"
    assert_error(post(server, "/v1/responses", {"model": "gpt-17", "input": "hi"}), 404)
    assert_error(post(server, "/v1/completions", {"prompt": "hi"}), 404, mentions="no such route")
    assert_error(httpx.get(f"{server.base_url}/v1/nothing", headers=server.headers()), 404)


def test_oversized_body_is_413(server) -> None:
    big = {"messages": user("x" * (300 * 1024))}  # over the session server's 256 KiB
    assert_error(post(server, "/v1/chat/completions", big), 413, mentions="exceeds")


def test_responses_api_rejects_what_it_does_not_support(server) -> None:
    assert_error(
        post(server, "/v1/responses", {"input": "hi", "tools": []}),
        400,
        mentions="unsupported field",
        param="tools",
    )
    assert_error(post(server, "/v1/responses", {"input": []}), 400, param="input")
    assert_error(
        post(server, "/v1/responses", {"input": "hi", "max_output_tokens": -5}),
        400,
        param="max_output_tokens",
    )


def test_past_the_concurrency_limit_is_429_with_retry_after(server) -> None:
    limit = 20  # the session server's --max-concurrent-requests

    async def scenario() -> None:
        async with httpx.AsyncClient(
            base_url=server.base_url, headers=server.headers(), timeout=120
        ) as client:
            body = {
                "messages": user("Write a long story about a dragon."),
                "stream": True,
                "max_tokens": 1000,
            }
            streams = [
                client.stream("POST", "/v1/chat/completions", json=body) for _ in range(limit)
            ]
            # Entering a stream returns once its headers arrived, i.e. it was admitted.
            responses = await asyncio.gather(*(s.__aenter__() for s in streams))
            try:
                assert [r.status_code for r in responses] == [200] * limit
                rejected = await client.post(
                    "/v1/chat/completions", json={"messages": user(), "max_tokens": 1}
                )
                assert_error(rejected, 429, mentions="limit")
                assert rejected.headers["retry-after"] == "1"
            finally:
                for s in streams:
                    await s.__aexit__(None, None, None)
            # The slots free up as the clients hang up.
            for _ in range(50):
                again = await client.post(
                    "/v1/chat/completions", json={"messages": user(), "max_tokens": 1}
                )
                if again.status_code != 429:
                    break
                await asyncio.sleep(0.1)
            assert again.status_code == 200, again.text

    asyncio.run(scenario())


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


def test_openai_compatibility_cases_are_400(server) -> None:
    body = {"messages": user(), "stream_options": {"include_usage": True}, "max_tokens": 1}
    assert_error(post(server, "/v1/chat/completions", body), 400, param="stream_options")
    body = {"messages": [{"role": "user", "content": None}], "max_tokens": 1}
    assert_error(post(server, "/v1/chat/completions", body), 400, param="messages.0.content")


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


def test_the_docs_routes_are_off(server) -> None:
    for path in ("/docs", "/redoc", "/openapi.json"):
        response = httpx.get(f"{server.base_url}{path}", headers=server.headers(), timeout=30)
        assert response.status_code == 404, path


def test_the_server_is_still_healthy_after_all_that(server) -> None:
    assert httpx.get(f"{server.base_url}/health", timeout=30).status_code == 200
    ok = post(server, "/v1/chat/completions", {"messages": user(), "max_tokens": 2})
    assert ok.status_code == 200 and ok.json()["usage"]["completion_tokens"] == 2
