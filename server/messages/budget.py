"""Messages API reasoning controls on our one `ReasoningBudget`
(`server.generation.reasoning_fields`).

    thinking: {type: enabled, budget_tokens: N}   total think cap N (Anthropic's minimum of
                                                  1024 is not imposed: small models think less)
    thinking: {type: disabled}                    a cap of 0: every segment is an answer
    thinking: {type: adaptive}                    no cap
    output_config: {effort: low|medium|high}      the --reasoning-effort-* caps; xhigh and max
                                                  set none

Two of them that set different caps are a 400 naming the second, never a silent choice.
"""

from __future__ import annotations

from server.config import Settings
from server.generation.budgets import NO_BUDGET, ReasoningBudget
from server.generation.reasoning_fields import check_honourable, effort_tokens
from server.http.errors import APIError
from server.messages.protocol import MessagesRequest, ThinkingDisabled, ThinkingEnabled


def messages_budget(body: MessagesRequest, settings: Settings) -> ReasoningBudget:
    caps: list[tuple[str, int]] = []
    if isinstance(body.thinking, ThinkingEnabled):
        caps.append(("thinking.budget_tokens", body.thinking.budget_tokens))
    elif isinstance(body.thinking, ThinkingDisabled):
        caps.append(("thinking.type", 0))
    effort = body.output_config.effort if body.output_config is not None else None
    if effort in ("low", "medium", "high"):
        caps.append(("output_config.effort", effort_tokens(settings, effort)))
    if not caps:
        return NO_BUDGET
    (first_param, cap), *rest = caps
    for param, value in rest:
        if value != cap:
            raise APIError(
                400,
                f"{param}: sets a thinking budget of {value} tokens but {first_param} sets "
                f"{cap}; send one of them",
                param=param,
                code="conflicting_fields",
            )
    budget = ReasoningBudget(max_total_tokens=cap)
    check_honourable(budget, settings, n=1, enforce_format=body.enforce_format, source=first_param)
    return budget
