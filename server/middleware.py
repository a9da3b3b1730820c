"""The outermost layer of every request: request id, body size limit, access log, request count.

A plain ASGI middleware (not Starlette's BaseHTTPMiddleware) so streamed responses pass
through untouched, chunk by chunk. It also catches anything that escaped the routes' error
handling: the client gets an OpenAI-shaped 500 carrying its request id, the log gets the
traceback, the server keeps running.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
import time
import uuid
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server import metrics
from server.errors import error_body

log = logging.getLogger("server")
access_log = logging.getLogger("server.access")

_ENDPOINTS = frozenset(
    {"/v1/chat/completions", "/v1/responses", "/v1/models", "/health", "/metrics", "/"}
)
# A client-supplied X-Request-Id is kept when it is a sane token (it ends up in logs).
_CLIENT_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


class _BodyTooLarge(Exception):
    pass


class RequestContext:
    def __init__(self, app: ASGIApp, max_body_bytes: int, api_key: str | None = None) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.api_key = api_key.encode() if api_key else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.monotonic()
        headers = dict(scope.get("headers") or ())
        incoming = headers.get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if _CLIENT_ID.fullmatch(incoming) else uuid.uuid4().hex
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        state["t0"] = t0
        id_header = (b"x-request-id", request_id.encode())
        status = 0

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), id_header]
            await send(message)

        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise _BodyTooLarge
            return message

        try:
            length = int(headers.get(b"content-length", b"0") or 0)
        except ValueError:
            length = 0
        try:
            # Auth comes before reading the body, so a client without a key learns only that.
            if self.api_key is not None and scope.get("path", "").startswith("/v1/"):
                problem = self._auth_problem(headers.get(b"authorization"))
                if problem:
                    status = 401
                    await _send_error(
                        send, 401, problem, id_header, extra=[(b"www-authenticate", b"Bearer")]
                    )
                    return
            if length > self.max_body_bytes:
                raise _BodyTooLarge
            await self.app(scope, limited_receive, send_with_id)
        except _BodyTooLarge:
            if status == 0:
                status = 413
                await _send_error(
                    send,
                    413,
                    f"request body exceeds {self.max_body_bytes} bytes (--max-request-bytes)",
                    id_header,
                )
        except Exception:
            log.exception(
                "unhandled error on %s %s [%s]", scope.get("method"), scope.get("path"), request_id
            )
            if status == 0:
                status = 500
                await _send_error(send, 500, "internal server error; see the server log", id_header)
        finally:
            path = scope.get("path", "")
            endpoint = path if path in _ENDPOINTS else "other"
            metrics.REQUESTS.labels(endpoint, str(status or 500)).inc()
            _log_access(request_id, scope, status or 500, time.monotonic() - t0, state)

    def _auth_problem(self, header: bytes | None) -> str | None:
        if not header:
            return "missing API key: send 'Authorization: Bearer <key>'"
        scheme, _, key = header.partition(b" ")
        if scheme.lower() != b"bearer" or not hmac.compare_digest(key.strip(), self.api_key or b""):
            return "invalid API key"
        return None


async def _send_error(
    send: Send,
    status: int,
    message: str,
    id_header: tuple[bytes, bytes],
    extra: list[tuple[bytes, bytes]] | None = None,
) -> None:
    body = json.dumps(error_body(status, message)).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                id_header,
                *(extra or ()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _log_access(
    request_id: str, scope: Scope, status: int, seconds: float, state: dict[str, Any]
) -> None:
    record: dict[str, Any] = {
        "request_id": request_id,
        "method": scope.get("method"),
        "path": scope.get("path"),
        "status": status,
        "duration_ms": round(seconds * 1000.0, 2),
    }
    usage = state.get("usage")
    if usage:
        record["prompt_tokens"] = usage.get("prompt_tokens")
        record["completion_tokens"] = usage.get("completion_tokens")
    if state.get("outcome"):
        record["outcome"] = state["outcome"]  # completed / client_disconnected / error
    access_log.info(json.dumps(record))
