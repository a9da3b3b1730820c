"""The engine constraint of a request, built once from what it asks.

Three things may be forced, and they combine:
  - `enforce_format`: the output follows the format (bounded think/answer segments);
  - tool calls: `tool_choice` "required" or a named function makes the output a (bounded)
    thought followed by calls whose arguments follow each tool's JSON Schema; with "auto" a
    call, when the model makes one, is constrained the same way if the grammar is in force for
    another reason or a tool is `strict`;
  - `response_format`: the *final* answer is JSON following the schema, while the thinking and
    any intermediate answers before it stay free text (bounded segments with `enforce_format`).

`enforce_format` alone stays the regular expression it always was. Anything else becomes an
xgrammar structural tag (vLLM's `structured_outputs.structural_tag`), whose elements are plain
data: regex, const_string, tag (begin, content, end), json_schema, any_text, sequence, or, repeat,
star, triggered_tags.

`after` rewrites a constraint for the rest of a reply whose opening think tag the server wrote
for the model (`--prefill-think`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from parsing import Format, ToolCallSyntax
from server.generation.prompting import INTERLEAVED_ANSWER, INTERLEAVED_THINK, R1_THINK, regex_after
from server.tools.spec import Tool, ToolRequest

MAX_PARALLEL_CALLS = 4
# Where the model may put a line break or a space: between segments and calls.
_GAP = r"[ \n]?"
# JSON inside a grammar: at most this many whitespace characters in a row (a small model forced
# into JSON otherwise tends to fill it with newlines).
MAX_JSON_WHITESPACE = 2

Element = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Constraint:
    """What the engine is asked to force: a regex, a structural tag (JSON text), or nothing."""

    regex: str | None = None
    structural_tag: str | None = None
    # The schemas inside the structural tag, with the request field each came from, so that a
    # schema the engine cannot compile is reported by name (`server.structured.check`).
    schemas: tuple[tuple[str, dict[str, Any]], ...] = ()

    @property
    def empty(self) -> bool:
        return self.regex is None and self.structural_tag is None


NO_CONSTRAINT = Constraint()


def _regex(pattern: str) -> Element:
    return {"type": "regex", "pattern": pattern}


def _const(value: str) -> Element:
    return {"type": "const_string", "value": value}


def _json(schema: dict[str, Any]) -> Element:
    return {"type": "json_schema", "json_schema": schema, "max_whitespace_cnt": MAX_JSON_WHITESPACE}


def _seq(*elements: Element) -> Element:
    return {"type": "sequence", "elements": list(elements)}


def call_tag(syntax: ToolCallSyntax, tool: Tool) -> Element:
    """One call of `tool` in `syntax`, its arguments following the tool's schema."""
    head = f"{syntax.open}{{{json.dumps(syntax.name_key)}: {json.dumps(tool.name)}, "
    head += f"{json.dumps(syntax.arguments_key)}: "
    return {
        "type": "tag",
        "begin": head,
        "content": _json(tool.parameters),
        "end": "}" + syntax.close,
    }


def _one_call(syntax: ToolCallSyntax, tools: ToolRequest) -> Element:
    tags = [call_tag(syntax, t) for t in tools.callable_tools()]
    return tags[0] if len(tags) == 1 else {"type": "or", "elements": tags}


def _thought(fmt: Format, enforce: bool) -> Element | None:
    """A thought before calls or the final answer, in the format's own form: bounded with
    `enforce`, free text otherwise. None for a format without think tags."""
    if fmt.think_open is None or fmt.think_close is None:
        return None
    if fmt.start_in_think:  # r1: the prompt opened the thought
        return _regex(R1_THINK + _GAP) if enforce else _regex(r"[^<>]*" + fmt.think_close + _GAP)
    if enforce and fmt.think_open == "<think>" and fmt.think_close == "</think>":
        return _regex(INTERLEAVED_THINK + _GAP)
    # A tag's end is literal text, so the optional gap after it is an element of its own.
    tag = {"type": "tag", "begin": fmt.think_open, "content": {"type": "any_text"}}
    return _seq({**tag, "end": fmt.think_close}, _regex(_GAP))


def _calls(fmt: Format, syntax: ToolCallSyntax, tools: ToolRequest, enforce: bool) -> Element:
    """A thought, then one call or (with parallel calls) up to MAX_PARALLEL_CALLS."""
    one = _seq(_one_call(syntax, tools), _regex(_GAP))
    most = MAX_PARALLEL_CALLS if tools.parallel else 1
    calls: Element = one if most == 1 else {"type": "repeat", "min": 1, "max": most, "content": one}
    thought = _thought(fmt, enforce)
    return calls if thought is None else _seq(thought, calls)


def _final_answer(fmt: Format, schema: dict[str, Any], enforce: bool) -> Element:
    """Segments of free text (bounded with `enforce`), then the final answer as JSON."""
    json_answer = _json(schema)
    if fmt.answer_open is None or fmt.answer_close is None:
        # r1's plain answer after the thought, or the whole output (none).
        thought = _thought(fmt, enforce)
        return json_answer if thought is None else _seq(thought, json_answer)
    opener, closer = fmt.answer_open, fmt.answer_close
    last = _seq(_const(opener), _regex(" ?"), json_answer, _regex(" ?"), _const(closer))
    if enforce and fmt.think_open == "<think>" and opener == "<answer>":
        # Up to two think/answer pairs, then a thought and the JSON answer, written as a
        # thought first so that the rest after a prefilled <think> can be said (`after`).
        later = _regex(INTERLEAVED_ANSWER + INTERLEAVED_THINK)
        pairs = {"type": "repeat", "min": 0, "max": 2, "content": later}
        return _seq(_regex(INTERLEAVED_THINK), pairs, last)
    free: list[Element] = [
        {"type": "tag", "begin": opener, "content": {"type": "any_text"}, "end": closer},
        _regex(r"[ \n]"),
    ]
    if fmt.think_open is not None and fmt.think_close is not None:
        think = {"type": "any_text"}
        free.append(
            {"type": "tag", "begin": fmt.think_open, "content": think, "end": fmt.think_close}
        )
    return _seq({"type": "star", "content": {"type": "or", "elements": free}}, last)


def build(
    fmt: Format,
    *,
    enforce_regex: str | None,
    tools: ToolRequest | None = None,
    syntax: ToolCallSyntax | None = None,
    final: dict[str, Any] | None = None,
    final_param: str = "response_format",
) -> Constraint:
    """The constraint of a request. `enforce_regex` is the `enforce_format` expression when the
    request asks for it (None otherwise); `final` the schema of the final answer."""
    callable_ = tools if tools is not None and tools.active and syntax is not None else None
    if callable_ is None and final is None:
        return Constraint(regex=enforce_regex)
    forced = callable_ is not None and callable_.forced
    strict = callable_ is not None and any(t.strict for t in callable_.tools)
    if final is None and enforce_regex is None and not forced and not strict:
        return NO_CONSTRAINT  # calls are read from free text, as the model writes them
    enforce = enforce_regex is not None
    schemas: list[tuple[str, dict[str, Any]]] = []
    element: Element
    if callable_ is not None and syntax is not None:
        schemas += [(t.param, t.parameters) for t in callable_.callable_tools()]
        calls = _calls(fmt, syntax, callable_, enforce)
        if forced:
            element = calls
        elif final is not None:
            element = {"type": "or", "elements": [_final_answer(fmt, final, enforce), calls]}
        elif enforce_regex is not None:
            element = {"type": "or", "elements": [_regex(enforce_regex), calls]}
        else:  # strict tools in free text: what follows a call's opening tag is forced
            element = {
                "type": "triggered_tags",
                "triggers": [syntax.open],
                "tags": [call_tag(syntax, t) for t in callable_.tools],
            }
    else:
        assert final is not None
        element = _final_answer(fmt, final, enforce)
    if final is not None and not forced:
        schemas.append((final_param, final))
    tag = json.dumps({"type": "structural_tag", "format": element}, ensure_ascii=False)
    return Constraint(structural_tag=tag, schemas=tuple(schemas))


def after(constraint: Constraint, opening: str) -> Constraint | None:
    """The constraint on the rest of a reply that `opening` already starts (the prefilled
    think tag, `--prefill-think`); None when this cannot be said, or when the constraint does
    not let a reply start with it: the reply is then not prefilled. The schemas stay."""
    if constraint.regex is not None:
        regex = regex_after(constraint.regex, opening)
        return None if regex is None else Constraint(regex=regex, schemas=constraint.schemas)
    if constraint.structural_tag is not None:
        tag = json.loads(constraint.structural_tag)
        rest = _element_after(tag["format"], opening)
        if rest is None or rest is _NEVER:
            return None
        tag["format"] = rest
        text = json.dumps(tag, ensure_ascii=False)
        return Constraint(structural_tag=text, schemas=constraint.schemas)
    return constraint


# What `_element_after` says of an element no text starting with the opening can match.
_NEVER: Element = {"type": "never"}


def _element_after(element: Element, opening: str) -> Element | None:
    """`element` for what follows `opening` in the texts it matches that start with it;
    `_NEVER` when none does; None when that cannot be said."""
    kind = element["type"]
    if kind == "regex":
        pattern = regex_after(element["pattern"], opening)
        if pattern is not None:
            return _regex(pattern)
        return _NEVER if _regex_never(element["pattern"], opening) else None
    if kind in ("const_string", "tag"):
        head: str = element["value" if kind == "const_string" else "begin"]
        if head.startswith(opening) and (kind == "tag" or len(head) > len(opening)):
            rest = head[len(opening) :]
            return _const(rest) if kind == "const_string" else {**element, "begin": rest}
        return None if opening.startswith(head) else _NEVER
    if kind == "sequence":
        return _sequence_after(element["elements"], opening)
    if kind == "star" or (kind == "repeat" and element["min"] == 0):
        return _sequence_after([element], opening)
    if kind == "repeat" and element["min"] >= 1:
        first = _element_after(element["content"], opening)
        if first is None or first is _NEVER or element["max"] == 1:
            return first
        most = element["max"] - 1 if element["max"] >= 0 else element["max"]  # -1: unbounded
        return _seq(first, {**element, "min": element["min"] - 1, "max": most})
    if kind == "or":
        alternatives = [_element_after(e, opening) for e in element["elements"]]
        if any(a is None for a in alternatives):
            return None
        return _either([a for a in alternatives if a is not None and a is not _NEVER])
    if kind == "any_text":
        return element
    if kind == "triggered_tags" and not any(
        trigger in opening or any(opening.endswith(trigger[:k]) for k in range(1, len(trigger)))
        for trigger in element["triggers"]
    ):
        return element  # free text: the opening neither is nor starts a trigger
    return None


def _sequence_after(elements: list[Element], opening: str) -> Element | None:
    if not elements:
        return _NEVER  # the empty text
    first, rest = elements[0], elements[1:]
    kind = first["type"]
    if kind == "star" or (kind == "repeat" and first["min"] == 0):
        # Repeated at least once, the opening starting the first time; or not at all.
        once = _element_after(first["content"], opening)
        skipped = _sequence_after(rest, opening)
        if once is None or skipped is None:
            return None
        options = []
        if once is not _NEVER:
            more: list[Element] = [first]
            if kind == "repeat" and first["max"] >= 0:
                more = [{**first, "max": first["max"] - 1}] if first["max"] > 1 else []
            options.append(_seq(once, *more, *rest))
        if skipped is not _NEVER:
            options.append(skipped)
        return _either(options)
    head = _element_after(first, opening)
    if head is None or head is _NEVER or not rest:
        return head
    return _seq(head, *rest)


def _either(options: list[Element]) -> Element:
    if not options:
        return _NEVER
    return options[0] if len(options) == 1 else {"type": "or", "elements": options}


def _regex_never(pattern: str, opening: str) -> bool:
    """Whether no text matching `pattern` can start with `opening`, judged from its first
    character or character class (a plain one, not optional); False when unsure."""
    if not pattern or not opening or "|" in pattern:
        return False
    if pattern.startswith("[") and not pattern.startswith("[^"):
        end = pattern.find("]", 1)
        members = pattern[1:end].replace("\\n", "\n")
        if end < 0 or "-" in members or "\\" in members:
            return False
        following = pattern[end + 1 : end + 2]
        return following not in ("?", "*", "{") and opening[0] not in members
    if pattern[0] in "\\.^$()[]{}?*+|":
        return False
    return pattern[1:2] not in ("?", "*", "{") and pattern[0] != opening[0]
