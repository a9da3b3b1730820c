"""`POST /v1/chat/completions`: streaming and non-streaming, with interleaved answer events."""

from __future__ import annotations

import time
import uuid
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, Response

from server.backend import GenerationParams
from server.generation import Run
from server.middleware import access_record
from server.prompting import enforce_regex, to_messages
from server.reasoning_fields import chat_budget
from server.schemas import (
    AssistantMessage,
    ChatChoice,
    ChatCompletion,
    ChatCompletionRequest,
)
from server.shaping import ChatEncoder, RunSummary
from server.state import AppState, check_model
from server.streams import ClientGone

router = APIRouter()


@router.post("/v1/chat/completions", response_model=None)
async def chat_completions(body: ChatCompletionRequest, request: Request) -> Response:
    state: AppState = request.app.state.server
    access = access_record(request)
    check_model(state, body.model)
    budget = chat_budget(body, state.settings)
    messages = to_messages([(m.role, m.text()) for m in body.messages], state.system_prompt)
    params = GenerationParams(
        max_tokens=body.max_completion_tokens or body.max_tokens,
        temperature=body.temperature,
        top_p=body.top_p,
        n=body.n,
        stop=body.stop_list(),
        seed=body.seed,
        regex=enforce_regex(state.settings) if body.enforce_format else None,
    )
    try:
        run = await state.start_run_for(request, access, messages, params, budget)
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
    return JSONResponse(completion.model_dump(mode="json"))


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
        # An extra field, present only when the flag asks for it.
        extra: dict[str, Any] = {"reasoning_content": reasoning} if reasoning_content else {}
        message = AssistantMessage(
            content=shaper.content_text(), reasoning=reasoning, answers=shaper.answers, **extra
        )
        choices.append(
            ChatChoice(
                index=result.index,
                message=message,
                finish_reason=result.finish_reason,
                format_ok=result.format_ok,
                timings=result.timings,
            )
        )
    assert summary.usage is not None
    return ChatCompletion(
        id=completion_id, created=created, model=model, choices=choices, usage=summary.usage
    )
