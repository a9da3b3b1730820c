"""Function calling in the Responses API on a scripted backend (no engine), read by the official
`openai` client: `function_call` items in order among reasoning and message items, the argument
events, `function_call_output` and reasoning items (and `phase`) sent back."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from fakes import CALL, ScriptedBackend, client_for
from openai.types.responses import Response as OpenAIResponse
from openai.types.responses import ResponseStreamEvent
from pydantic import TypeAdapter
from starlette.testclient import TestClient

from server.backends.base import Message

pytestmark = pytest.mark.timeout(300)

TOOL: Any = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather of a city",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
    "strict": False,
}
EVENTS: TypeAdapter[Any] = TypeAdapter(ResponseStreamEvent)


@pytest.fixture(scope="module")
def backend() -> ScriptedBackend:
    return ScriptedBackend()


@pytest.fixture(scope="module")
def http(backend: ScriptedBackend) -> Iterator[TestClient]:
    with client_for(backend) as client:
        yield client


@pytest.fixture(scope="module")
def client(http: TestClient) -> openai.OpenAI:
    return openai.OpenAI(base_url="http://testserver/v1", api_key="x", http_client=http)


def test_items_in_order_with_a_call_inside_thinking(
    client: openai.OpenAI, backend: ScriptedBackend
) -> None:
    text = f"<think>Let me check {CALL} and go on</think><answer>Sunny</answer>"
    backend.script = [text[i : i + 3] for i in range(0, len(text), 3)]
    response = client.responses.create(model="fake-model", input="Weather in Paris?", tools=[TOOL])
    assert [item.type for item in response.output] == [
        "reasoning",
        "function_call",
        "reasoning",
        "message",
    ]
    call = response.output[1]
    assert call.name == "get_weather" and json.loads(call.arguments) == {"city": "Paris"}
    assert call.call_id.startswith("call_") and call.status == "completed"
    assert [p.text for p in response.output[0].content or []] == ["Let me check"]
    assert [p.text for p in response.output[2].content or []] == ["and go on"]
    assert response.tool_choice == "auto" and response.tools[0].name == "get_weather"


def test_stream_events_of_a_call(
    http: TestClient, client: openai.OpenAI, backend: ScriptedBackend
) -> None:
    text = f"<think>need it</think>{CALL}"
    backend.script = [text[i : i + 5] for i in range(0, len(text), 5)]
    response = http.post(
        "/v1/responses",
        json={"input": "Weather?", "tools": [TOOL], "tool_choice": "required", "stream": True},
    )
    events = []
    for block in response.text.split("\n\n"):
        lines = block.split("\n")
        if len(lines) == 2:
            events.append(EVENTS.validate_python(json.loads(lines[1][6:])))
    types = [e.type for e in events]
    added = types.index("response.output_item.added", types.index("response.reasoning_text.done"))
    assert events[added].item.type == "function_call" and events[added].item.arguments == ""
    deltas = [e.delta for e in events if e.type == "response.function_call_arguments.delta"]
    done = next(e for e in events if e.type == "response.function_call_arguments.done")
    assert "".join(deltas) == done.arguments == '{"city": "Paris"}'
    assert types[-1] == "response.completed"
    assert [e.sequence_number for e in events] == list(range(len(events)))
    final = events[-1].response
    assert [i.type for i in final.output] == ["reasoning", "function_call"]
    with client.responses.stream(model="fake-model", input="Weather?", tools=[TOOL]) as stream:
        streamed = stream.get_final_response()
    assert streamed.output[1].arguments == '{"city": "Paris"}'


def test_function_call_output_and_reasoning_items_are_replayed(
    client: openai.OpenAI, backend: ScriptedBackend
) -> None:
    backend.script = ["<think>need it</think>", CALL]
    first = client.responses.create(model="fake-model", input="Weather in Paris?", tools=[TOOL])
    call = first.output[1]
    backend.script = ["<think>sunny</think><answer>Sunny.</answer>"]
    history: list[Any] = [
        {"role": "user", "content": "Weather in Paris?"},
        *[item.model_dump(exclude_none=True) for item in first.output],
        {"type": "function_call_output", "call_id": call.call_id, "output": "sunny"},
    ]
    second = client.responses.create(model="fake-model", input=history, tools=[TOOL])
    assert second.output[-1].type == "message"
    sent = backend.calls[-1][0]
    assert sent[-2] == Message(
        "assistant",
        "<think>need it</think>" + CALL,
    )
    assert sent[-1] == Message("user", "<tool_response>\nsunny\n</tool_response>")
    # Messages with `phase` are accepted beside reasoning items.
    backend.script = ["<think>x</think><answer>y</answer>"]
    earlier = client.responses.create(model="fake-model", input="2+3, then times 4?")
    with_phase = [
        {"role": "user", "content": "2+3, then times 4?"},
        *[item.model_dump(exclude_none=True) for item in earlier.output],
        {"role": "user", "content": "and plus 1?"},
    ]
    client.responses.create(model="fake-model", input=with_phase)
    assert backend.calls[-1][0][-2] == Message("assistant", "<think>x</think><answer>y</answer>")


def test_responses_tool_errors_name_the_field(http: TestClient) -> None:
    for body, param in (
        (
            {"input": "hi", "tools": [TOOL], "tool_choice": {"type": "function", "name": "nope"}},
            "tool_choice.name",
        ),
        ({"input": "hi", "tools": [{**TOOL, "parameters": {"type": 7}}]}, "tools.0.parameters"),
        (
            {"input": [{"type": "function_call_output", "call_id": "call_x", "output": "1"}]},
            "input.0.call_id",
        ),
        ({"input": [{"role": "user", "content": "x", "phase": "draft"}]}, "input.0.phase"),
    ):
        response = http.post("/v1/responses", json=body)
        assert response.status_code == 400, response.text
        assert response.json()["error"]["param"] == param


def test_plain_responses_keep_their_shape(client: openai.OpenAI, backend: ScriptedBackend) -> None:
    backend.script = ["<think>x</think><answer>y</answer>"]
    response = client.responses.create(model="fake-model", input="hi")
    OpenAIResponse.model_validate(response.model_dump())
    assert (
        response.tool_choice == "none"
        and response.tools == []
        and response.parallel_tool_calls is False
    )
