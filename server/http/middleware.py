"""The outermost layer of every request: request id, API key, the body (read whole, within a
size limit and a deadline, JSON-checked for the generation routes), access log, request count.

The access log belongs here: each request gets an `AccessRecord` (its id and arrival time,
for the routes to read, with `access_record(request)`); a generation route hands it the run's
`RunSummary` when the request ends, and the middleware writes the line once the response has
been sent. Nothing else carries data back up the request path.

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
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server import metrics
from server.http.connections import MAX_HEADER_BYTES, headers_too_large_message
from server.http.errors import APIError, as_api_error, error_response
from server.http.request_body import (
    PARSED_JSON,
    BodyTimeout,
    BodyTooLarge,
    ClientDisconnected,
    check_json,
    read_body,
)

if TYPE_CHECKING:
    from server.generation.shaping import RunSummary

log = logging.getLogger("server")
access_log = logging.getLogger("server.access")

# The scope key of the request's `AccessRecord` (an ASGI extension key of ours).
ACCESS_KEY = "interleaved.access"


@dataclass(slots=True)
class AccessRecord:
    """One request's access-log line in the making. The middleware creates it; a generation
    route sets `run` once, when the request ends (the run's summary, or a summary with only
    an outcome when the client left before the run started)."""

    request_id: str
    t0: float  # arrival, monotonic seconds: the clock every timing of the request is on
    run: RunSummary | None = None


def access_record(request: Request) -> AccessRecord:
    """The request's `AccessRecord` (every HTTP request passes the middleware)."""
    return request.scope[ACCESS_KEY]


_ENDPOINTS = frozenset(
    {
        "/v1/chat/completions",
        "/v1/responses",
        "/v1/messages",
        "/v1/models",
        "/health",
        "/metrics",
        "/",
    }
)
# A client-supplied X-Request-Id is kept when it is a sane token (it ends up in logs).
_CLIENT_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


# Generation routes: their bodies are JSON checked by `server.http.request_body` before FastAPI
# validates them (see there for why); FastAPI takes the value parsed there (`ParsedBodyRoute`).
_JSON_ROUTES = frozenset({"/v1/chat/completions", "/v1/responses", "/v1/messages"})
# Behind the API key, when one is set, beside /v1/: the schema tells what the server offers.
_DOCS_PATHS = frozenset({"/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"})
# An error answered before the body was read (401, 431, 413, 408) closes the connection rather
# than read the rest of the body, however long it is or however slowly it comes.
_CLOSE = {"Connection": "close"}


class RequestContext:
    def __init__(
        self,
        app: ASGIApp,
        max_body_bytes: int,
        api_key: str | None = None,
        body_timeout: float = 30.0,
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.api_key = api_key.encode() if api_key else None
        self.body_timeout = body_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.monotonic()
        headers = dict(scope.get("headers") or ())
        incoming = headers.get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if _CLIENT_ID.fullmatch(incoming) else uuid.uuid4().hex
        record = AccessRecord(request_id, t0)
        scope[ACCESS_KEY] = record
        id_header = (b"x-request-id", request_id.encode())
        status = 0

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), id_header]
            await send(message)

        try:
            try:
                body = await self._admit(scope, headers, receive)
            except APIError as error:
                await error_response(error, scope.get("path"))(scope, receive, send_with_id)
                return
            except ClientDisconnected:
                status = 499  # nobody reads it; the access log does
                return
            await self.app(scope, _replay(body, receive), send_with_id)
        except Exception as exc:
            log.exception(
                "unhandled error on %s %s [%s]", scope.get("method"), scope.get("path"), request_id
            )
            if status == 0:
                await error_response(as_api_error(exc), scope.get("path"))(
                    scope, receive, send_with_id
                )
        finally:
            path = scope.get("path", "")
            endpoint = path if path in _ENDPOINTS else "other"
            metrics.REQUESTS.labels(endpoint, str(status or 500)).inc()
            _log_access(record, scope, status or 500, time.monotonic() - t0)

    async def _admit(self, scope: Scope, headers: dict[bytes, bytes], receive: Receive) -> bytes:
        """The request's body, once it passed the checks that need no route: the API key, the
        size of its headers and body, the body's deadline, and the JSON of a generation
        request. Raises APIError for the first that fails."""
        path = scope.get("path", "")
        # Auth comes before reading the body, so a client without a key learns only that.
        if self.api_key is not None and (path.startswith("/v1/") or path in _DOCS_PATHS):
            problem = self._auth_problem(headers.get(b"authorization"), headers.get(b"x-api-key"))
            if problem:
                raise APIError(401, problem, headers={"WWW-Authenticate": "Bearer", **_CLOSE})
        if sum(len(k) + len(v) for k, v in scope.get("headers") or ()) > MAX_HEADER_BYTES:
            raise APIError(
                431, headers_too_large_message(), code="headers_too_large", headers=_CLOSE
            )
        if _declared_length(headers) > self.max_body_bytes:
            raise self._too_large()
        try:
            body = await read_body(receive, self.max_body_bytes, self.body_timeout)
        except BodyTooLarge:
            raise self._too_large() from None
        except BodyTimeout:
            message = (
                f"request body not received within {self.body_timeout:g} s (--body-timeout-seconds)"
            )
            raise APIError(408, message, code="request_timeout", headers=_CLOSE) from None
        if path in _JSON_ROUTES and scope.get("method") == "POST" and body:
            scope[PARSED_JSON] = check_json(body)  # the route's body, parsed once
        return body

    def _too_large(self) -> APIError:
        return APIError(
            413,
            f"request body exceeds {self.max_body_bytes} bytes (--max-request-bytes)",
            code="request_too_large",
            headers=_CLOSE,
        )

    def _auth_problem(self, header: bytes | None, api_key: bytes | None = None) -> str | None:
        if api_key is not None and not header:
            # Anthropic's clients send the key as `x-api-key`.
            if hmac.compare_digest(api_key.strip(), self.api_key or b""):
                return None
            return "invalid API key"
        if not header:
            return "missing API key: send 'Authorization: Bearer <key>' (or 'x-api-key: <key>')"
        scheme, _, key = header.partition(b" ")
        if scheme.lower() != b"bearer" or not hmac.compare_digest(key.strip(), self.api_key or b""):
            return "invalid API key"
        return None


def _declared_length(headers: dict[bytes, bytes]) -> int:
    # The HTTP server already rejected a malformed Content-Length; none means chunked or empty.
    try:
        return int(headers.get(b"content-length", b"0") or 0)
    except ValueError:
        return 0


def _replay(body: bytes, receive: Receive) -> Receive:
    """The app's receive: the body read in one message, then the connection's own events (the
    disconnect that streaming responses and `until_disconnect` wait for)."""
    pending = True

    async def replayed() -> Message:
        nonlocal pending
        if pending:
            pending = False
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed


def _log_access(access: AccessRecord, scope: Scope, status: int, seconds: float) -> None:
    line: dict[str, Any] = {
        "request_id": access.request_id,
        "method": scope.get("method"),
        "path": scope.get("path"),
        "status": status,
        "duration_ms": round(seconds * 1000.0, 2),
    }
    run = access.run
    if run is not None:
        if run.usage is not None:
            line["prompt_tokens"] = run.usage.prompt_tokens
            line["completion_tokens"] = run.usage.completion_tokens
        # completed / client_disconnected / error / shutdown
        line["outcome"] = run.outcome
    access_log.info(json.dumps(line))
