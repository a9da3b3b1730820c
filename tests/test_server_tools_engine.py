"""Function calling and structured final answers on the real engine (the session server, the
default model), through the official `openai` client, streamed and not.

The default model was never trained on tools, so these tests force the call syntax with the
engine's grammar (`tool_choice` required or named, `enforce_format` bounding the thought) and
check what the server owes: the wire format, the order of events, and the round trip of a tool
result. A JSON final answer is forced the same way (`response_format`).
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import jsonschema
import pytest

pytestmark = [pytest.mark.engine, pytest.mark.timeout(600)]

PARAMETERS = {
    "type": "object",
    "properties": {"city": {"type": "string"}},
    "required": ["city"],
    "additionalProperties": False,
}
WEATHER: Any = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather of a city",
        "parameters": PARAMETERS,
    },
}
NAMED: Any = {"type": "function", "function": {"name": "get_weather"}}
QUESTION: Any = [{"role": "user", "content": "What is the weather in Paris?"}]
FORCED = {"max_tokens": 160, "temperature": 0, "extra_body": {"enforce_format": True}}


def test_streamed_forced_call_with_the_openai_client(server: Any) -> None:
    client = server.openai_client()
    stream = client.chat.completions.create(
        model=server.model,
        messages=QUESTION,
        tools=[WEATHER],
        tool_choice=NAMED,
        parallel_tool_calls=False,
        stream=True,
        **FORCED,
    )
    order: list[str] = []
    calls: list[Any] = []
    finish = None
    for chunk in stream:
        if not chunk.choices:
            continue
        choice = chunk.choices[0]
        delta = choice.delta
        if (delta.model_extra or {}).get("reasoning"):
            order.append("think")
        if delta.tool_calls:
            order.append("call")
            calls += delta.tool_calls
        if delta.content:
            order.append("answer")
        finish = choice.finish_reason or finish
    assert finish == "tool_calls"
    assert order[0] == "think" and "answer" not in order
    assert order.index("call") > max(i for i, k in enumerate(order) if k == "think")
    first, *rest = calls
    assert first.id.startswith("call_") and first.type == "function"
    assert first.function.name == "get_weather" and first.function.arguments == ""
    assert all(c.id is None and c.function.name is None and c.index == 0 for c in rest)
    arguments = json.loads("".join(c.function.arguments for c in rest))
    jsonschema.validate(arguments, PARAMETERS)


def test_tool_result_round_trip_non_streaming(server: Any) -> None:
    client = server.openai_client()
    first = client.chat.completions.create(
        model=server.model,
        messages=QUESTION,
        tools=[WEATHER],
        tool_choice="required",
        parallel_tool_calls=False,
        **FORCED,
    )
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    message = choice.message
    (call,) = message.tool_calls or []
    assert message.content is None
    jsonschema.validate(json.loads(call.function.arguments), PARAMETERS)
    extra = message.model_extra or {}
    assert [s["type"] for s in extra["segments"]] == ["think", "tool_call"]
    assert extra["reasoning"] and (choice.model_extra or {})["format_ok"] is True
    history = [
        *QUESTION,
        message.model_dump(exclude_none=True),
        {
            "role": "tool",
            "tool_call_id": call.id,
            "content": '{"sky": "sunny", "temperature_c": 21}',
        },
    ]
    second = client.chat.completions.create(
        model=server.model, messages=history, tools=[WEATHER], tool_choice="none", **FORCED
    )
    answer = second.choices[0]
    assert answer.finish_reason == "stop" and answer.message.content
    assert not answer.message.tool_calls
    # The history (thinking, the call and its result) is in the prompt: well beyond the question.
    alone = client.chat.completions.create(model=server.model, messages=QUESTION, max_tokens=1)
    assert second.usage is not None and alone.usage is not None
    assert second.usage.prompt_tokens > alone.usage.prompt_tokens + 30


def test_a_tool_result_for_an_unknown_call_is_400(server: Any) -> None:
    history = [*QUESTION, {"role": "tool", "tool_call_id": "call_x", "content": "sunny"}]
    response = httpx.post(
        f"{server.base_url}/v1/chat/completions",
        headers=server.headers(),
        json={"messages": history, "tools": [WEATHER]},
        timeout=60,
    )
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "messages.1.tool_call_id"


SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "sunny": {"type": "boolean"}},
    "required": ["city", "sunny"],
    "additionalProperties": False,
}


@pytest.mark.parametrize("stream", [False, True])
def test_response_format_constrains_only_the_final_answer(server: Any, stream: bool) -> None:
    body = {
        "model": server.model,
        "messages": [{"role": "user", "content": "Is it sunny in Paris? Answer in JSON."}],
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "weather", "schema": SCHEMA, "strict": True},
        },
        "enforce_format": True,
        "max_tokens": 320,
        "temperature": 0,
        "stream": stream,
    }
    response = httpx.post(
        f"{server.base_url}/v1/chat/completions", headers=server.headers(), json=body, timeout=300
    )
    assert response.status_code == 200, response.text
    if stream:
        payloads = [line[6:] for line in response.text.split("\n") if line.startswith("data: ")]
        chunks = [json.loads(p) for p in payloads[:-1]]
        answers = [
            c["choices"][0]["delta"]["answer_complete"]
            for c in chunks
            if c["choices"] and "answer_complete" in c["choices"][0]["delta"]
        ]
        finish = chunks[-1]["choices"][0]["finish_reason"]
    else:
        choice = response.json()["choices"][0]
        answers = choice["message"]["answers"]
        finish = choice["finish_reason"]
        assert choice["format_ok"] is True
    assert finish == "stop"
    final = json.loads(answers[-1]["text"])
    jsonschema.validate(final, SCHEMA)
    for earlier in answers[:-1]:  # intermediate answers: free text, not held to the schema
        try:
            value = json.loads(earlier["text"])
        except ValueError:
            continue
        assert not isinstance(value, dict), earlier


def test_a_schema_the_engine_cannot_compile_is_400_naming_the_field(server: Any) -> None:
    uncompilable = {"type": "object", "properties": {"n": {"type": "integer", "multipleOf": 3}}}
    tool = {"type": "function", "function": {"name": "f", "parameters": uncompilable}}
    for extra, param in (
        ({"tools": [tool], "tool_choice": "required"}, "tools.0.function.parameters"),
        (
            {
                "response_format": {
                    "type": "json_schema",
                    "json_schema": {"name": "n", "schema": uncompilable},
                }
            },
            "response_format.json_schema.schema",
        ),
    ):
        response = httpx.post(
            f"{server.base_url}/v1/chat/completions",
            headers=server.headers(),
            json={"messages": QUESTION, **extra},
            timeout=60,
        )
        assert response.status_code == 400, response.text
        assert response.json()["error"]["param"] == param
