"""`POST /v1/chat/completions`: streaming and non-streaming, with interleaved answer events."""

from __future__ import annotations

import time
import uuid
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, Response

from server.backends.base import GenerationParams
from server.generation.preparation import prepare, start_prepared
from server.generation.reasoning_fields import chat_budget
from server.generation.run import Run
from server.generation.shaping import ChatEncoder, ChoiceShaper, RunSummary, call_error
from server.http.middleware import access_record
from server.http.parsed_body import ParsedBodyRoute
from server.http.streams import ClientGone
from server.schemas import (
    AssistantMessage,
    ChatChoice,
    ChatCompletion,
    ChatCompletionRequest,
)
from server.state import AppState, check_model
from server.structured.protocol import final_schema, schema_param
from server.tools.history import chat_turns
from server.tools.protocol import SegmentRef, ToolCallFunction, ToolCallOut
from server.tools.spec import tool_request

router = APIRouter(route_class=ParsedBodyRoute)


@router.post("/v1/chat/completions", response_model=None)
async def chat_completions(body: ChatCompletionRequest, request: Request) -> Response:
    state: AppState = request.app.state.server
    access = access_record(request)
    check_model(state, body.model)
    budget = chat_budget(body, state.settings)
    tools = tool_request(body.tools, body.tool_choice, body.parallel_tool_calls)
    prepared = prepare(
        state,
        chat_turns(body.messages),
        tools=tools,
        enforce_format=body.enforce_format,
        final=final_schema(body.response_format),
        final_param=schema_param(body.response_format),
        budget=budget,
    )
    sampling = GenerationParams(
        max_tokens=body.max_completion_tokens or body.max_tokens,
        temperature=body.temperature,
        top_p=body.top_p,
        n=body.n,
        stop=body.stop_list(),
        seed=body.seed,
    )
    try:
        run = await start_prepared(state, request, prepared, sampling)
    except ClientGone:
        return Response(status_code=499)  # left while queued or in prefill; aborted
    completion_id = f"chatcmpl-{uuid.uuid4().hex}"
    created = int(time.time())
    model = state.backend.model_name
    if body.stream:
        encoder = ChatEncoder(
            completion_id,
            created,
            model,
            state.settings.reasoning_content_field,
            exclude_reasoning=budget.exclude,
            n=body.n,
            include_usage=bool(body.stream_options and body.stream_options.include_usage),
            shapers=run.shapers if prepared.final_check is not None else None,
            metrics=state.settings.per_request_metrics,
        )
        return state.stream(run, encoder, access)
    try:
        summary = await state.complete(request, run, access)
    except ClientGone:
        return Response(status_code=499)  # nobody reads it; the access log does
    completion = _completion(
        run,
        summary,
        completion_id,
        created,
        model,
        state.settings.reasoning_content_field,
        budget.exclude,
    )
    payload = completion.model_dump(mode="json")
    if state.settings.per_request_metrics and summary.metrics is not None:
        payload["metrics"] = summary.metrics.model_dump(mode="json", exclude_unset=True)
    return JSONResponse(payload)


def _completion(
    run: Run,
    summary: RunSummary,
    completion_id: str,
    created: int,
    model: str,
    reasoning_content: bool,
    exclude_reasoning: bool,
) -> ChatCompletion:
    choices = []
    for shaper, result in zip(run.shapers, summary.choices, strict=True):
        reasoning = None if exclude_reasoning else shaper.reasoning_text()
        # Extra fields, present only when they apply.
        extra: dict[str, Any] = {"reasoning_content": reasoning} if reasoning_content else {}
        content: str | None = shaper.content_text()
        if shaper.tracker is not None:
            extra.update(_call_fields(shaper, exclude_reasoning))
            if not content and extra["tool_calls"]:
                content = None  # as OpenAI: a turn of calls only has no content
        message = AssistantMessage(
            content=content, reasoning=reasoning, answers=shaper.answers, **extra
        )
        checked: dict[str, Any] = {}
        if shaper.final_error is not None:
            checked["response_format_error"] = shaper.final_error
        choices.append(
            ChatChoice(
                index=result.index,
                message=message,
                finish_reason=result.finish_reason,
                format_ok=result.format_ok,
                timings=result.timings,
                **checked,
            )
        )
    assert summary.usage is not None
    return ChatCompletion(
        id=completion_id, created=created, model=model, choices=choices, usage=summary.usage
    )


def _call_fields(shaper: ChoiceShaper, exclude_reasoning: bool) -> dict[str, Any]:
    """`tool_calls`, and our `tool_call_errors` and `segments`, of a choice of a request with
    tools. Only valid calls are in `tool_calls`; a call that is not one is in
    `tool_call_errors` (in a stream its start may already have been sent)."""
    assert shaper.tracker is not None
    calls = shaper.tracker.calls
    fields: dict[str, Any] = {
        "tool_calls": [
            ToolCallOut(
                id=c.id, function=ToolCallFunction(name=c.name or "", arguments=c.arguments)
            )
            for c in calls
            if c.valid
        ]
    }
    errors = [call_error(c) for c in calls if c.error is not None]
    if errors:
        fields["tool_call_errors"] = errors
    segments = []
    for kind, value, _index in shaper.parts:
        if kind == "tool_call":
            segments.append(SegmentRef(type="tool_call", id=value))
        elif kind == "answer" or not exclude_reasoning:
            segments.append(SegmentRef(type=kind, text=value.strip()))
    fields["segments"] = segments
    return fields
