"""The server's state (the one thing "state" names here): what the routes share, i.e. settings,
the backend, admission control, the default prompt, the watch on the backend's life; and how
a route serves a run, streaming or not, handing its summary to the access log."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from sse_starlette import ServerSentEvent
from starlette.requests import Request

from server.backends.base import Backend, GenerationParams, Message
from server.config import Settings
from server.generation.budgets import NO_BUDGET, ReasoningBudget
from server.generation.prompting import system_prompt_for
from server.generation.run import Encoder, Run
from server.generation.shaping import RunSummary
from server.http.errors import APIError, engine_dead
from server.http.middleware import AccessRecord
from server.http.streams import Admission, ClientGone, GenerationStream, until_disconnect
from server.structured.final import FinalAnswerCheck
from server.tools.calls import CallParsing

log = logging.getLogger("server")

DEATH_POLL_SECONDS = 0.5
# After the engine dies the server keeps answering for this long, so that running streams
# write their error chunk and load balancers see /health's 503, then it exits.
DEATH_LINGER_SECONDS = 2.0


@dataclass
class AppState:
    settings: Settings
    backend: Backend
    admission: Admission = field(init=False)
    system_prompt: str | None = field(init=False)
    draining: bool = False  # set on SIGTERM: /health turns 503 so balancers stop sending
    engine_dead: bool = False  # set when the backend can never generate again
    # Called once the engine has died and the linger has passed: `python -m server` stops
    # uvicorn there and exits non-zero, so a supervisor restarts the process.
    on_backend_dead: Callable[[], None] | None = None

    def __post_init__(self) -> None:
        self.admission = Admission(self.settings.max_concurrent_requests)
        self.system_prompt = system_prompt_for(self.settings)

    async def start_run(
        self,
        messages: list[Message],
        params: GenerationParams,
        access: AccessRecord,
        budget: ReasoningBudget = NO_BUDGET,
        calls: CallParsing | None = None,
        final_check: FinalAnswerCheck | None = None,
    ) -> Run:
        """Admit (or 429) and submit a request; the returned run owns the admission slot."""
        if self.engine_dead:
            raise engine_dead()
        self.admission.enter()
        run = Run(
            self.backend,
            messages,
            params,
            self.settings.format,
            self.admission,
            access.request_id,
            access.t0,
            budget,
            calls,
            final_check,
        )
        try:
            await run.start()
        except BaseException:
            self.admission.leave()
            raise
        return run

    async def start_run_for(
        self,
        request: Request,
        access: AccessRecord,
        messages: list[Message],
        params: GenerationParams,
        budget: ReasoningBudget = NO_BUDGET,
        calls: CallParsing | None = None,
        final_check: FinalAnswerCheck | None = None,
    ) -> Run:
        """`start_run`, abandoned if the client disconnects first (raises `ClientGone`).

        Submitting waits for the engine's first output, which is all of the time a request
        spends queued and in prefill; a client that leaves then must not hold its place.
        Cancelling the submission aborts the engine request.
        """
        try:
            return await until_disconnect(
                request, self.start_run(messages, params, access, budget, calls, final_check)
            )
        except ClientGone:
            access.run = RunSummary("client_disconnected")
            raise

    def stream(
        self, run: Run, encoder: Encoder[ServerSentEvent], access: AccessRecord
    ) -> GenerationStream:
        """The SSE response of a run. However it ends, the run is closed and its summary
        handed to the access log ("shutdown" when the server is draining, else the client
        left, unless the run ended by itself first)."""

        async def close() -> None:
            access.run = await run.close("shutdown" if self.draining else "client_disconnected")

        events: AsyncIterator[ServerSentEvent] = run.events(encoder)
        return GenerationStream(events, close)

    async def complete(
        self,
        request: Request,
        run: Run,
        access: AccessRecord,
        encoder: Encoder[object] | None = None,
    ) -> RunSummary:
        """A non-streaming run to its end, cancelled if the client disconnects first (raises
        `ClientGone`); the summary goes to the access log whatever happens."""
        try:
            summary = await until_disconnect(request, run.complete(encoder))
        except ClientGone:
            access.run = await run.close("client_disconnected")
            raise
        except BaseException:
            access.run = await run.close("error")
            raise
        access.run = summary
        return summary

    async def watch_backend(self) -> None:
        """Runs for the server's life: on the backend's death, fail fast and exit."""
        try:
            while not self.backend.is_dead():
                await asyncio.sleep(DEATH_POLL_SECONDS)
        except Exception:
            log.exception("the engine watch failed: an engine death will go unnoticed")
            return
        self.engine_dead = True
        log.error(
            "the engine has died: new requests get 503, running streams end with an error; "
            "exiting in %.0f s so that a supervisor restarts the server",
            DEATH_LINGER_SECONDS,
        )
        await asyncio.sleep(DEATH_LINGER_SECONDS)
        if self.on_backend_dead is not None:
            self.on_backend_dead()


def check_model(app: AppState, model: str | None) -> None:
    """404 unless the request names the served model (or names none)."""
    if model is not None and model != app.backend.model_name:
        raise APIError(
            404,
            f"model {model!r} does not exist; this server serves {app.backend.model_name!r}",
            param="model",
            code="model_not_found",
        )
