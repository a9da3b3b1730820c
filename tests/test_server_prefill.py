"""`--prefill-think`: the local engine writes the opening `<think>` of every reply for the model.

Without the engine: the constraint on the rest of a reply (`server.structured.grammar.after`)
accepts exactly what the whole reply's constraint accepts after the opening, compiled by the
engine's own grammar library. With it (marker `engine`): a greedy reply streams and counts as
it did when the model wrote the tag itself.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from conftest import OPENING_TOKENS
from fakes import ThinkerBackend, client_for, sse_payloads

from parsing import HERMES, INTERLEAVED, NONE
from server.backends.base import GenerationParams, Message
from server.config import parse_settings
from server.generation.prompting import (
    INTERLEAVED_REGEX,
    INTERLEAVED_REGEX_AFTER_OPENING,
    opening_prefill,
    opens_by_itself,
    regex_after,
)
from server.structured.grammar import Constraint, after, build
from server.tools.protocol import FunctionTool
from server.tools.spec import tool_request

xgr = pytest.importorskip("xgrammar")
from xgrammar.testing import _is_grammar_accept_string  # noqa: E402

OPENING = "<think>"
ADD = FunctionTool.model_validate(
    {
        "type": "function",
        "function": {
            "name": "add",
            "parameters": {"type": "object", "properties": {"a": {"type": "integer"}}},
            "strict": True,
        },
    }
)
SCHEMA = {"type": "object", "properties": {"answer": {"type": "integer"}}, "required": ["answer"]}
PAIR = "<think> first </think><answer> 5 </answer>"
CALL = '<tool_call>{"name": "add", "arguments": {"a": 2}}</tool_call>'
FINAL = '<think> times 4 </think><answer> {"answer": 20} </answer>'
# Replies, all opening with the tag, that the constraints below accept or reject.
REPLIES = (
    PAIR,
    PAIR + PAIR,
    PAIR + PAIR + PAIR,
    PAIR * 4,
    "<think> x </think>" + CALL,
    "<think> both </think>\n" + CALL + "\n" + CALL,
    "<think>call</think>" + CALL + "<answer>3</answer>",
    "<think>anything</think><answer>x</answer>",
    PAIR + FINAL,
    PAIR + PAIR + FINAL,
    FINAL,
    "<think></think><answer>5</answer>",
    "<think> x </think><answer>" + "9" * 50 + "</answer>" + PAIR,
    '<think>2+3</think> <answer>5, so far</answer> <answer>{"answer": 20}</answer>',
    '<think>2+3</think>\n<think>more</think><answer>{"answer": 20}</answer>',
    "<think>x</think><answer>20</answer>",
)


def _accepts(tag: str, text: str) -> bool:
    return bool(_is_grammar_accept_string(xgr.Grammar.from_structural_tag(tag), text))


def test_the_enforce_format_regex_after_the_opening() -> None:
    assert regex_after(INTERLEAVED_REGEX, OPENING) == INTERLEAVED_REGEX_AFTER_OPENING
    for reply in REPLIES:
        whole = re.fullmatch(INTERLEAVED_REGEX, reply) is not None
        rest = re.fullmatch(INTERLEAVED_REGEX_AFTER_OPENING, reply[len(OPENING) :]) is not None
        assert whole == rest, reply
    # A custom expression: its literal opening comes off; when that cannot be said, None.
    assert regex_after(r"<think>[a-z ]+</think><answer>\d+</answer>", OPENING) == (
        r"[a-z ]+</think><answer>\d+</answer>"
    )
    assert regex_after(r"<answer>\d+</answer>", OPENING) is None
    assert regex_after(r"<think>a|<answer>b", OPENING) is None
    assert regex_after(r"<think>?x", OPENING) is None


def _tools(choice: str) -> Any:
    return tool_request([ADD], choice, None)


# (constraint, whether some of REPLIES satisfy it).
CONSTRAINTS = {
    "required-enforced": (
        build(
            INTERLEAVED, enforce_regex=INTERLEAVED_REGEX, tools=_tools("required"), syntax=HERMES
        ),
        True,
    ),
    "required-free": (
        build(INTERLEAVED, enforce_regex=None, tools=_tools("required"), syntax=HERMES),
        True,
    ),
    "auto-enforced": (
        build(INTERLEAVED, enforce_regex=INTERLEAVED_REGEX, tools=_tools("auto"), syntax=HERMES),
        True,
    ),
    "auto-strict": (
        build(INTERLEAVED, enforce_regex=None, tools=_tools("auto"), syntax=HERMES),
        True,
    ),
    "json-enforced": (build(INTERLEAVED, enforce_regex=INTERLEAVED_REGEX, final=SCHEMA), True),
    "json-free": (build(INTERLEAVED, enforce_regex=None, final=SCHEMA), True),
    "json-or-calls": (
        build(INTERLEAVED, enforce_regex=None, tools=_tools("auto"), syntax=HERMES, final=SCHEMA),
        True,
    ),
}


@pytest.mark.parametrize("name", sorted(CONSTRAINTS))
def test_a_structural_tag_after_the_opening_accepts_the_same_replies(name: str) -> None:
    from vllm.sampling_params import SamplingParams, StructuredOutputsParams
    from vllm.v1.structured_output.backend_xgrammar import validate_xgrammar_grammar

    constraint, some_accepted = CONSTRAINTS[name]
    assert constraint.structural_tag is not None
    rest = after(constraint, OPENING)
    assert rest is not None and rest.structural_tag is not None
    assert rest.schemas == constraint.schemas
    accepted = 0
    for reply in REPLIES:
        whole = _accepts(constraint.structural_tag, reply)
        assert whole == _accepts(rest.structural_tag, reply[len(OPENING) :]), reply
        accepted += whole
    assert (accepted > 0) == some_accepted
    params = SamplingParams(
        structured_outputs=StructuredOutputsParams(structural_tag=rest.structural_tag)
    )
    validate_xgrammar_grammar(params)


def test_no_constraint_stays_none_and_what_cannot_be_said_is_not_prefilled() -> None:
    assert after(Constraint(), OPENING) == Constraint()
    # Constraints no reply starting with the opening satisfies, or that cannot be read.
    assert after(build(NONE, enforce_regex=None, final=SCHEMA), OPENING) is None
    assert after(Constraint(regex=r"<answer>.*</answer>"), OPENING) is None
    answer_first = {
        "type": "star",
        "content": {
            "type": "tag",
            "begin": "<answer>",
            "content": {"type": "any_text"},
            "end": "</answer>",
        },
    }
    tag = json.dumps({"type": "structural_tag", "format": answer_first})
    assert after(Constraint(structural_tag=tag), OPENING) is None


# -- the run, with a scripted model -------------------------------------------------------------


class PrefillingThinker(ThinkerBackend):
    """The scripted model of fakes.py behind a backend that writes its opening tag for it
    (one token, as the model writes it): it continues from the tag like from any prefix."""

    opening = OPENING

    def __init__(self, opening_if_required: bool = False) -> None:
        super().__init__()
        self.opening_if_required = opening_if_required
        self.openings: list[str] = []

    def count_tokens(self, text: str) -> int:
        assert text == OPENING
        return 1

    async def generate(  # type: ignore[override]
        self,
        messages: list[Message],
        params: GenerationParams,
        request_id: str,
        prefix: str = "",
        *,
        opening: str = "",
    ) -> Any:
        if opening:
            self.openings.append(opening)
            left = None if params.max_tokens is None else params.max_tokens - 1
            params, prefix = replace(params, max_tokens=left), opening
        return await super().generate(messages, params, request_id, prefix)


def _without_times(value: Any) -> Any:
    """A response with what differs between two runs of the same reply left out: ids, clocks."""
    if isinstance(value, dict):
        return {
            k: _without_times(v)
            for k, v in value.items()
            if not k.endswith("_ms") and k not in ("id", "created", "answer_ms")
        }
    if isinstance(value, list):
        return [_without_times(v) for v in value]
    return value


def _post(backend: Any, fields: dict[str, Any]) -> Any:
    body = {"messages": [{"role": "user", "content": "q"}], **fields}
    with client_for(backend) as client:
        response = client.post("/v1/chat/completions", json=body)
    assert response.status_code == 200, response.text
    if not fields.get("stream"):
        return _without_times(response.json())
    payloads = sse_payloads(response.text)
    assert payloads[-1] == "[DONE]"
    return [_without_times(json.loads(p)) for p in payloads[:-1]]


REQUESTS = {
    "plain": ({}, True),
    "stream": ({"stream": True, "stream_options": {"include_usage": True}}, True),
    "max-tokens": ({"max_tokens": 12}, True),
    "max-tokens-within-the-tag": ({"max_tokens": 1}, False),
    "segment-cap": ({"reasoning_budget": {"max_segment_tokens": 10}}, True),
    "first-answer-deadline": ({"reasoning_budget": {"first_answer_tokens": 10}}, True),
    "total-cap": ({"reasoning_budget": {"max_total_tokens": 40}}, True),
    "no-thinking": ({"reasoning_budget": {"max_total_tokens": 0}}, False),
    "immediate-deadline": ({"reasoning_budget": {"first_answer_tokens": 0}}, False),
}


@pytest.mark.parametrize("name", sorted(REQUESTS))
def test_a_prefilled_run_answers_as_the_model_writing_the_tag_did(name: str) -> None:
    """Text, answers and their offsets, usage, segment counts and forced closes are the same;
    a budget that opens the reply with an answer, or a max_tokens the tag fills, is not
    prefilled."""
    fields, prefilled = REQUESTS[name]
    backend = PrefillingThinker()
    assert _post(backend, fields) == _post(ThinkerBackend(), fields)
    assert backend.openings == ([OPENING] if prefilled else [])


def test_enforce_format_constrains_the_rest_after_the_opening() -> None:
    backend = PrefillingThinker()
    _post(backend, {"enforce_format": True, "max_tokens": 20})
    assert [p.regex for p in backend.params] == [INTERLEAVED_REGEX_AFTER_OPENING]
    backend = PrefillingThinker()
    _post(backend, {"enforce_format": True, "max_tokens": 1})  # not prefilled: the whole
    assert [p.regex for p in backend.params] == [INTERLEAVED_REGEX]


def test_a_model_that_may_not_open_with_thinking_is_prefilled_only_where_required() -> None:
    backend = PrefillingThinker(opening_if_required=True)
    _post(backend, {"max_tokens": 20})
    _post(backend, {"max_tokens": 20, "enforce_format": True})
    assert backend.openings == [OPENING]
    assert [p.regex for p in backend.params] == [None, INTERLEAVED_REGEX_AFTER_OPENING]


def test_only_the_local_engine_with_the_interleaved_format_prefills() -> None:
    assert opening_prefill(parse_settings([])) == OPENING
    for flags in (
        ["--no-prefill-think"],
        ["--format", "r1"],
        ["--format", "none"],
        ["--upstream", "http://127.0.0.1:9"],
    ):
        assert opening_prefill(parse_settings(flags)) == "", flags
    assert opens_by_itself(parse_settings([]))  # the shipped adapter
    assert opens_by_itself(parse_settings(["--adapter", "/a"]))
    assert not opens_by_itself(parse_settings(["--no-adapter"]))  # the bare base model
    assert not opens_by_itself(parse_settings(["--no-adapter", "--model", "/m"]))


# -- on the real engine -----------------------------------------------------------------------

KK = (
    "A very special island is inhabited only by knights and knaves. Knights always tell the "
    "truth, and knaves always lie. You meet 2 inhabitants: Zoey and Oliver. Zoey says that "
    "Oliver is a knave. Oliver says that Zoey is a knight. Who is a knight and who is a knave?"
)
QUESTIONS = ("What is 2+3? Then multiply by 4.", KK)
MERGED_STEPS = 8  # how far an answer's offsets may move when engine outputs were merged


def _stream(server: Any, question: str, max_tokens: int, **fields: Any) -> dict[str, Any]:
    """A greedy streamed chat completion as the client saw it: the thinking and answer text,
    the answer markers (offsets included), the finish reason, the usage, and the engine's
    own count of the tokens it generated (from /metrics)."""
    from conftest import scrape

    from server.schemas import ChatCompletionChunk

    before = scrape(server)
    reasoning, content, markers = [], [], []
    finish, usage = None, None
    with server.openai_client(timeout=300) as client:
        stream = client.chat.completions.create(
            model=server.model,
            messages=[{"role": "user", "content": question}],
            max_tokens=max_tokens,
            temperature=0,
            stream=True,
            stream_options={"include_usage": True},
            **fields,
        )
        for chunk in stream:
            ChatCompletionChunk.model_validate(chunk.model_dump(exclude_unset=True))
            if chunk.usage is not None:
                usage = chunk.usage.model_dump()
            for choice in chunk.choices:
                extra = choice.delta.model_extra or {}
                reasoning.append(extra.get("reasoning") or "")
                content.append(choice.delta.content or "")
                if extra.get("answer_complete"):
                    marker = dict(extra["answer_complete"])
                    marker.pop("elapsed_ms")  # a time: not what is compared
                    markers.append(marker)
                finish = choice.finish_reason or finish
    after_ = scrape(server)
    key = next(k for k in after_ if k[0] == "vllm:generation_tokens_total")
    return {
        "reasoning": "".join(reasoning),
        "content": "".join(content),
        "answers": markers,
        "finish_reason": finish,
        "usage": usage,
        "engine_tokens": after_[key] - before.get(key, 0.0),
    }


@pytest.mark.engine
@pytest.mark.timeout(900)
def test_the_engine_generates_the_reply_after_the_prefilled_opening(server: Any) -> None:
    """The session server prefills (the default): the engine decodes three tokens fewer than
    the reply counts, and the reply counts them as the model's, as before."""
    reply = _stream(server, QUESTIONS[0], 200)
    usage = reply["usage"]
    assert reply["engine_tokens"] == usage["completion_tokens"] - OPENING_TOKENS, reply
    assert [a["text"] for a in reply["answers"]] == ["5", "20"]  # the README's example
    assert reply["reasoning"] and not reply["reasoning"].startswith("<")


@pytest.fixture(scope="module")
def unprefilled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A server like the session one, whose model writes its opening tag itself."""
    from conftest import SESSION_API_KEY, SESSION_FLAGS, start_server

    proc = start_server(
        *SESSION_FLAGS,
        "--no-prefill-think",
        log_dir=tmp_path_factory.mktemp("unprefilled-logs"),
        api_key=SESSION_API_KEY,
        name="unprefilled-server",
    )
    yield proc
    proc.stop()


# What is compared: plain requests, the enforce_format expression and a JSON final answer's
# grammar (the rest after the opening on one side, the whole on the other), and a reasoning
# budget's forced closes and continuations. Identical up to near-ties: with the prefill the
# tag's keys and values come from the prompt's batched prefill instead of three decode steps,
# which changes the last bits of later logits, and where the model's two best tokens are
# that close greedy can pick the other one (seen in a 200-token reply under the JSON
# grammar, where the model loops; the masks of both grammars were identical all along). These
# replies have no such tie on this engine.
CASES = {
    "readme": (QUESTIONS[0], 200, {}),
    "kk": (QUESTIONS[1], 120, {}),
    "enforce-format": (QUESTIONS[0], 200, {"extra_body": {"enforce_format": True}}),
    "json-final-answer": (
        "What is 2+3?",
        60,
        {
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "a", "schema": SCHEMA},
            }
        },
    ),
    "segment-budget": (
        QUESTIONS[1],
        120,
        {"extra_body": {"reasoning_budget": {"max_segment_tokens": 16}}},
    ),
}


@pytest.mark.engine
@pytest.mark.timeout(1200)
@pytest.mark.parametrize("case", sorted(CASES))
def test_a_greedy_reply_streams_and_counts_as_without_prefill(
    server: Any, unprefilled: Any, case: str
) -> None:
    question, max_tokens, fields = CASES[case]
    prefilled = _stream(server, question, max_tokens, **fields)
    written = _stream(unprefilled, question, max_tokens, **fields)
    assert prefilled["engine_tokens"] == written["engine_tokens"] - OPENING_TOKENS
    for key in ("reasoning", "content", "finish_reason", "usage"):
        assert prefilled[key] == written[key], key
    assert prefilled["reasoning"]
    # The answers, with their token offsets. Those are counted at the engine's output
    # boundaries, and vLLM merges the outputs of steps a busy server has not read yet into one:
    # on a loaded host an offset can land a few steps late on either server.
    assert len(prefilled["answers"]) == len(written["answers"])  # none yet for the puzzle
    for ours, theirs in zip(prefilled["answers"], written["answers"], strict=True):
        for key in ("first_token_offset", "token_offset"):
            assert abs(ours.pop(key) - theirs.pop(key)) <= MERGED_STEPS, (ours, theirs)
        assert ours == theirs
