"""`POST /v1/chat/completions`: streaming and non-streaming, with interleaved answer events."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, Response

from server.backend import GenerationParams
from server.errors import stream_error_payload
from server.generation import Run
from server.prompting import enforce_regex, to_messages
from server.reasoning_fields import chat_budget
from server.schemas import (
    AssistantMessage,
    ChatChoice,
    ChatCompletion,
    ChatCompletionRequest,
    Usage,
)
from server.shaping import SSE_DONE, ChatEncoder, sse
from server.state import AppState, check_model
from server.streams import ClientGone, GenerationStream, until_disconnect

log = logging.getLogger("server")
router = APIRouter()


@router.post("/v1/chat/completions", response_model=None)
async def chat_completions(body: ChatCompletionRequest, request: Request) -> Response:
    app: AppState = request.app.state.server
    check_model(app, body.model)
    budget = chat_budget(body, app.settings)
    messages = to_messages([(m.role, m.text()) for m in body.messages], app.system_prompt)
    params = GenerationParams(
        max_tokens=body.max_completion_tokens or body.max_tokens,
        temperature=body.temperature,
        top_p=body.top_p,
        n=body.n,
        stop=body.stop_list(),
        seed=body.seed,
        regex=enforce_regex(app.settings) if body.enforce_format else None,
    )
    try:
        run = await app.start_run_for(request, messages, params, budget)
    except ClientGone:
        return Response(status_code=499)  # left while queued or in prefill; aborted
    completion_id = f"chatcmpl-{uuid.uuid4().hex}"
    created = int(time.time())
    if body.stream:
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        encoder = ChatEncoder(
            completion_id,
            created,
            app.backend.model_name,
            app.settings.reasoning_content_field,
            exclude_reasoning=budget.exclude,
        )
        stream = _stream(run, encoder, body.n, include_usage)
        return GenerationStream(
            stream, lambda: run.close("shutdown" if app.draining else "client_disconnected")
        )
    try:
        await until_disconnect(request, run.collect())
    except ClientGone:
        await run.close("client_disconnected")
        return Response(status_code=499)  # nobody reads it; the access log does
    except BaseException:
        await run.close("error")
        raise
    await run.close("completed")
    return JSONResponse(
        _completion(
            run,
            completion_id,
            created,
            app.backend.model_name,
            app.settings.reasoning_content_field,
            budget.exclude,
        )
    )


async def _stream(
    run: Run, encoder: ChatEncoder, n: int, include_usage: bool
) -> AsyncIterator[str]:
    yield "".join(encoder.role(i) for i in range(n))
    try:
        async for step in run.steps():
            lines: list[str] = []
            for index, ops, finish_reason in step:
                if ops:
                    lines += encoder.ops(index, ops)
                if finish_reason is not None:
                    lines.append(encoder.finish(index, finish_reason, run.timings(index)))
            if lines:
                yield "".join(lines)
        if not run.finished():
            run.close_unfinished(time.monotonic())
            for i, shaper in enumerate(run.shapers):
                if shaper.finish_reason == "abort":
                    yield encoder.finish(i, "abort", run.timings(i))
        # Close before the last lines: a client that hangs up on seeing them has still been
        # served completely.
        await run.close("completed")
        tail = encoder.usage(run.usage()) if include_usage else ""
        yield tail + SSE_DONE
    except Exception as exc:
        # The response has started: the error can only go into the stream itself.
        log.warning("stream failed mid-way: %s: %s", type(exc).__name__, exc, exc_info=exc)
        await run.close("error")
        yield sse(stream_error_payload(exc))
        yield SSE_DONE


def _completion(
    run: Run,
    completion_id: str,
    created: int,
    model: str,
    reasoning_content: bool,
    exclude_reasoning: bool,
) -> dict[str, Any]:
    choices = []
    for i, shaper in enumerate(run.shapers):
        reasoning = None if exclude_reasoning else shaper.reasoning_text()
        extra = {"reasoning_content": reasoning} if reasoning_content else {}
        message = AssistantMessage(
            content=shaper.content_text(), reasoning=reasoning, answers=shaper.answers, **extra
        )
        choices.append(
            ChatChoice(
                index=i,
                message=message,
                finish_reason=shaper.finish_reason,
                format_ok=shaper.format_ok(),
                timings=run.timings(i),
            )
        )
    completion = ChatCompletion(
        id=completion_id, created=created, model=model, choices=choices, usage=Usage(**run.usage())
    )
    return completion.model_dump(mode="json")
