"""Aggregate judged responses by dataset and by difficulty; table, JSON and PNG."""

from __future__ import annotations

import json
import statistics
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.accuracy.judge import Judged

COLUMNS = (
    "n",
    "errors",
    "pass_at_1",
    "format_rate",
    "intermediate_accuracy",
    "intermediate_precision",
    "cut_rate",
    "normalized_ttft",
    "median_normalized_ttft",
    "median_ttfa_ms",
    "completion_tokens",
    "facts_right",
)


def aggregate(rows: Sequence[Judged]) -> dict[str, Any]:
    """Means over the successful requests; `errors` counts the failed ones."""
    ok = [r for r in rows if r.ok]
    truths = sum(r.intermediate_total for r in ok)
    given = sum(r.intermediate_given for r in ok)
    ttfts = [r.normalized_ttft for r in ok if r.normalized_ttft is not None]
    tokens = [r.completion_tokens for r in ok if r.completion_tokens is not None]
    ttfas = [r.ttfa_ms for r in ok if r.ttfa_ms is not None]
    return {
        "n": len(ok),
        "errors": len(rows) - len(ok),
        "pass_at_1": _mean([float(r.correct) for r in ok]),
        "format_rate": _mean([float(r.format_ok) for r in ok]),
        "intermediate_accuracy": (
            sum(r.intermediate_matched for r in ok) / truths if truths else None
        ),
        # Of the answers shown before the final one, the share that is right.
        "intermediate_precision": (
            sum(r.intermediate_given_correct for r in ok) / given if given else None
        ),
        "cut_rate": _mean([float(r.cut) for r in ok]),
        "normalized_ttft": _mean(ttfts),
        "median_normalized_ttft": statistics.median(ttfts) if ttfts else None,
        "median_ttfa_ms": statistics.median(ttfas) if ttfas else None,
        "completion_tokens": _mean([float(t) for t in tokens]),
        # Everyday prompts with one checkable fact: the share whose first answer states it.
        "facts_right": _mean([float(r.fact_right) for r in ok if r.fact_right is not None]),
    }


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def summarize(rows: Sequence[Judged]) -> dict[str, Any]:
    by_dataset: dict[str, list[Judged]] = defaultdict(list)
    by_difficulty: dict[str, list[Judged]] = defaultdict(list)
    for r in rows:
        by_dataset[r.dataset].append(r)
        by_difficulty[f"{r.dataset}/{r.difficulty}"].append(r)
    return {
        "overall": aggregate(rows),
        "by_dataset": {k: aggregate(v) for k, v in sorted(by_dataset.items())},
        "by_difficulty": {
            k: aggregate(v)
            for k, v in sorted(by_difficulty.items(), key=lambda kv: _difficulty_key(kv[0]))
        },
    }


def _difficulty_key(name: str) -> tuple[str, int]:
    dataset, _, level = name.rpartition("/")
    return dataset, int(level) if level.lstrip("-").isdigit() else 0


def table(summary: dict[str, Any]) -> str:
    header = ["group", *COLUMNS]
    lines = [
        [name, *(_cell(row[c]) for c in COLUMNS)]
        for name, row in [
            ("overall", summary["overall"]),
            *summary["by_dataset"].items(),
            *((f"  {k}", v) for k, v in summary["by_difficulty"].items()),
        ]
    ]
    widths = [max(len(str(x)) for x in col) for col in zip(header, *lines, strict=True)]
    out = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    out.append("  ".join("-" * w for w in widths))
    out += ["  ".join(str(c).ljust(w) for c, w in zip(line, widths, strict=True)) for line in lines]
    return "\n".join(out)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def write_json(
    path: str | Path, settings: dict[str, Any], summary: dict[str, Any], rows: Sequence[Judged]
) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    result = {"settings": settings, **summary, "responses": [r.to_dict() for r in rows]}
    path.write_text(json.dumps(result, indent=2) + "\n")
    return path


def plot(path: str | Path, summary: dict[str, Any], title: str = "") -> Path:
    """Left: the four metrics by dataset. Right: Pass@1 by difficulty for each dataset."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = ("pass_at_1", "format_rate", "intermediate_accuracy", "normalized_ttft")
    datasets = list(summary["by_dataset"])
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    width = 0.8 / len(metrics)
    for i, metric in enumerate(metrics):
        values = [summary["by_dataset"][d][metric] or 0.0 for d in datasets]
        left.bar([x + i * width for x in range(len(datasets))], values, width, label=metric)
    left.set_xticks([x + 0.4 - width / 2 for x in range(len(datasets))], datasets)
    left.set_ylim(0, 1)
    left.legend(fontsize=8)
    left.set_title("by dataset")
    for dataset in datasets:
        points = [
            (int(k.rpartition("/")[2]), v["pass_at_1"] or 0.0)
            for k, v in summary["by_difficulty"].items()
            if k.rpartition("/")[0] == dataset
        ]
        if points:
            xs, ys = zip(*sorted(points), strict=True)
            right.plot(xs, ys, marker="o", label=dataset)
    from matplotlib.ticker import MaxNLocator

    right.xaxis.set_major_locator(MaxNLocator(integer=True))
    right.set_xlabel("difficulty (K&K: people, multi-hop: hops)")
    right.set_ylabel("Pass@1")
    right.set_ylim(0, 1)
    right.legend(fontsize=8)
    right.set_title("Pass@1 by difficulty")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
