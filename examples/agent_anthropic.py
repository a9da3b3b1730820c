"""The same agent loop with the official `anthropic` client, against `/v1/messages`: the model
calls a tool, the script runs it and sends a `tool_result` back, the model answers. Streamed.

    python examples/agent_anthropic.py --base-url http://127.0.0.1:8000 [--api-key KEY]

The assistant turn goes back as it came, thinking blocks and their signatures included (the
server checks them). As in examples/agent_openai.py, the first request forces a call
(`tool_choice: any`) and the later ones let the small default model answer (`--then none`;
with a model trained on tools use `--then auto`).
"""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

import anthropic

TOOLS: list[Any] = [
    {
        "name": "get_weather",
        "description": "The current weather of a city.",
        "input_schema": {
            "type": "object",
            "properties": {"city": {"type": "string", "description": "City name"}},
            "required": ["city"],
            "additionalProperties": False,
        },
    }
]


def get_weather(city: str) -> dict[str, Any]:
    """The local function the model calls (a stand-in for a real weather service)."""
    return {"city": city, "sky": "sunny", "temperature_c": 21}


FUNCTIONS = {"get_weather": get_weather}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--base-url", default=os.environ.get("ANTHROPIC_BASE_URL", "http://127.0.0.1:8000")
    )
    parser.add_argument("--api-key", default=os.environ.get("ANTHROPIC_API_KEY", "none"))
    parser.add_argument("--question", default="What is the weather in Paris?")
    parser.add_argument(
        "--then", choices=["none", "auto"], default="none", help="tool_choice after the first round"
    )
    parser.add_argument("--max-rounds", type=int, default=4)
    args = parser.parse_args(argv)

    client = anthropic.Anthropic(base_url=args.base_url, api_key=args.api_key)
    model = client.models.list().data[0].id
    messages: list[Any] = [{"role": "user", "content": args.question}]
    print(f"user: {args.question}")
    for round_ in range(args.max_rounds):
        with client.messages.stream(
            model=model,
            max_tokens=256,
            messages=messages,
            tools=TOOLS,
            tool_choice=(
                {"type": "any", "disable_parallel_tool_use": True}
                if round_ == 0
                else {"type": args.then}
            ),
            # Greedy decoding, and the server's format enforcement (extensions of this server;
            # this client version has no `temperature` argument).
            extra_body={"temperature": 0, "enforce_format": True},
        ) as stream:
            for event in stream:
                if event.type == "content_block_start":
                    block = event.content_block
                    name = f"tool_use {block.name}" if block.type == "tool_use" else block.type
                    print(f"\n[{name}] ", end="")
                elif event.type == "thinking":
                    print(event.thinking, end="", flush=True)
                elif event.type == "text":
                    print(event.text, end="", flush=True)
                elif event.type == "input_json":
                    print(event.partial_json, end="", flush=True)
                elif event.type == "signature":
                    print(f" [signed {event.signature[:12]}…]", end="")
            message = stream.get_final_message()
        print(f"\n[stop_reason: {message.stop_reason}]")
        # The assistant turn goes back whole: thinking (signed), text and tool_use blocks.
        messages.append({"role": "assistant", "content": [b.model_dump() for b in message.content]})
        uses = [b for b in message.content if b.type == "tool_use"]
        if not uses:
            answer = "\n\n".join(b.text for b in message.content if b.type == "text")
            print(f"final answer: {answer}")
            return 0
        results = []
        for use in uses:
            result = FUNCTIONS[use.name](**use.input)
            print(f"tool {use.name}({json.dumps(use.input)}) -> {json.dumps(result)}")
            results.append(
                {"type": "tool_result", "tool_use_id": use.id, "content": json.dumps(result)}
            )
        messages.append({"role": "user", "content": results})
    print("no final answer within --max-rounds")
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
