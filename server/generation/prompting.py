"""What the model is asked: validated messages, the default system prompt, format enforcement."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from modelprep import adapter_style, shipped_adapter_dir
from parsing import get_format
from server.backends.base import Message
from server.config import Settings
from server.http.errors import APIError
from tasks.prompts import INSTRUCTIONS

# "developer" is OpenAI's newer name for the system role; the chat template only knows system.
_ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant"}

# Default structured-output expression for `enforce_format`: 2 or 3 think/answer pairs, each
# segment non-blank and bounded in length. The bounds are what keep a small model from
# looping inside one segment until max_tokens, and what guarantee at least two complete
# answers within ~150 tokens. Deployments of a trained model can pass a looser expression
# with --enforce-format-regex.
INTERLEAVED_THINK_TEXT = r" ?[^<>\s][^<>]{0,119}</think>"  # after the opening tag
INTERLEAVED_THINK = "<think>" + INTERLEAVED_THINK_TEXT
INTERLEAVED_ANSWER = r"<answer> ?[^<>\s][^<>]{0,39}</answer>"
_INTERLEAVED_PAIR = INTERLEAVED_THINK + INTERLEAVED_ANSWER
INTERLEAVED_REGEX = f"({_INTERLEAVED_PAIR}){{2,3}}"
# The same expression for the rest of the reply once its opening <think> is written
# (`--prefill-think`).
INTERLEAVED_REGEX_AFTER_OPENING = (
    INTERLEAVED_THINK_TEXT + INTERLEAVED_ANSWER + f"({_INTERLEAVED_PAIR}){{1,2}}"
)
# r1: the prompt opens <think>; one bounded thinking block, then a plain answer.
R1_THINK = r" ?[^<>\s][^<>]{0,399}</think>"
R1_REGEX = R1_THINK + r" ?[^<>\s][^<>]{0,199}"


def system_prompt_for(settings: Settings) -> str | None:
    """The system prompt added to requests that bring none, or None for no prompt."""
    if settings.no_system_prompt:
        return None
    if settings.system_prompt is not None:
        return settings.system_prompt
    if settings.format != "interleaved":
        return None
    # An adapter is served under the instruction of the style it learned (the think-answer
    # baseline twin under the think-answer one); an adapter of unknown style, or none, under
    # the interleaved instruction.
    adapter = served_adapter(settings)
    style = adapter_style(adapter) if adapter is not None else None
    return INSTRUCTIONS.get(style or "interleaved", INSTRUCTIONS["interleaved"])


def served_adapter(settings: Settings) -> Path | None:
    """The adapter folder this server loads: --adapter, else the shipped default, else None."""
    if settings.no_adapter or settings.upstream:
        return None
    return Path(settings.adapter) if settings.adapter else shipped_adapter_dir()


def to_messages(
    raw: Sequence[tuple[str, str]], system_prompt: str | None, *, param: str = "messages"
) -> list[Message]:
    """Validate (role, text) pairs and add the default system prompt when none is given."""
    messages: list[Message] = []
    for i, (role, text) in enumerate(raw):
        mapped = _ROLES.get(role)
        if mapped is None:
            raise APIError(
                400,
                f"{param}.{i}.role: unknown role {role!r}; expected one of "
                "system, developer, user, assistant",
                param=f"{param}.{i}.role",
                code="invalid_value",
            )
        messages.append(Message(mapped, text))
    if system_prompt is not None and not any(m.role == "system" for m in messages):
        messages.insert(0, Message("system", system_prompt))
    return messages


def opening_prefill(settings: Settings) -> str:
    """What the local engine writes for the model as the start of a reply (`--prefill-think`):
    the opening think tag, or "" for none.

    Only the interleaved format's replies open with a think segment (r1's is opened by the
    prompt, `none` has none). A gateway forwards requests as they are and never prefills.
    """
    if not settings.prefill_think or settings.upstream or settings.format != "interleaved":
        return ""
    return get_format(settings.format).think_open or ""


def opens_by_itself(settings: Settings) -> bool:
    """Whether the served model certainly writes the opening think tag on its own: one with an
    adapter trained on the format does. A model served without an adapter may be a base model
    that does not write the format (the default one does not); its replies are prefilled only
    where the enforce_format expression requires the tag."""
    return served_adapter(settings) is not None


def regex_after(pattern: str, opening: str) -> str | None:
    """`pattern` for the rest of a reply that `opening` already starts; None when that cannot
    be said (a custom expression that does not begin with the opening literally)."""
    if pattern == INTERLEAVED_REGEX and opening == "<think>":
        return INTERLEAVED_REGEX_AFTER_OPENING
    if "|" in pattern:
        return None  # an alternative might not start with the opening
    for head in {opening, re.escape(opening)}:
        rest = pattern[len(head) :]
        if pattern.startswith(head) and rest and rest[0] not in "?*+{":
            return rest
    return None


def enforce_regex(settings: Settings) -> str:
    """The expression `enforce_format` requests are constrained to."""
    if settings.enforce_format_regex:
        return settings.enforce_format_regex
    if settings.format == "interleaved":
        return INTERLEAVED_REGEX
    if settings.format == "r1":
        return R1_REGEX
    raise APIError(
        400,
        "enforce_format needs a model with a tagged output format; this server runs --format none",
        param="enforce_format",
        code="unsupported",
    )


def check_regex(pattern: str) -> None:
    """Fail at start-up, not per request, when --enforce-format-regex is not a valid regex."""
    re.compile(pattern)
