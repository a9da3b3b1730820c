"""A request body, read and checked before the framework sees it.

`read_body` takes the whole body off the connection within a deadline and a size limit, however
it is sent (Content-Length or chunked), so a slow or oversized upload is answered 408 or 413 by
us, never by whatever the framework makes of an exception in the middle of its body parsing.

`check_json` holds a generation request's body to what the tokenizer and the engine accept:
strict UTF-8, standard JSON (no NaN/Infinity), bounded nesting, and no string anywhere with an
unpaired surrogate. JSON's `"\\ud83d"` escape decodes to such a string; it cannot be encoded to
UTF-8, so the tokenizer rejects it with its own internal message and vLLM fails with a 500 when
it serializes the request. Checked here, each is a 400 that names the field.

The value `check_json` parsed is the one the route gets: the middleware keeps it in the request's
scope under `PARSED_JSON`, and `server.http.parsed_body.ParsedBodyRoute` hands it to FastAPI in
place of parsing the same bytes again.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from starlette.types import Receive

from server.http.errors import APIError

# The scope key of a checked body's parsed JSON value (an ASGI extension key of ours).
PARSED_JSON = "interleaved.json"
MAX_DEPTH = 64  # a chat request nests ~5 deep; far deeper is an attack on whatever recurses
_SHOWN_KEY_CHARS = 40


class BodyTooLarge(Exception):
    """The body grew past --max-request-bytes (however it was sent): a 413."""


class BodyTimeout(Exception):
    """The body did not arrive within --body-timeout-seconds: a 408."""


class ClientDisconnected(Exception):
    """The client went away before sending its whole body: nothing to answer."""


async def read_body(receive: Receive, max_bytes: int, timeout: float) -> bytes:
    """The whole body. Raises BodyTooLarge past `max_bytes`, BodyTimeout when it is not all
    there within `timeout` seconds, ClientDisconnected if the client hangs up first."""
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(timeout):
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    raise ClientDisconnected
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > max_bytes:
                    raise BodyTooLarge
                chunks.append(chunk)
                if not message.get("more_body", False):
                    return b"".join(chunks)
    except TimeoutError:
        raise BodyTimeout from None


class _NonFinite(ValueError):
    """NaN or Infinity in the JSON: not a JSON number, refused before anything parses it."""


def _reject_constant(name: str) -> float:
    raise _NonFinite(name)


def check_json(raw: bytes) -> Any:
    """`raw`'s JSON value; a 400 APIError unless it is a JSON document the engine can take as
    it is."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _invalid(
            f"request body is not valid UTF-8 (bad byte at offset {exc.start})"
        ) from None
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise _invalid(
            f"request body is not valid JSON (line {exc.lineno}, column {exc.colno})"
        ) from None
    except _NonFinite as exc:
        raise _invalid(f"request body is not valid JSON: {exc} is not a JSON number") from None
    except RecursionError:
        raise _invalid(f"request body nests deeper than {MAX_DEPTH} levels") from None
    except ValueError:  # Python's limit on the digits of an integer
        raise _invalid("request body is not valid JSON: a number has too many digits") from None
    _check_values(value)
    return value


def _invalid(message: str) -> APIError:
    return APIError(400, message, code="invalid_json")


def _check_values(value: Any) -> None:
    """Depth and text validity of every value and key, walked without recursion."""
    stack: list[tuple[Any, tuple[str, ...]]] = [(value, ())]
    while stack:
        item, path = stack.pop()
        if len(path) > MAX_DEPTH:
            raise _invalid(f"request body nests deeper than {MAX_DEPTH} levels")
        if isinstance(item, str):
            _check_text(item, path)
        elif isinstance(item, dict):
            for key, child in item.items():
                _check_text(key, path, is_key=True)
                stack.append((child, (*path, key)))
        elif isinstance(item, list):
            stack.extend((child, (*path, str(i))) for i, child in enumerate(item))


def _check_text(text: str, path: tuple[str, ...], *, is_key: bool = False) -> None:
    if text.isascii():  # the common case, and surrogates are never ASCII
        return
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        field = ".".join(_shown(p) for p in path)
        code_point = f"U+{ord(text[exc.start]):04X}"
        where = f"a field name in {field or 'the request body'}" if is_key else field
        message = (
            f"{where or 'request body'}: text contains an unpaired surrogate ({code_point} at "
            f"character {exc.start}), which is not valid Unicode"
        )
        raise APIError(400, message, param=field or None, code="invalid_text") from None


def _shown(key: str) -> str:
    # Keys come from the client: keep a long or broken one from filling the error message.
    key = key.encode("utf-8", "backslashreplace").decode("utf-8")
    return key if len(key) <= _SHOWN_KEY_CHARS else key[:_SHOWN_KEY_CHARS] + "..."
