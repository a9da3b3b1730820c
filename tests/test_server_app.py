"""The app's own logic with scripted backends, for what a live engine cannot do on demand:
an engine failing mid-stream, an upstream answering errors or breaking off, exact prompts.

The same paths run against real vLLM in test_server_chat.py / test_server_upstream.py.
"""

from __future__ import annotations

import json
import logging
import threading
import time

import httpx
import pytest
from fakes import FakeBackend, choice, client_for, sse_body, sse_payloads

from parsing import INTERLEAVED_INSTRUCTION
from server import state as server_state
from server.backends.base import GenerationParams, Message, Piece
from server.backends.upstream import UpstreamBackend
from server.config import parse_settings
from server.http.errors import APIError

CHAT = {"model": "fake-model", "messages": [{"role": "user", "content": "2+3?"}]}


def test_engine_error_mid_stream_ends_with_error_chunk_and_done_and_server_stays_up() -> None:
    backend = FakeBackend(fail_after=2)
    with client_for(backend) as client:
        response = client.post("/v1/chat/completions", json={**CHAT, "stream": True})
        assert response.status_code == 200
        payloads = sse_payloads(response.text)
        assert payloads[-1] == "[DONE]"
        error = json.loads(payloads[-2])
        assert set(error) == {"error"} and error["error"]["code"] == "generation_error"
        assert "exploded" not in response.text  # internals stay in the log
        thinking = "".join(
            json.loads(p)["choices"][0]["delta"].get("reasoning", "") for p in payloads[1:-2]
        )
        assert thinking == "add them"  # what came before the failure was delivered
        assert backend.generations[0].closed
        backend.fail_after = None
        again = client.post("/v1/chat/completions", json=CHAT)
        assert again.status_code == 200
        assert again.json()["choices"][0]["message"]["content"] == "5"
        assert client.app.state.server.admission.in_flight == 0


def test_the_access_log_line_carries_the_runs_summary(caplog: pytest.LogCaptureFixture) -> None:
    backend = FakeBackend()
    with caplog.at_level(logging.INFO, logger="server.access"), client_for(backend) as client:
        plain = client.post("/v1/chat/completions", json=CHAT)
        streamed = client.post("/v1/chat/completions", json={**CHAT, "stream": True})
        responses = client.post("/v1/responses", json={"input": "2+3?", "stream": True})
        health = client.get("/health")
        backend.fail_after = 2
        failed_stream = client.post("/v1/chat/completions", json={**CHAT, "stream": True})
        failed = client.post("/v1/chat/completions", json=CHAT)
    lines = {
        line["request_id"]: line
        for line in (
            json.loads(r.getMessage()) for r in caplog.records if r.name == "server.access"
        )
    }
    expect = {  # request: (status, outcome, completion tokens); the scripted prompt is 3 tokens
        plain: (200, "completed", 4),
        streamed: (200, "completed", 4),
        responses: (200, "completed", 4),
        failed_stream: (200, "error", 2),
        failed: (500, "error", 2),
    }
    for response, (status, outcome, tokens) in expect.items():
        line = lines[response.headers["x-request-id"]]
        assert response.status_code == status == line["status"], line
        assert line["outcome"] == outcome and line["completion_tokens"] == tokens, line
        assert line["prompt_tokens"] == 3 and line["duration_ms"] > 0, line
        assert line["method"] == "POST", line
    # A failure nobody turned into an APIError: a generic OpenAI-shaped 500, no internals.
    assert failed.json()["error"]["message"] == "internal server error; see the server log"
    assert "exploded" not in failed.text
    line = lines[health.headers["x-request-id"]]
    assert line == {
        "request_id": health.headers["x-request-id"],
        "method": "GET",
        "path": "/health",
        "status": 200,
        "duration_ms": line["duration_ms"],
    }


def test_a_dead_backend_turns_health_and_requests_into_503s_then_stops_the_server(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(server_state, "DEATH_POLL_SECONDS", 0.01)
    monkeypatch.setattr(server_state, "DEATH_LINGER_SECONDS", 0.05)
    backend = FakeBackend()
    stopped = threading.Event()
    with client_for(backend) as client:
        client.app.state.server.on_backend_dead = stopped.set
        assert client.get("/health").status_code == 200
        backend.dead = True
        deadline = time.monotonic() + 5
        while client.get("/health").status_code != 503 and time.monotonic() < deadline:
            time.sleep(0.01)
        health = client.get("/health")
        assert health.status_code == 503 and health.json()["error"]["code"] == "engine_dead"
        refused = client.post("/v1/chat/completions", json=CHAT)
        assert refused.status_code == 503 and refused.json()["error"]["code"] == "engine_dead"
        assert client.post("/v1/responses", json={"input": "2+3?"}).status_code == 503
        assert stopped.wait(5), "the server was never told to stop"
        assert backend.calls == []  # nothing reached the dead backend
        assert client.app.state.server.admission.in_flight == 0


def test_responses_error_mid_stream_is_an_error_event() -> None:
    with client_for(FakeBackend(fail_after=3)) as client:
        response = client.post("/v1/responses", json={"input": "2+3?", "stream": True})
        events = [json.loads(p) for p in sse_payloads(response.text)]
        assert events[0]["type"] == "response.created"
        assert events[-1]["type"] == "error" and events[-1]["code"] == "generation_error"


def test_default_system_prompt_and_its_flags() -> None:
    cases = [
        ((), [{"role": "user", "content": "q"}], INTERLEAVED_INSTRUCTION),
        (("--system-prompt", "Be brief."), [{"role": "user", "content": "q"}], "Be brief."),
        (("--no-system-prompt",), [{"role": "user", "content": "q"}], None),
        (("--format", "none"), [{"role": "user", "content": "q"}], None),
        (
            (),
            [{"role": "developer", "content": "Mine."}, {"role": "user", "content": "q"}],
            "Mine.",
        ),
    ]
    for flags, messages, expected_system in cases:
        backend = FakeBackend()
        with client_for(backend, *flags) as client:
            assert (
                client.post("/v1/chat/completions", json={"messages": messages}).status_code == 200
            )
        sent = backend.calls[0][0]
        systems = [m.content for m in sent if m.role == "system"]
        assert systems == ([expected_system] if expected_system else []), flags
        assert sent[-1] == Message("user", "q")


def test_reasoning_content_flag_duplicates_the_thinking() -> None:
    with client_for(FakeBackend(), "--reasoning-content-field") as client:
        message = client.post("/v1/chat/completions", json=CHAT).json()["choices"][0]["message"]
        assert message["reasoning"] == message["reasoning_content"] == "add them"
        stream = client.post("/v1/chat/completions", json={**CHAT, "stream": True}).text
        deltas = [
            json.loads(p)["choices"][0]["delta"]
            for p in sse_payloads(stream)[:-1]
            if json.loads(p)["choices"]
        ]
        assert any(d.get("reasoning_content") == d.get("reasoning") == "add" for d in deltas)


def test_static_page_is_served_at_root_when_present() -> None:
    from server.api import STATIC_DIR

    with client_for(FakeBackend()) as client:
        response = client.get("/")
        if (STATIC_DIR / "index.html").is_file():
            assert response.status_code == 200 and "html" in response.headers["content-type"]
        else:
            assert response.status_code == 404
        missing = client.get("/no/such/page")
        assert missing.status_code == 404 and "error" in missing.json()


# -- upstream backend against a scripted OpenAI-compatible server -------------------------------


def upstream_with(handler) -> UpstreamBackend:  # type: ignore[no-untyped-def]
    backend = UpstreamBackend(parse_settings(["--upstream", "http://up:1/v1"]))
    backend._client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    backend.upstream_model = "up-model"
    return backend


SSE = {"content-type": "text/event-stream; charset=utf-8"}


async def collect(backend: UpstreamBackend) -> tuple[list[Piece], int]:
    generation = await backend.generate([Message("user", "q")], GenerationParams(), "rid")
    pieces = [p async for step in generation for p in step]
    return pieces, generation.prompt_tokens


@pytest.mark.anyio
async def test_upstream_reasoning_fields_are_wrapped_back_into_think_tags() -> None:
    body = sse_body(
        choice({"role": "assistant", "content": ""}),
        choice({"reasoning": "plan"}),
        choice({"reasoning_content": " more"}),
        choice({"content": "<answer>4"}),
        choice({"content": "</answer>"}),
        choice({}, "stop"),
        {"choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 6}},
    )
    backend = upstream_with(lambda request: httpx.Response(200, content=body, headers=SSE))
    pieces, prompt_tokens = await collect(backend)
    assert "".join(p.text for p in pieces) == "<think>plan more</think><answer>4</answer>"
    assert prompt_tokens == 9
    assert sum(p.num_tokens for p in pieces) == 6  # the text-less EOS token is added at the end
    assert pieces[-1].finish_reason == "stop"


@pytest.mark.anyio
@pytest.mark.parametrize(("status", "expected"), [(400, 400), (422, 400), (404, 502), (500, 502)])
async def test_upstream_errors_map_to_client_or_gateway_errors(status: int, expected: int) -> None:
    backend = upstream_with(
        lambda request: httpx.Response(status, json={"error": {"message": "nope", "type": "x"}})
    )
    with pytest.raises(APIError) as caught:
        await collect(backend)
    assert caught.value.status == expected and "nope" in caught.value.message


@pytest.mark.anyio
async def test_upstream_error_chunk_mid_stream_raises_a_gateway_error() -> None:
    body = sse_body(choice({"content": "hel"}), {"error": {"message": "boom", "code": 500}})
    backend = upstream_with(lambda request: httpx.Response(200, content=body, headers=SSE))
    with pytest.raises(APIError, match="boom"):
        await collect(backend)


@pytest.mark.anyio
async def test_upstream_answers_that_are_not_event_streams_are_gateway_errors() -> None:
    body = sse_body(choice({"content": "hel"}, "stop"))
    backend = upstream_with(lambda request: httpx.Response(200, content=body))  # no type
    with pytest.raises(APIError, match="not an event stream") as caught:
        await collect(backend)
    assert caught.value.status == 502 and caught.value.code == "upstream_error"
    # Events split across reads, comments, CRLF line ends and a multi-line event all parse.
    last = json.dumps(choice({"content": "</answer>"}, "stop")).encode()
    cut = last.index(b":") + 1  # a multi-line event's lines are joined with "\n": still JSON
    crlf = (
        b": a comment\r\ndata: "
        + json.dumps(choice({"content": "<answer>4"})).encode()
        + b"\r\n\r\ndata: "
        + last[:cut]
        + b"\ndata: "
        + last[cut:]
        + b"\n\ndata: [DONE]\n\n"
    )
    backend = upstream_with(lambda request: httpx.Response(200, content=crlf, headers=SSE))
    pieces, _ = await collect(backend)
    assert "".join(p.text for p in pieces) == "<answer>4</answer>"
    assert pieces[-1].finish_reason == "stop"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def test_responses_instructions_are_the_system_prompt() -> None:
    backend = FakeBackend()
    with client_for(backend) as client:
        body = {
            "input": [{"role": "user", "content": [{"type": "input_text", "text": "q"}]}],
            "instructions": "Answer in French.",
        }
        response = client.post("/v1/responses", json=body)
        assert response.status_code == 200
        assert response.json()["instructions"] == "Answer in French."
        assert [i["type"] for i in response.json()["output"]] == ["reasoning", "message"]
        assert response.json()["output"][1]["phase"] == "final_answer"
    assert backend.calls[0][0] == [Message("system", "Answer in French."), Message("user", "q")]
