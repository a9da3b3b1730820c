"""Function calling and structured final answers on a scripted backend (no engine): the wire
format of calls (OpenAI's chunking, whatever the model's chunking), calls inside thinking,
malformed calls, validation 400s, the prompt the model is shown, and the engine constraint a
request asks for. The official `openai` client reads every response (over the app itself).

The same paths run on the real engine in test_server_tools_engine.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from itertools import pairwise
from typing import Any

import openai
import pytest
from fakes import CALL, ScriptedBackend, choice, client_for, sse_body, sse_payloads
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openai.types.chat import ChatCompletion as OpenAICompletion
from openai.types.chat import ChatCompletionChunk as OpenAIChunk
from starlette.testclient import TestClient

from server.backends.base import Message

pytestmark = pytest.mark.timeout(300)

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather of a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
ADD = {
    "type": "function",
    "function": {
        "name": "add",
        "parameters": {
            "type": "object",
            "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
        },
    },
}
CALL_TEXT = "<think>I need the weather</think>" + CALL


@pytest.fixture(scope="module")
def backend() -> ScriptedBackend:
    return ScriptedBackend()


@pytest.fixture(scope="module")
def client(backend: ScriptedBackend) -> Iterator[TestClient]:
    with client_for(backend) as client:
        yield client


def user(text: str = "Weather in Paris?") -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


def chunks_of(text: str) -> list[dict[str, Any]]:
    payloads = sse_payloads(text)
    assert payloads[-1] == "[DONE]"
    chunks = [json.loads(p) for p in payloads[:-1]]
    for chunk in chunks:
        OpenAIChunk.model_validate(chunk)  # the openai client's own type accepts each chunk
    return chunks


def stream(client: TestClient, body: dict[str, Any]) -> list[dict[str, Any]]:
    response = client.post("/v1/chat/completions", json={**body, "stream": True})
    assert response.status_code == 200, response.text
    return chunks_of(response.text)


def deltas(chunks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [c["choices"][0]["delta"] for c in chunks if c["choices"]]


def cut(text: str, cuts: list[int]) -> list[str]:
    bounds = [0, *sorted(set(cuts)), len(text)]
    return [text[a:b] for a, b in pairwise(bounds) if b > a]


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.integers(0, len(CALL_TEXT)), max_size=30))
def test_streamed_call_has_openai_chunking_for_every_model_chunking(
    client: TestClient, backend: ScriptedBackend, cuts: list[int]
) -> None:
    backend.script = cut(CALL_TEXT, cuts)
    chunks = stream(client, {"messages": user(), "tools": [WEATHER]})
    calls = [d["tool_calls"][0] for d in deltas(chunks) if "tool_calls" in d]
    first, rest = calls[0], calls[1:]
    assert first["index"] == 0 and first["type"] == "function"
    assert first["id"].startswith("call_")
    assert first["function"] == {"name": "get_weather", "arguments": ""}
    assert all(
        set(c) == {"index", "function"} and set(c["function"]) == {"arguments"} for c in rest
    )
    assert "".join(c["function"]["arguments"] for c in rest) == '{"city": "Paris"}'
    reasoning = "".join(d.get("reasoning", "") for d in deltas(chunks))
    assert reasoning == "I need the weather"
    assert not any(d.get("content") for d in deltas(chunks))
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"
    # Order: all reasoning before the call.
    kinds = [
        "r" if "reasoning" in d else "c"
        for d in deltas(chunks)
        if set(d) & {"reasoning", "tool_calls"}
    ]
    assert kinds == sorted(kinds, reverse=True)


def test_non_streaming_message_has_tool_calls_and_segments(
    client: TestClient, backend: ScriptedBackend
) -> None:
    backend.script = [CALL_TEXT]
    response = client.post("/v1/chat/completions", json={"messages": user(), "tools": [WEATHER]})
    body = response.json()
    OpenAICompletion.model_validate(body)
    choice = body["choices"][0]
    assert choice["finish_reason"] == "tool_calls" and choice["format_ok"] is True
    message = choice["message"]
    assert message["content"] is None and message["reasoning"] == "I need the weather"
    (call,) = message["tool_calls"]
    assert call["type"] == "function" and call["id"].startswith("call_")
    assert call["function"] == {"name": "get_weather", "arguments": '{"city": "Paris"}'}
    assert message["segments"] == [
        {"type": "think", "text": "I need the weather", "id": None},
        {"type": "tool_call", "text": None, "id": call["id"]},
    ]
    assert "tool_call_errors" not in message


def test_a_call_inside_thinking_comes_between_its_two_halves(
    client: TestClient, backend: ScriptedBackend
) -> None:
    text = f"<think>Let me check {CALL} and then think on</think><answer>Sunny</answer>"
    backend.script = [text[i : i + 4] for i in range(0, len(text), 4)]
    chunks = stream(client, {"messages": user(), "tools": [WEATHER]})
    order = []
    for d in deltas(chunks):
        if "reasoning" in d:
            order.append("think")
        elif "tool_calls" in d:
            order.append("call")
        elif d.get("content"):
            order.append("answer")
    collapsed = [k for i, k in enumerate(order) if i == 0 or order[i - 1] != k]
    assert collapsed == ["think", "call", "think", "answer"]
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"
    backend.script = [text]
    message = client.post(
        "/v1/chat/completions", json={"messages": user(), "tools": [WEATHER]}
    ).json()["choices"][0]["message"]
    assert [s["type"] for s in message["segments"]] == ["think", "tool_call", "think", "answer"]
    assert message["content"] == "Sunny"


@pytest.mark.parametrize(
    ("call", "message", "well_formed"),
    [
        ("<tool_call>{not json}</tool_call>", "not valid JSON", False),
        # A well-formed call of a tool the request does not have: the format is fine.
        (
            '<tool_call>{"name": "launch", "arguments": {}}</tool_call>',
            "unknown tool 'launch'",
            True,
        ),
        (
            '<tool_call>{"name": "get_weather", "arguments": [1]}</tool_call>',
            "not a JSON object",
            False,
        ),
    ],
)
def test_malformed_or_unknown_calls_are_reported_not_dropped(
    client: TestClient, backend: ScriptedBackend, call: str, message: str, well_formed: bool
) -> None:
    backend.script = ["<think>hm</think>", call, "<answer>done</answer>"]
    chunks = stream(client, {"messages": user(), "tools": [WEATHER]})
    errors = [d["tool_call_error"] for d in deltas(chunks) if "tool_call_error" in d]
    assert len(errors) == 1 and message in errors[0]["message"]
    assert errors[0]["index"] == 0 and errors[0]["text"]
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"  # no call to make
    body = client.post("/v1/chat/completions", json={"messages": user(), "tools": [WEATHER]})
    choice = body.json()["choices"][0]
    assert choice["message"]["tool_calls"] == [] and choice["format_ok"] is well_formed
    assert message in choice["message"]["tool_call_errors"][0]["message"]
    assert choice["message"]["content"] == "done"


def test_parallel_calls_and_the_parallel_switch(
    client: TestClient, backend: ScriptedBackend
) -> None:
    second = '<tool_call>{"name": "add", "arguments": {"a": 1, "b": 2}}</tool_call>'
    backend.script = ["<think>two things</think>", CALL, "\n", second]
    both = client.post(
        "/v1/chat/completions", json={"messages": user(), "tools": [WEATHER, ADD]}
    ).json()["choices"][0]["message"]["tool_calls"]
    assert [c["function"]["name"] for c in both] == ["get_weather", "add"]
    assert both[0]["id"] != both[1]["id"]
    chunks = stream(
        client, {"messages": user(), "tools": [WEATHER, ADD], "parallel_tool_calls": False}
    )
    started = [d["tool_calls"][0] for d in deltas(chunks) if "tool_calls" in d]
    assert {c["index"] for c in started} == {0}
    errors = [d["tool_call_error"] for d in deltas(chunks) if "tool_call_error" in d]
    assert "parallel_tool_calls" in errors[0]["message"] and errors[0]["index"] == 1


def test_without_tools_call_syntax_is_plain_text(
    client: TestClient, backend: ScriptedBackend
) -> None:
    backend.script = [f"<answer>{CALL}</answer>"]
    body = client.post("/v1/chat/completions", json={"messages": user()}).json()
    assert body["choices"][0]["message"]["content"] == CALL
    assert "tool_calls" not in body["choices"][0]["message"]
    none = client.post(
        "/v1/chat/completions",
        json={"messages": user(), "tools": [WEATHER], "tool_choice": "none"},
    ).json()
    assert none["choices"][0]["message"]["content"] == CALL  # "none": calls are not read


@pytest.mark.parametrize(
    ("extra", "param", "mentions"),
    [
        (
            {"tools": [WEATHER], "tool_choice": {"type": "function", "function": {"name": "nope"}}},
            "tool_choice.function.name",
            "unknown tool 'nope'",
        ),
        ({"tool_choice": "required"}, "tool_choice", "needs tools"),
        (
            {
                "tools": [
                    {
                        "type": "function",
                        "function": {"name": "f", "parameters": {"type": "objekt"}},
                    }
                ]
            },
            "tools.0.function.parameters",
            "not a valid JSON Schema",
        ),
        ({"tools": [WEATHER, WEATHER]}, "tools.1.function.name", "also the name of tools.0"),
        (
            {"tools": [{"type": "function", "function": {"name": "a b"}}]},
            "tools.0.function.name",
            "not a valid function name",
        ),
        ({"tools": [{"type": "custom", "custom": {"name": "x"}}]}, "tools.0.type", ""),
        (
            {
                "response_format": {
                    "type": "json_schema",
                    "json_schema": {"name": "r", "schema": {"type": 5}},
                }
            },
            "response_format.json_schema.schema",
            "not a valid JSON Schema",
        ),
        ({"response_format": {"type": "yaml"}}, "response_format", ""),
        (
            {
                "tools": [WEATHER],
                "tool_choice": "required",
                "reasoning_budget": {"max_total_tokens": 5},
            },
            "tool_choice",
            "reasoning budgets",
        ),
    ],
)
def test_bad_tool_fields_are_400_naming_the_field(
    client: TestClient, backend: ScriptedBackend, extra: dict[str, Any], param: str, mentions: str
) -> None:
    before = len(backend.calls)
    response = client.post("/v1/chat/completions", json={"messages": user(), **extra})
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["param"] == param, error
    assert mentions in error["message"]
    assert len(backend.calls) == before


def test_a_tool_message_must_answer_an_earlier_call(client: TestClient) -> None:
    messages = [
        *user(),
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": "{}"},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_2", "content": "sunny"},
    ]
    response = client.post("/v1/chat/completions", json={"messages": messages, "tools": [WEATHER]})
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "messages.2.tool_call_id"
    no_id = [*messages[:2], {"role": "tool", "content": "sunny"}]
    response = client.post("/v1/chat/completions", json={"messages": no_id, "tools": [WEATHER]})
    assert response.json()["error"]["param"] == "messages.2.tool_call_id"
    no_content = [*messages[:2], {"role": "tool", "tool_call_id": "call_1"}]
    response = client.post("/v1/chat/completions", json={"messages": no_content})
    assert response.status_code == 400 and response.json()["error"]["param"] == "messages.2.content"


def test_the_prompt_shows_tools_calls_results_and_reasoning_in_order(
    client: TestClient, backend: ScriptedBackend
) -> None:
    backend.script = ["<think>ok</think><answer>Sunny, 21 C.</answer>"]
    messages = [
        *user(),
        {
            "role": "assistant",
            "content": "Let me look.",
            "reasoning": "Need weather.\n\nAsk the tool.",
            "answers": [{"text": "Let me look.", "index": 0}],
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": '{"sky": "sunny"}'},
    ]
    response = client.post("/v1/chat/completions", json={"messages": messages, "tools": [WEATHER]})
    assert response.status_code == 200, response.text
    sent = backend.calls[-1][0]
    system, question, assistant, result = sent
    assert system.role == "system" and "<think>" in system.content  # the default instruction...
    assert (
        '"name": "get_weather"' in system.content and "<tool_call>" in system.content
    )  # ...and tools
    assert question == Message("user", "Weather in Paris?")
    assert assistant == Message(
        "assistant",
        "<think>Need weather.</think><answer>Let me look.</answer><think>Ask the tool.</think>"
        '<tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}</tool_call>',
    )
    assert result == Message("user", '<tool_response>\n{"sky": "sunny"}\n</tool_response>')


def test_segments_sent_back_replay_the_exact_order(
    client: TestClient, backend: ScriptedBackend
) -> None:
    text = f"<think>a {CALL} b</think>"
    backend.script = [text]
    first = client.post(
        "/v1/chat/completions", json={"messages": user(), "tools": [WEATHER]}
    ).json()
    message = first["choices"][0]["message"]
    call_id = message["tool_calls"][0]["id"]
    history = [*user(), message, {"role": "tool", "tool_call_id": call_id, "content": "rain"}]
    client.post("/v1/chat/completions", json={"messages": history, "tools": [WEATHER]})
    replayed = backend.calls[-1][0][2]
    assert replayed.content == (
        "<think>a</think>" + CALL.replace('"Paris"}}', '"Paris"}}') + "<think>b</think>"
    )


def test_plain_history_is_replayed_as_before(client: TestClient, backend: ScriptedBackend) -> None:
    messages = [*user("2+3?"), {"role": "assistant", "content": "5"}, *user("times 4?")]
    client.post("/v1/chat/completions", json={"messages": messages})
    assert backend.calls[-1][0][2] == Message("assistant", "5")


def test_constraints_asked_of_the_engine(client: TestClient, backend: ScriptedBackend) -> None:
    backend.script = [CALL_TEXT]
    named = {"type": "function", "function": {"name": "get_weather"}}
    client.post(
        "/v1/chat/completions",
        json={"messages": user(), "tools": [WEATHER, ADD], "tool_choice": named},
    )
    params = backend.calls[-1][1]
    assert params.regex is None and params.structural_tag is not None
    tag = json.loads(params.structural_tag)
    assert tag["type"] == "structural_tag"
    assert "get_weather" in params.structural_tag and "add" not in params.structural_tag
    client.post("/v1/chat/completions", json={"messages": user(), "tools": [WEATHER]})
    assert backend.calls[-1][1].structural_tag is None  # auto, free text: nothing forced
    client.post("/v1/chat/completions", json={"messages": user(), "enforce_format": True})
    assert backend.calls[-1][1].regex and backend.calls[-1][1].structural_tag is None


def test_the_openai_client_reads_calls_streamed_and_not(
    backend: ScriptedBackend,
) -> None:
    backend.script = [CALL_TEXT[i : i + 5] for i in range(0, len(CALL_TEXT), 5)]
    with client_for(backend) as http:
        client = openai.OpenAI(base_url="http://testserver/v1", api_key="x", http_client=http)
        plain = client.chat.completions.create(
            model="fake-model",
            messages=user(),
            tools=[WEATHER],  # type: ignore[list-item]
        )
        call = plain.choices[0].message.tool_calls[0]  # type: ignore[index]
        assert call.function.name == "get_weather"  # type: ignore[union-attr]
        assert json.loads(call.function.arguments) == {"city": "Paris"}  # type: ignore[union-attr]
        with client.chat.completions.stream(
            model="fake-model",
            messages=user(),
            tools=[WEATHER],  # type: ignore[list-item]
        ) as events:
            final = events.get_final_completion()
        (streamed,) = final.choices[0].message.tool_calls or []
        assert streamed.function.name == "get_weather"
        assert streamed.function.arguments == '{"city": "Paris"}'
        assert final.choices[0].finish_reason == "tool_calls"


def test_a_final_answer_off_the_schema_is_reported(
    client: TestClient, backend: ScriptedBackend
) -> None:
    # What an upstream that ignores the grammar could send (gateway mode); checked either way.
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    body = {
        "messages": user("2+3?"),
        "response_format": {"type": "json_schema", "json_schema": {"name": "n", "schema": schema}},
    }
    for script, error in (
        ('<think>add</think><answer>5</answer><answer>{"n": 5}</answer>', None),
        ('<think>add</think><answer>{"n": "five"}</answer>', "does not follow the schema"),
        ("<think>add</think><answer>five</answer>", "not JSON"),
    ):
        backend.script = [script]
        choice = client.post("/v1/chat/completions", json=body).json()["choices"][0]
        assert (
            choice.get("response_format_error") is None
            if error is None
            else error in choice["response_format_error"]
        )
        chunks = stream(client, body)
        finish = chunks[-1]["choices"][0]
        assert finish["finish_reason"] == "stop"
        if error is None:
            assert "response_format_error" not in finish
        else:
            assert error in finish["response_format_error"]
    backend.script = ["<think>x</think><answer>5</answer>"]
    plain = stream(client, {"messages": user("2+3?")})
    assert "response_format_error" not in plain[-1]["choices"][0]


# -- gateway mode: tools passed to the upstream, its calls parsed the same way --------------------


def test_gateway_passes_tools_on_and_parses_the_upstreams_calls() -> None:
    import httpx

    from server.api import create_app
    from server.backends.upstream import UpstreamBackend
    from server.config import parse_settings

    sent: list[dict[str, Any]] = []
    stream = sse_body(
        choice({"role": "assistant", "content": ""}),
        choice({"reasoning": "need the weather"}),
        choice(
            {
                "tool_calls": [
                    {
                        "index": 0,
                        "id": "x",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": ""},
                    }
                ]
            }
        ),
        choice({"tool_calls": [{"index": 0, "function": {"arguments": '{"city": '}}]}),
        choice({"tool_calls": [{"index": 0, "function": {"arguments": '"Paris"}'}}]}),
        choice(
            {
                "tool_calls": [
                    {
                        "index": 1,
                        "id": "y",
                        "type": "function",
                        "function": {"name": "add", "arguments": ""},
                    }
                ]
            }
        ),
        choice({}, "tool_calls"),
        {"choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 6}},
    )

    def upstream(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/models"):
            return httpx.Response(200, json={"data": [{"id": "up-model"}]})
        sent.append(json.loads(request.content))
        return httpx.Response(200, content=stream, headers={"content-type": "text/event-stream"})

    settings = parse_settings(["--upstream", "http://up:1/v1", "--upstream-tools"])
    backend = UpstreamBackend(settings)
    backend._client = httpx.AsyncClient(transport=httpx.MockTransport(upstream))
    with TestClient(create_app(settings, backend)) as http:
        body = {"messages": user(), "tools": [WEATHER, ADD], "tool_choice": "required"}
        response = http.post("/v1/chat/completions", json={**body, "stream": True})
        chunks = chunks_of(response.text)
        plain = http.post("/v1/chat/completions", json=body).json()["choices"][0]
    upstream_body = sent[0]
    assert [t["function"]["name"] for t in upstream_body["tools"]] == ["get_weather", "add"]
    assert upstream_body["tool_choice"] == "required" and "structured_outputs" not in upstream_body
    assert "<tools>" not in json.dumps(upstream_body["messages"])  # not also in the prompt
    calls = [d["tool_calls"][0] for d in deltas(chunks) if "tool_calls" in d]
    assert [c["function"].get("name") for c in calls if "id" in c] == ["get_weather", "add"]
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"
    assert [c["function"] for c in plain["message"]["tool_calls"]] == [
        {"name": "get_weather", "arguments": '{"city": "Paris"}'},
        {"name": "add", "arguments": "{}"},
    ]
    assert plain["message"]["reasoning"] == "need the weather"
