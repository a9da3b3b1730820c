"""Property-based fuzzing of request bodies against the app with the scripted backend.

Thousands of generated bodies, from plausible requests with one field gone wrong to random
JSON and random bytes, sent to both generation routes. Whatever the body: never a 5xx, every
error in OpenAI's shape with a message in our words, a lone surrogate anywhere is a 400 before
the backend sees it, and a well-formed request is served.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fakes import FakeBackend, client_for
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

CHAT = "/v1/chat/completions"
RESPONSES = "/v1/responses"
FUZZ = settings(
    max_examples=700,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
STREAM_ENDS = {
    CHAT: "data: [DONE]\n\n",
    RESPONSES: '"type":"response.completed","sequence_number":15}\n\n',
}
# Texts that no server library message should ever show a client.
LEAKS = ("Traceback", 'File "', "There was an error parsing the body", "TextEncodeInput")

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def backend() -> FakeBackend:
    return FakeBackend()


@pytest.fixture(scope="module")
def client(backend: FakeBackend) -> Iterator[TestClient]:
    with client_for(backend, "--max-request-bytes", str(64 * 1024)) as client:
        yield client


# -- strategies --------------------------------------------------------------------------------


def weighted(*choices: tuple[int, st.SearchStrategy[Any]]) -> st.SearchStrategy[Any]:
    """One of the strategies, in proportion to its weight (`st.one_of` would weigh a strategy
    given twice once); shrinks towards the first."""
    return st.sampled_from([s for weight, s in choices for _ in range(weight)]).flatmap(
        lambda strategy: strategy
    )


# Strings with what breaks text handling: lone surrogates (high and low), a correct pair, NUL,
# controls, a byte order mark, non-BMP characters, tag look-alikes.
NASTY = ["\ud83d", "\udc00", "\ud83d\ude00", "\x00", "\x1b[0m", "\ufeff", "\U0010ffff", "<think>"]
text = weighted(
    (7, st.text(max_size=20)),
    (1, st.lists(st.sampled_from([*NASTY, "a", " ", "é"]), max_size=6).map("".join)),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(1 << 70), max_value=1 << 70),
    st.floats(allow_nan=True, allow_infinity=True),
    text,
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4),
    max_leaves=12,
)


def field(valid: st.SearchStrategy[Any], edge: st.SearchStrategy[Any] | None = None) -> Any:
    """Usually a valid value (so validation gets past it to the next field), sometimes an edge
    case just outside the valid range, now and then anything at all."""
    return weighted((8, valid), *([(1, edge)] if edge is not None else []), (1, json_values))


roles = field(st.sampled_from(["user", "system", "developer", "assistant"]), st.just("wizard"))
part_types = field(st.sampled_from(["text", "input_text", "output_text"]), st.just("image_url"))
parts = st.lists(st.fixed_dictionaries({"type": part_types, "text": text}), max_size=3)
message = st.fixed_dictionaries(
    {"role": roles, "content": field(text | parts, st.none())},
    optional={"name": field(text), "reasoning": text},
)
messages = field(st.lists(message, min_size=1, max_size=4), st.just([]))
counts = field(st.integers(1, 4096), st.sampled_from([0, -1, 1 << 20, (1 << 20) + 1]))
temperature = field(st.floats(0, 2), st.sampled_from([-0.1, 2.01, 1e308, float("nan")]))
top_p = field(st.floats(0.01, 1), st.sampled_from([0, 1.01, float("inf")]))
stop = field(st.lists(text, max_size=4) | text, st.just(["x"] * 17) | st.just(""))
seed = field(st.integers(-(1 << 63), (1 << 63) - 1), st.sampled_from([1 << 63, -(1 << 64)]))
# Unsupported fields: rare, or nearly every body would stop at the first one.
unsupported = st.dictionaries(
    st.sampled_from(["tools", "response_format", "logit_bias", "previous_response_id"]),
    json_values,
    max_size=1,
)

CHAT_FIELDS = {
    "model": field(st.just("fake-model"), text),
    "max_tokens": counts,
    "max_completion_tokens": counts,
    "temperature": temperature,
    "top_p": top_p,
    "n": field(st.integers(1, 4), st.sampled_from([0, 17])),
    "stop": stop,
    "seed": seed,
    "stream": field(st.booleans()),
    "stream_options": field(st.fixed_dictionaries({"include_usage": st.booleans()})),
    "user": field(text),
    "enforce_format": field(st.booleans()),
    "frequency_penalty": field(st.just(0), st.just(0.5)),
    "logprobs": field(st.just(False), st.just(True)),
    "metadata": field(st.dictionaries(text, text, max_size=3)),
}
RESPONSES_FIELDS = {
    "model": CHAT_FIELDS["model"],
    "instructions": field(text),
    "max_output_tokens": counts,
    "temperature": temperature,
    "top_p": top_p,
    "seed": seed,
    "stream": CHAT_FIELDS["stream"],
    "store": field(st.just(False), st.just(True)),
    "reasoning": field(st.dictionaries(text, text, max_size=2)),
    "truncation": field(st.just("disabled"), st.just("auto")),
}


def with_extra(bodies: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    return st.builds(lambda body, extra: {**body, **extra}, bodies, unsupported)


chat_bodies = with_extra(st.fixed_dictionaries({"messages": messages}, optional=CHAT_FIELDS))
responses_bodies = with_extra(
    st.fixed_dictionaries(
        {"input": field(text | st.lists(message, min_size=1, max_size=3))},
        optional=RESPONSES_FIELDS,
    )
)


def encode(value: Any, how: str) -> bytes:
    """JSON as different clients write it: escaped ASCII (lone surrogates become `\\ud83d`),
    raw UTF-8 (lone surrogates written as CESU-8 bytes, which is not UTF-8)."""
    if how == "ascii":
        return json.dumps(value).encode()
    return json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass")


@st.composite
def mangled(draw: st.DrawFn, bodies: st.SearchStrategy[Any]) -> bytes:
    """A body's bytes cut short, or with bytes spliced in."""
    raw = encode(draw(bodies), "ascii")
    cut = draw(st.integers(min_value=0, max_value=len(raw)))
    return raw[:cut] + draw(st.binary(max_size=8)) + raw[cut + draw(st.integers(0, 3)) :]


def raw_bodies(bodies: st.SearchStrategy[Any]) -> st.SearchStrategy[bytes]:
    structured = st.builds(encode, bodies, st.sampled_from(["ascii", "utf8"]))
    anything = st.builds(encode, json_values, st.sampled_from(["ascii", "utf8"]))
    return weighted(
        (4, structured), (1, anything), (1, mangled(bodies)), (1, st.binary(max_size=64))
    )


content_types = st.sampled_from(
    ["application/json", "application/json", "application/json; charset=utf-8", "text/plain"]
)


# -- properties --------------------------------------------------------------------------------


def has_lone_surrogate(value: Any) -> bool:
    if isinstance(value, str):
        return any(0xD800 <= ord(c) <= 0xDFFF for c in value)
    if isinstance(value, dict):
        return any(has_lone_surrogate(k) or has_lone_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(has_lone_surrogate(v) for v in value)
    return False


def _no_constants(name: str) -> None:
    raise ValueError(name)


def parsed(raw: bytes) -> Any:
    """The body as standard JSON, or None when it is not (NaN and Infinity are not JSON)."""
    try:
        return json.loads(raw.decode("utf-8"), parse_constant=_no_constants)
    except (ValueError, RecursionError):
        return None


def check_answer(
    client: TestClient, backend: FakeBackend, path: str, raw: bytes, ctype: str
) -> None:
    calls = len(backend.calls)
    value = parsed(raw)
    response = client.post(path, content=raw, headers={"content-type": ctype})
    event(f"status {response.status_code}")  # --hypothesis-show-statistics: the mix reached
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        body = response.json()
        assert set(body) == {"error"}, body
        error = body["error"]
        assert set(error) == {"message", "type", "param", "code"}, error
        assert isinstance(error["message"], str) and error["message"], error
        assert isinstance(error["type"], str) and error["type"] != "server_error", error
        assert error["param"] is None or isinstance(error["param"], str), error
        assert error["code"] is None or isinstance(error["code"], str), error
        assert not any(leak in response.text for leak in LEAKS), error
        assert response.headers["x-request-id"]
    else:
        assert response.status_code == 200, response.text
        if value.get("stream") is True:
            assert response.text.endswith(STREAM_ENDS[path]), response.text[-200:]
    if value is not None and has_lone_surrogate(value):
        assert response.status_code == 400, response.text
        assert response.json()["error"]["code"] == "invalid_text"
        assert len(backend.calls) == calls  # it never reached the backend


@FUZZ
@given(raw=raw_bodies(chat_bodies), ctype=content_types)
def test_fuzzed_chat_bodies_never_get_a_5xx(
    client: TestClient, backend: FakeBackend, raw: bytes, ctype: str
) -> None:
    check_answer(client, backend, CHAT, raw, ctype)


@FUZZ
@given(raw=raw_bodies(responses_bodies), ctype=content_types)
def test_fuzzed_responses_bodies_never_get_a_5xx(
    client: TestClient, backend: FakeBackend, raw: bytes, ctype: str
) -> None:
    check_answer(client, backend, RESPONSES, raw, ctype)


# Well-formed requests, with any valid text (surrogates excluded: `st.text()` never makes one).
good_text = st.text(min_size=1, max_size=30)
good_chat = st.fixed_dictionaries(
    {
        "messages": st.lists(
            st.fixed_dictionaries(
                {"role": st.sampled_from(["user", "system", "developer"]), "content": good_text}
            ),
            min_size=1,
            max_size=3,
        )
    },
    optional={
        "stop": st.lists(good_text, max_size=4),
        "temperature": st.floats(0, 2),
        "stream": st.booleans(),
        "n": st.integers(1, 3),
    },
)


@settings(max_examples=150, deadline=None)
@given(body=good_chat, how=st.sampled_from(["ascii", "utf8"]))
def test_well_formed_requests_are_served_with_their_text_intact(
    client: TestClient, backend: FakeBackend, body: dict[str, Any], how: str
) -> None:
    response = client.post(
        CHAT, content=encode(body, how), headers={"content-type": "application/json"}
    )
    assert response.status_code == 200, response.text
    sent, params = backend.calls[-1]
    assert [m.content for m in sent][-len(body["messages"]) :] == [
        m["content"] for m in body["messages"]
    ]
    assert params.stop == tuple(body.get("stop", ()))
