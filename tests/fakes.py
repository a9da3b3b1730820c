"""Scripted stand-ins for the engine, shared by the tests that need one.

The real engine is what most tests use (the session `server` fixture in conftest.py). These
fakes cover what a live engine cannot do on demand: fail mid-stream, hold a generation open,
produce exact token counts. They implement `server.backends.base.Backend`, so the app under test is
the real one, built by `create_app`.

- `FakeBackend`: every request generates `SCRIPT` (one think, the answer "5"), optionally
  failing after `fail_after` pieces; `GatedBackend` holds its answer open until `gate` is set.
- `ThinkerBackend`: a deterministic "model", one token per piece: it thinks for `THINK_LEN`
  tokens, answers " 42", `ROUNDS` times, and continues from an assistant prefix the way a real
  model continues a reply, so budgets, continuations and token counts are exact.
- `ScriptedBackend`: plays its `script` (text chunks, one token each; settable per test) for
  every request, e.g. the tool call `CALL` in the model's call syntax.
- `sse_body(*chunks)`, `choice(delta)`: an OpenAI-style upstream's streamed body, for
  gateway-mode tests.
- `client_for(backend, *flags)`: the app as a Starlette `TestClient`.
- `LiveServer`: the app behind a real uvicorn (a thread, a loopback socket) for what only a
  real connection shows: chunked bodies, read timeouts, connections being closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
import time
from collections.abc import AsyncIterator
from typing import Any

import uvicorn
from starlette.testclient import TestClient

from server.api import create_app
from server.backends.base import GenerationParams, Message, Piece
from server.config import parse_settings
from server.http.connections import protocol_class, uvicorn_config

# -- the scripted reply ---------------------------------------------------------------------------

SCRIPT = ["<think>add", " them</think>", "<answer>5", "</answer>"]


class FakeGeneration:
    def __init__(self, texts: list[str], fail_after: int | None) -> None:
        self.prompt_tokens = 3
        self.texts = texts
        self.fail_after = fail_after
        self.closed = False

    async def __aiter__(self) -> AsyncIterator[list[Piece]]:
        for i, text in enumerate(self.texts):
            if self.fail_after is not None and i == self.fail_after:
                raise RuntimeError("engine exploded (scripted)")
            last = i == len(self.texts) - 1
            yield [Piece(0, text, 1, "stop" if last else None)]

    async def aclose(self) -> None:
        self.closed = True


class ScriptedLifecycle:
    """What a scripted backend does for `Backend`'s lifecycle: there is no engine or connection
    to start, stop or check, so each is done at once."""

    steers_in_engine = False

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def check_health(self) -> None:
        return None


class FakeBackend(ScriptedLifecycle):
    model_name = "fake-model"
    max_model_len = 100

    def __init__(self, fail_after: int | None = None) -> None:
        self.fail_after = fail_after
        self.dead = False
        self.calls: list[tuple[list[Message], GenerationParams]] = []
        self.generations: list[FakeGeneration] = []

    def is_dead(self) -> bool:
        return self.dead

    async def generate(
        self, messages: list[Message], params: GenerationParams, request_id: str
    ) -> FakeGeneration:
        self.calls.append((messages, params))
        generation = FakeGeneration(SCRIPT, self.fail_after)
        self.generations.append(generation)
        return generation


def client_for(backend: object, *flags: str) -> TestClient:
    return TestClient(create_app(parse_settings(list(flags)), backend))  # type: ignore[arg-type]


def sse_payloads(text: str) -> list[str]:
    return [line[6:] for line in text.split("\n") if line.startswith("data: ")]


class GatedGeneration(FakeGeneration):
    """Sends a think segment and the start of an answer, then waits for `gate`."""

    def __init__(self, gate: threading.Event) -> None:
        super().__init__([], None)
        self.gate = gate

    async def __aiter__(self) -> AsyncIterator[list[Piece]]:
        yield [Piece(0, "<think>add</think><answer>5", 2)]
        while not self.gate.is_set():
            await asyncio.sleep(0.01)
        yield [Piece(0, "</answer>", 1, "stop")]


class GatedBackend(FakeBackend):
    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()

    async def generate(
        self, messages: list[Message], params: GenerationParams, request_id: str
    ) -> FakeGeneration:
        self.calls.append((messages, params))
        generation = GatedGeneration(self.gate)
        self.generations.append(generation)
        return generation


# -- a thinking model with exact token counts ----------------------------------------------------

THINK_LEN = 30
ROUNDS = 3


def next_token(text: str) -> str | None:
    """The scripted model's next token after `text`, or None to stop."""
    in_answer = text.rfind("<answer>") > text.rfind("</answer>")
    in_think = text.rfind("<think>") > text.rfind("</think>")
    if in_answer:
        return "</answer>" if text.endswith(" 42") else " 42"
    if in_think:
        thought = text[text.rfind("<think>") :].count(" hmm")
        return "</think>" if thought >= THINK_LEN - 1 else " hmm"
    if text.endswith("</think>"):
        return "<answer>"
    if text.count("</answer>") >= ROUNDS:
        return None
    return "<think>"


class ThinkerGeneration:
    def __init__(self, prefix: str, max_tokens: int | None, delay: float = 0.0) -> None:
        self.prompt_tokens = 7
        self.prefix = prefix
        self.max_tokens = max_tokens
        self.delay = delay  # seconds per token
        self.closed = False

    async def __aiter__(self) -> AsyncIterator[list[Piece]]:
        text, produced = self.prefix, 0
        while True:
            token = next_token(text)
            if token is None:
                yield [Piece(0, "", 0, "stop")]
                return
            if self.delay:
                await asyncio.sleep(self.delay)
            text += token
            produced += 1
            cut = self.max_tokens is not None and produced >= self.max_tokens
            yield [Piece(0, token, 1, "length" if cut else None)]
            if cut:
                return

    async def aclose(self) -> None:
        self.closed = True


class ThinkerBackend:
    model_name = "thinker"
    steers_in_engine = False
    max_model_len = 4096

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.prefixes: list[str] = []
        self.params: list[GenerationParams] = []
        self.generations: list[ThinkerGeneration] = []

    async def start(self) -> None:
        """Nothing to load."""

    async def stop(self) -> None:
        """Nothing to release."""

    async def check_health(self) -> None:
        """Always healthy."""

    def is_dead(self) -> bool:
        return False

    async def generate(
        self, messages: list[Message], params: GenerationParams, request_id: str, prefix: str = ""
    ) -> ThinkerGeneration:
        self.prefixes.append(prefix)
        self.params.append(params)
        generation = ThinkerGeneration(prefix, params.max_tokens, self.delay)
        self.generations.append(generation)
        return generation


# -- a real connection: uvicorn in a thread, a loopback socket -----------------------------------

TIMEOUT_S = 0.4
LIMIT = 64 * 1024


class LiveServer:
    def __init__(self, base: type[Any], backend: Any = None, *flags: str) -> None:
        settings = parse_settings(
            [
                "--header-timeout-seconds",
                str(TIMEOUT_S),
                "--body-timeout-seconds",
                str(TIMEOUT_S),
                "--max-request-bytes",
                str(LIMIT),
                *flags,
            ]
        )
        app = create_app(settings, backend if backend is not None else FakeBackend())
        config = uvicorn_config(app, settings)
        assert config.http.header_timeout == TIMEOUT_S  # type: ignore[union-attr]
        config.http = protocol_class(TIMEOUT_S, base)  # both of uvicorn's, not just the default
        self.server = uvicorn.Server(config)
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            assert time.monotonic() < deadline and self.thread.is_alive(), "uvicorn did not start"
            time.sleep(0.01)
        return self

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()

    def exchange(
        self, *pieces: bytes, gap: float = 0.0, wait: float = 3.0
    ) -> tuple[bytes, float, bool]:
        """Send `pieces` (`gap` seconds apart), then read until the server closes: what it
        answered, seconds from the first byte to the close, and whether it closed at all."""
        with socket.create_connection(("127.0.0.1", self.port)) as conn:
            conn.settimeout(wait)
            t0 = time.monotonic()
            received = b""
            # The server may close while we are still sending (a 408 or 413): that is fine.
            with contextlib.suppress(OSError):
                for piece in pieces:
                    conn.sendall(piece)
                    time.sleep(gap)
            try:
                while chunk := conn.recv(65536):
                    received += chunk
            except TimeoutError:
                return received, time.monotonic() - t0, False
            except ConnectionResetError:
                return received, time.monotonic() - t0, True  # closed hard: still an end
            return received, time.monotonic() - t0, True


# -- a settable script ---------------------------------------------------------------------------

CALL = '<tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}</tool_call>'


class ScriptedGeneration:
    def __init__(self, chunks: list[str], finish: str) -> None:
        self.prompt_tokens = 5
        self.chunks = chunks
        self.finish = finish

    async def __aiter__(self) -> AsyncIterator[list[Piece]]:
        for i, text in enumerate(self.chunks):
            last = i == len(self.chunks) - 1
            yield [Piece(0, text, 1, self.finish if last else None)]

    async def aclose(self) -> None:
        return None  # nothing runs behind a script, so there is nothing to abort


class ScriptedBackend(ScriptedLifecycle):
    """Plays `script` (a list of text chunks, one token each) for every request."""

    model_name = "fake-model"
    max_model_len = 4096

    def __init__(self) -> None:
        self.script: list[str] = ["<think>x</think><answer>y</answer>"]
        self.finish = "stop"
        self.calls: list[tuple[list[Message], GenerationParams]] = []

    def is_dead(self) -> bool:
        return False

    async def generate(
        self, messages: list[Message], params: GenerationParams, request_id: str, prefix: str = ""
    ) -> ScriptedGeneration:
        self.calls.append((messages, params))
        return ScriptedGeneration(list(self.script), self.finish)


# -- an upstream's stream -------------------------------------------------------------------------


def sse_body(*chunks: dict) -> bytes:
    return "".join(f"data: {json.dumps(c)}\n\n" for c in chunks).encode() + b"data: [DONE]\n\n"


def choice(delta: dict, finish: str | None = None) -> dict:
    return {"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
