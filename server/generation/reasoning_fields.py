"""The reasoning fields clients send, mapped onto one `ReasoningBudget`, or a 400 naming them.

Clients and gateways speak several dialects for "think less"; each one maps onto the same
budget (see the README's *Reasoning controls* for the table):

    reasoning_effort: none|low|medium|high         total think cap from the --reasoning-effort-*
    reasoning: {effort, max_tokens, exclude,        (OpenRouter) effort as above, max_tokens the
                enabled}                            total cap, exclude hides the think text,
                                                    enabled false a cap of 0
    include_reasoning: false                        think text left out of the response
    chat_template_kwargs: {enable_thinking}         false: a cap of 0, every segment an answer
    thinking_token_budget: N                        (vLLM) the total cap
    reasoning_budget: {max_segment_tokens,          our own, every limit explicit
        max_total_tokens, first_answer_tokens,
        first_answer_ms}
    Responses: reasoning: {effort, summary}         effort as above; summary only "auto"/null

Two fields that set different total caps contradict each other, as does a field that turns
thinking on beside one that turns it off: both are 400s that name the fields, never a silent
choice. So are budgets the request path cannot honour: with n > 1 (one choice cannot be
steered alone), with `enforce_format` (the structured-output expression cannot be resumed
mid-way), and on a server whose format has no think tags.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from parsing import get_format
from server.config import Settings
from server.generation.budgets import NO_BUDGET, ReasoningBudget
from server.http.errors import APIError


def effort_tokens(settings: Settings, effort: str) -> int:
    """The total think cap of a `reasoning_effort` level (the --reasoning-effort-* flags)."""
    if effort == "none":
        return 0
    return int(getattr(settings, f"reasoning_effort_{effort}_tokens"))


def _error(message: str, param: str, code: str = "invalid_value") -> APIError:
    return APIError(400, f"{param}: {message}", param=param, code=code)


class _Collector:
    """Total caps and on/off claims from several fields, checked for agreement."""

    def __init__(self) -> None:
        self.total: list[tuple[str, int]] = []  # (param, cap)
        self.thinking_on: list[str] = []  # params that ask for thinking explicitly

    def cap(self, param: str, value: int | None) -> None:
        if value is not None:
            self.total.append((param, value))

    def source(self) -> str:
        """The field that set a limit, for messages about limits in general."""
        return self.total[0][0] if self.total else "reasoning_budget"

    def resolved(self) -> int | None:
        if not self.total:
            return None
        first_param, first = self.total[0]
        for param, value in self.total[1:]:
            if value != first:
                raise _error(
                    f"sets a thinking budget of {value} tokens but {first_param} sets "
                    f"{first}; send one of them",
                    param,
                    "conflicting_fields",
                )
        if first == 0 and self.thinking_on:
            raise _error(
                f"asks for thinking but {first_param} turns it off (a budget of 0 tokens)",
                self.thinking_on[0],
                "conflicting_fields",
            )
        return first


def chat_budget(body: Any, settings: Settings) -> ReasoningBudget:
    """The budget of a `ChatCompletionRequest` (`server.schemas`)."""
    caps = _Collector()
    exclude: list[str] = []
    include: list[str] = []
    if body.reasoning_effort is not None:
        caps.cap("reasoning_effort", effort_tokens(settings, body.reasoning_effort))
    if body.reasoning is not None:
        r = body.reasoning
        if r.effort is not None:
            caps.cap("reasoning.effort", effort_tokens(settings, r.effort))
        caps.cap("reasoning.max_tokens", r.max_tokens)
        if r.enabled is False:
            caps.cap("reasoning.enabled", 0)
        elif r.enabled is True:
            caps.thinking_on.append("reasoning.enabled")
        if r.exclude is True:
            exclude.append("reasoning.exclude")
        elif r.exclude is False:
            include.append("reasoning.exclude")
    if body.include_reasoning is False:
        exclude.append("include_reasoning")
    elif body.include_reasoning is True:
        include.append("include_reasoning")
    if exclude and include:
        raise _error(
            f"asks for the reasoning text but {exclude[0]} leaves it out; send one of them",
            include[0],
            "conflicting_fields",
        )
    kwargs = body.chat_template_kwargs
    if kwargs is not None and kwargs.enable_thinking is not None:
        if kwargs.enable_thinking:
            caps.thinking_on.append("chat_template_kwargs.enable_thinking")
        else:
            caps.cap("chat_template_kwargs.enable_thinking", 0)
    caps.cap("thinking_token_budget", body.thinking_token_budget)
    budget = _explicit(body.reasoning_budget, caps)
    budget = replace(budget, max_total_tokens=caps.resolved(), exclude=bool(exclude))
    check_honourable(
        budget, settings, n=body.n, enforce_format=body.enforce_format, source=caps.source()
    )
    return budget


def responses_budget(body: Any, settings: Settings) -> ReasoningBudget:
    """The budget of a `ResponsesRequest` (`server.schemas`)."""
    caps = _Collector()
    if body.reasoning is not None and body.reasoning.effort is not None:
        caps.cap("reasoning.effort", effort_tokens(settings, body.reasoning.effort))
    budget = _explicit(body.reasoning_budget, caps)
    budget = replace(budget, max_total_tokens=caps.resolved())
    check_honourable(
        budget, settings, n=1, enforce_format=body.enforce_format, source=caps.source()
    )
    return budget


def _explicit(field: Any, caps: _Collector) -> ReasoningBudget:
    """Our own `reasoning_budget` object; its total cap joins the others for the check."""
    if field is None:
        return NO_BUDGET
    caps.cap("reasoning_budget.max_total_tokens", field.max_total_tokens)
    return ReasoningBudget(
        max_segment_tokens=field.max_segment_tokens,
        first_answer_tokens=field.first_answer_tokens,
        first_answer_ms=field.first_answer_ms,
    )


def check_honourable(
    budget: ReasoningBudget,
    settings: Settings,
    *,
    n: int,
    enforce_format: bool,
    source: str = "reasoning_budget",
) -> None:
    """400 for a budget this server cannot enforce on this request; `source` is the field
    that asked for it (named when the server as a whole cannot)."""
    if not budget.steers:
        return
    fmt = get_format(settings.format)
    if fmt.think_open is None:
        raise _error(
            f"reasoning budgets need a model with think tags; this server runs --format "
            f"{settings.format}",
            source,
            "unsupported",
        )
    if n != 1:
        raise _error(
            "reasoning budgets need n=1 (a forced close restarts generation, which cannot be "
            "done for one choice of several)",
            "n",
            "unsupported",
        )
    if enforce_format:
        raise _error(
            "cannot be combined with reasoning budgets (the structured-output expression "
            "cannot be resumed after a forced close)",
            "enforce_format",
            "unsupported",
        )
