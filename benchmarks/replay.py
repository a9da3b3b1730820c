"""A small local SSE server that replays recorded chat-completion streams with known timings.

It answers `POST /v1/chat/completions` by picking a script, by `"MODEL:TEXT"`, else `"TEXT"`
(TEXT: the request's last message), else `"MODEL:*"`, else `"*"`, and replaying it: for each
`(delay_s, payload)` step it waits until `delay_s` seconds after the previous step was due,
then sends `payload` as one SSE event (`data: <json>` for a dict, `data: [DONE]` for "[DONE]",
a raw string as is). A `DROP` step closes the connection mid-body, as a crashed server would.
A script with a non-200 status answers with its JSON body instead. Also answers `GET /health`
and `GET /v1/models`.

Because the timings are known, a client's measurements of it have known right answers; the
latency harness's tests check their arithmetic against it. Plain asyncio, no web framework, so
nothing but the sleeps stands between a step and the socket.

    python -m benchmarks.replay --scripts streams.json [--port 8200]

streams.json: `{"name": {"status": 200, "events": [[0.1, {...}], [0.05, "[DONE]"]]}, ...}`
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DROP = "<drop connection>"
DONE = "[DONE]"
FALLBACK = "*"


@dataclass
class Script:
    events: list[tuple[float, Any]] = field(default_factory=list)
    status: int = 200
    body: Any = None

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> Script:
        events = [(float(delay), payload) for delay, payload in record.get("events", [])]
        return cls(events=events, status=int(record.get("status", 200)), body=record.get("body"))


def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
    """A `chat.completion.chunk` event with one choice (for writing scripts)."""
    return {
        "id": "chatcmpl-replay",
        "object": "chat.completion.chunk",
        "model": "replay",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
    }


def usage_chunk(completion_tokens: int, prompt_tokens: int = 10) -> dict[str, Any]:
    """The trailing `stream_options.include_usage` event: no choices, only usage."""
    return {
        "id": "chatcmpl-replay",
        "object": "chat.completion.chunk",
        "choices": [],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


class ReplayServer:
    """Serves `scripts` on 127.0.0.1 from a background thread; use as a context manager.

    `requests` collects the JSON bodies received, in order, so tests can check what was sent.
    """

    def __init__(self, scripts: dict[str, Script], port: int = 0, model: str = "replay") -> None:
        self.scripts = scripts
        self.model = model
        self.requests: list[dict[str, Any]] = []
        self._port = port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()

    @property
    def port(self) -> int:
        return self._port

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    def __enter__(self) -> ReplayServer:
        self._thread = threading.Thread(target=self._serve_forever, daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("replay server did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(5)

    def _serve_forever(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self.handle, "127.0.0.1", self._port)
        )
        self._port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        try:
            self._loop.run_forever()
        finally:
            self._server.close()
            self._loop.close()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request_line = (await reader.readline()).decode("latin-1").split()
            headers: dict[str, str] = {}
            while (line := (await reader.readline()).decode("latin-1").strip()) != "":
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            if len(request_line) < 2:
                return
            method, path = request_line[0], request_line[1]
            if method == "GET" and path == "/health":
                await _respond(writer, 200, {"status": "ok"})
            elif method == "GET" and path == "/v1/models":
                await _respond(writer, 200, {"object": "list", "data": [{"id": self.model}]})
            elif method == "POST" and path == "/v1/chat/completions":
                await self._chat(writer, json.loads(body or b"{}"))
            else:
                await _respond(writer, 404, {"error": {"message": f"no route {path}"}})
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client went away; nothing to replay to
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    async def _chat(self, writer: asyncio.StreamWriter, request: dict[str, Any]) -> None:
        self.requests.append(request)
        messages = request.get("messages") or [{}]
        key = str(messages[-1].get("content", ""))
        script = (
            self.scripts.get(f"{request.get('model')}:{key}")
            or self.scripts.get(key)
            or self.scripts.get(f"{request.get('model')}:{FALLBACK}")
            or self.scripts.get(FALLBACK)
        )
        if script is None:
            await _respond(writer, 404, {"error": {"message": f"no script for {key!r}"}})
            return
        if script.status != 200:
            await _respond(writer, script.status, script.body)
            return
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
            b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        )
        await writer.drain()
        loop = asyncio.get_running_loop()
        due = loop.time()
        for delay, payload in script.events:
            # Sleep to absolute due times, so oversleeping does not add up along the stream.
            due += delay
            if due > loop.time():
                await asyncio.sleep(due - loop.time())
            if payload == DROP:
                writer.transport.abort()  # no terminating chunk: the body is cut short
                return
            # A string ("[DONE]" or deliberately malformed data) goes out as is.
            data = payload if isinstance(payload, str) else json.dumps(payload)
            chunk = f"data: {data}\n\n".encode()
            writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            await writer.drain()
        writer.write(b"0\r\n\r\n")
        await writer.drain()


async def _respond(writer: asyncio.StreamWriter, status: int, body: Any) -> None:
    payload = json.dumps(body).encode()
    writer.write(
        f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n".encode()
        + payload
    )
    await writer.drain()


def load_scripts(path: Path) -> dict[str, Script]:
    return {name: Script.from_dict(record) for name, record in json.loads(path.read_text()).items()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.replay", description=__doc__)
    parser.add_argument("--scripts", type=Path, required=True, help="JSON file of scripts")
    parser.add_argument("--port", type=int, default=8200)
    args = parser.parse_args(argv)
    with ReplayServer(load_scripts(args.scripts), port=args.port) as server:
        print(f"replaying {len(server.scripts)} scripts on {server.base_url}", flush=True)
        threading.Event().wait()


if __name__ == "__main__":
    main()
