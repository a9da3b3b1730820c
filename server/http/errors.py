"""The one place that turns exceptions into OpenAI-shaped error responses.

Every error a client sees has the body `{"error": {"message", "type", "param", "code"}}`. Code
that detects a problem the client caused raises `APIError` with the status it deserves;
`as_api_error` turns any other exception into a 500 with a generic message (the traceback goes
to the log, never to the client). The exception handlers (`install`) answer what the routes
raise; `server.http.middleware` sends `error_response` for what it rejects itself and for anything
that escaped the routes; a stream that fails after its 200 ends with `stream_error_payload`
(chat) or an `error` event (Responses).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from server.schemas import ErrorResponse

# status -> OpenAI's error `type` for it.
_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    413: "invalid_request_error",
    429: "rate_limit_error",
    502: "upstream_error",
    503: "service_unavailable",
}


class APIError(Exception):
    """An error with an HTTP status and a message meant for the client."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.code = code
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return error_body(self.status, self.message, param=self.param, code=self.code)


def engine_dead() -> APIError:
    """What every request gets once the engine has died (until the server has exited)."""
    return APIError(503, "the engine has stopped; this server is shutting down", code="engine_dead")


def error_body(
    status: int, message: str, *, param: str | None = None, code: str | None = None
) -> dict[str, Any]:
    error_type = _TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
    return {"error": {"message": message, "type": error_type, "param": param, "code": code}}


# Routes whose API has its own error shape (the Anthropic Messages API): path -> body builder.
ERROR_BODIES: dict[str, Callable[[APIError], dict[str, Any]]] = {}


def error_response(error: APIError, path: str | None = None) -> JSONResponse:
    """The error's response; its body in the shape of the API at `path` (OpenAI's unless that
    route registered another in `ERROR_BODIES`)."""
    shape = ERROR_BODIES.get(path or "")
    body = shape(error) if shape is not None else error.body()
    return JSONResponse(body, status_code=error.status, headers=error.headers)


def internal_error() -> APIError:
    """What a request gets for an exception nobody turned into an `APIError`."""
    return APIError(500, "internal server error; see the server log")


def generation_error() -> APIError:
    """What a stream gets for an exception of the generation after its 200 was sent."""
    return APIError(500, "generation failed; see the server log", code="generation_error")


def as_api_error(exc: BaseException, fallback: APIError | None = None) -> APIError:
    """The error a client is told about `exc`: itself if it is one, else `fallback` (default:
    `internal_error()`), which says nothing of the exception."""
    if isinstance(exc, APIError):
        return exc
    return fallback if fallback is not None else internal_error()


def stream_error_payload(error: APIError) -> str:
    """The `data:` payload that ends a chat stream that failed after its first byte was sent:
    the error body without `param`."""
    body = ErrorResponse.model_validate(error.body())
    return body.model_dump_json(exclude={"error": {"param"}})


# Pydantic names the union member a value failed to match in the error location ("str",
# "list[InputMessage]", "function-after[...]"); that is noise in a field path.
_UNION_MEMBER = re.compile(r"^(str|int|float|bool|dict|list|none|literal\[.*|.*\[.*\].*)$")


def _field_path(error: dict[str, Any]) -> list[str]:
    # loc is ("body", field, ...): drop "body" so param reads like OpenAI's ("messages.0.role").
    return [
        str(p)
        for p in error.get("loc", ())
        if p != "body" and not (isinstance(p, str) and _UNION_MEMBER.match(p))
    ]


def describe_validation_error(exc: RequestValidationError) -> APIError:
    """First problem of a request-body validation failure, as a 400 naming the field."""
    errors = exc.errors()
    if not errors:
        return APIError(400, "invalid request")
    if errors[0].get("type") == "json_invalid":
        return APIError(400, "request body is not valid JSON", code="invalid_json")
    # For a union field, the branch the value came closest to explains it best: prefer errors
    # that are not mere type mismatches, then the most specific (deepest) location.
    head = _field_path(errors[0])
    related = [e for e in errors if _field_path(e)[: len(head)] == head]
    first = max(
        related, key=lambda e: (not str(e.get("type", "")).endswith("_type"), len(_field_path(e)))
    )
    loc = _field_path(first)
    param = ".".join(loc) or None
    # Our validators' ValueErrors: the message is ours, pydantic's prefix is noise.
    message = str(first.get("msg", "invalid value")).removeprefix("Value error, ")
    if isinstance(first.get("input"), bytes) and not loc:
        # FastAPI hands over the raw bytes when the content type is not JSON.
        message = "request body must be JSON, sent with 'Content-Type: application/json'"
    elif first.get("type") == "missing":
        message = "field required" if loc else "request body is empty; send a JSON object"
    elif first.get("type") == "extra_forbidden":
        message = "unsupported field (see the server's documentation for supported fields)"
    elif first.get("type") in ("model_attributes_type", "dict_type") and not loc:
        message = "request body must be a JSON object"
    return APIError(
        400, f"{param}: {message}" if param else message, param=param, code="invalid_value"
    )


def install(app: FastAPI) -> None:
    """Register the handlers that make every error OpenAI-shaped."""

    @app.exception_handler(APIError)
    async def _api_error(request: Request, exc: APIError) -> JSONResponse:
        return error_response(exc, request.url.path)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(describe_validation_error(exc), request.url.path)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        # Routing errors (unknown path, wrong method) raised by Starlette itself.
        if exc.status_code == 404:
            message = (
                "no such route; see /v1/models, /v1/chat/completions, /v1/responses, /v1/messages"
            )
        else:
            message = str(exc.detail)
        headers = dict(exc.headers) if exc.headers else None
        return error_response(APIError(exc.status_code, message, headers=headers), request.url.path)
