"""`POST /v1/responses`: OpenAI's Responses API, one output item per think or answer segment
(see `server.responses_events` for the event sequence and how the final answer is known)."""

from __future__ import annotations

import time
import uuid

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, Response

from server.backend import GenerationParams
from server.middleware import access_record
from server.prompting import enforce_regex, to_messages
from server.reasoning_fields import responses_budget
from server.responses_events import ResponsesEncoder
from server.schemas import ResponsesRequest
from server.state import AppState, check_model
from server.streams import ClientGone

router = APIRouter()


@router.post("/v1/responses", response_model=None)
async def create_response(body: ResponsesRequest, request: Request) -> Response:
    state: AppState = request.app.state.server
    access = access_record(request)
    check_model(state, body.model)
    budget = responses_budget(body, state.settings)
    if isinstance(body.input, str):
        raw = [("user", body.input)]
    else:
        raw = [(m.role, m.text()) for m in body.input]
    if body.instructions is not None:
        # `instructions` is this request's system prompt (so the default one is not added).
        raw = [("system", body.instructions), *raw]
    messages = to_messages(raw, state.system_prompt, param="input")
    params = GenerationParams(
        max_tokens=body.max_output_tokens,
        temperature=body.temperature,
        top_p=body.top_p,
        seed=body.seed,
        regex=enforce_regex(state.settings) if body.enforce_format else None,
    )
    try:
        run = await state.start_run_for(request, access, messages, params, budget)
    except ClientGone:
        return Response(status_code=499)  # left while queued or in prefill; aborted
    echoed = {
        "instructions": body.instructions,
        "max_output_tokens": body.max_output_tokens,
        "temperature": body.temperature,
        "top_p": body.top_p,
    }
    encoder = ResponsesEncoder(
        f"resp_{uuid.uuid4().hex}",
        int(time.time()),
        state.backend.model_name,
        echoed,
        stream=body.stream,
    )
    if body.stream:
        return state.stream(run, encoder, access)
    try:
        await state.complete(request, run, access, encoder)
    except ClientGone:
        return Response(status_code=499)
    # The encoder saw the same ops a stream would have, so it holds the same output items.
    assert encoder.result is not None
    return JSONResponse(encoder.result.model_dump(mode="json"))
