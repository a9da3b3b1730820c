"""The real server (session fixture: real vLLM, default model) through real clients: the
official `openai` client and raw httpx SSE.

`enforce_format` makes even the untrained base model write the interleaved format, so answer
markers can be checked deterministically (greedy decoding).
"""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest

from server.schemas import ChatCompletion, ChatCompletionChunk, ResponseObject

pytestmark = [pytest.mark.engine, pytest.mark.timeout(600)]

QUESTION = "What is 2+3? Then multiply the result by 4."
GREEDY = {"temperature": 0.0, "max_tokens": 200}
ENFORCED = {"enforce_format": True}


def stream_chat(client: Any, **kwargs: Any) -> dict[str, Any]:
    """Run a streaming chat completion with the openai client; gather what a UI would."""
    out: dict[str, Any] = {
        "content": "",
        "reasoning": "",
        "markers": [],
        "finish": None,
        "usage": None,
        "roles": 0,
    }
    stream = client.chat.completions.create(
        stream=True, stream_options={"include_usage": True}, **kwargs
    )
    for chunk in stream:
        if chunk.usage is not None:
            out["usage"] = chunk.usage
        for choice in chunk.choices:
            delta = choice.delta
            out["roles"] += delta.role == "assistant"
            out["content"] += delta.content or ""
            out["reasoning"] += getattr(delta, "reasoning", None) or ""
            marker = getattr(delta, "answer_complete", None)
            if marker is not None:
                out["markers"].append(marker)
            if choice.finish_reason:
                out["finish"] = choice.finish_reason
    return out


def warm(client: Any, **request: Any) -> None:
    """Run the prompt once so its prefix is in vLLM's prefix cache. The first run of a prompt
    computes the whole prefill, later ones reuse cached blocks; the two differ in the last bits
    of the logits, which is enough to change a small model's greedy path. Comparing two calls
    is only meaningful when both see the same cache state (this is vLLM's behaviour, not ours:
    --no-enable-prefix-caching turns it off)."""
    extra = {k: v for k, v in request.get("extra_body", {}).items() if k != "max_completion_tokens"}
    client.chat.completions.create(
        **{**request, "max_tokens": 1, "stream": False, "extra_body": extra}
    )


@pytest.fixture(scope="module")
def client(server):  # type: ignore[no-untyped-def]
    return server.openai_client(timeout=300)


@pytest.fixture(scope="module")
def greedy_enforced(server, client):  # type: ignore[no-untyped-def]
    """One non-streaming greedy enforced completion, the reference several tests compare to."""
    warm(client, model=server.model, messages=[{"role": "user", "content": QUESTION}])
    return client.chat.completions.create(
        model=server.model,
        messages=[{"role": "user", "content": QUESTION}],
        **GREEDY,
        extra_body=ENFORCED,
    )


def test_stream_and_non_stream_describe_the_same_completion(
    server, client, greedy_enforced
) -> None:
    streamed = stream_chat(
        client,
        model=server.model,
        messages=[{"role": "user", "content": QUESTION}],
        **GREEDY,
        extra_body=ENFORCED,
    )
    message = greedy_enforced.choices[0].message
    answers = message.model_extra["answers"]
    assert streamed["roles"] == 1
    assert len(streamed["markers"]) >= 2, streamed
    assert [m["text"] for m in streamed["markers"]] == [a["text"] for a in answers]
    assert [m["index"] for m in streamed["markers"]] == list(range(len(answers)))
    for key in ("first_token_offset", "token_offset"):
        assert [m[key] for m in streamed["markers"]] == [a[key] for a in answers]
    assert all(0 <= a["first_token_offset"] < a["token_offset"] for a in answers if a["text"])
    assert (
        streamed["content"]
        == message.content
        == "\n\n".join(a["text"] for a in answers if a["text"])
    )
    assert streamed["reasoning"] == message.model_extra["reasoning"]
    assert streamed["finish"] == greedy_enforced.choices[0].finish_reason
    usage = greedy_enforced.usage
    assert streamed["usage"].completion_tokens == usage.completion_tokens
    assert streamed["usage"].prompt_tokens == usage.prompt_tokens
    details = usage.completion_tokens_details
    assert 0 < details.reasoning_tokens < usage.completion_tokens
    assert streamed["usage"].completion_tokens_details.reasoning_tokens == details.reasoning_tokens
    # Markers arrive in order, at increasing times and token offsets within the completion.
    offsets = [m["token_offset"] for m in streamed["markers"]]
    times = [m["elapsed_ms"] for m in streamed["markers"]]
    assert offsets == sorted(offsets) and 0 < offsets[0] <= usage.completion_tokens
    assert times == sorted(times) and times[0] > 0
    assert greedy_enforced.choices[0].model_extra["format_ok"] is (
        greedy_enforced.choices[0].finish_reason == "stop"
    )


def test_same_seed_same_completion_streamed_or_not(server, client) -> None:
    request = {
        "model": server.model,
        "messages": [{"role": "user", "content": "Name a color."}],
        "temperature": 0.8,
        "max_tokens": 24,
    }
    warm(client, **request)
    streamed = stream_chat(client, seed=1234, **request)
    whole = client.chat.completions.create(seed=1234, **request)
    assert streamed["content"] == whole.choices[0].message.content
    assert streamed["reasoning"] == whole.choices[0].message.model_extra["reasoning"]
    assert streamed["content"] + streamed["reasoning"]  # it said something

    def said(message) -> str:  # type: ignore[no-untyped-def]
        # The trained default may spend 24 tokens thinking: compare everything it wrote.
        return (message.model_extra.get("reasoning") or "") + (message.content or "")

    others = {
        said(client.chat.completions.create(seed=s, **request).choices[0].message)
        for s in (1, 2, 3)
    }
    assert len(others | {streamed["reasoning"] + streamed["content"]}) > 1, "seed has no effect"


def test_every_chunk_is_a_valid_chunk_and_the_stream_ends_with_done(server) -> None:
    body = {
        "model": server.model,
        "messages": [{"role": "user", "content": "Write a long story about a dragon."}],
        "stream": True,
        "stream_options": {"include_usage": True},
        "n": 2,
        "seed": 7,
        "temperature": 0.7,
        "max_tokens": 20,
    }
    with httpx.stream(
        "POST",
        f"{server.base_url}/v1/chat/completions",
        json=body,
        headers={**server.headers(), "X-Request-Id": "chunk-test-1"},
        timeout=120,
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["x-request-id"] == "chunk-test-1"
        lines = [line for line in response.iter_lines() if line]
    assert all(line.startswith("data: ") for line in lines)
    assert lines[-1] == "data: [DONE]"
    chunks = [ChatCompletionChunk.model_validate_json(line[6:]) for line in lines[:-1]]
    assert len({c.id for c in chunks}) == 1
    finishes = {
        c.choices[0].index: c.choices[0].finish_reason
        for c in chunks
        if c.choices and c.choices[0].finish_reason
    }
    assert finishes == {0: "length", 1: "length"}
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == 40  # n=2 x max_tokens=20


def test_stop_sequences_and_max_tokens(server, client) -> None:
    request = {
        "model": server.model,
        "messages": [{"role": "user", "content": "Describe the sea."}],
        "temperature": 0.0,
        "max_tokens": 40,
        "extra_body": {"max_completion_tokens": 40},
    }
    warm(client, **request)
    full = client.chat.completions.create(**request)
    message = full.choices[0].message
    # Everything the model wrote, thinking included (the trained default thinks first).
    text = (message.model_extra.get("reasoning") or "") + " " + (message.content or "")
    words = re.findall(r"[A-Za-z]{4,}", text)
    assert len(words) > 1, text
    stop = words[1]
    stopped = client.chat.completions.create(stop=[stop], **request)
    assert stopped.choices[0].finish_reason == "stop"
    cut = stopped.choices[0].message
    assert stop not in (cut.model_extra.get("reasoning") or "") + (cut.content or "")
    assert stopped.usage.completion_tokens < full.usage.completion_tokens
    short = client.chat.completions.create(**{**request, "max_tokens": 5, "extra_body": {}})
    assert short.choices[0].finish_reason == "length" and short.usage.completion_tokens == 5


def test_responses_api_stream_and_non_stream(server, client, greedy_enforced) -> None:
    request = {
        "model": server.model,
        "input": QUESTION,
        "max_output_tokens": 200,
        "temperature": 0.0,
        "extra_body": ENFORCED,
    }
    events = list(client.responses.create(stream=True, **request))
    types = [e.type for e in events]
    assert types[0] == "response.created" and types[-1] in (
        "response.completed",
        "response.incomplete",
    )
    done = [e.item for e in events if e.type == "response.output_item.done"]
    messages = [i for i in done if i.type == "message"]
    chat_answers = [a["text"] for a in greedy_enforced.choices[0].message.model_extra["answers"]]
    assert [m.content[0].text for m in messages] == chat_answers
    assert len(messages) >= 2
    assert {i.type for i in done} == {"reasoning", "message"}
    phases = [m.phase for m in messages]
    ends_with_answer = done[-1].type == "message"
    assert phases == ["commentary"] * (len(messages) - 1) + [
        "final_answer" if ends_with_answer else "commentary"
    ]
    deltas = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert deltas == "".join(chat_answers)
    reasoning = [e for e in events if e.type == "response.reasoning_text.delta"]
    assert reasoning

    whole = client.responses.create(**request)
    assert [(o.type, getattr(o, "phase", None)) for o in whole.output] == [
        (i.type, getattr(i, "phase", None)) for i in done
    ]
    assert whole.usage.output_tokens == events[-1].response.usage.output_tokens
    assert ResponseObject.model_validate(whole.model_dump(exclude_none=True)).format_ok is not None


def test_models_health_and_access_log(server) -> None:
    models = httpx.get(f"{server.base_url}/v1/models", headers=server.headers()).json()
    assert [m["id"] for m in models["data"]] == [server.model]
    assert models["data"][0]["max_model_len"] == 2048
    health = httpx.get(f"{server.base_url}/health")
    assert health.status_code == 200 and health.headers["x-request-id"]
    response = httpx.post(
        f"{server.base_url}/v1/chat/completions",
        headers=server.headers(),
        timeout=120,
        json={"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 3},
    )
    completion = ChatCompletion.model_validate(response.json())
    request_id = response.headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", request_id)
    lines = [
        json.loads(line) for line in server.wait_for_log_lines(request_id) if line.startswith("{")
    ]
    assert len(lines) == 1
    record = lines[0]
    assert record["method"] == "POST" and record["path"] == "/v1/chat/completions"
    assert record["status"] == 200 and record["duration_ms"] > 0
    assert record["completion_tokens"] == completion.usage.completion_tokens == 3
    assert record["prompt_tokens"] == completion.usage.prompt_tokens
