"""Reasoning budgets on the real engine (session server: real vLLM, the shipped model).

The shipped model thinks for well over a hundred tokens before its first answer on a
three-person K&K puzzle, and ~20 tokens a step on a word problem, so every budget here has
to act. Greedy output on this engine is not exactly repeatable, so nothing depends on what
the model says, only on where the forced answers start and how many tokens each segment
took, with margins: a segment's count includes its tags, and when the cap is reached while
the model is half-way through writing `</think>` itself (several tokens on this tokenizer)
the server lets it finish.

The exact behaviour, token for token, is in test_server_budgets_app.py (a scripted model).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from conftest import ServerProcess, start_server

from server.schemas import ChatCompletion, ChatCompletionChunk, ResponseObject

pytestmark = [pytest.mark.engine, pytest.mark.timeout(600)]

PUZZLE = (
    "A very special island is inhabited only by knights and knaves. Knights always tell the "
    "truth, and knaves always lie. You meet 3 inhabitants: Zoey, Oliver and Ethan. Zoey says "
    "that Oliver is a knave. Oliver says that Zoey and Ethan are both knights. Ethan says "
    "that Oliver is a knight. Who is a knight and who is a knave?\n\n"
    # With the answer-form hint the default model was trained on most.
    "Give the final answer as (1) Name is a knight/knave (2) ... for every inhabitant."
)
# A chain of running totals: the default model thinks ~20 tokens a step, and after an answer the
# server forced it finishes the step and goes back to thinking, so a capped response has one
# capped think segment per step. (On the puzzle it keeps writing its table inside the forced
# answer.)
WORD_PROBLEM = (
    "Maya has 17 pencils. Then Maya buys 4 packs with 5 pencils in each pack. Then Maya gives 18 "
    "pencils to a friend. Then Maya gives 8 pencils to a friend. How many pencils does Maya have "
    "now?"
)
# Tokens a segment may exceed its cap by: its closing tag (`</think>` is a few tokens), and
# an engine step that delivered more than one token.
TAG_MARGIN = 6


def chat(server: Any, max_tokens: int, question: str = PUZZLE, **fields: Any) -> dict[str, Any]:
    body = {
        "messages": [{"role": "user", "content": question}],
        "max_tokens": max_tokens,
        "temperature": 0.0,
        **fields,
    }
    response = httpx.post(
        f"{server.base_url}/v1/chat/completions", headers=server.headers(), json=body, timeout=300
    )
    assert response.status_code == 200, response.text
    return ChatCompletion.model_validate(response.json()).model_dump(mode="json")


def test_first_answer_deadline_in_tokens(server: Any) -> None:
    deadline = 24
    body = chat(server, 64, reasoning_budget={"first_answer_tokens": deadline})
    choice = body["choices"][0]
    first = choice["message"]["answers"][0]
    assert first["first_token_offset"] <= deadline + TAG_MARGIN, first
    timings = choice["timings"]
    if first["forced"]:
        assert timings["forced"][0]["reason"] == "first_answer_tokens"
        assert timings["forced"][0]["resume_ms"] > 0
    assert timings["time_to_first_answer_ms"] <= first["elapsed_ms"]


def test_per_segment_cap_holds_for_every_segment_of_a_long_response(server: Any) -> None:
    cap = 16
    body = chat(server, 200, WORD_PROBLEM, reasoning_budget={"max_segment_tokens": cap})
    timings = body["choices"][0]["timings"]
    thinks = [s["tokens"] for s in timings["segments"] if s["kind"] == "think"]
    assert len(thinks) >= 2, timings  # long enough to have several segments
    assert max(thinks) <= cap + TAG_MARGIN, thinks
    assert timings["forced_closes"] >= 1
    assert all(f["reason"] == "max_segment_tokens" for f in timings["forced"])
    answers = body["choices"][0]["message"]["answers"]
    assert sum(a["forced"] for a in answers) == timings["forced_closes"]


def test_total_cap_turns_the_rest_into_answers(server: Any) -> None:
    cap = 20
    body = chat(server, 120, reasoning_budget={"max_total_tokens": cap})
    timings = body["choices"][0]["timings"]
    assert timings["think_tokens"] <= cap + TAG_MARGIN, timings
    kinds = [s["kind"] for s in timings["segments"]]
    first_answer = kinds.index("answer")
    assert "think" not in kinds[first_answer:], kinds
    assert body["choices"][0]["message"]["answers"][0]["forced"]


def test_enable_thinking_false_and_effort_none_answer_at_once(server: Any) -> None:
    for fields in (
        {"chat_template_kwargs": {"enable_thinking": False}},
        {"reasoning_effort": "none"},
    ):
        body = chat(server, 24, **fields)
        choice = body["choices"][0]
        assert choice["timings"]["think_tokens"] == 0, fields
        assert choice["message"]["reasoning"] is None
        assert choice["message"]["answers"][0]["first_token_offset"] <= 1


def test_stream_timings_match_what_the_stream_showed(server: Any) -> None:
    client = server.openai_client()
    stream = client.chat.completions.create(
        model=server.model,
        messages=[{"role": "user", "content": PUZZLE}],
        max_tokens=100,
        temperature=0.0,
        stream=True,
        stream_options={"include_usage": True},
        extra_body={"reasoning_budget": {"max_segment_tokens": 20, "first_answer_tokens": 12}},
    )
    markers, timings, usage = [], None, None
    for chunk in stream:
        ChatCompletionChunk.model_validate(chunk.model_dump(exclude_unset=True))
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            marker = getattr(choice.delta, "answer_complete", None)
            if marker:
                markers.append(marker)
            if choice.finish_reason:
                timings = (choice.model_extra or {}).get("timings")
    assert timings is not None and usage is not None
    assert len(timings["answer_ms"]) == len(markers)
    assert [m["forced"] for m in markers].count(True) == timings["forced_closes"] >= 1
    assert markers[0]["forced"] and markers[0]["first_token_offset"] <= 12 + TAG_MARGIN
    assert sum(s["tokens"] for s in timings["segments"]) == usage.completion_tokens
    assert timings["think_tokens"] == usage.completion_tokens_details.reasoning_tokens


def test_responses_effort_is_a_total_cap(server: Any) -> None:
    response = httpx.post(
        f"{server.base_url}/v1/responses",
        headers=server.headers(),
        json={
            "input": PUZZLE,
            "max_output_tokens": 120,
            "temperature": 0.0,
            "reasoning": {"effort": "low", "summary": "auto"},
        },
        timeout=300,
    )
    assert response.status_code == 200, response.text
    body = ResponseObject.model_validate(response.json())
    assert body.timings is not None
    # --reasoning-effort-low-tokens defaults to 64; the puzzle's thinking runs past it.
    low = 64
    assert body.timings.think_tokens <= low + TAG_MARGIN
    assert body.timings.forced and body.timings.forced[0].reason == "max_total_tokens"
    messages = [item for item in body.output if item.type == "message"]
    assert messages[0].answer is not None and messages[0].answer.forced
    assert json.loads(body.model_dump_json())["timings"]["index"] == 0


# -- gateway mode: vLLM's own server as the upstream -------------------------------------------


@pytest.fixture(scope="module")
def shipped_upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """vLLM's OpenAI server on the shipped model (the adapter merged, as our server serves
    it), so the upstream thinks as long as the session server does."""
    from modelprep import ensure_base_model, shipped_adapter_dir
    from modelprep.merged import merged_model_dir

    adapter = shipped_adapter_dir()
    if adapter is None:
        pytest.skip("no shipped adapter")
    merged = merged_model_dir(ensure_base_model(), adapter)
    proc = start_server(
        "--model", str(merged), "--served-model-name", "shipped-upstream",
        "--enforce-eager", "--max-model-len", "2048", "--kv-cache-memory-bytes", str(1 << 30),
        module="vllm.entrypoints.openai.api_server", name="vllm-shipped", new_session=True,
        log_dir=tmp_path_factory.mktemp("vllm-shipped-logs"),
    )  # fmt: skip
    yield proc
    proc.kill_group()


@pytest.fixture(scope="module")
def budget_gateway(shipped_upstream: ServerProcess, tmp_path_factory: pytest.TempPathFactory):
    from parsing import INTERLEAVED_INSTRUCTION

    proc = start_server(
        "--upstream",
        f"{shipped_upstream.base_url}/v1",
        "--system-prompt",
        INTERLEAVED_INSTRUCTION,  # a gateway has no adapter to read the instruction from
        log_dir=tmp_path_factory.mktemp("budget-gateway-logs"),
        name="budget-gateway",
    )
    yield proc
    proc.stop()


def test_gateway_budgets_continue_through_vllms_continue_final_message(
    budget_gateway: ServerProcess,
) -> None:
    cap = 16
    body = chat(budget_gateway, 120, reasoning_budget={"max_segment_tokens": cap})
    choice = body["choices"][0]
    timings = choice["timings"]
    assert timings["forced_closes"] >= 1, timings
    thinks = [s["tokens"] for s in timings["segments"] if s["kind"] == "think"]
    assert max(thinks) <= cap + TAG_MARGIN, thinks
    assert choice["message"]["answers"][0]["forced"]
    assert all(f["resume_ms"] is not None for f in timings["forced"][:-1])
    assert body["usage"]["prompt_tokens"] > 0


# -- the in-engine enforcement (`--budget-enforcement logits`, server.generation.budget_logits) ----


@pytest.fixture(scope="module")
def logits_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    proc = start_server(
        "--enforce-eager", "--max-model-len", "2048", "--kv-cache-memory-bytes", str(1 << 30),
        "--budget-enforcement", "logits",
        log_dir=tmp_path_factory.mktemp("logits-budget-logs"), name="logits-budget-server",
    )  # fmt: skip
    yield proc
    proc.stop()


def test_in_engine_segment_cap_holds_and_marks_the_forced_answers(
    logits_server: ServerProcess,
) -> None:
    cap = 16
    body = chat(logits_server, 200, reasoning_budget={"max_segment_tokens": cap})
    choice = body["choices"][0]
    timings = choice["timings"]
    thinks = [s["tokens"] for s in timings["segments"] if s["kind"] == "think"]
    # The default model often answers at length after tags the engine forced (it was trained
    # on tags it wrote itself), so one capped think segment may be all a response has.
    assert thinks, timings
    assert max(thinks) <= cap + TAG_MARGIN, thinks
    assert timings["forced_closes"] >= 1
    # Nothing was aborted: no continuation, so no resume time.
    assert all(
        f["reason"] == "max_segment_tokens" and f["resume_ms"] is None for f in timings["forced"]
    )
    answers = choice["message"]["answers"]
    assert sum(a["forced"] for a in answers) >= 1


def test_in_engine_first_answer_deadline(logits_server: ServerProcess) -> None:
    deadline = 24
    body = chat(logits_server, 64, reasoning_budget={"first_answer_tokens": deadline})
    first = body["choices"][0]["message"]["answers"][0]
    assert first["first_token_offset"] <= deadline + TAG_MARGIN, first


def test_in_engine_enforcement_leaves_unbudgeted_requests_alone(
    logits_server: ServerProcess,
) -> None:
    body = chat(logits_server, 48)
    timings = body["choices"][0]["timings"]
    assert timings["forced_closes"] == 0 and timings["forced"] == []
