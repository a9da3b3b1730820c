"""`POST /v1/responses`: OpenAI's Responses API, one output item per think or answer segment
(see `server.responses_events` for the event sequence and how the final answer is known)."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncIterator

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, Response

from server.backend import GenerationParams
from server.errors import APIError
from server.generation import Run
from server.prompting import enforce_regex, to_messages
from server.reasoning_fields import responses_budget
from server.responses_events import ResponsesEncoder, responses_usage
from server.schemas import ResponseObject, ResponsesRequest
from server.state import AppState, check_model
from server.streams import ClientGone, GenerationStream, until_disconnect

log = logging.getLogger("server")
router = APIRouter()


@router.post("/v1/responses", response_model=None)
async def create_response(body: ResponsesRequest, request: Request) -> Response:
    app: AppState = request.app.state.server
    check_model(app, body.model)
    budget = responses_budget(body, app.settings)
    if isinstance(body.input, str):
        raw = [("user", body.input)]
    else:
        raw = [(m.role, m.text()) for m in body.input]
    if body.instructions is not None:
        # `instructions` is this request's system prompt (so the default one is not added).
        raw = [("system", body.instructions), *raw]
    messages = to_messages(raw, app.system_prompt, param="input")
    params = GenerationParams(
        max_tokens=body.max_output_tokens,
        temperature=body.temperature,
        top_p=body.top_p,
        seed=body.seed,
        regex=enforce_regex(app.settings) if body.enforce_format else None,
    )
    try:
        run = await app.start_run_for(request, messages, params, budget)
    except ClientGone:
        return Response(status_code=499)  # left while queued or in prefill; aborted
    echoed = {
        "instructions": body.instructions,
        "max_output_tokens": body.max_output_tokens,
        "temperature": body.temperature,
        "top_p": body.top_p,
    }
    encoder = ResponsesEncoder(
        f"resp_{uuid.uuid4().hex}", int(time.time()), app.backend.model_name, echoed
    )
    if body.stream:
        return GenerationStream(
            _stream(run, encoder),
            lambda: run.close("shutdown" if app.draining else "client_disconnected"),
        )
    try:
        await until_disconnect(request, run.collect(lambda _, ops: encoder.ops(ops)))
    except ClientGone:
        await run.close("client_disconnected")
        return Response(status_code=499)
    except BaseException:
        await run.close("error")
        raise
    await run.close("completed")
    # The encoder saw the same ops a stream would have, so it holds the same output items.
    shaper = run.shapers[0]
    encoder.settle_all()
    status = "incomplete" if shaper.finish_reason == "length" else "completed"
    usage = responses_usage(run.prompt_tokens, shaper.completion_tokens, shaper.think_tokens)
    response = ResponseObject.model_validate(
        encoder.response(status, usage=usage, format_ok=shaper.format_ok(), timings=run.timings(0))
    )
    return JSONResponse(response.model_dump(mode="json"))


async def _stream(run: Run, encoder: ResponsesEncoder) -> AsyncIterator[str]:
    yield "".join(encoder.start())
    try:
        async for step in run.steps():
            lines: list[str] = []
            for _, ops, _ in step:
                if ops:
                    lines += encoder.ops(ops)
            if lines:
                yield "".join(lines)
        run.close_unfinished(time.monotonic())
        shaper = run.shapers[0]
        usage = responses_usage(run.prompt_tokens, shaper.completion_tokens, shaper.think_tokens)
        await run.close("completed")  # first: a client may hang up on the last event
        yield "".join(
            encoder.finish(shaper.finish_reason, usage, shaper.format_ok(), run.timings(0))
        )
    except Exception as exc:
        log.warning("stream failed mid-way: %s: %s", type(exc).__name__, exc, exc_info=exc)
        await run.close("error")
        if isinstance(exc, APIError):
            yield encoder.error(exc.message, exc.code or "error")
        else:
            yield encoder.error("generation failed; see the server log", "generation_error")
