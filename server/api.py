"""The FastAPI application: routes, error handlers, middleware, and the backend's lifetime."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

from server.backends.base import Backend
from server.chat import route as chat_api
from server.config import Settings
from server.http import errors
from server.http.errors import APIError, engine_dead, error_response
from server.http.middleware import RequestContext
from server.messages import router as messages_router
from server.responses import route as responses_api
from server.schemas import ModelCard, ModelList
from server.state import AppState

STATIC_DIR = Path(__file__).resolve().parent / "static"
HEALTH_TIMEOUT_SECONDS = 5.0


class _Page(StaticFiles):
    """The web page's files. It is mounted at "/", so it sees every path no route claimed:
    anything but a GET of one of its files is an unknown route (404), not a 405."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] not in ("GET", "HEAD"):
            raise StarletteHTTPException(404)
        await super().__call__(scope, receive, send)


def create_app(settings: Settings, backend: Backend) -> FastAPI:
    state = AppState(settings, backend)
    started_at = int(time.time())

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # Uvicorn binds the port only after this: a listening server has a working engine.
        await backend.start()
        watchdog = asyncio.create_task(state.watch_backend())
        try:
            yield
        finally:
            watchdog.cancel()
            # Streams cut at the end of the grace period abort their engine requests as they
            # unwind; give them a moment to do so before the engine goes away.
            for _attempt in range(40):
                if state.admission.in_flight == 0:
                    break
                await asyncio.sleep(0.05)
            await backend.stop()

    # The docs routes are opt-in (--docs): a public server need not publish its schema.
    docs = settings.docs
    app = FastAPI(
        title="interleaved-reasoning server",
        lifespan=lifespan,
        docs_url="/docs" if docs else None,
        redoc_url="/redoc" if docs else None,
        openapi_url="/openapi.json" if docs else None,
    )
    app.state.server = state
    errors.install(app)
    app.add_middleware(
        RequestContext,
        max_body_bytes=settings.max_request_bytes,
        api_key=settings.api_key,
        body_timeout=settings.body_timeout_seconds,
    )
    app.include_router(chat_api.router)
    app.include_router(responses_api.router)
    app.include_router(messages_router.router)

    @app.get("/v1/models")
    async def models() -> ModelList:
        return ModelList(
            data=[
                ModelCard(
                    id=backend.model_name, created=started_at, max_model_len=backend.max_model_len
                )
            ]
        )

    @app.get("/health", response_model=None)
    async def health() -> Response:
        if state.engine_dead:
            return error_response(engine_dead())
        if state.draining:
            return error_response(APIError(503, "shutting down", code="draining"))
        try:
            await asyncio.wait_for(backend.check_health(), HEALTH_TIMEOUT_SECONDS)
        except Exception as exc:
            return error_response(
                APIError(
                    503, f"engine unavailable: {type(exc).__name__}", code="engine_unavailable"
                )
            )
        return JSONResponse({"status": "ok"})

    @app.get("/metrics")
    async def metrics(_: Request) -> Response:
        return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)

    if (STATIC_DIR / "index.html").is_file():
        # Mounted last so the API routes take precedence; unknown paths still get JSON 404s.
        app.mount("/", _Page(directory=STATIC_DIR, html=True), name="static")
    return app
