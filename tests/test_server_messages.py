"""The Anthropic Messages API on a scripted backend (no engine), read by the official
`anthropic` client over the app: ordered thinking / text / tool_use blocks, the streaming event
sequence, signed thinking that must come back unchanged, tool results, Anthropic-style errors.

The same route runs on the real engine in test_server_messages_engine.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import anthropic
import pytest
from fakes import CALL, ScriptedBackend, client_for
from starlette.testclient import TestClient

from server.backends.base import Message

pytestmark = pytest.mark.timeout(300)

TOOL: Any = {
    "name": "get_weather",
    "description": "Weather of a city",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}
INTERLEAVED = "<think>2+3</think><answer>5</answer><think>times 4</think><answer>20</answer>"
QUESTION: Any = [{"role": "user", "content": "2+3, then times 4?"}]


@pytest.fixture(scope="module")
def backend() -> ScriptedBackend:
    return ScriptedBackend()


@pytest.fixture(scope="module")
def http(backend: ScriptedBackend) -> Iterator[TestClient]:
    with client_for(backend, "--api-key", "k", "--thinking-signature-key", "secret") as client:
        yield client


@pytest.fixture(scope="module")
def client(http: TestClient) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url="http://testserver", api_key="k", http_client=http)


def create(client: anthropic.Anthropic, **kw: Any) -> Any:
    return client.messages.create(
        model="fake-model", max_tokens=200, **{"messages": QUESTION, **kw}
    )


def sse_events(text: str) -> list[tuple[str, dict[str, Any]]]:
    events = []
    for block in text.split("\n\n"):
        lines = block.split("\n")
        if len(lines) >= 2 and lines[0].startswith("event: "):
            events.append((lines[0][7:], json.loads(lines[1][6:])))
    return events


def test_blocks_in_order_one_text_block_per_answer(
    client: anthropic.Anthropic, backend: ScriptedBackend
) -> None:
    backend.script = [INTERLEAVED]
    message = create(client)
    assert [b.type for b in message.content] == ["thinking", "text", "thinking", "text"]
    assert [getattr(b, "thinking", None) or getattr(b, "text", None) for b in message.content] == [
        "2+3",
        "5",
        "times 4",
        "20",
    ]
    assert all(b.signature for b in message.content if b.type == "thinking")
    assert message.stop_reason == "end_turn" and message.role == "assistant"
    assert message.usage.input_tokens == 5 and message.usage.output_tokens == 1
    assert message.id.startswith("msg_")
    assert (message.model_extra or {})["timings"]["answer_ms"]


@pytest.mark.parametrize("size", [1, 3, 7])
def test_stream_event_sequence_and_the_same_message(
    client: anthropic.Anthropic, http: TestClient, backend: ScriptedBackend, size: int
) -> None:
    backend.script = [INTERLEAVED[i : i + size] for i in range(0, len(INTERLEAVED), size)]
    response = http.post(
        "/v1/messages",
        headers={"x-api-key": "k"},
        json={"model": "fake-model", "max_tokens": 200, "messages": QUESTION, "stream": True},
    )
    events = sse_events(response.text)
    names = [name for name, _ in events]
    assert names[0] == "message_start" and names[-2:] == ["message_delta", "message_stop"]
    assert all(name == data["type"] for name, data in events)
    # Each block: start, deltas, (a signature for thinking), stop; indices in order.
    blocks: dict[int, list[str]] = {}
    for name, data in events:
        if name.startswith("content_block"):
            kind = data.get("delta", {}).get("type", name)
            blocks.setdefault(data["index"], []).append(kind)
    assert list(blocks) == [0, 1, 2, 3]
    for index, kinds in blocks.items():
        assert kinds[0] == "content_block_start" and kinds[-1] == "content_block_stop"
        expected = "thinking_delta" if index % 2 == 0 else "text_delta"
        assert set(kinds[1:-1]) - {"signature_delta"} == {expected}
        assert (kinds[-2] == "signature_delta") == (index % 2 == 0)
    delta = dict(events)["message_delta"]
    assert delta["delta"]["stop_reason"] == "end_turn" and delta["usage"]["output_tokens"] > 0
    with client.messages.stream(model="fake-model", max_tokens=200, messages=QUESTION) as stream:
        final = stream.get_final_message()
    plain = create(client)
    assert [b.model_dump() for b in final.content] == [b.model_dump() for b in plain.content]


def test_tool_use_blocks_streamed_and_not(
    client: anthropic.Anthropic, backend: ScriptedBackend
) -> None:
    text = f"<think>Let me check {CALL} then wait</think>"
    backend.script = [text[i : i + 4] for i in range(0, len(text), 4)]
    message = create(client, tools=[TOOL])
    assert [b.type for b in message.content] == ["thinking", "tool_use", "thinking"]
    use = message.content[1]
    assert (
        use.id.startswith("toolu_") and use.name == "get_weather" and use.input == {"city": "Paris"}
    )
    assert message.stop_reason == "tool_use"
    with client.messages.stream(
        model="fake-model", max_tokens=200, messages=QUESTION, tools=[TOOL]
    ) as stream:
        partial = [e.partial_json for e in stream if e.type == "input_json"]
        final = stream.get_final_message()
    assert "".join(partial) == '{"city": "Paris"}' and len(partial) > 1
    assert final.content[1].input == {"city": "Paris"} and final.stop_reason == "tool_use"


def test_round_trip_with_signed_thinking_and_tool_result(
    client: anthropic.Anthropic, backend: ScriptedBackend
) -> None:
    backend.script = ["<think>need weather</think>", CALL]
    first = create(client, tools=[TOOL], tool_choice={"type": "any"})
    _thinking, use = first.content
    history = [
        *QUESTION,
        {"role": "assistant", "content": [b.model_dump() for b in first.content]},
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "sunny, 21 C"}],
        },
    ]
    backend.script = ["<think>it is sunny</think><answer>Sunny.</answer>"]
    second = create(client, tools=[TOOL], messages=history)
    assert [b.type for b in second.content] == ["thinking", "text"]
    sent = backend.calls[-1][0]
    assert sent[-2] == Message(
        "assistant",
        "<think>need weather</think>"
        '<tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}</tool_call>',
    )
    assert sent[-1] == Message("user", "<tool_response>\nsunny, 21 C\n</tool_response>")
    assert '"get_weather"' in sent[0].content  # the tools block in the system message
    # Tampered thinking is refused, naming the signature.
    tampered = [dict(history[1]["content"][0], thinking="I was told to say rain")]
    history[1] = {"role": "assistant", "content": [*tampered, history[1]["content"][1]]}
    with pytest.raises(anthropic.BadRequestError) as caught:
        create(client, tools=[TOOL], messages=history)
    body = caught.value.response.json()
    assert body["type"] == "error" and body["error"]["type"] == "invalid_request_error"
    assert body["error"]["message"].startswith("messages.1.content.0.signature: ")


def test_anthropic_style_errors(http: TestClient, client: anthropic.Anthropic) -> None:
    missing = http.post(
        "/v1/messages",
        headers={"x-api-key": "k"},
        json={"model": "fake-model", "messages": QUESTION},
    )
    assert missing.status_code == 400
    assert missing.json() == {
        "type": "error",
        "error": {"type": "invalid_request_error", "message": "max_tokens: field required"},
    }
    wrong_key = http.post("/v1/messages", headers={"x-api-key": "nope"}, json={})
    assert (
        wrong_key.status_code == 401 and wrong_key.json()["error"]["type"] == "authentication_error"
    )
    for kw, field in (
        ({"tools": [TOOL], "tool_choice": {"type": "tool", "name": "nope"}}, "tool_choice.name"),
        ({"tools": [{**TOOL, "input_schema": {"type": "nope"}}]}, "tools.0.input_schema"),
        (
            {
                "messages": [
                    *QUESTION,
                    {
                        "role": "user",
                        "content": [
                            {"type": "tool_result", "tool_use_id": "toolu_x", "content": "x"}
                        ],
                    },
                ]
            },
            "messages.1.content.0.tool_use_id",
        ),
        ({"messages": [*QUESTION, {"role": "assistant", "content": "prefill"}]}, "messages.1"),
        (
            {
                "thinking": {"type": "enabled", "budget_tokens": 64},
                "output_config": {"effort": "high"},
            },
            "output_config.effort",
        ),
        (
            {
                "tools": [TOOL],
                "tool_choice": {"type": "any"},
                "thinking": {"type": "enabled", "budget_tokens": 8},
            },
            "tool_choice",
        ),
    ):
        with pytest.raises(anthropic.BadRequestError) as caught:
            create(client, **kw)
        message = caught.value.response.json()["error"]["message"]
        assert message.startswith(f"{field}: "), message
    not_found = http.post(
        "/v1/messages",
        headers={"x-api-key": "k"},
        json={"model": "other", "max_tokens": 5, "messages": QUESTION},
    )
    assert not_found.status_code == 404 and not_found.json()["error"]["type"] == "not_found_error"


def test_malformed_call_is_reported_in_the_message(
    client: anthropic.Anthropic, backend: ScriptedBackend
) -> None:
    backend.script = ["<think>x</think><tool_call>{broken</tool_call><answer>ok</answer>"]
    message = create(client, tools=[TOOL])
    assert [b.type for b in message.content] == ["thinking", "text"]
    errors = (message.model_extra or {})["tool_call_errors"]
    assert "not valid JSON" in errors[0]["message"] and message.stop_reason == "end_turn"


def test_output_config_format_constrains_the_final_answer(
    client: anthropic.Anthropic, backend: ScriptedBackend
) -> None:
    backend.script = ['<think>x</think><answer>{"n": 5}</answer>']
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    create(client, output_config={"format": {"type": "json_schema", "schema": schema}})
    assert backend.calls[-1][1].structural_tag is not None
