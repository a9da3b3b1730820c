"""Request lifetime plumbing shared by the chat and responses routes: admission (429), the
streaming response that always cleans up, and disconnect detection for non-streaming calls."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

import anyio
from fastapi import Request
from sse_starlette import EventSourceResponse, ServerSentEvent
from sse_starlette.sse import AppStatus
from starlette.types import Receive, Scope, Send

from server import metrics
from server.http.errors import APIError

T = TypeVar("T")

# sse-starlette cancels every stream as soon as uvicorn begins to shut down. This server
# drains instead: on SIGTERM running streams get --shutdown-grace-seconds to finish, after
# which uvicorn cancels what is left (`server.__main__`, `server.http.connections`).
AppStatus.disable_automatic_graceful_drain()


class Admission:
    """Counts generation requests in flight; past the limit new ones get 429."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.in_flight = 0

    def enter(self) -> None:
        if self.in_flight >= self.limit:
            raise APIError(
                429,
                f"the server is at its limit of {self.limit} concurrent requests; retry shortly",
                code="too_many_requests",
                headers={"Retry-After": "1"},
            )
        self.in_flight += 1
        metrics.IN_FLIGHT.inc()

    def leave(self) -> None:
        self.in_flight -= 1
        metrics.IN_FLIGHT.dec()


class GenerationStream(EventSourceResponse):
    """An SSE response (sse-starlette's) that runs `on_close` however the stream ends.

    Each event is sent the moment the body yields it, one write per event: nothing is
    buffered. No keep-alive pings (`ping=0`): a generation sends its first event at once and
    then one per token. Headers as ever: `Cache-Control: no-cache`, `X-Accel-Buffering: no`,
    no `Connection` header (sse-starlette's "keep-alive" is removed: uvicorn decides).

    The response is cancelled when the client disconnects. The body generator may then be
    suspended at a `yield` (cancelled inside `send`), in which case its `finally` would only
    run when the garbage collector finalizes it. Closing it here, shielded from the
    cancellation, makes the engine abort happen at once, not eventually.
    """

    def __init__(
        self, body: AsyncIterator[ServerSentEvent], on_close: Callable[[], Awaitable[None]]
    ) -> None:
        super().__init__(body, headers={"Cache-Control": "no-cache"}, ping=0, sep="\n")
        del self.headers["connection"]
        self._body = body
        self._on_close = on_close

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            with anyio.CancelScope(shield=True):
                await self._body.aclose()  # type: ignore[attr-defined]
                await self._on_close()


class ClientGone(Exception):
    """The client of a non-streaming request disconnected before the answer was ready."""


async def until_disconnect(request: Request, work: Awaitable[T]) -> T:
    """Await `work`, cancelling it if the client disconnects first (raises ClientGone)."""
    task = asyncio.ensure_future(work)

    async def disconnected() -> None:
        while (await request.receive())["type"] != "http.disconnect":
            pass

    watcher = asyncio.ensure_future(disconnected())
    try:
        done, _ = await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        watcher.cancel()
        if not task.done():
            task.cancel()
    if task in done:
        return task.result()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    raise ClientGone
