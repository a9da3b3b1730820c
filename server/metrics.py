"""Prometheus metrics of the server (prefix `interleaved_`), on prometheus_client's default
registry, where vLLM's engine registers its own `vllm:*` metrics: one /metrics serves both."""

from __future__ import annotations

from itertools import pairwise

from prometheus_client import REGISTRY, Counter, Gauge, Histogram

from server.generation.shaping import ChoiceShaper

_LATENCY_BUCKETS = (
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    20.0,
    40.0,
    80.0,
    160.0,
    320.0,
)

REQUESTS = Counter(
    "interleaved_requests", "HTTP requests by endpoint and status", ["endpoint", "status"]
)
IN_FLIGHT = Gauge("interleaved_requests_in_flight", "Generation requests being served")
TTFT = Histogram(
    "interleaved_time_to_first_token_seconds",
    "Request arrival to the first generated token",
    buckets=_LATENCY_BUCKETS,
)
TTFA = Histogram(
    "interleaved_time_to_first_answer_seconds",
    "Request arrival to the first answer text",
    buckets=_LATENCY_BUCKETS,
)
BETWEEN_ANSWERS = Histogram(
    "interleaved_time_between_answers_seconds",
    "Time between the completions of successive answers",
    buckets=_LATENCY_BUCKETS,
)
E2E = Histogram(
    "interleaved_e2e_latency_seconds", "Request arrival to the last token", buckets=_LATENCY_BUCKETS
)
ANSWERS = Histogram(
    "interleaved_answers_per_response",
    "Answer segments per response",
    buckets=(0, 1, 2, 3, 4, 5, 6, 8, 10, 15, 20),
)
RESPONSES = Counter("interleaved_responses", "Responses (choices) generated to the end")
FORMAT_VALID = Counter("interleaved_format_valid", "Responses that follow the output format")
THINK_TOKENS = Counter("interleaved_think_tokens", "Completion tokens inside think segments")
ANSWER_TOKENS = Counter("interleaved_answer_tokens", "Completion tokens outside think segments")
FORCED_CLOSES = Counter(
    "interleaved_forced_closes",
    "Think segments a reasoning budget closed, by the budget field that fired",
    ["reason"],
)


def observe_choice(shaper: ChoiceShaper, t0: float, end: float) -> None:
    """Record one finished choice (the client may have left; the engine still did the work)."""
    if shaper.first_token_at is not None:
        TTFT.observe(shaper.first_token_at - t0)
    if shaper.first_answer_at is not None:
        TTFA.observe(shaper.first_answer_at - t0)
    for earlier, later in pairwise(shaper.answer_times):
        BETWEEN_ANSWERS.observe(later - earlier)
    E2E.observe(end - t0)
    ANSWERS.observe(len(shaper.answers))
    THINK_TOKENS.inc(shaper.think_tokens)
    ANSWER_TOKENS.inc(shaper.answer_tokens)
    RESPONSES.inc()
    if shaper.format_ok():
        FORMAT_VALID.inc()


def observe_tokens_only(shaper: ChoiceShaper) -> None:
    """An aborted choice: count its tokens, leave the latency histograms alone."""
    THINK_TOKENS.inc(shaper.think_tokens)
    ANSWER_TOKENS.inc(shaper.answer_tokens)


__all__ = ["REGISTRY"]
