"""A scripted stand-in for the server's HTTP surface, for faults the real one cannot be made to
produce on demand: SSE split at awkward byte boundaries, a dropped connection, a 429, an error
chunk mid-stream. It serves the real `server/static/` files, so the page under test is the
shipped page; the engine-backed behaviour is tested against the real server in test_web.py.

The reply is chosen by the question's first word (see SCENARIOS). Chunks are written with
pauses so that each `write` reaches the browser as its own read().
"""

from __future__ import annotations

import itertools
import json
import socket
import threading
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

STATIC = Path(__file__).resolve().parents[2] / "server" / "static"
MODEL = "fake-model"


def _chunk(delta: dict | None = None, finish: str | None = None) -> dict:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": MODEL,
        "choices": [{"index": 0, "delta": delta or {}, "finish_reason": finish}],
    }


def _done(index: int, text: str) -> dict:
    return {
        "answer_complete": {
            "index": index,
            "text": text,
            "elapsed_ms": 10.0 * (index + 1),
            "first_token_offset": 5 * index + 3,
            "token_offset": 5 * (index + 1),
            "complete": True,
        }
    }


def sse(obj: dict | str, eol: str = "\n") -> bytes:
    data = obj if isinstance(obj, str) else json.dumps(obj, ensure_ascii=False)
    return f"data: {data}{eol}{eol}".encode()


# What the "split" reply must look like on the page; test_web.py asserts exactly this.
SPLIT_THINKING = ("Zoë says “Ada is a knave” — ", "so Zoë is a knight 🙂.")
SPLIT_ANSWERS = ("Zoë is a knight.", "Ada is a knave.")


def split_stream_bytes() -> bytes:
    """A two-answer reply with CRLF, CR and LF line ends, a comment line, a multi-line data field
    and multi-byte characters: everything a stream parser can get wrong."""
    events = [
        sse(_chunk({"role": "assistant"})),
        b": keep-alive comment\r\n\r\n",
        sse(_chunk({"reasoning": SPLIT_THINKING[0]}), eol="\r\n"),
        sse(_chunk({"reasoning": SPLIT_THINKING[1]}), eol="\r"),
        sse(_chunk({"content": SPLIT_ANSWERS[0]})),
        sse(_chunk(_done(0, SPLIT_ANSWERS[0])), eol="\r\n"),
        sse(_chunk({"reasoning": "Then Ada lied."})),
        # One JSON document spread over two data lines: SSE joins them with "\n". Cut between
        # this "\r" and "\n", a parser that takes the "\r" alone as the line end reads the
        # "\n" as an empty line and dispatches half a document.
        b'data: {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 0,\r\n'
        b'data: "model": "fake-model", "choices": [{"index": 0, "delta": {"content": '
        + json.dumps("\n\n" + SPLIT_ANSWERS[1], ensure_ascii=False).encode()
        + b'}, "finish_reason": null}]}\n\n',
        sse(_chunk(_done(1, SPLIT_ANSWERS[1]))),
        sse(_chunk(finish="stop")),
        sse(
            {
                "id": "chatcmpl-fake",
                "object": "chat.completion.chunk",
                "created": 0,
                "model": MODEL,
                "choices": [],
                "usage": {
                    "prompt_tokens": 10,
                    "completion_tokens": 20,
                    "total_tokens": 30,
                    "completion_tokens_details": {"reasoning_tokens": 12},
                },
            }
        ),
        sse("[DONE]"),
    ]
    return b"".join(events)


def split_stream() -> list[bytes]:
    """`split_stream_bytes` cut inside "Zoë"'s two-byte "ë", between every "\\r" and "\\n",
    and every 50 bytes."""
    raw = split_stream_bytes()
    cuts = {raw.index("ë".encode()) + 1}
    cuts |= {i + 1 for i in range(len(raw) - 1) if raw[i : i + 2] == b"\r\n"}
    cuts |= set(range(50, len(raw), 50))
    edges = [0, *sorted(cuts), len(raw)]
    return [raw[a:b] for a, b in itertools.pairwise(edges) if b > a]


def error_chunk_stream() -> list[bytes]:
    return [
        sse(_chunk({"role": "assistant"})),
        sse(_chunk({"content": "Partial answer."})),
        sse(_chunk(_done(0, "Partial answer."))),
        sse({"error": {"message": "engine exploded", "type": "server_error", "code": 500}}),
        sse("[DONE]"),
    ]


def dropped_stream() -> list[bytes]:
    # The connection closes after this; no finish_reason, no [DONE].
    return [sse(_chunk({"role": "assistant"})), sse(_chunk({"reasoning": "Let me think"}))]


SCENARIOS = {"split": split_stream, "errorchunk": error_chunk_stream, "drop": dropped_stream}


class Handler(SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, directory=str(STATIC), **kwargs)

    def setup(self):
        super().setup()
        # Without this, Nagle's algorithm merges the small writes and the cuts never arrive.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format, *args):  # keep pytest output clean
        pass

    def _json(self, status: int, body: dict, headers: dict | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-Request-Id", "req-fake")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, message: str, headers: dict | None = None) -> None:
        self._json(
            status,
            {
                "error": {
                    "message": message,
                    "type": "invalid_request_error",
                    "param": None,
                    "code": status,
                }
            },
            headers,
        )

    def do_GET(self):
        if self.path == "/v1/models":
            self._json(200, {"object": "list", "data": [{"id": MODEL, "object": "model"}]})
        else:
            super().do_GET()

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.requests.append(body)
        self.server.headers_seen.append(dict(self.headers))
        if self.path != "/v1/chat/completions":
            return self._error(404, "no such route")
        scenario = body["messages"][-1]["content"].split()[0]
        if scenario == "busy":
            return self._error(429, "too many requests in flight", {"Retry-After": "7"})
        if scenario == "broken":
            return self._error(500, "internal failure")
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        for piece in SCENARIOS[scenario]():
            self.wfile.write(piece)
            self.wfile.flush()
            time.sleep(0.005)
        self.close_connection = True


class FakeServer:
    """`with FakeServer() as fake:` serves on a free port; `.requests` and `.headers` hold what
    each POST sent."""

    def __enter__(self) -> FakeServer:
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.requests = []
        self.httpd.headers_seen = []
        self.requests = self.httpd.requests
        self.headers = self.httpd.headers_seen
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
