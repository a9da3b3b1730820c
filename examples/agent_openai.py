"""An agent loop with the official `openai` client: the model calls a tool, the script runs it,
sends the result back, and the model answers. Everything is streamed.

    python examples/agent_openai.py --base-url http://127.0.0.1:8000/v1 [--api-key KEY]

The loop is the usual one: ask with `tools`; while the reply holds `tool_calls`, run each call
locally and append the assistant message and one `tool` message per result; stop at a reply
without calls. Two settings are for the small default model, which was never trained on tools:
the first request forces a call (`tool_choice="required"`; the server's grammar makes the model
write it) and the later ones let it answer (`--then none`; with a model trained on tools use
`--then auto`). `enforce_format` keeps the default model's thinking and answers bounded.
"""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

import openai

TOOLS: list[Any] = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "The current weather of a city.",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string", "description": "City name"}},
                "required": ["city"],
                "additionalProperties": False,
            },
        },
    }
]


def get_weather(city: str) -> dict[str, Any]:
    """The local function the model calls (a stand-in for a real weather service)."""
    return {"city": city, "sky": "sunny", "temperature_c": 21}


FUNCTIONS = {"get_weather": get_weather}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--base-url", default=os.environ.get("OPENAI_BASE_URL", "http://127.0.0.1:8000/v1")
    )
    parser.add_argument("--api-key", default=os.environ.get("OPENAI_API_KEY", "none"))
    parser.add_argument("--question", default="What is the weather in Paris?")
    parser.add_argument(
        "--then", choices=["none", "auto"], default="none", help="tool_choice after the first round"
    )
    parser.add_argument("--max-rounds", type=int, default=4)
    args = parser.parse_args(argv)

    client = openai.OpenAI(base_url=args.base_url, api_key=args.api_key)
    model = client.models.list().data[0].id
    messages: list[Any] = [{"role": "user", "content": args.question}]
    print(f"user: {args.question}")
    for round_ in range(args.max_rounds):
        with client.chat.completions.stream(
            model=model,
            messages=messages,
            tools=TOOLS,
            tool_choice="required" if round_ == 0 else args.then,
            parallel_tool_calls=False,
            max_tokens=256,
            temperature=0,
            extra_body={"enforce_format": True},
        ) as stream:
            section = None
            for event in stream:
                if event.type == "chunk" and event.chunk.choices:
                    delta = event.chunk.choices[0].delta
                    thinking = (delta.model_extra or {}).get("reasoning")
                    if thinking:
                        section = _section(section, "thinking")
                        print(thinking, end="", flush=True)
                elif event.type == "content.delta":
                    section = _section(section, "answer")
                    print(event.delta, end="", flush=True)
                elif event.type == "tool_calls.function.arguments.delta":
                    section = _section(section, f"tool call {event.name}")
                    print(event.arguments_delta, end="", flush=True)
            completion = stream.get_final_completion()
        print()
        choice = completion.choices[0]
        message = choice.message
        print(f"[finish_reason: {choice.finish_reason}]")
        # The message goes back as it came: with its reasoning, so the model sees what it wrote.
        messages.append(message.model_dump(exclude_none=True))
        if not message.tool_calls:
            print(f"final answer: {message.content}")
            return 0
        for call in message.tool_calls:
            result = FUNCTIONS[call.function.name](**json.loads(call.function.arguments))
            print(f"tool {call.function.name}({call.function.arguments}) -> {json.dumps(result)}")
            messages.append(
                {"role": "tool", "tool_call_id": call.id, "content": json.dumps(result)}
            )
    print("no final answer within --max-rounds")
    return 1


def _section(current: str | None, name: str) -> str:
    if current != name:
        print(f"\n[{name}] ", end="")
    return name


if __name__ == "__main__":
    raise SystemExit(main())
