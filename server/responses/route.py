"""`POST /v1/responses`: OpenAI's Responses API, one output item per think or answer segment
(see `server.responses.encoder` for the event sequence and how the final answer is known)."""

from __future__ import annotations

import time
import uuid
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, Response

from server.backends.base import GenerationParams
from server.generation.preparation import prepare, start_prepared
from server.generation.reasoning_fields import responses_budget
from server.http.middleware import access_record
from server.http.parsed_body import ParsedBodyRoute
from server.http.streams import ClientGone
from server.responses.encoder import ResponsesEncoder
from server.responses.history import response_turns
from server.responses.protocol import ResponsesNamedChoice
from server.schemas import ResponsesRequest
from server.state import AppState, check_model
from server.tools.prompt import Turn
from server.tools.spec import NAMED, ToolDef, ToolRequest, check_tools, choose

router = APIRouter(route_class=ParsedBodyRoute)


@router.post("/v1/responses", response_model=None)
async def create_response(body: ResponsesRequest, request: Request) -> Response:
    state: AppState = request.app.state.server
    access = access_record(request)
    check_model(state, body.model)
    budget = responses_budget(body, state.settings)
    turns = response_turns(body.input)
    if body.instructions is not None:
        # `instructions` is this request's system prompt (so the default one is not added).
        turns = [Turn("system", body.instructions, param="instructions"), *turns]
    tools = _tools(body)
    prepared = prepare(
        state,
        turns,
        tools=tools,
        enforce_format=body.enforce_format,
        budget=budget,
        param="input",
    )
    sampling = GenerationParams(
        max_tokens=body.max_output_tokens,
        temperature=body.temperature,
        top_p=body.top_p,
        seed=body.seed,
    )
    try:
        run = await start_prepared(state, request, prepared, sampling)
    except ClientGone:
        return Response(status_code=499)  # left while queued or in prefill; aborted
    echoed: dict[str, Any] = {
        "instructions": body.instructions,
        "max_output_tokens": body.max_output_tokens,
        "temperature": body.temperature,
        "top_p": body.top_p,
    }
    if body.tools:
        echoed["tools"] = [t.model_dump(mode="json") for t in body.tools]
        echoed["tool_choice"] = (
            body.tool_choice.model_dump(mode="json")
            if isinstance(body.tool_choice, ResponsesNamedChoice)
            else body.tool_choice or "auto"
        )
        echoed["parallel_tool_calls"] = tools.parallel
    encoder = ResponsesEncoder(
        f"resp_{uuid.uuid4().hex}",
        int(time.time()),
        state.backend.model_name,
        echoed,
        stream=body.stream,
        metrics=state.settings.per_request_metrics,
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


def _tools(body: ResponsesRequest) -> ToolRequest:
    defs = [
        ToolDef(
            t.name,
            t.description,
            t.parameters,
            t.strict,
            f"tools.{i}.name",
            f"tools.{i}.parameters",
        )
        for i, t in enumerate(body.tools or ())
    ]
    checked = check_tools(defs)
    parallel = body.parallel_tool_calls is not False
    choice = body.tool_choice
    if isinstance(choice, ResponsesNamedChoice):
        return choose(
            checked,
            NAMED,
            choice.name,
            parallel,
            choice_param="tool_choice",
            named_param="tool_choice.name",
        )
    return choose(
        checked, choice, None, parallel, choice_param="tool_choice", named_param="tool_choice.name"
    )
