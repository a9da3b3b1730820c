"""The engine constraints a request asks for, compiled by the engine's own grammar library
(xgrammar, what vLLM runs them with): what they accept and reject, and that what they accept
parses into the calls and answers the request asked for."""

from __future__ import annotations

import json
from typing import Any

import pytest

from parsing import HERMES, INTERLEAVED, R1, parse
from server.generation.prompting import INTERLEAVED_REGEX
from server.structured.grammar import build
from server.tools.protocol import FunctionTool, NamedToolChoice
from server.tools.spec import tool_request

xgr = pytest.importorskip("xgrammar")
from xgrammar.testing import _is_grammar_accept_string  # noqa: E402

WEATHER = FunctionTool.model_validate(
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
                "additionalProperties": False,
            },
        },
    }
)
ADD = FunctionTool.model_validate(
    {
        "type": "function",
        "function": {
            "name": "add",
            "parameters": {
                "type": "object",
                "properties": {"a": {"type": "integer"}},
                "required": ["a"],
            },
            "strict": True,
        },
    }
)
PAIR = "<think> first </think><answer> 5 </answer>"
CALL = '<tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}</tool_call>'
ADD_CALL = '<tool_call>{"name": "add", "arguments": {"a": 2}}</tool_call>'


def grammar(tag: str | None) -> Any:
    assert tag is not None
    return xgr.Grammar.from_structural_tag(tag)


def accepts(tag: str | None, text: str) -> bool:
    return bool(_is_grammar_accept_string(grammar(tag), text))


def test_enforce_format_alone_stays_the_regex() -> None:
    c = build(INTERLEAVED, enforce_regex=INTERLEAVED_REGEX)
    assert c.regex == INTERLEAVED_REGEX and c.structural_tag is None
    assert build(INTERLEAVED, enforce_regex=None).empty


def test_required_calls_a_thought_then_calls_of_the_tools() -> None:
    tools = tool_request([WEATHER, ADD], "required", None)
    tag = build(INTERLEAVED, enforce_regex=INTERLEAVED_REGEX, tools=tools, syntax=HERMES)
    assert accepts(tag.structural_tag, f"<think> need weather </think>{CALL}")
    assert accepts(tag.structural_tag, f"<think> both </think>\n{CALL}\n{ADD_CALL}")
    assert not accepts(tag.structural_tag, f"{PAIR}")  # an answer is no call
    assert not accepts(tag.structural_tag, "<think> x </think>" + CALL.replace("city", "town"))
    text = f"<think> need weather </think>{CALL}"
    transcript = parse(text, tool_calls=HERMES)
    assert [(c.name, json.loads(c.arguments or "")) for c in transcript.tool_calls] == [
        ("get_weather", {"city": "Paris"})
    ]
    assert transcript.format_ok
    assert [p for p, _ in tag.schemas] == [
        "tools.0.function.parameters",
        "tools.1.function.parameters",
    ]


def test_named_and_not_parallel_is_exactly_one_call_of_that_tool() -> None:
    named = NamedToolChoice.model_validate({"type": "function", "function": {"name": "add"}})
    tools = tool_request([WEATHER, ADD], named, False)
    tag = build(INTERLEAVED, enforce_regex=INTERLEAVED_REGEX, tools=tools, syntax=HERMES)
    assert accepts(tag.structural_tag, f"<think> add </think>{ADD_CALL}")
    assert not accepts(tag.structural_tag, f"<think> add </think>{CALL}")
    assert not accepts(tag.structural_tag, f"<think> add </think>{ADD_CALL}{ADD_CALL}")


def test_auto_with_enforce_format_is_the_format_or_a_thought_and_calls() -> None:
    tools = tool_request([WEATHER], "auto", None)
    tag = build(INTERLEAVED, enforce_regex=INTERLEAVED_REGEX, tools=tools, syntax=HERMES)
    assert accepts(tag.structural_tag, PAIR + PAIR)
    assert accepts(tag.structural_tag, f"<think> look it up </think>{CALL}")
    assert not accepts(tag.structural_tag, "free text")


def test_auto_with_a_strict_tool_constrains_only_the_calls() -> None:
    tools = tool_request([WEATHER, ADD], "auto", None)
    tag = build(INTERLEAVED, enforce_regex=None, tools=tools, syntax=HERMES)
    assert accepts(tag.structural_tag, "<think>anything at all</think><answer>x</answer>")
    assert accepts(tag.structural_tag, f"<think>call</think>{ADD_CALL}<answer>3</answer>")
    assert not accepts(tag.structural_tag, '<tool_call>{"name": "add", "arguments": {"a": "x"}}')


SCHEMA = {
    "type": "object",
    "properties": {"answer": {"type": "integer"}},
    "required": ["answer"],
    "additionalProperties": False,
}


def test_final_answer_json_and_intermediate_answers_free() -> None:
    free = build(INTERLEAVED, enforce_regex=None, final=SCHEMA)
    final = '<answer>{"answer": 20}</answer>'
    assert accepts(free.structural_tag, f"<think>2+3</think> <answer>5, so far</answer> {final}")
    assert accepts(free.structural_tag, final)
    assert not accepts(free.structural_tag, "<think>x</think><answer>20</answer>")
    assert free.schemas == (("response_format", SCHEMA),)
    bounded = build(INTERLEAVED, enforce_regex=INTERLEAVED_REGEX, final=SCHEMA)
    text = f'{PAIR}<think> times 4 </think><answer> {{"answer": 20}} </answer>'
    assert accepts(bounded.structural_tag, text)
    assert not accepts(bounded.structural_tag, PAIR + PAIR)
    transcript = parse(text)
    assert transcript.format_ok and json.loads(transcript.final_answer or "") == {"answer": 20}
    assert transcript.answers[0] == "5"  # the intermediate answer stayed free text


def test_final_answer_in_r1_and_the_json_object_type() -> None:
    r1 = build(R1, enforce_regex=None, final={"type": "object"})
    assert accepts(r1.structural_tag, 'let me think</think>\n{"a": 1}')
    assert not accepts(r1.structural_tag, "let me think</think>\nplain")


def test_every_tag_is_valid_for_vllms_own_check() -> None:
    from vllm.sampling_params import SamplingParams, StructuredOutputsParams
    from vllm.v1.structured_output.backend_xgrammar import validate_xgrammar_grammar

    tools = tool_request([WEATHER, ADD], "required", None)
    for c in (
        build(INTERLEAVED, enforce_regex=INTERLEAVED_REGEX, tools=tools, syntax=HERMES),
        build(INTERLEAVED, enforce_regex=None, final=SCHEMA),
        build(R1, enforce_regex=None, final=SCHEMA),
    ):
        params = SamplingParams(
            structured_outputs=StructuredOutputsParams(structural_tag=c.structural_tag)
        )
        validate_xgrammar_grammar(params)
