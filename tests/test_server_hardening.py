"""Hostile input without an engine: text the tokenizer cannot take, bodies too large or too
slow, malformed HTTP, the docs routes. Every answer is a 4xx in OpenAI's error shape.

The app runs with the scripted backend of fakes.py: through Starlette's TestClient
for what the app decides, and behind a real uvicorn (a thread, a loopback socket) for what
only a real connection shows: chunked bodies, read timeouts, connections being closed.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fakes import LIMIT, TIMEOUT_S, FakeBackend, GatedBackend, LiveServer, client_for
from starlette.testclient import TestClient
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from server.backends.base import Message
from server.http.connections import MAX_HEADER_BYTES
from server.http.request_body import BodyTimeout, read_body
from server.schemas import ErrorResponse

pytestmark = pytest.mark.timeout(120)

CHAT = "/v1/chat/completions"
RESPONSES = "/v1/responses"
JSON = {"content-type": "application/json"}


def user(text: str = "hi") -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


def assert_error(
    response: httpx.Response, status: int, *, mentions: str = "", param: str | None = None
) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert set(response.json()) == {"error"}
    assert set(response.json()["error"]) == {"message", "type", "param", "code"}
    error = ErrorResponse.model_validate(response.json()).error
    assert mentions.lower() in error.message.lower(), error.message
    if param is not None:
        assert error.param == param
    return response.json()["error"]


@pytest.fixture(scope="module")
def backend() -> FakeBackend:
    return FakeBackend()


@pytest.fixture(scope="module")
def client(backend: FakeBackend) -> Iterator[TestClient]:
    with client_for(backend) as client:
        yield client


# -- text the tokenizer and the engine cannot take ----------------------------------------------

# A high surrogate with no low one after it; json.dumps writes it as the `\ud83d` escape a
# client sends.
LONE = "\ud83d"
CHAT_CASES = [
    ({"messages": user(f"a{LONE}")}, "messages.0.content"),
    (
        {"messages": [{"role": "user", "content": [{"type": "text", "text": LONE}]}]},
        "messages.0.content.0.text",
    ),
    ({"messages": user(), "stop": [LONE]}, "stop.0"),
    ({"messages": user(), "stop": LONE}, "stop"),
    ({"messages": user(), "stop": ["ok", LONE], "n": 2, "stream": True}, "stop.1"),
    ({"messages": [{"role": "user", "name": LONE, "content": "hi"}]}, "messages.0.name"),
    ({"messages": user(), "user": LONE}, "user"),
]
RESPONSES_CASES = [
    ({"input": "hi", "instructions": LONE}, "instructions"),
    ({"input": "hi", "instructions": LONE, "stream": True}, "instructions"),
    ({"input": "\udc00 a low one first"}, "input"),
    ({"input": [{"role": "user", "content": LONE}]}, "input.0.content"),
]


@pytest.mark.parametrize(
    ("path", "body", "param"),
    [(CHAT, *case) for case in CHAT_CASES] + [(RESPONSES, *case) for case in RESPONSES_CASES],
)
def test_lone_surrogates_are_400_naming_the_field(
    client: TestClient, backend: FakeBackend, path: str, body: dict[str, Any], param: str
) -> None:
    calls = len(backend.calls)
    raw = json.dumps(body).encode()
    assert b"\\ud" in raw or b"\\udc" in raw  # sent as the escape, as JSON clients do
    error = assert_error(
        client.post(path, content=raw, headers=JSON), 400, mentions="unpaired surrogate"
    )
    assert error["code"] == "invalid_text" and error["type"] == "invalid_request_error"
    assert error["param"] == param and error["message"].startswith(f"{param}: ")
    assert len(backend.calls) == calls  # it never reached the backend


def test_surrogate_pairs_and_control_characters_pass_through_intact(
    client: TestClient, backend: FakeBackend
) -> None:
    # A correct pair is one character (U+1F600); NUL and other controls are valid text too.
    body = (
        '{"messages": [{"role": "user", "content": "\\ud83d\\ude00 a\\u0000b"}], '
        '"stop": ["\\u00e9"]}'
    )
    response = client.post(CHAT, content=body.encode(), headers=JSON)
    assert response.status_code == 200, response.text
    messages, params = backend.calls[-1]
    assert messages[-1] == Message("user", "\U0001f600 a\x00b") and params.stop == ("é",)


def test_invalid_utf8_in_the_body_is_400(client: TestClient) -> None:
    body = b'{"messages": [{"role": "user", "content": "\xff\xfe"}]}'
    assert_error(client.post(CHAT, content=body, headers=JSON), 400, mentions="not valid UTF-8")
    # CESU-8: a surrogate encoded on its own, as some encoders write one.
    body = '{"input": "\ud83d"}'.encode("utf-8", "surrogatepass")
    assert_error(client.post(RESPONSES, content=body, headers=JSON), 400, mentions="UTF-8")


# -- bodies that are not the JSON we read ------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "headers", "mentions"),
    [
        (b'{"messages": [', JSON, "not valid JSON (line 1, column 15)"),
        (b'{"messages": [], "temperature": NaN}', JSON, "NaN is not a JSON number"),
        (b'{"messages": [], "temperature": -Infinity}', JSON, "-Infinity is not a JSON number"),
        (b'{"seed": 1' + b"0" * 5000 + b"}", JSON, "too many digits"),
        (b"[" * 50_000, JSON, "nests deeper than 64"),
        (b'{"a":' * 100 + b"1" + b"}" * 100, JSON, "nests deeper than 64"),
        (b"\xef\xbb\xbf{}", JSON, "not valid JSON"),  # a byte order mark
        (b"", JSON, "request body is empty"),
        (json.dumps({"messages": user()}).encode(), {"content-type": "text/plain"}, "Content-Type"),
        (json.dumps({"messages": user()}).encode(), {}, "Content-Type"),
        (b"[1, 2]", JSON, "JSON object"),
        (b'"just a string"', JSON, "JSON object"),
    ],
)
def test_bodies_that_are_not_a_json_object_are_400_in_our_words(
    client: TestClient, content: bytes, headers: dict[str, str], mentions: str
) -> None:
    for path in (CHAT, RESPONSES):
        error = assert_error(client.post(path, content=content, headers=headers), 400)
        assert mentions.lower() in error["message"].lower(), (path, error)
        assert "error parsing the body" not in error["message"]


MESSAGES = "/v1/messages"
ONE_OF_EACH = [
    (CHAT, {"messages": user()}),
    (RESPONSES, {"input": "hi"}),
    (MESSAGES, {"model": "fake-model", "max_tokens": 16, "messages": user()}),
]


@pytest.mark.parametrize(("path", "body"), ONE_OF_EACH)
@pytest.mark.parametrize("stream", [False, True])
def test_the_body_is_parsed_once(
    client: TestClient,
    monkeypatch: pytest.MonkeyPatch,
    path: str,
    body: dict[str, Any],
    stream: bool,
) -> None:
    """The middleware's check parses the body; the route validates that value, not a second
    parse of the same bytes. A body that fails validation is parsed once as well."""
    loads = json.loads
    parsed: list[Any] = []

    def counted(text: str | bytes, **kw: Any) -> Any:
        parsed.append(text)
        return loads(text, **kw)

    monkeypatch.setattr(json, "loads", counted)
    raw = json.dumps({**body, "stream": stream}).encode()
    response = client.post(path, content=raw, headers=JSON)
    assert response.status_code == 200, response.text
    assert [t for t in parsed if t in (raw, raw.decode())] == [raw.decode()]

    parsed.clear()
    raw = json.dumps({**body, "temperature": "hot"}).encode()
    assert client.post(path, content=raw, headers=JSON).status_code == 400
    assert [t for t in parsed if t in (raw, raw.decode())] == [raw.decode()]


# -- OpenAI's rules for stream_options and content ----------------------------------------------


def test_stream_options_need_stream_true(client: TestClient) -> None:
    options = {"include_usage": True}
    for extra in ({}, {"stream": False}):
        body = {"messages": user(), "stream_options": options, **extra}
        assert_error(
            client.post(CHAT, json=body), 400, mentions="stream is true", param="stream_options"
        )
    ok = client.post(CHAT, json={"messages": user(), "stream_options": options, "stream": True})
    assert ok.status_code == 200 and '"usage"' in ok.text
    assert client.post(CHAT, json={"messages": user(), "stream_options": None}).status_code == 200


@pytest.mark.parametrize("role", ["user", "system", "developer"])
def test_content_is_required_except_for_assistant_messages(client: TestClient, role: str) -> None:
    for message in ({"role": role, "content": None}, {"role": role}):
        body = {"messages": [message, *user()]}
        error = assert_error(client.post(CHAT, json=body), 400, param="messages.0.content")
        assert f"a {role} message needs content" in error["message"]
    history = [*user(), {"role": "assistant", "content": None}, *user("again")]
    assert client.post(CHAT, json={"messages": history}).status_code == 200


def test_validator_messages_carry_no_pydantic_prefix(client: TestClient) -> None:
    error = assert_error(client.post(CHAT, json={"messages": user(), "stop": [""]}), 400)
    assert error["message"] == "stop: stop sequences must be non-empty"


# -- sizes ---------------------------------------------------------------------------------------


def test_a_declared_oversized_body_is_413_and_closes_the_connection() -> None:
    with client_for(FakeBackend(), "--max-request-bytes", "1000") as client:
        response = client.post(CHAT, json={"messages": user("x" * 2000)})
        error = assert_error(response, 413, mentions="exceeds 1000 bytes")
        assert error["code"] == "request_too_large"
        assert response.headers["connection"] == "close"


def test_errors_answered_before_the_body_is_read_close_the_connection() -> None:
    # Else the unread rest of the body would be left on a kept-alive connection.
    with client_for(FakeBackend(), "--api-key", "k") as client:
        response = client.post(CHAT, json={"messages": user("x" * 100_000)})
        assert_error(response, 401, mentions="missing API key")
        assert response.headers["connection"] == "close"
        assert response.headers["www-authenticate"] == "Bearer"
        huge = {"X-Big": "b" * (MAX_HEADER_BYTES + 1), "Authorization": "Bearer k"}
        response = client.post(CHAT, json={"messages": user()}, headers=huge)
        assert_error(response, 431, mentions="request headers exceed")
        assert response.headers["connection"] == "close"


# -- the docs routes -------------------------------------------------------------------------------

DOCS = ("/docs", "/redoc", "/openapi.json")


def test_docs_are_off_by_default() -> None:
    with client_for(FakeBackend()) as client:
        for path in DOCS:
            assert_error(client.get(path), 404)


def test_docs_flag_turns_them_on_and_the_api_key_guards_them() -> None:
    with client_for(FakeBackend(), "--docs") as client:
        for path in DOCS:
            assert client.get(path).status_code == 200, path
        paths = client.get("/openapi.json").json()["paths"]
        # Each generation route documents its body as its request model, as FastAPI does.
        for path, model in [
            (CHAT, "ChatCompletionRequest"),
            (RESPONSES, "ResponsesRequest"),
            (MESSAGES, "MessagesRequest"),
        ]:
            body = paths[path]["post"]["requestBody"]
            assert body["required"] is True
            schema = body["content"]["application/json"]["schema"]
            assert schema == {"$ref": f"#/components/schemas/{model}"}
    with client_for(FakeBackend(), "--docs", "--api-key", "k") as client:
        for path in DOCS:
            assert_error(client.get(path), 401, mentions="missing API key")
            ok = client.get(path, headers={"Authorization": "Bearer k"})
            assert ok.status_code == 200, path
        assert client.get("/health").status_code == 200  # still public


@pytest.fixture(scope="module", params=[HttpToolsProtocol, H11Protocol], ids=["httptools", "h11"])
def live(request: pytest.FixtureRequest) -> Iterator[LiveServer]:
    with LiveServer(request.param) as server:
        yield server


def parse_response(raw: bytes) -> tuple[int, dict[str, str], dict[str, Any]]:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), headers, json.loads(body)


def assert_raw_error(raw: bytes, status: int, mentions: str) -> dict[str, Any]:
    code, headers, body = parse_response(raw)
    assert code == status, raw
    assert headers["content-type"] == "application/json"
    ErrorResponse.model_validate(body)
    assert set(body["error"]) == {"message", "type", "param", "code"}
    assert mentions in body["error"]["message"], body
    return body["error"]


def post_head(path: str, *headers: str) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: test", "Content-Type: application/json", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


@pytest.mark.parametrize("path", [CHAT, RESPONSES])
def test_an_oversized_chunked_body_is_413(live: LiveServer, path: str) -> None:
    # No Content-Length: the size is known only while the chunks arrive.
    def chunks() -> Iterator[bytes]:
        yield b'{"messages": [{"role": "user", "content": "'
        for _ in range(80):  # 80 x 64 KiB = 5 MiB
            yield b"x" * 65536
        yield b'"}]}'

    response = httpx.post(f"{live.url}{path}", content=chunks(), headers=JSON, timeout=30)
    assert "content-length" not in response.request.headers
    assert_error(response, 413, mentions=f"exceeds {LIMIT} bytes")


def test_a_chunked_body_within_the_limit_is_served(live: LiveServer) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"messages": [{"role": "user", '
        yield b'"content": "2+3?"}], "stream": true}'

    response = httpx.post(f"{live.url}{CHAT}", content=chunks(), headers=JSON, timeout=30)
    assert response.status_code == 200 and response.text.endswith("data: [DONE]\n\n")


def test_headers_sent_a_byte_at_a_time_are_cut_off_with_408(live: LiveServer) -> None:
    request = b"GET /health HTTP/1.1\r\nHost: test\r\nX-Slow: " + b"y" * 40 + b"\r\n\r\n"
    raw, seconds, closed = live.exchange(*(bytes([b]) for b in request), gap=0.02)
    assert closed and seconds < TIMEOUT_S + 1.0  # the trickle did not extend the deadline
    error = assert_raw_error(raw, 408, "request headers not received within")
    assert error["code"] == "request_timeout"


def test_headers_that_stop_midway_are_408(live: LiveServer) -> None:
    raw, seconds, closed = live.exchange(b"POST /v1/chat/completions HTTP/1.1\r\nHost: t")
    assert closed and TIMEOUT_S * 0.9 <= seconds < TIMEOUT_S + 1.0
    assert_raw_error(raw, 408, "--header-timeout-seconds")


def test_a_connection_that_sends_nothing_is_closed_silently(live: LiveServer) -> None:
    raw, seconds, closed = live.exchange()
    assert closed and raw == b"" and seconds < TIMEOUT_S + 1.0


def test_a_keep_alive_connection_gets_the_deadline_again_for_its_next_request(
    live: LiveServer,
) -> None:
    first = b"GET /health HTTP/1.1\r\nHost: test\r\n\r\n"
    raw, _, closed = live.exchange(first, b"GET /health HTTP/1.1\r\nHo", gap=0.1)
    assert closed and raw.startswith(b"HTTP/1.1 200")
    assert_raw_error(raw[raw.index(b"HTTP/1.1 408") :], 408, "request headers not received")


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_a_body_sent_too_slowly_is_408_and_the_connection_closed(
    live: LiveServer, framing: str
) -> None:
    body = json.dumps({"messages": user("2+3?")}).encode()
    if framing == "chunked":
        head = post_head(CHAT, "Transfer-Encoding: chunked")
        pieces = [b"%x\r\n%s\r\n" % (1, bytes([b])) for b in body]
    else:
        head = post_head(CHAT, f"Content-Length: {len(body)}")
        pieces = [bytes([b]) for b in body]
    raw, seconds, closed = live.exchange(head, *pieces, gap=0.03)
    assert closed and seconds < TIMEOUT_S + 1.5
    code, headers, _ = parse_response(raw)
    assert headers["connection"] == "close"
    error = assert_raw_error(raw, 408, "request body not received within")
    assert error["code"] == "request_timeout" and code == 408


def test_malformed_http_and_huge_headers_get_openai_shaped_errors(live: LiveServer) -> None:
    raw, _, closed = live.exchange(b"NOT HTTP AT ALL\r\n\r\n")
    assert closed
    assert_raw_error(raw, 400, "malformed HTTP request")
    # Larger than the limit, in one piece (complete) and trickled (still incomplete).
    huge = b"X-Big: " + b"b" * (MAX_HEADER_BYTES + 10) + b"\r\n"
    raw, _, _ = live.exchange(b"GET /health HTTP/1.1\r\nHost: t\r\n" + huge + b"\r\n", wait=1)
    assert_raw_error(raw, 431, "request headers exceed")
    pieces = [b"GET /health HTTP/1.1\r\nHost: t\r\nX-Big: ", *[b"b" * 8192] * 10]
    raw, _, closed = live.exchange(*pieces)
    assert closed
    assert_raw_error(raw, 431, "request headers exceed")


def test_the_live_server_still_answers(live: LiveServer) -> None:
    response = httpx.post(f"{live.url}{CHAT}", json={"messages": user("2+3?")}, timeout=10)
    assert response.status_code == 200
    assert response.json()["choices"][0]["message"]["content"] == "5"


@pytest.mark.parametrize("path", [CHAT, RESPONSES])
def test_events_reach_the_client_while_the_generation_is_still_running(path: str) -> None:
    # Nothing is buffered: the answer's first text is on the wire before the model goes on,
    # framed as `data:` lines (Responses: with `event:` names), without pings or comments.
    backend = GatedBackend()
    question = {"messages": user("2+3?")} if path == CHAT else {"input": "2+3?"}
    with (
        LiveServer(HttpToolsProtocol, backend) as live,
        httpx.Client(timeout=10) as client,
        client.stream("POST", f"{live.url}{path}", json={**question, "stream": True}) as response,
    ):
        assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
        assert response.headers["cache-control"] == "no-cache"
        assert response.headers["x-accel-buffering"] == "no"
        assert "connection" not in response.headers
        seen = []
        lines = response.iter_lines()
        for line in lines:
            seen.append(line)
            if '"5"' in line:
                break
        assert not backend.gate.is_set()  # the answer's text came while the model ran
        backend.gate.set()
        seen += list(lines)
    assert all(line == "" or line.startswith(("data: ", "event: ")) for line in seen), seen
    assert any(('"content":"5"' if path == CHAT else '"delta":"5"') in line for line in seen)
    if path == CHAT:
        assert seen[-2:] == ["data: [DONE]", ""]
    else:
        assert "event: response.completed" in seen and seen[-1] == ""


# -- the body deadline at the ASGI level ----------------------------------------------------------


def test_read_body_times_out_on_a_trickle_and_counts_the_whole_body() -> None:
    async def trickle() -> dict[str, Any]:
        await asyncio.sleep(0.05)
        return {"type": "http.request", "body": b"x", "more_body": True}

    async def scenario() -> float:
        t0 = time.monotonic()
        with pytest.raises(BodyTimeout):
            await read_body(trickle, 10**6, 0.3)
        return time.monotonic() - t0

    assert 0.25 < asyncio.run(scenario()) < 1.0
