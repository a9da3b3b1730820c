"""`python -m benchmarks.accuracy.compare`: several `benchmarks.accuracy` results side by side,
in the shape of the paper's Table 2, plus Pass@1 by K&K difficulty (table and PNG).

    python -m benchmarks.accuracy.compare base=results/accuracy/base.json \\
        think-answer=results/accuracy/think-answer.json ... \\
        [--output results/table2.md] [--plot results/kk-difficulty.png]

Columns: Pass@1 / normalized TTFT per dataset (ours: K&K and multi-hop in-domain, arithmetic
out-of-domain), their unweighted average over datasets as the paper's "Avg.", and the format
rate. Where a result holds its judged responses (every `benchmarks.accuracy` JSON does), each
cell carries its 95% percentile-bootstrap interval, `0.330 [0.24, 0.42]`; the Avg. interval
resamples within each dataset. The paper's own rows (`benchmarks.accuracy.paper`) follow for
reference. Without `--output` it only prints; with it, it writes the markdown, the same
numbers as JSON next to it, and the K&K difficulty plot (`--plot`, by default the markdown's
name with `.png`). Nothing is written by default, so a quick look never overwrites a result.

`--baseline NAME` adds the paired comparison that decides whether training moved accuracy:
every other model's Pass@1 minus NAME's on the same items (matched by item id), with the
interval from resampling the items. Comparing one model's two evaluations this way measures
the noise of re-evaluation itself.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from benchmarks.accuracy import paper, stats
from benchmarks.accuracy.stats import Interval

DATASET_ORDER = ("kk", "multihop", "arithmetic", "chains", "everyday")


def load(specs: list[str]) -> dict[str, dict[str, Any]]:
    results = {}
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep or not name or not path:
            raise ValueError(f"{spec!r}: expected NAME=RESULT.json")
        try:
            results[name] = json.loads(Path(path).read_text())
        except (OSError, ValueError) as e:
            raise ValueError(f"{spec!r}: cannot read {path}: {e}") from None
    return results


def datasets_of(results: dict[str, dict[str, Any]]) -> list[str]:
    seen = {d for r in results.values() for d in r["by_dataset"]}
    return [d for d in DATASET_ORDER if d in seen] + sorted(seen - set(DATASET_ORDER))


def _avg(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present and len(present) == len(values) else None


METRICS = {"pass_at_1": "correct", "normalized_ttft": "normalized_ttft"}


def items(
    result: dict[str, Any], metric: str, dataset: str, level: int | None = None
) -> dict[str, float]:
    """{item id: value} for each successfully judged item (TTFT: only items that gave an
    answer); the ids are what a paired comparison matches on."""
    key = METRICS[metric]
    return {
        r["id"]: float(r[key])
        for r in result.get("responses", [])
        if r["ok"]
        and r["dataset"] == dataset
        and (level is None or r["difficulty"] == level)
        and r[key] is not None
    }


def item_values(
    result: dict[str, Any], metric: str, dataset: str, level: int | None = None
) -> list[float]:
    return list(items(result, metric, dataset, level).values())


def _ci(interval: Interval | None) -> list[float] | None:
    return None if interval is None else [interval.low, interval.high]


def rows(results: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """{model: {dataset: {pass_at_1, normalized_ttft, format_rate, n, *_ci}, "avg": {...}}}.
    The `*_ci` entries are [low, high] 95% intervals, None for a result without responses."""
    names = datasets_of(results)
    out: dict[str, dict[str, Any]] = {}
    for model, result in results.items():
        cells = {
            d: {
                k: result["by_dataset"].get(d, {}).get(k)
                for k in ("n", "pass_at_1", "normalized_ttft", "format_rate")
            }
            for d in names
        }
        cells["avg"] = {
            k: _avg([cells[d][k] for d in names])
            for k in ("pass_at_1", "normalized_ttft", "format_rate")
        }
        for metric in METRICS:
            groups = [item_values(result, metric, d) for d in names]
            for d, values in zip(names, groups, strict=True):
                cells[d][f"{metric}_ci"] = _ci(stats.mean_ci(values))
            cells["avg"][f"{metric}_ci"] = _ci(stats.macro_mean_ci(groups))
        out[model] = cells
    return out


def _f(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _fci(value: float | None, ci: list[float] | None) -> str:
    """`0.330 [0.24, 0.42]`, or the bare value when there is no interval."""
    return _f(value) if ci is None or value is None else f"{value:.3f} [{ci[0]:.2f}, {ci[1]:.2f}]"


def main_table(table: dict[str, dict[str, Any]], names: list[str]) -> str:
    head = (
        "| model | "
        + " | ".join(f"{d} Pass@1 / TTFT" for d in names)
        + " | Avg. Pass@1 / TTFT | format rate |"
    )
    rule = "|---|" + "---|" * (len(names) + 2)
    body = []
    for model, cells in table.items():
        parts = [
            f"{_fci(cells[d]['pass_at_1'], cells[d].get('pass_at_1_ci'))}"
            f" / {_fci(cells[d]['normalized_ttft'], cells[d].get('normalized_ttft_ci'))}"
            for d in [*names, "avg"]
        ]
        body.append(f"| {model} | " + " | ".join(parts) + f" | {_f(cells['avg']['format_rate'])} |")
    return "\n".join([head, rule, *body])


def difficulty(
    results: dict[str, dict[str, Any]], dataset: str = "kk"
) -> dict[str, dict[int, Any]]:
    """{model: {level: Pass@1}} for one dataset's difficulty levels."""
    out: dict[str, dict[int, Any]] = {}
    for model, result in results.items():
        levels = {}
        for key, row in result["by_difficulty"].items():
            name, _, level = key.rpartition("/")
            if name == dataset and level.isdigit():
                values = item_values(result, "pass_at_1", dataset, int(level))
                levels[int(level)] = {
                    "n": row["n"],
                    "pass_at_1": row["pass_at_1"],
                    "pass_at_1_ci": _ci(stats.mean_ci(values)),
                }
        out[model] = dict(sorted(levels.items()))
    return out


def difficulty_table(levels: dict[str, dict[int, Any]]) -> str:
    all_levels = sorted({lv for per in levels.values() for lv in per})
    head = "| model | " + " | ".join(f"{lv} people" for lv in all_levels) + " |"
    rule = "|---|" + "---|" * len(all_levels)
    body = [
        f"| {model} | "
        + " | ".join(
            _fci(per[lv]["pass_at_1"], per[lv].get("pass_at_1_ci")) if lv in per else "-"
            for lv in all_levels
        )
        + " |"
        for model, per in levels.items()
    ]
    return "\n".join([head, rule, *body])


def plot(path: Path, levels: dict[str, dict[int, Any]]) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, ax = plt.subplots(figsize=(6, 4))
    for model, per in levels.items():
        if per:
            xs = list(per)
            ys = [per[x]["pass_at_1"] or 0.0 for x in xs]
            cis = [per[x].get("pass_at_1_ci") or [y, y] for x, y in zip(xs, ys, strict=True)]
            errors = [
                [y - lo for y, (lo, _) in zip(ys, cis, strict=True)],
                [hi - y for y, (_, hi) in zip(ys, cis, strict=True)],
            ]
            ax.errorbar(xs, ys, yerr=errors, marker="o", capsize=3, label=model)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("K&K people (difficulty)")
    ax.set_ylabel("Pass@1")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8)
    ax.set_title("Pass@1 by K&K difficulty (held-out test split, 95% CI)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def paired(
    results: dict[str, dict[str, Any]], baseline: str
) -> dict[str, dict[str, dict[str, Any] | None]]:
    """{model: {dataset | "avg": Interval dict of Pass@1(model) - Pass@1(baseline)}} over the
    items both answered; "avg" is the unweighted mean over datasets of the paired differences."""
    names = datasets_of(results)
    base = results[baseline]
    out: dict[str, dict[str, dict[str, Any] | None]] = {}
    for model, result in results.items():
        if model == baseline:
            continue
        groups = []
        cells: dict[str, dict[str, Any] | None] = {}
        for d in names:
            a, b = items(base, "pass_at_1", d), items(result, "pass_at_1", d)
            pairs = [(a[i], b[i]) for i in sorted(a.keys() & b.keys())]
            groups.append([y - x for x, y in pairs])
            diff = stats.paired_difference(pairs)
            cells[d] = None if diff is None else diff.to_dict()
        avg = stats.macro_mean_ci(groups)
        cells["avg"] = None if avg is None else avg.to_dict()
        out[model] = cells
    return out


def paired_table(diffs: dict[str, dict[str, dict[str, Any] | None]], baseline: str) -> str:
    names = [k for k in next(iter(diffs.values()), {}) if k != "avg"]
    head = (
        f"| model − {baseline} | "
        + " | ".join(f"{d} Δ Pass@1 [95% CI] (n)" for d in names)
        + " | Avg. Δ Pass@1 [95% CI] |"
    )
    rule = "|---|" + "---|" * (len(names) + 1)
    body = []
    for model, cells in diffs.items():
        parts = []
        for d in [*names, "avg"]:
            c = cells[d]
            if c is None:
                parts.append("-")
                continue
            mark = " *" if Interval(**c).excludes_zero() else ""
            parts.append(
                f"{c['estimate']:+.3f} [{c['low']:+.2f}, {c['high']:+.2f}] ({c['n']}){mark}"
            )
        body.append(f"| {model} | " + " | ".join(parts) + " |")
    note = "`*`: the interval excludes 0 (a change larger than re-sampling the items explains)."
    return "\n".join([head, rule, *body, "", note])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.accuracy.compare",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("results", nargs="+", metavar="NAME=RESULT.json")
    parser.add_argument(
        "--output", metavar="FILE.md", help="write the tables here, and their JSON beside them"
    )
    parser.add_argument(
        "--plot", metavar="FILE.png", help="the K&K difficulty plot (default: --output's .png)"
    )
    parser.add_argument(
        "--baseline",
        metavar="NAME",
        help="also report every other model's Pass@1 minus NAME's, paired by item",
    )
    args = parser.parse_args(argv)
    try:
        results = load(args.results)
    except ValueError as e:
        parser.error(str(e))
    if args.baseline is not None and args.baseline not in results:
        parser.error(f"--baseline {args.baseline!r} is none of the results: {', '.join(results)}")
    names = datasets_of(results)
    table = rows(results)
    levels = difficulty(results)
    diffs = paired(results, args.baseline) if args.baseline else None
    sections = [
        main_table(table, names),
        "Pass@1 by K&K difficulty:\n\n" + difficulty_table(levels),
    ]
    if diffs:
        sections.append(
            f"Paired by item, against {args.baseline}:\n\n" + paired_table(diffs, args.baseline)
        )
    sections.append(f"Reference, {paper.SOURCE} (Pass@1 / TTFT):\n\n" + paper.markdown())
    text = "\n\n".join(sections)
    print(text)
    if args.output is None:
        if args.plot is not None:
            parser.error("--plot needs --output (the plot goes with the written tables)")
        print("nothing written: --output FILE.md writes the tables, JSON and plot", file=sys.stderr)
        return 0
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text + "\n")
    out.with_suffix(".json").write_text(
        json.dumps(
            {
                "models": table,
                "kk_by_people": levels,
                "paired": {"baseline": args.baseline, "models": diffs} if diffs else None,
                "sources": dict(spec.partition("=")[::2] for spec in args.results),
            },
            indent=2,
        )
        + "\n"
    )
    png = plot(Path(args.plot) if args.plot else out.with_suffix(".png"), levels)
    print(f"wrote {out}, {out.with_suffix('.json')} and {png}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
