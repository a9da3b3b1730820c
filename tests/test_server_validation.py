"""Request validation without an engine: the 4xx answers of test_server_errors.py that the app
gives before any backend is involved, on the scripted backend of test_server_app.py, with the
session server's flags (API key, 256 KiB body limit). Same assertions: OpenAI's error shape,
the status, a message naming the problem, the param, no stack trace, an X-Request-Id.

What needs the real engine (a prompt or max_tokens over the context, the tokenizer's view of
odd text) stays in test_server_errors.py.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from fakes import SCRIPT, FakeBackend, FakeGeneration, LiveServer, client_for
from starlette.testclient import TestClient
from uvicorn.protocols.http.auto import AutoHTTPProtocol

from server.backends.base import GenerationParams, Message, Piece
from server.schemas import ErrorResponse

pytestmark = pytest.mark.timeout(120)

API_KEY = "test-key"
KEY = {"Authorization": f"Bearer {API_KEY}"}
BODY_LIMIT = 256 * 1024  # the session server's --max-request-bytes


@pytest.fixture(scope="module")
def backend() -> FakeBackend:
    return FakeBackend()


@pytest.fixture(scope="module")
def client(backend: FakeBackend) -> Iterator[TestClient]:
    with client_for(
        backend, "--api-key", API_KEY, "--max-request-bytes", str(BODY_LIMIT)
    ) as client:
        yield client


def post(
    client: TestClient,
    path: str,
    body: Any = None,
    *,
    headers: dict[str, str] | None = None,
    content: bytes | None = None,
) -> httpx.Response:
    if content is None:
        content = json.dumps(body).encode()
        headers = {"content-type": "application/json", **(headers or {})}
    return client.post(path, content=content, headers={**KEY, **(headers or {})})


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


# The invalid-field cases that no engine decides (max_tokens over the context, which the
# engine decides, is tested in test_server_errors.py).
@pytest.mark.parametrize(
    ("body", "mentions", "param"),
    [
        ({"messages": [{"role": "wizard", "content": "hi"}]}, "unknown role", "messages.0.role"),
        ({"messages": user(), "max_tokens": -1}, "greater than or equal to 1", "max_tokens"),
        ({"messages": user(), "max_tokens": 0}, "greater than or equal to 1", "max_tokens"),
        ({"messages": user(), "max_tokens": 10**9}, "less than or equal", "max_tokens"),
        ({"messages": user(), "temperature": 2.5}, "less than or equal to 2", "temperature"),
        ({"messages": user(), "temperature": -0.1}, "greater than or equal", "temperature"),
        ({"messages": user(), "top_p": 0}, "greater than 0", "top_p"),
        ({"messages": []}, "at least 1", "messages"),
        ({"model": None}, "field required", "messages"),
        ({"messages": user(), "n": 0}, "greater than or equal to 1", "n"),
        ({"messages": user(), "tools": [{"type": "function"}]}, "required", "tools.0.function"),
        ({"messages": user(), "frequency_penalty": 0.5}, "", "frequency_penalty"),
        ({"messages": user(), "stop": [""]}, "non-empty", "stop"),
        (
            {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]},
            "'text'",
            "messages.0.content.0.type",
        ),
        ({"messages": user(), "stream": "yes"}, "boolean", "stream"),
        (
            {"messages": user(), "max_tokens": 8, "max_completion_tokens": 16},
            "conflicts with max_tokens",
            "max_completion_tokens",
        ),
        ([1, 2], "", None),
    ],
)
def test_invalid_chat_fields_are_400(
    client: TestClient, backend: FakeBackend, body: Any, mentions: str, param: str | None
) -> None:
    calls = len(backend.calls)
    error = assert_error(
        post(client, "/v1/chat/completions", body), 400, mentions=mentions, param=param
    )
    assert error["type"] == "invalid_request_error"
    assert len(backend.calls) == calls  # decided before the backend


def test_neutral_values_of_unsupported_fields_are_accepted(
    client: TestClient, backend: FakeBackend
) -> None:
    response = post(
        client,
        "/v1/chat/completions",
        {
            "messages": user(),
            "max_tokens": 1,
            "max_completion_tokens": 1,  # the same limit under both names is no conflict
            "frequency_penalty": 0,
            "presence_penalty": 0.0,
            "logprobs": False,
            "store": False,
            "user": "u1",
        },
    )
    assert response.status_code == 200, response.text
    assert backend.calls[-1][1].max_tokens == 1


def test_malformed_json_is_400(client: TestClient) -> None:
    response = post(
        client,
        "/v1/chat/completions",
        content=b'{"messages": [',
        headers={"content-type": "application/json"},
    )
    assert_error(response, 400, mentions="not valid JSON")


def test_api_key_is_required_and_checked(client: TestClient) -> None:
    url = "/v1/chat/completions"
    missing = client.post(url, json={"messages": user()})
    assert_error(missing, 401, mentions="missing API key")
    wrong = client.post(
        url, json={"messages": user()}, headers={"Authorization": "Bearer not-the-key"}
    )
    assert_error(wrong, 401, mentions="invalid API key")
    # Auth comes first: a client without a key learns nothing about its request body.
    assert_error(client.post(url, content=b"{"), 401)
    assert_error(client.get("/v1/models"), 401)
    assert client.get("/health").status_code == 200


def test_unknown_model_and_route_are_404(client: TestClient) -> None:
    error = assert_error(
        post(client, "/v1/chat/completions", {"model": "gpt-17", "messages": user()}),
        404,
        mentions="gpt-17",
        param="model",
    )
    assert error["code"] == "model_not_found"
    assert_error(post(client, "/v1/responses", {"model": "gpt-17", "input": "hi"}), 404)
    assert_error(post(client, "/v1/completions", {"prompt": "hi"}), 404, mentions="no such route")
    assert_error(client.get("/v1/nothing", headers=KEY), 404)


def test_oversized_body_is_413(client: TestClient) -> None:
    big = {"messages": user("x" * (300 * 1024))}  # over the 256 KiB limit
    assert_error(post(client, "/v1/chat/completions", big), 413, mentions="exceeds")


def test_responses_api_rejects_what_it_does_not_support(client: TestClient) -> None:
    assert_error(
        post(client, "/v1/responses", {"input": "hi", "previous_response_id": "resp_1"}),
        400,
        mentions="unsupported field",
        param="previous_response_id",
    )
    assert_error(post(client, "/v1/responses", {"input": []}), 400, param="input")
    assert_error(
        post(client, "/v1/responses", {"input": "hi", "max_output_tokens": -5}),
        400,
        param="max_output_tokens",
    )


def test_openai_compatibility_cases_are_400(client: TestClient) -> None:
    body = {"messages": user(), "stream_options": {"include_usage": True}, "max_tokens": 1}
    assert_error(post(client, "/v1/chat/completions", body), 400, param="stream_options")
    body = {"messages": [{"role": "user", "content": None}], "max_tokens": 1}
    assert_error(post(client, "/v1/chat/completions", body), 400, param="messages.0.content")


def test_the_docs_routes_are_off(client: TestClient) -> None:
    for path in ("/docs", "/redoc", "/openapi.json"):
        assert client.get(path, headers=KEY).status_code == 404, path


# -- admission: the 429 ---------------------------------------------------------------------------


class HeldGeneration(FakeGeneration):
    """Thinks until its client hangs up (`aclose`), like a long generation."""

    async def __aiter__(self) -> AsyncIterator[list[Piece]]:
        yield [Piece(0, "<think>a", 1)]
        while not self.closed:
            await asyncio.sleep(0.01)


class HoldingBackend(FakeBackend):
    """Requests with max_tokens over 1 run until their client leaves; the others answer."""

    async def generate(
        self, messages: list[Message], params: GenerationParams, request_id: str
    ) -> FakeGeneration:
        self.calls.append((messages, params))
        held = params.max_tokens is not None and params.max_tokens > 1
        generation = (HeldGeneration if held else FakeGeneration)(SCRIPT, None)
        self.generations.append(generation)
        return generation


def test_past_the_concurrency_limit_is_429_with_retry_after() -> None:
    limit = 20

    async def scenario(url: str) -> None:
        async with httpx.AsyncClient(base_url=url, timeout=60) as client:
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

    backend = HoldingBackend()
    flags = ("--max-concurrent-requests", str(limit))
    with LiveServer(AutoHTTPProtocol, backend, *flags) as live:
        asyncio.run(scenario(live.url))
    held = [g for g in backend.generations if isinstance(g, HeldGeneration)]
    assert len(held) == limit and all(g.closed for g in held)  # every hang-up aborted its run
