"""Accuracy against time to first answer, across reasoning budgets: `--budget-sweep`.

    python -m benchmarks.ttft --target ours=http://127.0.0.1:8000 --dataset kk,multihop \\
        --num-prompts 100 --max-tokens 768 \\
        --budget-sweep first_answer_tokens=32,64,128,none --budget-sweep max_segment_tokens=32,64

Each `FIELD=V,V,...` is one axis of our server's `reasoning_budget` (`none`: no such limit);
every value is one setting, and settings of several axes are swept one axis at a time (the
unbudgeted setting once). Every setting sends the same held-out prompts of each dataset
(non-streaming, the instruction the model was trained with), judges them with the accuracy
benchmark's judge (`benchmarks.accuracy.judge`, as training scores them) and reads the
server's own `timings` (time to first answer from the request's arrival, forced closes).

Per setting and dataset: Pass@1 of the final answer; the share of correct intermediate
answers (answers before the final one that equal some intermediate ground truth); median and
mean time to first answer; mean forced closes and the median time each took to resume
(`ForcedClose.resume_ms`: under load a continuation queues like any request). JSON beside a
PNG of Pass@1 against median time to first answer, one line per dataset and axis.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from benchmarks.ttft.client import Target

# The fields of our `reasoning_budget` a sweep may vary.
AXES = ("first_answer_tokens", "first_answer_ms", "max_segment_tokens", "max_total_tokens")


@dataclass(frozen=True)
class Setting:
    """One point of the sweep: the budget sent (empty: none) and its label."""

    axis: str | None
    budget: dict[str, float]

    @property
    def label(self) -> str:
        if not self.budget:
            return "none"
        return ",".join(f"{k}={v:g}" for k, v in self.budget.items())


def parse_sweep(specs: list[str]) -> list[Setting]:
    """`["first_answer_tokens=32,64,none", ...]` -> the settings, unbudgeted once, in order."""
    settings: list[Setting] = []
    unbudgeted = False
    for spec in specs:
        axis, sep, values = spec.partition("=")
        axis = axis.strip()
        if not sep or axis not in AXES:
            raise ValueError(
                f"--budget-sweep {spec!r}: expected FIELD=V,V,... with FIELD in {AXES}"
            )
        for raw in values.split(","):
            raw = raw.strip()
            if raw == "none":
                if not unbudgeted:
                    settings.append(Setting(None, {}))
                    unbudgeted = True
                continue
            try:
                value = float(raw) if axis == "first_answer_ms" else int(raw)
            except ValueError:
                raise ValueError(f"--budget-sweep {spec!r}: {raw!r} is not a number") from None
            if value < 0:
                raise ValueError(f"--budget-sweep {spec!r}: values must not be negative")
            settings.append(Setting(axis, {axis: value}))
    if not settings:
        raise ValueError("--budget-sweep needs at least one value")
    return settings


@dataclass
class Outcome:
    """One judged request of one setting."""

    dataset: str
    correct: bool = False
    ok: bool = False
    intermediate_given: int = 0
    intermediate_given_correct: int = 0
    ttfa_ms: float | None = None
    forced_closes: int = 0
    resume_ms: list[float] = field(default_factory=list)  # what each forced close cost
    error: str | None = None
    # With --save-detailed: the example, the answers given and the server's timings.
    id: str = ""
    answers: list[str] = field(default_factory=list)
    timings: dict[str, Any] | None = None


@dataclass
class SettingResult:
    setting: Setting
    outcomes: list[Outcome] = field(default_factory=list)

    def summary(self, dataset: str) -> dict[str, Any]:
        rows = [o for o in self.outcomes if o.dataset == dataset]
        done = [o for o in rows if o.ok]
        ttfa = [o.ttfa_ms for o in done if o.ttfa_ms is not None]
        given = sum(o.intermediate_given for o in done)
        resume = [ms for o in done for ms in o.resume_ms]
        return {
            "setting": self.setting.label,
            "axis": self.setting.axis,
            "budget": self.setting.budget,
            "dataset": dataset,
            "requests": len(rows),
            "failed": len(rows) - len(done),
            "pass_at_1": sum(o.correct for o in done) / len(done) if done else None,
            "intermediate_correct_share": (
                sum(o.intermediate_given_correct for o in done) / given if given else None
            ),
            "intermediate_given": given,
            "median_ttfa_ms": statistics.median(ttfa) if ttfa else None,
            "mean_ttfa_ms": statistics.fmean(ttfa) if ttfa else None,
            "without_answer": len(done) - len(ttfa),
            "mean_forced_closes": (
                statistics.fmean(o.forced_closes for o in done) if done else None
            ),
            "median_resume_ms": statistics.median(resume) if resume else None,
        }


def load_examples(datasets: list[str], num_prompts: int, seed: int) -> list[Any]:
    """`num_prompts` held-out examples of each generated dataset (kk, multihop)."""
    from tasks import generate

    examples = []
    for name in datasets:
        examples += generate(name, num_prompts, split="test", seed=seed)
    return examples


async def _one(
    client: httpx.AsyncClient,
    target: Target,
    example: Any,
    setting: Setting,
    args: Any,
    limit: asyncio.Semaphore,
) -> Outcome:
    from benchmarks.accuracy.client import request_body
    from benchmarks.accuracy.judge import judge, response_view

    extra = dict(target.extra_body)
    if setting.budget:
        extra["reasoning_budget"] = {**extra.get("reasoning_budget", {}), **setting.budget}
    body = request_body(example, args.style, target.model, args.max_tokens, args.temperature, extra)
    outcome = Outcome(dataset=example.dataset, id=example.id)
    async with limit:
        try:
            response = await client.post(target.chat_url, json=body)
        except httpx.HTTPError as e:
            outcome.error = f"{type(e).__name__}: {e}"
            return outcome
    if response.status_code != 200:
        outcome.error = f"HTTP {response.status_code}: {response.text[:300]}"
        return outcome
    try:
        data = response.json()
        timings = data["choices"][0]["timings"]
        judged = judge(example, response_view(data))
    except (ValueError, KeyError, IndexError, TypeError) as e:
        outcome.error = f"unexpected response (is this our server?): {type(e).__name__}: {e}"
        return outcome
    outcome.ok = True
    outcome.answers = [str(a.get("text", "")) for a in data["choices"][0]["message"]["answers"]]
    outcome.timings = timings
    outcome.correct = judged.correct
    outcome.intermediate_given = judged.intermediate_given
    outcome.intermediate_given_correct = judged.intermediate_given_correct
    outcome.ttfa_ms = timings.get("time_to_first_answer_ms")
    outcome.forced_closes = int(timings.get("forced_closes") or 0)
    outcome.resume_ms = [
        f["resume_ms"] for f in timings.get("forced") or () if f.get("resume_ms") is not None
    ]
    return outcome


async def run(
    target: Target,
    examples: list[Any],
    settings: list[Setting],
    args: Any,
    transport: httpx.AsyncBaseTransport | None = None,
) -> list[SettingResult]:
    """Every setting over every example, settings one after another (so they do not share
    the machine), `--max-concurrency` requests in flight within one (default 8).

    With `--warmups` (default 1) every prompt is first sent once for a single token, unmeasured:
    otherwise the first setting alone pays the prompts' uncached prefills (measured with a
    16-token deadline, 8 prompts each at concurrency 8: median time to first answer 2.0 s
    cold against 1.5 s warm on K&K, 2.7 s against 1.7 s on multi-hop)."""
    headers = {"Authorization": f"Bearer {target.api_key}"} if target.api_key else {}
    limit = asyncio.Semaphore(args.max_concurrency or 8)
    results = []
    async with httpx.AsyncClient(
        headers=headers, timeout=args.request_timeout, transport=transport
    ) as client:
        if args.warmups > 0:
            warm = argparse.Namespace(**{**vars(args), "max_tokens": 1})
            await asyncio.gather(
                *(_one(client, target, ex, Setting(None, {}), warm, limit) for ex in examples)
            )
        for setting in settings:
            outcomes = await asyncio.gather(
                *(_one(client, target, ex, setting, args, limit) for ex in examples)
            )
            results.append(SettingResult(setting, list(outcomes)))
    return results


def summaries(results: list[SettingResult], datasets: list[str]) -> list[dict[str, Any]]:
    return [r.summary(d) for d in datasets for r in results]


def table(rows: list[dict[str, Any]]) -> str:
    def fmt(value: Any, spec: str) -> str:
        return "-" if value is None else format(value, spec)

    lines = [
        "| dataset | setting | Pass@1 | correct intermediate answers | median TTFA (ms) "
        "| mean TTFA (ms) | forced closes / response | median resume (ms) | failed |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        share = fmt(r["intermediate_correct_share"], ".2f")
        lines.append(
            f"| {r['dataset']} | {r['setting']} | {fmt(r['pass_at_1'], '.3f')} "
            f"| {share} ({r['intermediate_given']}) | {fmt(r['median_ttfa_ms'], '.0f')} "
            f"| {fmt(r['mean_ttfa_ms'], '.0f')} | {fmt(r['mean_forced_closes'], '.2f')} "
            f"| {fmt(r['median_resume_ms'], '.0f')} | {r['failed']} |"
        )
    return "\n".join(lines)


def plot(rows: list[dict[str, Any]], path: Path) -> Path:
    """Pass@1 against median time to first answer: one line per dataset and axis, the
    unbudgeted point on every line of its dataset."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    datasets = list(dict.fromkeys(r["dataset"] for r in rows))
    axes = list(dict.fromkeys(r["axis"] for r in rows if r["axis"] is not None)) or [None]
    for dataset in datasets:
        base = [r for r in rows if r["dataset"] == dataset and r["axis"] is None]
        for axis in axes:
            points = [r for r in rows if r["dataset"] == dataset and r["axis"] == axis] + base
            points = [
                r for r in points if r["median_ttfa_ms"] is not None and r["pass_at_1"] is not None
            ]
            points.sort(key=lambda r: r["median_ttfa_ms"])
            if not points:
                continue
            xs = [r["median_ttfa_ms"] for r in points]
            ys = [r["pass_at_1"] for r in points]
            ax.plot(xs, ys, marker="o", label=f"{dataset}, {axis or 'none'}")
            for r in points:
                ax.annotate(
                    r["setting"].split("=")[-1],
                    (r["median_ttfa_ms"], r["pass_at_1"]),
                    textcoords="offset points",
                    xytext=(4, 4),
                    fontsize=7,
                )
    ax.set_xlabel("median time to first answer (ms, server-side)")
    ax.set_ylabel("Pass@1 (final answer)")
    ax.set_title("Reasoning budgets: accuracy vs time to first answer")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
