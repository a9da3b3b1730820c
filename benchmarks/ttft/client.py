"""One streamed chat request, timed per SSE event from the client's side.

The client is deliberately dumb: it sends one OpenAI chat request with `stream: true`, reads
the stream with httpx-sse (the reader the server's gateway uses too), stamps every SSE data
event with `time.perf_counter()` the moment it is complete (its blank line has arrived; servers
write an event in one piece, so that is when its first line arrived), and keeps what the event
said (reasoning text, content text, our `answer_complete` extension, finish reason, usage).
Deciding which text is thinking and which is answer is `classify`'s job; turning times into
metrics is `metrics`' job. Any way a request can go wrong ends as a failed
`RequestRecord` with a `error_kind`, never as an exception, because a benchmark that crashes
on the first 500 measures nothing.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
from httpx_sse import EventSource, SSEError

# Failure kinds, so the report can count them by cause.
HTTP = "http_{status}"  # the server answered with a non-200 status
CONNECT = "connect"  # no connection could be made
TIMEOUT = "timeout"  # --request-timeout passed, or a read timed out
DROPPED = "dropped"  # the connection broke, or the stream ended without `data: [DONE]`
ERROR_CHUNK = "error_chunk"  # the server sent `{"error": ...}` inside the stream
BAD_JSON = "bad_json"  # a data event that is not JSON
EMPTY = "empty"  # a complete stream without a single token
FINISH = "finish_{reason}"  # finish_reason "error" or "abort": the server gave up


@dataclass
class Target:
    """A server to measure: where it is, which model to ask for, how to read its stream.

    `format` is the `parsing` format used on `content` for servers that do not split segments
    themselves; `classify` forces how the stream is read ("ours", "fields") instead of
    detecting it ("auto"). `extra_body` is merged into every request body. `system`, when
    set, replaces the prompts' system message (a model trained under another instruction).
    """

    name: str
    base_url: str
    model: str | None = None
    api_key: str | None = None
    format: str = "interleaved"
    classify: str = "auto"
    extra_body: dict[str, Any] = field(default_factory=dict)
    system: str | None = None

    @property
    def chat_url(self) -> str:
        return f"{self.base_url}/v1/chat/completions"


@dataclass
class Chunk:
    """One SSE data event that carried a choice, as received.

    t: seconds since the request was sent, when the event's first line arrived.
    """

    t: float
    reasoning: str = ""
    content: str = ""
    answer_complete: dict[str, Any] | None = None
    finish_reason: str | None = None

    @property
    def is_token(self) -> bool:
        """Role-only, finish-only and answer_complete-only chunks carry no token."""
        return bool(self.reasoning or self.content)


@dataclass
class RequestRecord:
    """What happened to one request, with raw per-event timings.

    sent_at / ended_at: absolute `perf_counter()` values (comparable across requests of a
    run); every `Chunk.t` and `stream_end` is relative to `sent_at`.
    """

    target: str
    prompt_index: int
    sent_at: float
    ended_at: float = 0.0
    chunks: list[Chunk] = field(default_factory=list)
    usage: dict[str, Any] | None = None
    stream_end: float | None = None
    http_status: int | None = None
    error_kind: str | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error_kind is None

    def fail(self, kind: str, message: str) -> RequestRecord:
        # The first cause wins: a dropped stream after an error chunk is still an error chunk.
        if self.error_kind is None:
            self.error_kind, self.error = kind, message[:500]
        return self


def make_client(timeout: float, connect_timeout: float = 10.0) -> httpx.AsyncClient:
    """The HTTP client for measurements: unlimited connections, and TCP_NODELAY.

    Without TCP_NODELAY the request body, written after the headers, can wait for the server's
    delayed ACK (40 ms on Linux) before it leaves: a client artifact that would be added to
    every TTFT. (vLLM's harness, on aiohttp, sets it too.)
    """
    transport = httpx.AsyncHTTPTransport(
        socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)],
        limits=httpx.Limits(max_connections=None, max_keepalive_connections=None),
    )
    return httpx.AsyncClient(
        transport=transport, timeout=httpx.Timeout(timeout, connect=connect_timeout)
    )


def with_system(messages: list[dict[str, Any]], system: str) -> list[dict[str, Any]]:
    """The same conversation under another system message."""
    rest = [m for m in messages[:1] if m.get("role") != "system"] + messages[1:]
    return [{"role": "system", "content": system}, *rest]


def request_body(
    target: Target,
    messages: list[dict[str, Any]],
    max_tokens: int,
    temperature: float | None,
) -> dict[str, Any]:
    if target.system is not None:
        messages = with_system(messages, target.system)
    body: dict[str, Any] = {
        "messages": messages,
        "max_tokens": max_tokens,
        "stream": True,
        # Usage gives the true completion-token count; without it each token chunk is one token.
        "stream_options": {"include_usage": True},
    }
    if target.model is not None:
        body["model"] = target.model
    if temperature is not None:
        body["temperature"] = temperature
    body.update(target.extra_body)  # last, so --extra-body can override anything
    return body


async def send(
    client: httpx.AsyncClient,
    target: Target,
    body: dict[str, Any],
    *,
    prompt_index: int,
    timeout: float,
) -> RequestRecord:
    """Send one streaming request; always returns a record, failed or not."""
    headers = {"Authorization": f"Bearer {target.api_key}"} if target.api_key else {}
    payload = json.dumps(body).encode()  # encoded before the clock starts
    headers["Content-Type"] = "application/json"
    sent = time.perf_counter()
    record = RequestRecord(target=target.name, prompt_index=prompt_index, sent_at=sent)
    try:
        async with asyncio.timeout(timeout):
            async with client.stream(
                "POST", target.chat_url, content=payload, headers=headers
            ) as response:
                record.http_status = response.status_code
                if response.status_code != 200:
                    text = (await response.aread()).decode(errors="replace")
                    record.fail(HTTP.format(status=response.status_code), _error_message(text))
                else:
                    await _read_events(response, record)
    except TimeoutError:
        record.fail(TIMEOUT, f"no complete response within {timeout:g} s")
    except (httpx.ConnectError, httpx.ConnectTimeout) as e:
        record.fail(CONNECT, f"{type(e).__name__}: {e}")
    except httpx.TimeoutException as e:
        record.fail(TIMEOUT, f"{type(e).__name__}: {e}")
    except httpx.HTTPError as e:  # RemoteProtocolError, ReadError, ...: the connection broke
        record.fail(DROPPED, f"{type(e).__name__}: {e}")
    record.ended_at = time.perf_counter()
    return record


async def _read_events(response: httpx.Response, record: RequestRecord) -> None:
    sent = record.sent_at
    done = False
    try:
        async for event in EventSource(response).aiter_sse():
            # Events without data (comments, other fields only) are not dispatched by SSE.
            done = _handle_event(event.data, time.perf_counter() - sent, record)
            if done or not record.ok:
                break
    except SSEError as e:  # a 200 that is not an event stream: no [DONE] will come
        record.fail(DROPPED, str(e))
        return
    if not record.ok:
        return
    if not done:
        record.fail(DROPPED, "stream ended without data: [DONE]")
        return
    finish = next((c.finish_reason for c in reversed(record.chunks) if c.finish_reason), None)
    if finish in ("error", "abort"):
        record.fail(FINISH.format(reason=finish), f"finish_reason {finish!r}")
    elif not any(c.is_token for c in record.chunks):
        record.fail(EMPTY, "the stream carried no token")


def _handle_event(data: str, t: float, record: RequestRecord) -> bool:
    """Record one data event; True when it was `[DONE]`."""
    if data.strip() == "[DONE]":
        record.stream_end = t
        return True
    try:
        event = json.loads(data)
    except json.JSONDecodeError:
        record.fail(BAD_JSON, f"not JSON: {data[:200]!r}")
        return False
    if not isinstance(event, dict):
        record.fail(BAD_JSON, f"not a JSON object: {data[:200]!r}")
        return False
    if event.get("error"):
        record.fail(ERROR_CHUNK, _error_message(json.dumps(event)))
        return False
    if isinstance(event.get("usage"), dict):
        record.usage = event["usage"]
    for choice in (event.get("choices") or [])[:1]:  # n=1 is what we ask for
        delta = choice.get("delta") or {}
        # Our server may duplicate thinking into reasoning_content; take one, never both.
        reasoning = delta.get("reasoning") or delta.get("reasoning_content") or ""
        record.chunks.append(
            Chunk(
                t=t,
                reasoning=reasoning,
                content=delta.get("content") or "",
                answer_complete=delta.get("answer_complete"),
                finish_reason=choice.get("finish_reason"),
            )
        )
    return False


def _error_message(text: str) -> str:
    """The `error.message` of an OpenAI-shaped error body, else the body itself."""
    try:
        body = json.loads(text)
        error = body.get("error")
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
        if isinstance(error, str):
            return error
        if "detail" in body:
            return str(body["detail"])
    except (json.JSONDecodeError, AttributeError):
        pass
    return text.strip() or "(empty body)"
