"""From timed events to the numbers: per-request metrics, then distributions over a run.

Per request (seconds from just before the request was sent; token unit: see `classify`):
- ttft: first token of any kind (thinking or answer). Role-only chunks are not tokens, so this
  is stricter than vLLM's `bench serve`, which stops the clock at the role-only chunk.
- ttfa: first answer token, what the user sees first; None when no answer arrived.
- answer_times: when each answer completed; answer_gaps: the differences between successive
  ones (the wait between one shown answer and the next).
- e2el: the last token's arrival, as in vLLM (so that e2el − ttft is the sum of the itls).
- tpot: (e2el − ttft) / (output_tokens − 1), vLLM's definition; None for ≤ 1 token.
- itl: the gaps between successive token arrivals.
- output_tokens: `usage.completion_tokens` when the server reports it, else the token count.
- normalized_ttft: position of the first answer token / response length (Xie et al. 2025,
  App. F.1: 0 = an answer at once, near 1 = the answer only at the end). Both are counted in
  streamed text tokens (chunks with thinking or answer text), the same unit for every server:
  our server streams no tags, so tag tokens are left out for the others too. The paper counts
  tags as well, which shifts values slightly; ratios between servers are unaffected.

Over a run: mean, median, std and percentiles (numpy's linear interpolation, like vLLM) of each,
with vLLM `bench serve` key names (`mean_ttft_ms`, `p99_ttft_ms`, ...); itl and answer gaps
pool the gaps of all requests. Failed requests are counted by kind and excluded from the rest.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

import numpy as np

from benchmarks.ttft.classify import Timeline
from benchmarks.ttft.client import RequestRecord
from parsing import ANSWER

# Metrics summarized in milliseconds (key stem: mean_<stem>_ms ...), in report order.
TIME_METRICS: tuple[str, ...] = ("ttft", "ttfa", "answer_gap", "tpot", "itl", "e2el")
# Metrics a --slo may bound (vLLM's goodput metrics plus ttfa).
SLO_METRICS: tuple[str, ...] = ("ttft", "ttfa", "tpot", "e2el")
DEFAULT_PERCENTILES: tuple[float, ...] = (90.0, 99.0)


@dataclass
class RequestMetrics:
    """One request's measurements (seconds). Failed requests carry only the error."""

    target: str
    prompt_index: int
    start: float  # seconds since the run started, when the request was sent
    error_kind: str | None = None
    error: str | None = None
    ttft: float | None = None
    ttfa: float | None = None
    e2el: float | None = None
    tpot: float | None = None
    itl: list[float] = field(default_factory=list)
    answer_times: list[float] = field(default_factory=list)
    answer_gaps: list[float] = field(default_factory=list)
    answer_texts: list[str] = field(default_factory=list)
    output_tokens: int = 0
    think_tokens: int = 0
    answer_tokens: int = 0
    input_tokens: int | None = None
    first_answer_position: int | None = None
    normalized_ttft: float | None = None
    token_times: list[float] = field(default_factory=list)
    token_kinds: str = ""
    stream_end: float | None = None
    classified_as: str | None = None

    @property
    def ok(self) -> bool:
        return self.error_kind is None

    def value(self, metric: str) -> float | None:
        """A scalar metric by name (ttft, ttfa, tpot, e2el) for SLO checks."""
        return getattr(self, metric)


def request_metrics(record: RequestRecord, timeline: Timeline, run_start: float) -> RequestMetrics:
    out = RequestMetrics(
        target=record.target,
        prompt_index=record.prompt_index,
        start=record.sent_at - run_start,
        error_kind=record.error_kind,
        error=record.error,
    )
    if not record.ok:
        return out
    times = timeline.token_times
    usage = record.usage or {}
    out.classified_as = timeline.mode
    out.token_times = list(times)
    out.token_kinds = timeline.kinds_string
    out.stream_end = record.stream_end
    out.ttft, out.e2el = times[0], times[-1]
    out.itl = [b - a for a, b in pairwise(times)]
    completion = usage.get("completion_tokens")
    out.output_tokens = completion if isinstance(completion, int) else len(times)
    prompt = usage.get("prompt_tokens")
    out.input_tokens = prompt if isinstance(prompt, int) else None
    if out.output_tokens > 1:
        out.tpot = (out.e2el - out.ttft) / (out.output_tokens - 1)
    out.think_tokens = timeline.count("think")
    out.answer_tokens = timeline.count("answer")
    position = timeline.first_answer_position
    if position is not None:
        out.first_answer_position = position
        out.ttfa = times[timeline.token_kinds.index(ANSWER)]
        out.normalized_ttft = position / len(timeline.text_kinds)
    out.answer_times = [a.t for a in timeline.answers]
    out.answer_gaps = [b - a for a, b in pairwise(out.answer_times)]
    out.answer_texts = [a.text for a in timeline.answers]
    return out


def percentile_key(p: float) -> str:
    """vLLM's spelling: 99 -> "p99", 99.9 -> "p99.9"."""
    return f"p{int(p)}" if float(p).is_integer() else f"p{p}"


def distribution(
    values: Sequence[float], percentiles: Iterable[float], scale: float = 1.0
) -> dict[str, float | None]:
    """mean, median, std and the percentiles of `values` × `scale`; None when empty."""
    percentiles = tuple(percentiles)
    if not values:
        stats: dict[str, float | None] = {"mean": None, "median": None, "std": None}
        stats.update({percentile_key(p): None for p in percentiles})
        return stats
    array = np.asarray(values, dtype=float) * scale
    stats = {
        "mean": float(np.mean(array)),
        "median": float(np.median(array)),
        "std": float(np.std(array)),
    }
    for p in percentiles:
        stats[percentile_key(p)] = float(np.percentile(array, p))
    return stats


def parse_slos(specs: Iterable[str]) -> dict[str, float]:
    """["ttfa:500", "e2el:3000"] -> {"ttfa": 500.0, "e2el": 3000.0} (milliseconds)."""
    slos: dict[str, float] = {}
    for spec in specs:
        name, sep, value = spec.partition(":")
        if not sep or name not in SLO_METRICS:
            raise ValueError(f"--slo wants METRIC:MS with METRIC in {SLO_METRICS}, got {spec!r}")
        try:
            slos[name] = float(value)
        except ValueError:
            raise ValueError(f"--slo {spec!r}: {value!r} is not a number of ms") from None
        if slos[name] <= 0:
            raise ValueError(f"--slo {spec!r}: the bound must be positive")
    return slos


def meets_slos(request: RequestMetrics, slos: dict[str, float]) -> bool:
    """Good = succeeded and every bounded metric within its bound. A missing ttfa (no answer)
    fails its bound; a missing tpot (≤ 1 token) counts as 0, as in vLLM."""
    if not request.ok:
        return False
    for name, bound_ms in slos.items():
        value = request.value(name)
        if value is None:
            if name == "tpot":
                continue
            return False
        if value * 1000.0 > bound_ms:
            return False
    return True


def summarize(
    requests: Sequence[RequestMetrics],
    duration: float,
    percentiles: Iterable[float] = DEFAULT_PERCENTILES,
    slos: dict[str, float] | None = None,
) -> dict[str, Any]:
    """A run's figures for one target, with vLLM `bench serve` key names plus ours."""
    percentiles = tuple(percentiles)
    ok = [r for r in requests if r.ok]
    failures = Counter(r.error_kind for r in requests if not r.ok)
    output = sum(r.output_tokens for r in ok)
    inputs = sum(r.input_tokens or 0 for r in ok)
    per_second = (lambda x: x / duration) if duration > 0 else (lambda x: None)
    result: dict[str, Any] = {
        "duration": duration,
        "completed": len(ok),
        "failed": len(requests) - len(ok),
        "failures": dict(sorted(failures.items())),
        "without_answer": sum(1 for r in ok if r.ttfa is None),
        "total_input_tokens": inputs,
        "total_output_tokens": output,
        "total_think_tokens": sum(r.think_tokens for r in ok),
        "total_answer_tokens": sum(r.answer_tokens for r in ok),
        "request_throughput": per_second(len(ok)),
        "request_goodput": None,
        "good_requests": None,
        "output_throughput": per_second(output),
        "total_token_throughput": per_second(inputs + output),
        "mean_answers_per_response": float(np.mean([len(r.answer_times) for r in ok]))
        if ok
        else None,
    }
    if slos:
        good = sum(1 for r in requests if meets_slos(r, slos))
        result["good_requests"] = good
        result["request_goodput"] = per_second(good)
    samples: dict[str, list[float]] = {
        "ttft": [r.ttft for r in ok if r.ttft is not None],
        "ttfa": [r.ttfa for r in ok if r.ttfa is not None],
        "answer_gap": [g for r in ok for g in r.answer_gaps],
        "tpot": [r.tpot for r in ok if r.tpot is not None],
        "itl": [g for r in ok for g in r.itl],
        "e2el": [r.e2el for r in ok if r.e2el is not None],
    }
    for metric in TIME_METRICS:
        for stat, value in distribution(samples[metric], percentiles, 1000.0).items():
            result[f"{stat}_{metric}_ms"] = value
    normalized = [r.normalized_ttft for r in ok if r.normalized_ttft is not None]
    for stat, value in distribution(normalized, percentiles).items():
        result[f"{stat}_normalized_ttft"] = value
    return result


# Keys compared across targets by --compare (target / first target).
RATIO_KEYS: tuple[str, ...] = (
    "median_ttft_ms",
    "mean_ttft_ms",
    "p99_ttft_ms",
    "median_ttfa_ms",
    "mean_ttfa_ms",
    "p99_ttfa_ms",
    "median_answer_gap_ms",
    "median_tpot_ms",
    "median_itl_ms",
    "median_e2el_ms",
    "mean_normalized_ttft",
    "request_throughput",
    "output_throughput",
    "request_goodput",
)


def ratios(base: dict[str, Any], other: dict[str, Any]) -> dict[str, float | None]:
    """other / base for each comparable key; None where either is missing or base is 0."""
    out: dict[str, float | None] = {}
    for key in RATIO_KEYS:
        a, b = base.get(key), other.get(key)
        out[key] = (
            b / a if isinstance(a, int | float) and isinstance(b, int | float) and a else None
        )
    return out
