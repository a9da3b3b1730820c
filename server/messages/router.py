"""`POST /v1/messages`: the Anthropic Messages API, streaming and not."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, Response

from server.backends.base import GenerationParams
from server.generation.preparation import prepare, start_prepared
from server.http.errors import ERROR_BODIES
from server.http.middleware import access_record
from server.http.parsed_body import ParsedBodyRoute
from server.http.streams import ClientGone
from server.messages.budget import messages_budget
from server.messages.encoder import MessagesEncoder
from server.messages.errors import error_json
from server.messages.history import message_turns
from server.messages.protocol import (
    MessagesRequest,
    ToolChoiceAny,
    ToolChoiceNone,
    ToolChoiceParam,
    ToolChoiceTool,
)
from server.messages.signing import ThinkingSigner
from server.state import AppState, check_model
from server.tools.spec import AUTO, NAMED, NONE, REQUIRED, ToolDef, ToolRequest, check_tools, choose

PATH = "/v1/messages"
router = APIRouter(route_class=ParsedBodyRoute)
ERROR_BODIES[PATH] = error_json


def signer_of(request: Request) -> ThinkingSigner:
    """The server's thinking signer (made once, from --thinking-signature-key)."""
    app_state = request.app.state
    signer = getattr(app_state, "thinking_signer", None)
    if signer is None:
        state: AppState = app_state.server
        signer = ThinkingSigner.from_setting(state.settings.thinking_signature_key)
        app_state.thinking_signer = signer
    return signer


def tools_of(body: MessagesRequest) -> ToolRequest:
    defs = [
        ToolDef(
            t.name,
            t.description,
            t.input_schema,
            t.strict,
            f"tools.{i}.name",
            f"tools.{i}.input_schema",
        )
        for i, t in enumerate(body.tools or ())
    ]
    checked = check_tools(defs)
    choice: ToolChoiceParam | None = body.tool_choice
    parallel = not (choice is not None and getattr(choice, "disable_parallel_tool_use", False))
    if choice is None:
        mode, named = None, None
    elif isinstance(choice, ToolChoiceTool):
        mode, named = NAMED, choice.name
    elif isinstance(choice, ToolChoiceAny):
        mode, named = REQUIRED, None
    elif isinstance(choice, ToolChoiceNone):
        mode, named = NONE, None
    else:
        mode, named = AUTO, None
    return choose(
        checked, mode, named, parallel, choice_param="tool_choice", named_param="tool_choice.name"
    )


@router.post(PATH, response_model=None)
async def create_message(body: MessagesRequest, request: Request) -> Response:
    state: AppState = request.app.state.server
    access = access_record(request)
    check_model(state, body.model)
    signer = signer_of(request)
    budget = messages_budget(body, state.settings)
    output_format = body.output_config.format if body.output_config is not None else None
    prepared = prepare(
        state,
        message_turns(body, signer),
        tools=tools_of(body),
        enforce_format=body.enforce_format,
        final=output_format.schema_ if output_format is not None else None,
        final_param="output_config.format.schema",
        budget=budget,
    )
    sampling = GenerationParams(
        max_tokens=body.max_tokens,
        temperature=body.temperature,
        top_p=body.top_p,
        stop=tuple(body.stop_sequences or ()),
    )
    try:
        run = await start_prepared(state, request, prepared, sampling)
    except ClientGone:
        return Response(status_code=499)
    encoder = MessagesEncoder(
        f"msg_{uuid.uuid4().hex}",
        state.backend.model_name,
        run.prompt_tokens,
        signer,
        stream=body.stream,
        metrics=state.settings.per_request_metrics,
    )
    if body.stream:
        return state.stream(run, encoder, access)
    try:
        await state.complete(request, run, access, encoder)
    except ClientGone:
        return Response(status_code=499)
    assert encoder.result is not None
    return JSONResponse(encoder.result.model_dump(mode="json"))
