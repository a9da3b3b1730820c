"""Anthropic-style error bodies for `/v1/messages`: `{"type": "error", "error": {"type",
"message"}}`, the error type chosen by status as Anthropic's API does. The message starts with
the field at fault, when there is one (`messages.1.content.0.signature: ...`)."""

from __future__ import annotations

from typing import Any

from server.http.errors import APIError
from server.messages.protocol import ErrorBody, ErrorObject

_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    408: "invalid_request_error",
    413: "request_too_large",
    429: "rate_limit_error",
    431: "invalid_request_error",
    503: "overloaded_error",
}


def error_type(status: int) -> str:
    return _TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")


def error_body(error: APIError) -> ErrorBody:
    return ErrorBody(error=ErrorObject(type=error_type(error.status), message=error.message))


def error_json(error: APIError) -> dict[str, Any]:
    return error_body(error).model_dump(mode="json")
