"""Event shaping on scripted deltas (no engine): think/answer text split at awkward places.

These complement, never replace, the real-engine tests in test_server_chat.py: they pin down
exact chunk contents and invariants over every chunking, which a live model cannot be made to
produce on demand.
"""

from __future__ import annotations

import itertools
import json
import typing

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openai.types.chat import ChatCompletionChunk as OpenAIChunk
from openai.types.responses import ResponseStreamEvent

from parsing import parse
from server.generation.shaping import SEPARATOR, ChatEncoder, ChoiceShaper, summarize
from server.responses.encoder import ResponsesEncoder
from server.schemas import ChatCompletionChunk, ResponseObject

TEXT = (
    "<think> Let me add 2 and 3. </think> <answer> 5 </answer>\n"
    "<think> Now multiply by 4.  </think><answer>20</answer>"
)


def run_chat(
    pieces: list[tuple[str, int]],
    fmt: str = "interleaved",
    finish: str = "stop",
    reasoning_content: bool = False,
) -> tuple[list[dict], ChoiceShaper]:
    """Feed (text, tokens) pieces through shaper + encoder like the route does; parsed chunks."""
    shaper = ChoiceShaper(fmt, t0=100.0)
    encoder = ChatEncoder("chatcmpl-1", 1, "m", reasoning_content, include_usage=True)
    events = encoder.start()
    for step, (text, tokens) in enumerate(pieces):
        events += encoder.ops(0, shaper.feed(text, tokens, now=100.0 + step))
    events += encoder.ops(0, shaper.close(now=100.0 + len(pieces), finish_reason=finish))
    events += encoder.finish(0, finish)
    events += encoder.end(summarize("completed", 7, [shaper]))
    body = b"".join(e.encode() for e in events).decode()
    assert body.endswith("data: [DONE]\n\n")
    events = [e for e in body.split("\n\n") if e]
    assert all(e.startswith("data: ") for e in events)
    return [json.loads(e[6:]) for e in events[:-1]], shaper


def deltas(chunks: list[dict], field: str) -> str:
    return "".join(c["choices"][0]["delta"].get(field) or "" for c in chunks if c["choices"])


def markers(chunks: list[dict]) -> list[dict]:
    return [
        c["choices"][0]["delta"]["answer_complete"]
        for c in chunks
        if c["choices"] and "answer_complete" in c["choices"][0]["delta"]
    ]


def test_one_token_per_piece_gives_reasoning_content_and_answer_markers() -> None:
    pieces = [(ch, 1) for ch in TEXT]  # every character its own delta: tags split everywhere
    chunks, shaper = run_chat(pieces)
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant"}
    assert deltas(chunks, "content") == "5" + SEPARATOR + "20"
    assert deltas(chunks, "reasoning") == "Let me add 2 and 3." + SEPARATOR + "Now multiply by 4."
    found = markers(chunks)
    assert [m["index"] for m in found] == [0, 1]
    assert [m["text"] for m in found] == parse(TEXT).answers == ["5", "20"]
    assert all(m["complete"] for m in found)
    # The first answer completes at "</answer>": its last character is piece number k.
    first_close = TEXT.index("</answer>") + len("</answer>")
    assert found[0]["token_offset"] == first_close
    # ...and starts at "5": the pieces before it are the tokens before its first text.
    assert found[0]["first_token_offset"] == TEXT.index("5")
    assert found[1]["first_token_offset"] == TEXT.index("20")
    assert found[0]["elapsed_ms"] == pytest.approx((first_close - 1) * 1000.0)
    assert found[1]["token_offset"] == len(TEXT)
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    usage = chunks[-1]["usage"]
    assert chunks[-1]["choices"] == []
    assert usage["completion_tokens"] == len(TEXT) == shaper.think_tokens + shaper.answer_tokens
    assert usage["prompt_tokens"] == 7 and usage["total_tokens"] == 7 + len(TEXT)
    # Tokens of think segments, their tags included, are reasoning tokens; whitespace between
    # segments produces no text and goes with the segment that follows it.
    think_chars = sum(
        len(m)
        for m in ("<think> Let me add 2 and 3. </think>", "\n<think> Now multiply by 4.  </think>")
    )
    assert usage["completion_tokens_details"]["reasoning_tokens"] == think_chars
    assert shaper.format_ok()


def test_every_chunk_matches_the_schema_and_the_openai_client_types() -> None:
    chunks, _ = run_chat(
        [(TEXT[i : i + 3], 1) for i in range(0, len(TEXT), 3)], reasoning_content=True
    )
    for chunk in chunks:
        ChatCompletionChunk.model_validate(chunk)
        OpenAIChunk.model_validate(chunk)
    with_reasoning = [c for c in chunks if c["choices"] and "reasoning" in c["choices"][0]["delta"]]
    assert with_reasoning and all(
        c["choices"][0]["delta"]["reasoning_content"] == c["choices"][0]["delta"]["reasoning"]
        for c in with_reasoning
    )


def test_trailing_whitespace_is_held_until_more_text_of_the_segment_follows() -> None:
    chunks, _ = run_chat([("<answer>a ", 1), ("  ", 1), ("b  ", 1), ("</answer>", 1)])
    contents = [
        c["choices"][0]["delta"]["content"]
        for c in chunks
        if c["choices"] and "content" in c["choices"][0]["delta"]
    ]
    assert contents == ["a", "   b"]
    assert markers(chunks)[0]["text"] == "a   b"


def test_empty_and_unclosed_answers() -> None:
    chunks, shaper = run_chat(
        [("<answer> </answer><think>x</think><answer>cut off", 3)], finish="length"
    )
    found = markers(chunks)
    assert [(m["index"], m["text"], m["complete"]) for m in found] == [
        (0, "", True),
        (1, "cut off", False),
    ]
    assert deltas(chunks, "content") == "cut off"  # no separator before the first non-empty
    assert chunks[-2]["choices"][0]["finish_reason"] == "length"
    assert not shaper.format_ok()


def test_tokens_that_only_open_a_segment_count_for_that_segment() -> None:
    _, shaper = run_chat(
        [("<think>", 2), ("a", 1), ("</think>", 2), ("<answer>", 2), ("b", 1), ("</answer>", 3)]
    )
    assert (shaper.think_tokens, shaper.answer_tokens) == (5, 6)


def test_format_none_is_all_content_and_r1_splits_at_the_closing_tag() -> None:
    chunks, _ = run_chat([("<think>raw", 1), (" text", 1)], fmt="none")
    assert deltas(chunks, "content") == "<think>raw text" and deltas(chunks, "reasoning") == ""
    chunks, _ = run_chat([("plan it", 1), ("</think>", 1), ("42", 1)], fmt="r1")
    assert deltas(chunks, "reasoning") == "plan it" and deltas(chunks, "content") == "42"
    assert [m["text"] for m in markers(chunks)] == ["42"]


@settings(max_examples=200, deadline=None)
@given(cuts=st.lists(st.integers(min_value=0, max_value=len(TEXT)), max_size=30))
def test_any_chunking_gives_the_same_content_reasoning_and_answers(cuts: list[int]) -> None:
    bounds = sorted({0, len(TEXT), *cuts})
    pieces = [(TEXT[a:b], 1) for a, b in itertools.pairwise(bounds)]
    chunks, shaper = run_chat(pieces)
    assert deltas(chunks, "content") == shaper.content_text() == "5\n\n20"
    assert deltas(chunks, "reasoning") == shaper.reasoning_text()
    assert [m["text"] for m in markers(chunks)] == ["5", "20"]
    assert shaper.completion_tokens == len(pieces)


# -- Responses API ------------------------------------------------------------------------------


def _event_classes() -> dict[str, type]:
    """The openai client's class for each Responses event type (its union's members)."""
    (union, *_) = typing.get_args(ResponseStreamEvent)
    return {
        typing.get_args(cls.model_fields["type"].annotation)[0]: cls
        for cls in typing.get_args(union)
    }


_EVENTS = _event_classes()


def run_responses(text: str, finish: str = "stop") -> tuple[list[dict], ResponsesEncoder]:
    shaper = ChoiceShaper("interleaved", t0=0.0)
    encoder = ResponsesEncoder("r1", 1, "m", {"instructions": None})
    lines = encoder.start()
    for i, ch in enumerate(text):
        lines += encoder.ops(0, shaper.feed(ch, 1, now=float(i)))
    lines += encoder.ops(0, shaper.close(now=float(len(text)), finish_reason=finish))
    lines += encoder.end(summarize("completed", 5, [shaper]))
    events = []
    for block in b"".join(e.encode() for e in lines).decode().split("\n\n"):
        if not block:
            continue
        event_line, data_line = block.split("\n")
        event = json.loads(data_line.removeprefix("data: "))
        assert event_line == f"event: {event['type']}"
        _EVENTS[event["type"]].model_validate(event)  # the openai client's own type accepts it
        events.append(event)
    return events, encoder


def test_responses_events_one_item_per_segment_and_phases() -> None:
    events, _ = run_responses(TEXT)
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    assert events[0]["type"] == "response.created" and events[-1]["type"] == "response.completed"
    done = [e["item"] for e in events if e["type"] == "response.output_item.done"]
    assert [(i["type"], i.get("phase")) for i in done] == [
        ("reasoning", None),
        ("message", "commentary"),
        ("reasoning", None),
        ("message", "final_answer"),
    ]
    assert [i["content"][0]["text"] for i in done if i["type"] == "message"] == ["5", "20"]
    text = "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
    assert text == "520"
    final = ResponseObject.model_validate(events[-1]["response"])
    assert [o.type for o in final.output] == ["reasoning", "message", "reasoning", "message"]
    assert final.usage is not None and final.usage.output_tokens == len(TEXT)
    assert final.format_ok is True


def test_responses_answer_followed_by_thinking_is_commentary_and_length_is_incomplete() -> None:
    events, _ = run_responses(
        "<think>a</think><answer>1</answer><think>still going", finish="length"
    )
    done = [e["item"] for e in events if e["type"] == "response.output_item.done"]
    assert [i.get("phase") for i in done if i["type"] == "message"] == ["commentary"]
    assert events[-1]["type"] == "response.incomplete"
    assert events[-1]["response"]["incomplete_details"] == {"reason": "max_output_tokens"}


def test_chunk_bytes_are_compact_json_with_only_the_fields_each_chunk_sets() -> None:
    # The exact wire form: a chunk carries `logprobs` and `finish_reason` always, a delta only
    # its own fields, `usage` and `timings` only where they belong; UTF-8 as is, no spaces.
    encoder = ChatEncoder("chatcmpl-1", 1, "m", include_usage=True)
    shaper = ChoiceShaper("interleaved", t0=0.0)
    head = '{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m","choices":'
    (role,) = encoder.start()
    assert role.encode() == (
        b"data: " + head.encode() + b'[{"index":0,"delta":{"role":"assistant"},'
        b'"logprobs":null,"finish_reason":null}]}\n\n'
    )
    (text,) = encoder.ops(0, shaper.feed("<answer>d\u00e9j\u00e0", 1, now=0.0))
    assert text.encode().decode() == (
        f'data: {head}[{{"index":0,"delta":{{"content":"d\u00e9j\u00e0"}},'
        '"logprobs":null,"finish_reason":null}]}\n\n'
    )
    shaper.close(now=1.0, finish_reason="stop")
    (finish,) = encoder.finish(0, "stop", shaper.timings(0))
    choice = json.loads(finish.encode()[6:])["choices"][0]
    assert list(choice) == ["index", "delta", "logprobs", "finish_reason", "timings"]
    assert choice["delta"] == {} and choice["timings"]["index"] == 0
    usage, done = encoder.end(summarize("completed", 2, [shaper]))
    assert json.loads(usage.encode()[6:])["choices"] == []
    assert b'"usage":{"prompt_tokens":2,' in usage.encode()
    assert done.encode() == b"data: [DONE]\n\n"
