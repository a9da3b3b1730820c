"""The Messages API on the real engine (the session server, the default model), through the
official `anthropic` client: ordered blocks, the stream, a tool round trip with signed
thinking, thinking budgets; and one recorded tool conversation replayed through the Messages
API and Chat Completions, which must give the same segments in the same order."""

from __future__ import annotations

import json
from typing import Any

import anthropic
import httpx
import jsonschema
import pytest

pytestmark = [pytest.mark.engine, pytest.mark.timeout(600)]

SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}},
    "required": ["city"],
    "additionalProperties": False,
}
TOOL: Any = {"name": "get_weather", "description": "Weather of a city", "input_schema": SCHEMA}
QUESTION: Any = [{"role": "user", "content": "What is the weather in Paris?"}]
GREEDY = {"temperature": 0, "enforce_format": True}


def client_of(server: Any) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=server.base_url, api_key=server.api_key)


def test_streamed_blocks_and_a_tool_round_trip(server: Any) -> None:
    client = client_of(server)
    with client.messages.stream(
        model=server.model,
        max_tokens=160,
        messages=QUESTION,
        tools=[TOOL],
        tool_choice={"type": "tool", "name": "get_weather", "disable_parallel_tool_use": True},
        extra_body=GREEDY,
    ) as stream:
        kinds = [e.type for e in stream]
        first = stream.get_final_message()
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
    assert [b.type for b in first.content] == ["thinking", "tool_use"]
    thinking, use = first.content
    assert thinking.signature and use.id.startswith("toolu_")
    jsonschema.validate(use.input, SCHEMA)
    assert first.stop_reason == "tool_use" and first.usage.input_tokens > 0
    history = [
        *QUESTION,
        {"role": "assistant", "content": [b.model_dump() for b in first.content]},
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "sunny"}],
        },
    ]
    second = client.messages.create(
        model=server.model,
        max_tokens=400,  # room for the whole enforced reply: the claim is how it ends
        messages=history,
        tools=[TOOL],
        tool_choice={"type": "none"},
        extra_body=GREEDY,
    )
    assert second.stop_reason == "end_turn"
    assert "text" in [b.type for b in second.content] and "tool_use" not in [
        b.type for b in second.content
    ]
    tampered = [*history]
    tampered[1] = {
        "role": "assistant",
        "content": [{**thinking.model_dump(), "thinking": "other"}, use.model_dump()],
    }
    with pytest.raises(anthropic.BadRequestError) as caught:
        client.messages.create(model=server.model, max_tokens=20, messages=tampered, tools=[TOOL])
    assert caught.value.response.json()["error"]["message"].startswith(
        "messages.1.content.0.signature"
    )


def test_thinking_disabled_gives_no_thinking_blocks(server: Any) -> None:
    message = client_of(server).messages.create(
        model=server.model,
        max_tokens=60,
        messages=[{"role": "user", "content": "What is 2+3?"}],
        thinking={"type": "disabled"},
        extra_body={"temperature": 0},
    )
    assert message.content and all(b.type == "text" for b in message.content)
    timings = (message.model_extra or {})["timings"]
    assert timings["think_tokens"] == 0 and timings["forced_closes"] >= 1


def _chat_segments(server: Any, history: list[Any]) -> list[tuple[str, str]]:
    body = {
        "model": server.model,
        "messages": history,
        "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": SCHEMA}}],
        "tool_choice": "none",
        "max_tokens": 200,
        **GREEDY,
    }
    response = httpx.post(
        f"{server.base_url}/v1/chat/completions", headers=server.headers(), json=body, timeout=300
    )
    choice = response.json()["choices"][0]
    # Chat has no ordered list of segments without calls to read; the order of the segment
    # kinds is in `timings.segments`, the texts in `reasoning` (joined) and `answers`.
    thinks = iter((choice["message"]["reasoning"] or "").split("\n\n"))
    answers = iter(a["text"] for a in choice["message"]["answers"])
    return [
        (s["kind"], next(thinks) if s["kind"] == "think" else next(answers))
        for s in choice["timings"]["segments"]
    ]


def test_one_conversation_replayed_through_both_apis_gives_the_same_segments(server: Any) -> None:
    client = client_of(server)
    first = client.messages.create(
        model=server.model,
        max_tokens=160,
        messages=QUESTION,
        tools=[TOOL],
        tool_choice={"type": "any", "disable_parallel_tool_use": True},
        extra_body=GREEDY,
    )
    thinking, use = first.content
    result = json.dumps({"sky": "sunny", "temperature_c": 21})
    anthropic_history = [
        *QUESTION,
        {"role": "assistant", "content": [b.model_dump() for b in first.content]},
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": use.id, "content": result}],
        },
    ]
    chat_history = [
        *QUESTION,
        {
            "role": "assistant",
            "content": None,
            "reasoning": thinking.thinking,
            "tool_calls": [
                {
                    "id": use.id,
                    "type": "function",
                    "function": {"name": use.name, "arguments": json.dumps(use.input)},
                }
            ],
        },
        {"role": "tool", "tool_call_id": use.id, "content": result},
    ]
    via_messages = client.messages.create(
        model=server.model,
        max_tokens=200,
        messages=anthropic_history,
        tools=[TOOL],
        tool_choice={"type": "none"},
        extra_body=GREEDY,
    )
    blocks = [
        (
            "think" if b.type == "thinking" else "answer",
            b.thinking if b.type == "thinking" else b.text,
        )
        for b in via_messages.content
    ]
    assert blocks == _chat_segments(server, chat_history)
