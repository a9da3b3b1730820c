"""Reasoning budgets, request fields and timings with a scripted model (no engine).

`ThinkerBackend` (fakes.py) is a tiny deterministic "model": one token per piece, it thinks for
`THINK_LEN` tokens, answers " 42", and does that `ROUNDS` times; given an assistant prefix it
continues from whatever state the prefix leaves it in, like a real model continuing a reply.
So every forced close, continuation and token count here is exact. The same behaviour on the
real engine, with margins, is in test_server_budgets.py.
"""

from __future__ import annotations

import json
from itertools import pairwise
from typing import Any

import pytest
from fakes import ROUNDS, THINK_LEN, ThinkerBackend, client_for, next_token
from starlette.testclient import TestClient

from parsing import StreamParser
from server.api import create_app
from server.config import parse_settings
from server.generation.budgets import BudgetView, ReasoningBudget, close_reason
from server.schemas import ChatCompletion, ChatCompletionChunk, ResponseObject


def chat(client: TestClient, **fields: Any) -> dict[str, Any]:
    body = {"messages": [{"role": "user", "content": "q"}], **fields}
    response = client.post("/v1/chat/completions", json=body)
    assert response.status_code == 200, response.text
    return ChatCompletion.model_validate(response.json()).model_dump(mode="json")


def stream_chat(client: TestClient, **fields: Any) -> list[dict[str, Any]]:
    body = {"messages": [{"role": "user", "content": "q"}], "stream": True, **fields}
    response = client.post("/v1/chat/completions", json=body)
    assert response.status_code == 200, response.text
    payloads = [line[6:] for line in response.text.split("\n") if line.startswith("data: ")]
    assert payloads[-1] == "[DONE]"
    chunks = [json.loads(p) for p in payloads[:-1]]
    for chunk in chunks:
        ChatCompletionChunk.model_validate(chunk)
    return chunks


def think_segments(timings: dict[str, Any]) -> list[int]:
    return [s["tokens"] for s in timings["segments"] if s["kind"] == "think"]


# -- the decision ---------------------------------------------------------------------------------


def view(**fields: Any) -> BudgetView:
    base: dict[str, Any] = {
        "open_kind": "think",
        "open_think_tokens": 0,
        "think_tokens": 0,
        "answered": False,
        "deadline_spent": False,
        "completion_tokens": 0,
        "elapsed_ms": 0.0,
    }
    return BudgetView(**{**base, **fields})


def test_close_reason_rules() -> None:
    b = ReasoningBudget(max_segment_tokens=10, max_total_tokens=25, first_answer_tokens=8)
    assert close_reason(b, view(completion_tokens=7, open_think_tokens=7)) is None
    assert close_reason(b, view(completion_tokens=8)) == "first_answer_tokens"
    assert close_reason(b, view(completion_tokens=8, open_kind="answer")) is None
    assert close_reason(b, view(completion_tokens=8, deadline_spent=True)) is None
    done = {"answered": True, "completion_tokens": 40}
    assert close_reason(b, view(**done, open_think_tokens=10)) == "max_segment_tokens"
    assert close_reason(b, view(**done, think_tokens=25)) == "max_total_tokens"
    assert close_reason(b, view(**done, open_kind=None, think_tokens=99)) is None
    assert close_reason(ReasoningBudget(first_answer_ms=5.0), view(elapsed_ms=5.0)) == (
        "first_answer_ms"
    )
    zero = ReasoningBudget(max_total_tokens=0)
    assert close_reason(zero, view(open_kind=None)) == "max_total_tokens"  # answer at once
    assert close_reason(zero, view(open_kind=None, completion_tokens=3)) is None


def test_parser_reports_the_open_kind_from_the_opening_tag_on() -> None:
    p = StreamParser()
    assert p.open_kind is None
    p.feed("<think>")
    assert p.open_kind == "think"
    p.feed("x</think>")
    assert p.open_kind is None
    p.feed("<answer>")
    assert p.open_kind == "answer"
    assert StreamParser("r1").open_kind == "think"


# -- enforcement --------------------------------------------------------------------------------


def test_unbudgeted_requests_run_once_and_report_timings() -> None:
    backend = ThinkerBackend()
    with client_for(backend) as client:
        body = chat(client)
    assert backend.prefixes == [""]
    choice = body["choices"][0]
    timings = choice["timings"]
    assert think_segments(timings) == [THINK_LEN + 1] * ROUNDS  # <think> + 29 " hmm" + </think>
    assert timings["forced_closes"] == 0 and timings["forced"] == []
    assert [s["kind"] for s in timings["segments"]] == ["think", "answer"] * ROUNDS
    assert sum(s["tokens"] for s in timings["segments"]) == body["usage"]["completion_tokens"]
    assert len(timings["answer_ms"]) == ROUNDS
    assert timings["time_to_first_token_ms"] <= timings["time_to_first_answer_ms"]
    assert not any(a["forced"] for a in choice["message"]["answers"])


def test_first_answer_deadline_in_tokens_forces_the_first_answer_there() -> None:
    backend = ThinkerBackend()
    with client_for(backend) as client:
        body = chat(client, reasoning_budget={"first_answer_tokens": 10})
    choice = body["choices"][0]
    answers = choice["message"]["answers"]
    assert answers[0]["forced"] and answers[0]["first_token_offset"] == 10
    assert [a["forced"] for a in answers[1:]] == [False] * (len(answers) - 1)  # once only
    assert answers[0]["text"] == "42"
    assert backend.prefixes[1].endswith(" hmm</think><answer>")
    assert backend.generations[0].closed  # the first generation was aborted
    forced = choice["timings"]["forced"]
    assert [f["reason"] for f in forced] == ["first_answer_tokens"]
    assert forced[0]["token_offset"] == 10 and forced[0]["resume_ms"] is not None
    assert choice["format_ok"] and choice["finish_reason"] == "stop"
    assert choice["message"]["content"] == "42\n\n42\n\n42"


def test_first_answer_deadline_in_ms() -> None:
    backend = ThinkerBackend(delay=0.01)
    with client_for(backend) as client:
        body = chat(client, reasoning_budget={"first_answer_ms": 100})
    choice = body["choices"][0]
    forced = choice["timings"]["forced"]
    assert [f["reason"] for f in forced] == ["first_answer_ms"]
    assert forced[0]["elapsed_ms"] >= 100
    first = choice["message"]["answers"][0]
    assert first["forced"] and 1 <= first["first_token_offset"] < THINK_LEN
    assert choice["timings"]["time_to_first_answer_ms"] >= 100


def forced_closes_metric(client: TestClient, reason: str) -> float:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(f'interleaved_forced_closes_total{{reason="{reason}"}}'):
            return float(line.split()[-1])
    return 0.0


def test_per_segment_cap_holds_for_every_segment() -> None:
    backend = ThinkerBackend()
    with client_for(backend) as client:
        before = forced_closes_metric(client, "max_segment_tokens")
        body = chat(client, reasoning_budget={"max_segment_tokens": 6})
        after = forced_closes_metric(client, "max_segment_tokens")
    assert after - before == ROUNDS
    choice = body["choices"][0]
    timings = choice["timings"]
    assert think_segments(timings) == [6] * ROUNDS
    assert timings["forced_closes"] == ROUNDS
    assert all(a["forced"] for a in choice["message"]["answers"])
    assert choice["format_ok"]
    assert len(backend.prefixes) == ROUNDS + 1


def test_total_cap_turns_every_later_segment_into_an_answer() -> None:
    backend = ThinkerBackend()
    with client_for(backend) as client:
        body = chat(client, reasoning_budget={"max_total_tokens": 12}, max_tokens=60)
    choice = body["choices"][0]
    timings = choice["timings"]
    assert think_segments(timings) == [12]  # one think segment, closed at the cap
    kinds = [s["kind"] for s in timings["segments"]]
    assert kinds[0] == "think" and set(kinds[1:]) == {"answer"}
    assert kinds == ["think"] + ["answer"] * ROUNDS  # each later try to think: an answer
    assert "<think>" not in backend.prefixes[-1][len("<think>") :]
    # Answers in a row do not alternate with thinking: the paper's format rule says no.
    assert choice["format_ok"] is False
    assert all(a["text"] == "42" for a in choice["message"]["answers"][:-1])
    assert body["usage"]["completion_tokens"] <= 60
    assert choice["finish_reason"] == "stop"


def test_enable_thinking_false_answers_from_the_first_token() -> None:
    backend = ThinkerBackend()
    with client_for(backend) as client:
        body = chat(client, chat_template_kwargs={"enable_thinking": False}, max_tokens=20)
    assert backend.prefixes[0] == "<answer>"
    choice = body["choices"][0]
    assert choice["message"]["reasoning"] is None
    assert choice["timings"]["think_tokens"] == 0
    assert choice["message"]["answers"][0]["first_token_offset"] == 0


def test_max_tokens_bounds_the_continuations_together() -> None:
    backend = ThinkerBackend()
    with client_for(backend) as client:
        body = chat(client, reasoning_budget={"max_segment_tokens": 6}, max_tokens=20)
    assert body["usage"]["completion_tokens"] == 20
    assert body["choices"][0]["finish_reason"] == "length"
    sent = [p.max_tokens for p in backend.params]
    assert sent[0] == 20 and all(b < a for a, b in pairwise(sent))


def test_exclude_leaves_the_thinking_out_but_counts_it() -> None:
    backend = ThinkerBackend()
    with client_for(backend) as client:
        body = chat(client, reasoning={"exclude": True})
        chunks = stream_chat(client, include_reasoning=False)
    message = body["choices"][0]["message"]
    assert message["reasoning"] is None and message["content"] == "42\n\n42\n\n42"
    assert body["usage"]["completion_tokens_details"]["reasoning_tokens"] > 0
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    assert not any("reasoning" in d for d in deltas)
    assert backend.prefixes == ["", ""]  # excluding is not steering


def test_stream_and_non_stream_agree_on_timings_and_mark_the_forced_answer() -> None:
    backend = ThinkerBackend()
    fields = {"reasoning_budget": {"max_segment_tokens": 5, "first_answer_tokens": 3}}
    with client_for(backend) as client:
        body = chat(client, **fields)
        chunks = stream_chat(client, **fields)
    finish = [c for c in chunks if c["choices"] and c["choices"][0]["finish_reason"]]
    assert len(finish) == 1 and finish[-1] is chunks[-1]
    streamed = finish[0]["choices"][0]["timings"]
    whole = body["choices"][0]["timings"]
    volatile = {"time_to_first_token_ms", "time_to_first_answer_ms", "answer_ms", "forced"}
    assert {k: v for k, v in streamed.items() if k not in volatile} == {
        k: v for k, v in whole.items() if k not in volatile
    }
    assert [f["reason"] for f in streamed["forced"]] == [f["reason"] for f in whole["forced"]]
    markers = [
        c["choices"][0]["delta"]["answer_complete"]
        for c in chunks
        if c["choices"] and c["choices"][0]["delta"].get("answer_complete")
    ]
    assert [m["forced"] for m in markers] == [
        a["forced"] for a in body["choices"][0]["message"]["answers"]
    ]
    assert markers[0]["forced"] and markers[0]["first_token_offset"] == 3
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert text == body["choices"][0]["message"]["content"]


def test_responses_effort_budgets_and_timings_on_the_final_response() -> None:
    backend = ThinkerBackend()
    with client_for(backend, "--reasoning-effort-low-tokens", "9") as client:
        body = {
            "input": "q",
            "reasoning": {"effort": "low", "summary": "auto"},
            "max_output_tokens": 40,
        }
        whole = client.post("/v1/responses", json=body)
        assert whole.status_code == 200, whole.text
        response = ResponseObject.model_validate(whole.json())
        stream = client.post("/v1/responses", json={**body, "stream": True}).text
    assert response.timings is not None and response.timings.forced[0].reason == "max_total_tokens"
    assert [s.tokens for s in response.timings.segments if s.kind == "think"] == [9]
    messages = [i for i in response.output if i.type == "message"]
    assert messages[0].answer is not None and messages[0].answer.forced
    events = [json.loads(line[6:]) for line in stream.split("\n") if line.startswith("data: ")]
    assert events[-1]["type"] in ("response.completed", "response.incomplete")
    assert events[-1]["response"]["timings"]["forced_closes"] == response.timings.forced_closes


def test_responses_input_messages_accept_phase() -> None:
    backend = ThinkerBackend()
    with client_for(backend) as client:
        ok = client.post(
            "/v1/responses",
            json={
                "input": [
                    {"role": "user", "content": "q"},
                    {"role": "assistant", "content": "42", "phase": "commentary"},
                    {"role": "user", "content": "and?"},
                ]
            },
        )
        assert ok.status_code == 200, ok.text
        bad = client.post(
            "/v1/responses",
            json={"input": [{"role": "assistant", "content": "42", "phase": "draft"}]},
        )
        assert bad.status_code == 400 and bad.json()["error"]["param"] == "input.0.phase"


# -- the fields clients send ----------------------------------------------------------------------

EFFORT_FLAGS = (
    "--reasoning-effort-low-tokens",
    "11",
    "--reasoning-effort-medium-tokens",
    "22",
    "--reasoning-effort-high-tokens",
    "33",
)


@pytest.mark.parametrize(
    ("fields", "total"),
    [
        ({"reasoning_effort": "low"}, 11),
        ({"reasoning_effort": "medium"}, 22),
        ({"reasoning_effort": "high"}, 33),
        ({"reasoning_effort": "none"}, 0),
        ({"reasoning": {"effort": "medium"}}, 22),
        ({"reasoning": {"max_tokens": 17}}, 17),
        ({"reasoning": {"enabled": False}}, 0),
        ({"reasoning": {"enabled": True, "max_tokens": 5}}, 5),
        ({"chat_template_kwargs": {"enable_thinking": False}}, 0),
        ({"thinking_token_budget": 19}, 19),
        ({"reasoning_budget": {"max_total_tokens": 15}}, 15),
        ({"reasoning_effort": "low", "thinking_token_budget": 11}, 11),  # agree: fine
    ],
)
def test_each_field_maps_to_a_total_think_cap(fields: dict[str, Any], total: int) -> None:
    backend = ThinkerBackend()
    with client_for(backend, *EFFORT_FLAGS) as client:
        body = chat(client, **fields)
    timings = body["choices"][0]["timings"]
    assert timings["think_tokens"] == total
    if total:
        assert timings["forced"][0]["reason"] == "max_total_tokens"


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"reasoning_effort": "low", "thinking_token_budget": 5}, "thinking_token_budget"),
        ({"reasoning": {"effort": "low", "max_tokens": 5}}, "reasoning.max_tokens"),
        (
            {"reasoning_budget": {"max_total_tokens": 3}, "reasoning": {"max_tokens": 4}},
            "reasoning_budget.max_total_tokens",
        ),
        (
            {"chat_template_kwargs": {"enable_thinking": True}, "reasoning_effort": "none"},
            "chat_template_kwargs.enable_thinking",
        ),
        ({"include_reasoning": True, "reasoning": {"exclude": True}}, "include_reasoning"),
        ({"reasoning_effort": "extreme"}, "reasoning_effort"),
        ({"reasoning": {"effort": "low", "summary": "auto"}}, "reasoning.summary"),
        ({"chat_template_kwargs": {"thinking": True}}, "chat_template_kwargs.thinking"),
        ({"reasoning_budget": {"max_segment_tokens": -1}}, "reasoning_budget.max_segment_tokens"),
        ({"reasoning_budget": {"first_answer_tokens": 8}, "n": 2}, "n"),
        ({"reasoning_effort": "low", "enforce_format": True}, "enforce_format"),
    ],
)
def test_rejected_combinations_are_400s_naming_the_field(
    fields: dict[str, Any], param: str
) -> None:
    backend = ThinkerBackend()
    with client_for(backend) as client:
        body = {"messages": [{"role": "user", "content": "q"}], **fields}
        response = client.post("/v1/chat/completions", json=body)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == param, response.json()
    assert backend.prefixes == []


def test_budgets_need_think_tags_and_responses_reject_unknown_reasoning_fields() -> None:
    with client_for(ThinkerBackend(), "--format", "none") as client:
        response = client.post(
            "/v1/chat/completions",
            json={"messages": [{"role": "user", "content": "q"}], "reasoning_effort": "low"},
        )
        assert response.status_code == 400 and "think tags" in response.json()["error"]["message"]
        assert response.json()["error"]["param"] == "reasoning_effort"
        assert chat(client, reasoning={"exclude": True})["choices"]  # nothing to steer: fine
    with client_for(ThinkerBackend()) as client:
        for reasoning, param in (
            ({"effort": "max"}, "reasoning.effort"),
            ({"summary": "detailed"}, "reasoning.summary"),
            ({"generate_summary": "auto"}, "reasoning.generate_summary"),
        ):
            response = client.post("/v1/responses", json={"input": "q", "reasoning": reasoning})
            assert response.status_code == 400, reasoning
            assert response.json()["error"]["param"] == param


# -- gateway mode: the continuation is a final assistant message ----------------------------------


def test_gateway_budgets_continue_the_final_assistant_message() -> None:
    """The upstream is the scripted model behind an OpenAI-compatible SSE endpoint: it
    continues the last assistant message when asked with `continue_final_message`."""
    import httpx

    from server.backends.upstream import UpstreamBackend

    requests: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        requests.append(body)
        prefix = ""
        if body.get("continue_final_message"):
            assert body["add_generation_prompt"] is False
            assert body["messages"][-1]["role"] == "assistant"
            prefix = body["messages"][-1]["content"]
        text, chunks = prefix, []
        for _ in range(body.get("max_tokens") or 1000):
            token = next_token(text)
            if token is None:
                break
            text += token
            chunks.append({"choices": [{"index": 0, "delta": {"content": token}}]})
        chunks.append({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        usage = {"prompt_tokens": 7 + len(prefix.split()), "completion_tokens": len(chunks) - 1}
        chunks.append({"choices": [], "usage": usage})
        sse = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"
        return httpx.Response(
            200, content=sse.encode(), headers={"content-type": "text/event-stream"}
        )

    backend = UpstreamBackend(parse_settings(["--upstream", "http://up:1/v1"]))
    backend._client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    backend.upstream_model = "up-model"
    backend.start = ThinkerBackend.start.__get__(backend)  # type: ignore[method-assign]
    settings = parse_settings(["--upstream", "http://up:1/v1"])
    with TestClient(create_app(settings, backend)) as client:  # type: ignore[arg-type]
        body = chat(client, reasoning_budget={"max_segment_tokens": 8})
    assert len(requests) == ROUNDS + 1
    assert "continue_final_message" not in requests[0]
    assert requests[1]["messages"][-1]["content"].endswith("</think><answer>")
    choice = body["choices"][0]
    assert think_segments(choice["timings"]) == [8] * ROUNDS
    assert all(a["forced"] for a in choice["message"]["answers"])
    assert choice["message"]["content"] == "42\n\n42\n\n42"
