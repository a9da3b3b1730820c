"""The gateway backend: forward chat requests to an OpenAI-compatible server, stream its raw text.

The upstream (vLLM's own server, SGLang, ...) is asked for a plain streaming chat completion;
its text deltas go through the same parsing and shaping as the local engine's, so clients get
the same events either way. Details:
  - The request is always streamed upstream, also for non-streaming clients, so answers get
    their own completion times. The stream is read with httpx-sse (as the benchmark client
    reads ours): an upstream answering 200 with another Content-Type than
    `text/event-stream`, or with data that is not JSON, is a 502.
  - Token offsets count one token per upstream chunk that carries text (vLLM sends one chunk
    per token); the final `usage` is the upstream's own count (requested with
    `stream_options.include_usage`).
  - If the upstream already splits reasoning (a reasoning parser filling `reasoning` /
    `reasoning_content`), that text is wrapped back into think tags before parsing.
  - `enforce_format` is forwarded as vLLM's `structured_outputs: {"regex": ...}`.
  - Upstream 4xx errors caused by the request are passed on; anything else is a 502.
  - Tools: the server lists them in the system prompt and reads calls from the text, so any
    upstream works. With --upstream-tools the request's tools go to the upstream instead; the
    `tool_calls` deltas it returns are written back into the model's call syntax
    (`<tool_call>{"name": ..., "arguments": ...}</tool_call>`), so the same parser turns them
    into the same events as text the model wrote itself.
  - A continuation (a reasoning budget's forced close) sends the reply so far as a last
    assistant message with vLLM's `continue_final_message: true, add_generation_prompt:
    false`: gateway budgets need an upstream that supports those (vLLM does).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
from httpx_sse import EventSource, SSEError

from parsing import ToolCallSyntax, get_format, get_tool_call_syntax
from server.backends.base import GenerationParams, Message, Piece
from server.config import Settings
from server.http.errors import APIError
from server.startup import StartupError

log = logging.getLogger("server")

_PASSED_ON = {400, 413, 422, 429}  # statuses the client caused; others are our problem (502)
START_WAIT_SECONDS = 60.0


def api_base(url: str) -> str:
    """`http://h:8000` or `http://h:8000/v1/` -> `http://h:8000/v1`."""
    url = url.rstrip("/")
    return url if url.endswith("/v1") else url + "/v1"


def _error_message(response_body: bytes) -> str:
    try:
        body = json.loads(response_body)
    except ValueError:
        return response_body.decode(errors="replace")[:500]
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
        if isinstance(body.get("detail"), str):
            return body["detail"]
        if isinstance(body.get("message"), str):
            return body["message"]
    return json.dumps(body)[:500]


class UpstreamGeneration:
    """One upstream streaming response. Iterate for lists of pieces; `aclose()` hangs up,
    which makes a vLLM upstream abort the request."""

    def __init__(
        self,
        response: httpx.Response,
        think_tags: tuple[str, str] | None,
        n: int,
        syntax: ToolCallSyntax | None = None,
    ) -> None:
        self.prompt_tokens = 0  # known when the upstream's usage chunk arrives
        self._response = response
        self._think_tags = think_tags
        self._n = n
        self._calls = [_CallWriter(syntax) for _ in range(n)] if syntax is not None else None

    async def __aiter__(self) -> AsyncIterator[list[Piece]]:
        counted = [0] * self._n
        in_think = [False] * self._n
        held: list[Piece] = []  # finishing pieces wait for the usage chunk's token count
        try:
            async for event in EventSource(self._response).aiter_sse():
                data = event.data
                if data == "[DONE]":
                    break
                chunk = json.loads(data)
                if "error" in chunk:
                    raise APIError(
                        502, f"upstream: {_error_message(data.encode())}", code="upstream_error"
                    )
                usage = chunk.get("usage")
                if usage and not chunk.get("choices"):
                    self.prompt_tokens = int(usage.get("prompt_tokens") or 0)
                    missing = int(usage.get("completion_tokens") or 0) - sum(counted)
                    if held and self._n == 1 and missing > 0:
                        held[0].num_tokens += missing  # e.g. the EOS token, which has no text
                    continue
                pieces = []
                for choice in chunk.get("choices", ()):
                    piece = self._piece(choice, in_think)
                    if piece is None:
                        continue
                    counted[piece.index] += piece.num_tokens
                    if piece.finish_reason is not None:
                        held.append(piece)
                    else:
                        pieces.append(piece)
                if pieces:
                    yield pieces
        except SSEError as exc:
            raise APIError(502, f"upstream: {exc}", code="upstream_error") from exc
        except (httpx.TransportError, json.JSONDecodeError) as exc:
            raise APIError(
                502, f"upstream stream broke off: {type(exc).__name__}", code="upstream_error"
            ) from exc
        finally:
            await self._response.aclose()
        if held:
            yield held

    def _piece(self, choice: dict[str, Any], in_think: list[bool]) -> Piece | None:
        index = int(choice.get("index", 0))
        if not 0 <= index < self._n:
            return None
        delta = choice.get("delta") or {}
        reasoning = delta.get("reasoning") or delta.get("reasoning_content") or ""
        content = delta.get("content") or ""
        text = ""
        if self._think_tags is not None:
            opener, closer = self._think_tags
            if reasoning:
                text = reasoning if in_think[index] else opener + reasoning
                in_think[index] = True
            if in_think[index] and content:
                text += closer
                in_think[index] = False
        finish = choice.get("finish_reason")
        calls = delta.get("tool_calls")
        writer = self._calls[index] if self._calls is not None else None
        if writer is not None:
            if content:
                text += writer.close()  # text after a call: the call is over
            text += content
            if calls:
                text += writer.write(calls)
            if finish is not None:
                text += writer.close()
        else:
            text += content
        tokens = 1 if (content or reasoning or calls) else 0
        if not text and finish is None:
            return None
        return Piece(index, text, tokens, finish)

    async def aclose(self) -> None:
        await self._response.aclose()


class _CallWriter:
    """One choice's upstream `tool_calls` deltas, written back as call syntax text."""

    def __init__(self, syntax: ToolCallSyntax) -> None:
        self.syntax = syntax
        self._open: int | None = None  # the upstream index of the call being written
        self._args = False  # it has argument text

    def write(self, calls: list[dict[str, Any]]) -> str:
        out = []
        for call in calls:
            index = call.get("index", 0)
            function = call.get("function") or {}
            if index != self._open and function.get("name"):
                out.append(self.close())
                keys = self.syntax
                out.append(
                    f"{keys.open}{{{json.dumps(keys.name_key)}: {json.dumps(function['name'])}, "
                    f"{json.dumps(keys.arguments_key)}: "
                )
                self._open, self._args = index, False
            fragment = function.get("arguments") or ""
            if fragment and self._open is not None:
                out.append(fragment)
                self._args = True
        return "".join(out)

    def close(self) -> str:
        if self._open is None:
            return ""
        self._open = None
        return ("" if self._args else "{}") + "}" + self.syntax.close


class UpstreamBackend:
    """`server.backends.base.Backend` that forwards to an OpenAI-compatible server."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.base = api_base(settings.upstream or "")
        self.model_name = settings.served_model_name or ""
        self.steers_in_engine = False  # budgets are steered here, by continuation
        self.upstream_model = settings.upstream_model or ""
        self.max_model_len: int | None = None
        fmt = get_format(settings.format)
        self._syntax = get_tool_call_syntax(settings.tool_call_syntax)
        self._think_tags = (
            (fmt.think_open, fmt.think_close) if fmt.think_open and fmt.think_close else None
        )
        headers = {}
        if settings.upstream_api_key:
            headers["Authorization"] = f"Bearer {settings.upstream_api_key}"
        self._client = httpx.AsyncClient(
            headers=headers,
            timeout=httpx.Timeout(settings.upstream_timeout, connect=10.0),
            limits=httpx.Limits(
                max_connections=settings.max_concurrent_requests + 8, max_keepalive_connections=64
            ),
        )

    async def start(self) -> None:
        """Learn the upstream's model (and context length); wait a while for it to come up."""
        deadline = asyncio.get_running_loop().time() + START_WAIT_SECONDS
        while True:
            try:
                models = await self._models()
                break
            except (httpx.HTTPError, APIError) as exc:
                if asyncio.get_running_loop().time() > deadline:
                    raise StartupError(
                        f"--upstream {self.base}: no answer from /models ({exc})"
                    ) from exc
                await asyncio.sleep(1.0)
        if not models:
            raise StartupError(f"--upstream {self.base}: it serves no models")
        card = next((m for m in models if m.get("id") == self.upstream_model), None)
        if self.upstream_model and card is None:
            raise StartupError(
                f"--upstream-model {self.upstream_model!r}: the upstream serves "
                f"{[m.get('id') for m in models]}"
            )
        card = card or models[0]
        self.upstream_model = str(card.get("id"))
        self.model_name = self.model_name or self.upstream_model
        max_len = card.get("max_model_len")
        self.max_model_len = int(max_len) if isinstance(max_len, int) else None
        log.info(
            "gateway to %s, upstream model %r served as %r",
            self.base,
            self.upstream_model,
            self.model_name,
        )

    async def _models(self) -> list[dict[str, Any]]:
        response = await self._client.get(f"{self.base}/models", timeout=5.0)
        if response.status_code != 200:
            raise APIError(502, f"upstream /models answered {response.status_code}")
        data = response.json().get("data")
        return [m for m in data if isinstance(m, dict)] if isinstance(data, list) else []

    async def stop(self) -> None:
        await self._client.aclose()

    async def check_health(self) -> None:
        await self._models()

    def is_dead(self) -> bool:
        return False  # an unreachable upstream is a 502 per request; it may come back

    def schema_problem(self, schema: dict[str, Any]) -> str | None:
        return None  # the upstream checks the grammar it is sent (a 400 passed on)

    async def generate(
        self,
        messages: list[Message],
        params: GenerationParams,
        request_id: str,
        prefix: str = "",
    ) -> UpstreamGeneration:
        chat = [{"role": m.role, "content": m.content} for m in messages]
        body: dict[str, Any] = {
            "model": self.upstream_model,
            "messages": chat,
            "stream": True,
            "stream_options": {"include_usage": True},
            "n": params.n,
        }
        optional = {
            "max_tokens": params.max_tokens,
            "temperature": params.temperature,
            "top_p": params.top_p,
            "seed": params.seed,
            "stop": list(params.stop) or None,
        }
        body.update({k: v for k, v in optional.items() if v is not None})
        if params.tools:
            body.update(params.tools)
        if params.structural_tag:
            body["structured_outputs"] = {"structural_tag": params.structural_tag}
        elif params.regex:
            body["structured_outputs"] = {"regex": params.regex}
        if prefix:
            chat.append({"role": "assistant", "content": prefix})
            body["continue_final_message"] = True
            body["add_generation_prompt"] = False
        request = self._client.build_request(
            "POST",
            f"{self.base}/chat/completions",
            json=body,
            headers={"X-Request-Id": request_id},
        )
        try:
            response = await self._client.send(request, stream=True)
        except httpx.HTTPError as exc:
            raise APIError(
                502, f"upstream unreachable: {type(exc).__name__}", code="upstream_unreachable"
            ) from exc
        if response.status_code != 200:
            content = await response.aread()
            await response.aclose()
            message = f"upstream: {_error_message(content)}"
            if response.status_code in _PASSED_ON:
                status = 400 if response.status_code == 422 else response.status_code
                headers = {}
                if "retry-after" in response.headers:
                    headers["Retry-After"] = response.headers["retry-after"]
                raise APIError(status, message, code="upstream_rejected", headers=headers)
            raise APIError(502, f"{message} (status {response.status_code})", code="upstream_error")
        content_type = response.headers.get("content-type", "")
        if "text/event-stream" not in content_type.partition(";")[0]:
            await response.aclose()
            raise APIError(
                502,
                f"upstream answered with Content-Type {content_type!r}, not an event stream",
                code="upstream_error",
            )
        syntax = self._syntax if params.tools else None
        return UpstreamGeneration(response, self._think_tags, params.n, syntax)
