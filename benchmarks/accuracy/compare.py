"""`python -m benchmarks.accuracy.compare`: several `benchmarks.accuracy` results side by side,
in the shape of the paper's Table 2, plus Pass@1 by K&K difficulty (table and PNG).

    python -m benchmarks.accuracy.compare base=results/accuracy/base.json \\
        think-answer=results/accuracy/think-answer.json ... \\
        [--output results/table2.md] [--plot results/kk-difficulty.png]

Columns: Pass@1 / normalized TTFT per dataset (ours: K&K and multi-hop in-domain, arithmetic
out-of-domain), their unweighted average over datasets as the paper's "Avg.", and the format
rate. The paper's own rows (`benchmarks.accuracy.paper`) follow for reference. Also writes the
same numbers as JSON next to the markdown.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from benchmarks.accuracy import paper

DATASET_ORDER = ("kk", "multihop", "arithmetic")


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


def rows(results: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """{model: {dataset: {pass_at_1, normalized_ttft, format_rate, n}, "avg": {...}}}."""
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
        out[model] = cells
    return out


def _f(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


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
            f"{_f(cells[d]['pass_at_1'])} / {_f(cells[d]['normalized_ttft'])}"
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
                levels[int(level)] = {"n": row["n"], "pass_at_1": row["pass_at_1"]}
        out[model] = dict(sorted(levels.items()))
    return out


def difficulty_table(levels: dict[str, dict[int, Any]]) -> str:
    all_levels = sorted({lv for per in levels.values() for lv in per})
    head = "| model | " + " | ".join(f"{lv} people" for lv in all_levels) + " |"
    rule = "|---|" + "---|" * len(all_levels)
    body = [
        f"| {model} | "
        + " | ".join(_f(per[lv]["pass_at_1"]) if lv in per else "-" for lv in all_levels)
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
            ax.plot(xs, [per[x]["pass_at_1"] or 0.0 for x in xs], marker="o", label=model)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("K&K people (difficulty)")
    ax.set_ylabel("Pass@1")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8)
    ax.set_title("Pass@1 by K&K difficulty (held-out test split)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.accuracy.compare",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("results", nargs="+", metavar="NAME=RESULT.json")
    parser.add_argument("--output", default="results/table2.md")
    parser.add_argument("--plot", default="results/kk-difficulty.png")
    args = parser.parse_args(argv)
    try:
        results = load(args.results)
    except ValueError as e:
        parser.error(str(e))
    names = datasets_of(results)
    table = rows(results)
    levels = difficulty(results)
    text = "\n\n".join(
        [
            main_table(table, names),
            "Pass@1 by K&K difficulty:\n\n" + difficulty_table(levels),
            f"Reference, {paper.SOURCE} (Pass@1 / TTFT):\n\n" + paper.markdown(),
        ]
    )
    print(text)
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text + "\n")
    out.with_suffix(".json").write_text(
        json.dumps(
            {
                "models": table,
                "kk_by_people": levels,
                "sources": dict(spec.partition("=")[::2] for spec in args.results),
            },
            indent=2,
        )
        + "\n"
    )
    png = plot(Path(args.plot), levels)
    print(f"wrote {out}, {out.with_suffix('.json')} and {png}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
