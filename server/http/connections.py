"""The HTTP connection below the ASGI app: uvicorn's protocol, plus a read timeout for headers.

Uvicorn has no such timeout: its keep-alive timer covers only the idle time between requests
and any byte cancels it, so a client that connects and sends nothing, or sends its headers a
byte at a time, holds a connection (and a file descriptor) forever. Here a request's headers
must be complete within --header-timeout-seconds of its first byte (or of the connection, for
its first request); else the client gets a 408 if it had started one, and the connection is
closed. The body has its own deadline, kept by `server.http.middleware` where the body is read.

Malformed HTTP, which uvicorn answers itself in plain text, gets OpenAI's error shape too.
"""

from __future__ import annotations

import asyncio
import json
import logging
from http import HTTPStatus
from typing import Any

import uvicorn
from uvicorn.protocols.http.auto import AutoHTTPProtocol

from server.config import Settings
from server.http.errors import error_body

# Far above any real client's headers (an API key, a few proxies' worth); httptools has no
# limit of its own (h11's is 16 KiB). Headers still incomplete past it are cut off here;
# complete ones that large are answered by `server.http.middleware`.
MAX_HEADER_BYTES = 64 * 1024

log = logging.getLogger("server")


def headers_too_large_message() -> str:
    return f"request headers exceed {MAX_HEADER_BYTES} bytes"


class _HeaderDeadline:
    """Mixed into uvicorn's HttpToolsProtocol or H11Protocol; only their long-standing
    attributes are used (`transport`, `loop`, `cycle`, `send_400_response`)."""

    header_timeout: float = 10.0
    transport: asyncio.Transport
    loop: asyncio.AbstractEventLoop
    cycle: Any

    def connection_made(self, transport: asyncio.Transport) -> None:
        super().connection_made(transport)  # type: ignore[misc]
        self._header_timer: asyncio.TimerHandle | None = None
        self._header_bytes = 0
        self._arm()

    def data_received(self, data: bytes) -> None:
        if self._awaiting_headers():
            self._arm()  # a no-op while armed: the deadline counts from the first byte
            self._header_bytes += len(data)
        super().data_received(data)  # type: ignore[misc]
        if self.transport.is_closing():
            return
        if not self._awaiting_headers():
            self._disarm()
        elif self._header_bytes > MAX_HEADER_BYTES:
            self._reject(431, headers_too_large_message(), "headers_too_large")

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)  # type: ignore[misc]

    def send_400_response(self, msg: str) -> None:
        # Uvicorn's own answer to bytes its parser rejects.
        self._reject(400, "malformed HTTP request", "malformed_http")

    def _awaiting_headers(self) -> bool:
        # No request yet on this connection, or the last one was answered: the bytes that come
        # now are the next request's headers. (A body sent after its response is answered is
        # discarded by the parser; it counts here too, so a client dribbling one is cut off.)
        return self.cycle is None or self.cycle.response_complete

    def _arm(self) -> None:
        if self._header_timer is None:
            self._header_timer = self.loop.call_later(self.header_timeout, self._timed_out)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None
        self._header_bytes = 0

    def _timed_out(self) -> None:
        self._header_timer = None
        if self.transport.is_closing():
            return
        if self._header_bytes:
            # Below the app, so not in the access log: say here what happened, and to whom.
            log.info(
                "408 to %s: request headers incomplete after %g s (%d bytes)",
                self.transport.get_extra_info("peername"),
                self.header_timeout,
                self._header_bytes,
            )
            message = (
                f"request headers not received within {self.header_timeout:g} s "
                "(--header-timeout-seconds)"
            )
            self._reject(408, message, "request_timeout")
        else:
            # An idle connection (a pool's spare, a TCP probe): nobody waits for an answer.
            self.transport.close()

    def _reject(self, status: int, message: str, code: str) -> None:
        self._disarm()
        body = json.dumps(error_body(status, message, code=code)).encode()
        head = (
            f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\n"
            "content-type: application/json\r\n"
            f"content-length: {len(body)}\r\n"
            "connection: close\r\n\r\n"
        )
        self.transport.write(head.encode() + body)
        self.transport.close()


def protocol_class(
    header_timeout: float, base: type[asyncio.Protocol] = AutoHTTPProtocol
) -> type[asyncio.Protocol]:
    """Uvicorn's HTTP protocol (`base`: httptools when installed, else h11) with the deadline."""
    return type(
        f"Deadline{base.__name__}", (_HeaderDeadline, base), {"header_timeout": header_timeout}
    )


def uvicorn_config(app: Any, settings: Settings) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        http=protocol_class(settings.header_timeout_seconds),
        ws="none",  # no WebSocket routes; an upgraded connection would escape the deadline
        # h11 (used without httptools) would call big headers malformed (400) at 16 KiB; above
        # our limit, so they get the 431 either way.
        h11_max_incomplete_event_size=2 * MAX_HEADER_BYTES,
        log_config=None,
        log_level=settings.log_level,
        access_log=False,  # ours (server.access) has request ids and token counts
        timeout_graceful_shutdown=int(settings.shutdown_grace_seconds),
        timeout_keep_alive=5,
    )
