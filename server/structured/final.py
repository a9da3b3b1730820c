"""The final answer checked against the request's schema.

The engine's grammar makes the final answer follow the schema; an upstream server (gateway
mode) may or may not have done so. Either way the server checks the answer it sends and says
what is wrong with it (`response_format_error` on the choice), rather than pass off a
non-conforming answer as the structured output the client asked for.
"""

from __future__ import annotations

import json
from typing import Any

from jsonschema import Draft202012Validator


class FinalAnswerCheck:
    __slots__ = ("_validator",)

    def __init__(self, schema: dict[str, Any]) -> None:
        self._validator = Draft202012Validator(schema)

    def problem(self, answer: str | None) -> str | None:
        """What is wrong with the final answer `answer` (None when it follows the schema)."""
        if answer is None:
            return "the response has no final answer"
        try:
            value = json.loads(answer)
        except ValueError as exc:
            return f"the final answer is not JSON: {exc}"
        error = next(iter(self._validator.iter_errors(value)), None)
        if error is None:
            return None
        where = "/".join(str(p) for p in error.absolute_path)
        return f"the final answer does not follow the schema: {error.message}" + (
            f" (at {where})" if where else ""
        )
