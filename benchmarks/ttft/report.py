"""What a run produces: the console table and the JSON file.

JSON layout (one file per invocation):
- top level: the run's settings, then the first target's figures of the first run with vLLM
  `bench serve` key names (`completed`, `request_throughput`, `output_throughput`,
  `mean_ttft_ms`, `median_ttft_ms`, `p99_ttft_ms`, ...) plus ours (`mean_ttfa_ms`,
  `median_answer_gap_ms`, `mean_normalized_ttft`, `failures`, ...), so tools that read vLLM's
  files read a single-target run as is;
- `runs`: every run (one, or one per --sweep step), each with `targets` (the same keys per
  target) and `ratios` (each further target / the first, per compared key);
- with --save-detailed, per target per run, per-request arrays: vLLM's `input_lens`,
  `output_lens`, `ttfts`, `itls`, `latencies`, `start_times`, `errors`, and ours `ttfas`,
  `answer_times` (every answer's completion time), `answer_texts`, `think_tokens`,
  `answer_tokens`, `normalized_ttfts`, `token_times`, `token_kinds` (T/A/O per token).
Times in the per-request arrays are seconds, as in vLLM; summary keys ending in _ms are ms.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.ttft.client import Target
from benchmarks.ttft.metrics import TIME_METRICS, RequestMetrics, percentile_key, ratios


@dataclass
class TargetRun:
    target: Target
    requests: list[RequestMetrics]
    summary: dict[str, Any]


@dataclass
class Run:
    label: str
    request_rate: float
    max_concurrency: int | None
    targets: list[TargetRun] = field(default_factory=list)

    def ratios(self) -> dict[str, dict[str, float | None]]:
        base = self.targets[0].summary
        return {t.target.name: ratios(base, t.summary) for t in self.targets[1:]}


def detailed(requests: Sequence[RequestMetrics]) -> dict[str, list[Any]]:
    """Per-request arrays, in send order."""
    return {
        "prompt_indices": [r.prompt_index for r in requests],
        "input_lens": [r.input_tokens for r in requests],
        "output_lens": [r.output_tokens for r in requests],
        "ttfts": [r.ttft for r in requests],
        "itls": [r.itl for r in requests],
        "latencies": [r.e2el for r in requests],
        "start_times": [r.start for r in requests],
        "errors": [r.error or "" for r in requests],
        "error_kinds": [r.error_kind for r in requests],
        "ttfas": [r.ttfa for r in requests],
        "answer_times": [r.answer_times for r in requests],
        "answer_texts": [r.answer_texts for r in requests],
        "think_tokens": [r.think_tokens for r in requests],
        "answer_tokens": [r.answer_tokens for r in requests],
        "normalized_ttfts": [r.normalized_ttft for r in requests],
        "stream_ends": [r.stream_end for r in requests],
        "classified_as": [r.classified_as for r in requests],
        "token_times": [r.token_times for r in requests],
        "token_kinds": [r.token_kinds for r in requests],
    }


def _json_rate(rate: float) -> float | str:
    return "inf" if math.isinf(rate) else rate  # JSON has no infinity; vLLM writes "inf" too


def run_json(run: Run, save_detailed: bool) -> dict[str, Any]:
    targets: dict[str, Any] = {}
    for t in run.targets:
        entry: dict[str, Any] = {
            "base_url": t.target.base_url,
            "model_id": t.target.model,
            **t.summary,
        }
        if save_detailed:
            entry.update(detailed(t.requests))
        targets[t.target.name] = entry
    return {
        "label": run.label,
        "request_rate": _json_rate(run.request_rate),
        "max_concurrency": run.max_concurrency,
        "targets": targets,
        "ratios": run.ratios(),
    }


def result_json(settings: dict[str, Any], runs: Sequence[Run], save_detailed: bool) -> dict:
    first = runs[0]
    head = first.targets[0]
    return {
        **settings,
        "model_id": head.target.model,
        "request_rate": _json_rate(first.request_rate),
        "max_concurrency": first.max_concurrency,
        **head.summary,
        "runs": [run_json(run, save_detailed) for run in runs],
    }


def write_json(path: Path, result: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")


# ---- console ---------------------------------------------------------------------------

_TITLES = {
    "ttft": "TTFT (ms)",
    "ttfa": "TTFA (ms)",
    "answer_gap": "gap between answers (ms)",
    "tpot": "TPOT (ms)",
    "itl": "ITL (ms)",
    "e2el": "E2EL (ms)",
}


def _fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, int):
        return str(value)
    return f"{value:.{digits}f}"


def table(run: Run, percentiles: Sequence[float]) -> str:
    """One column per target, then one ratio column per further target."""
    names = [t.target.name for t in run.targets]
    summaries = [t.summary for t in run.targets]
    base = summaries[0]
    heads = ["", *names, *(f"{n}/{names[0]}" for n in names[1:])]
    rows: list[list[str]] = []

    def row(title: str, key: str, digits: int = 1, ratio: bool = True) -> None:
        values = [s.get(key) for s in summaries]
        cells = [_fmt(v, digits) for v in values]
        for v in values[1:]:
            a = base.get(key)
            ok = ratio and isinstance(a, int | float) and isinstance(v, int | float) and a
            cells.append(f"{v / a:.2f}x" if ok else "")
        rows.append([title, *cells])

    def text_row(title: str, cells: list[str]) -> None:
        rows.append([title, *cells, *([""] * (len(names) - 1))])

    text_row("requests ok / failed", [f"{s['completed']} / {s['failed']}" for s in summaries])
    if any(s["failures"] for s in summaries):
        text_row(
            "failures by kind",
            [", ".join(f"{k}: {n}" for k, n in s["failures"].items()) or "-" for s in summaries],
        )
    row("ok without an answer", "without_answer", ratio=False)
    row("duration (s)", "duration", 2, ratio=False)
    row("output tokens (think / answer)", "total_output_tokens", ratio=False)
    text_row(
        "  streamed think / answer",
        [f"{s['total_think_tokens']} / {s['total_answer_tokens']}" for s in summaries],
    )
    row("request throughput (req/s)", "request_throughput", 3)
    row("output throughput (tok/s)", "output_throughput", 1)
    if base.get("request_goodput") is not None:
        row("goodput (req/s)", "request_goodput", 3)
        row("  good requests", "good_requests", ratio=False)
    row("answers per response", "mean_answers_per_response", 2)
    stats = ["mean", "median", *(percentile_key(p) for p in percentiles)]
    for metric in TIME_METRICS:
        for stat in stats:
            title = _TITLES[metric] if stat == "mean" else ""
            row(f"{title:<26}{stat:>7}", f"{stat}_{metric}_ms")
    for stat in stats:
        title = "normalized TTFT" if stat == "mean" else ""
        row(f"{title:<26}{stat:>7}", f"{stat}_normalized_ttft", 3)
    return f"== {run.label} ==\n" + _render([heads, *rows], left_first=True)


def sweep_table(runs: Sequence[Run]) -> str:
    """One line per run and target: the figures a sweep is read for."""
    heads = ["run", "target", "req/s", "tok/s", "med TTFT ms", "med TTFA ms", "p99 TTFA ms"]
    rows = [heads]
    for run in runs:
        for t in run.targets:
            s = t.summary
            rows.append(
                [
                    run.label,
                    t.target.name,
                    _fmt(s["request_throughput"], 3),
                    _fmt(s["output_throughput"]),
                    _fmt(s["median_ttft_ms"]),
                    _fmt(s["median_ttfa_ms"]),
                    _fmt(s.get("p99_ttfa_ms")),
                ]
            )
    return _render(rows, left_first=False)


def _render(rows: list[list[str]], left_first: bool) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(
            c.ljust(w) if i == 0 and left_first else c.rjust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        ).rstrip()
        for r in rows
    )
