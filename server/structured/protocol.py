"""`response_format` (OpenAI Chat Completions): text, json_object, or json_schema with `strict`.

It applies to the final answer only: intermediate answers stay free text (see
`server.structured.grammar`)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=True)


class JSONSchemaSpec(_Strict):
    name: str
    description: str | None = None
    # `schema` is a BaseModel attribute name, hence the alias.
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")
    strict: bool | None = None


class TextFormat(_Strict):
    type: Literal["text"]


class JSONObjectFormat(_Strict):
    type: Literal["json_object"]


class JSONSchemaFormat(_Strict):
    type: Literal["json_schema"]
    json_schema: JSONSchemaSpec


ResponseFormat = TextFormat | JSONObjectFormat | JSONSchemaFormat

ANY_OBJECT: dict[str, Any] = {"type": "object"}


def schema_param(response_format: ResponseFormat | None, base: str = "response_format") -> str:
    """The request field a final-answer schema came from, for error messages."""
    if isinstance(response_format, JSONSchemaFormat):
        return f"{base}.json_schema.schema"
    return base


def final_schema(response_format: ResponseFormat | None) -> dict[str, Any] | None:
    """The JSON Schema the final answer must follow, or None for free text."""
    if response_format is None or isinstance(response_format, TextFormat):
        return None
    if isinstance(response_format, JSONObjectFormat):
        return ANY_OBJECT
    schema = response_format.json_schema.schema_
    return schema if schema is not None else ANY_OBJECT
