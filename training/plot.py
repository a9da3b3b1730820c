"""`python -m training plot LOG.jsonl`: one PNG per group of logged curves.

rewards.png (each reward component), accuracy.png (final and intermediate accuracy),
gate.png (share of responses paid the intermediate reward, and share it was withheld from),
format_rate.png, response_length.png, loss.png (SFT loss, or policy loss / KL / entropy /
value loss). A group is skipped when the log has none of its keys (SFT logs have no rewards).
Raw values are drawn faintly, an exponential moving average on top.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from training.logs import read_log

GROUPS: dict[str, tuple[str, ...]] = {
    "rewards": ("reward/total", "reward/format", "reward/final", "reward/intermediate"),
    "accuracy": ("accuracy", "intermediate_accuracy"),
    "gate": ("intermediate_paid_rate", "gated_rate"),
    "format_rate": ("format_rate",),
    "response_length": ("response_length",),
    "loss": ("loss", "policy_loss", "kl", "entropy", "value_loss"),
}


def ema(values: list[float], alpha: float) -> list[float]:
    out, current = [], None
    for v in values:
        current = v if current is None else alpha * v + (1 - alpha) * current
        out.append(current)
    return out


def plot_log(log_path: str | Path, out_dir: str | Path | None = None) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")  # files only; no display on training machines
    import matplotlib.pyplot as plt

    records = read_log(log_path)
    if not records:
        raise ValueError(f"{log_path} has no records")
    out = Path(out_dir) if out_dir is not None else Path(log_path).parent / "plots"
    out.mkdir(parents=True, exist_ok=True)
    alpha = 2.0 / (1 + max(2, min(20, len(records) // 10)))
    written = []
    for name, keys in GROUPS.items():
        series = {k: _series(records, k) for k in keys}
        series = {k: v for k, v in series.items() if v[0]}
        if not series:
            continue
        fig, ax = plt.subplots(figsize=(7, 4))
        for key, (steps, values) in series.items():
            (line,) = ax.plot(steps, values, alpha=0.3, linewidth=1)
            ax.plot(steps, ema(values, alpha), color=line.get_color(), label=key, linewidth=2)
        ax.set_xlabel("step")
        ax.set_title(name.replace("_", " "))
        ax.grid(alpha=0.3)
        ax.legend()
        fig.tight_layout()
        path = out / f"{name}.png"
        fig.savefig(path, dpi=100)
        plt.close(fig)
        written.append(path)
    return written


def _series(records: list[dict[str, Any]], key: str) -> tuple[list[int], list[float]]:
    steps, values = [], []
    for r in records:
        v = r.get(key)
        if isinstance(v, int | float) and not isinstance(v, bool):
            steps.append(int(r["step"]))
            values.append(float(v))
    return steps, values


COMPARE_PANELS = (
    "reward/total",
    "reward/format",
    "reward/final",
    "reward/intermediate",
    "accuracy",
    "intermediate_accuracy",
    "format_rate",
    "response_length",
)


SUMMARY_KEYS = (*COMPARE_PANELS, "truncated_rate")


def summarize_runs(runs: dict[str, list[dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """Per run and metric: the mean over all steps, the first half and the second half.

    Single steps of a small RL batch are noisy; the halves say which way a run went.
    """
    out: dict[str, dict[str, Any]] = {}
    for name, records in runs.items():
        out[name] = {"steps": len(records)}
        for key in SUMMARY_KEYS:
            _, values = _series(records, key)
            if values:
                half = len(values) // 2
                first, second = values[:half] or values, values[half:]
                out[name][key] = {
                    "all": sum(values) / len(values),
                    "first_half": sum(first) / len(first),
                    "second_half": sum(second) / len(second),
                }
    return out


def summary_table(summary: dict[str, dict[str, Any]]) -> str:
    """Markdown: one row per run, 'first half → second half' means per metric."""
    keys = [k for k in SUMMARY_KEYS if any(k in s for s in summary.values())]
    head = "| run | steps | " + " | ".join(keys) + " |"
    rule = "|---|---|" + "---|" * len(keys)
    body = []
    for name, s in summary.items():
        cells = [
            f"{s[k]['first_half']:.3f} → {s[k]['second_half']:.3f}" if k in s else "-" for k in keys
        ]
        body.append(f"| {name} | {s['steps']} | " + " | ".join(cells) + " |")
    return "\n".join([head, rule, *body])


def plot_compare(logs: dict[str, str | Path], out: str | Path) -> Path:
    """Several runs' curves on one figure, one panel per metric (reward components, accuracy,
    format rate, response length): the runs an experiment compares, side by side. The
    `summarize_runs` numbers go beside the PNG as JSON (same name, .json)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = {name: read_log(path) for name, path in logs.items()}
    fig, axes = plt.subplots(2, 4, figsize=(16, 7))
    for ax, key in zip(axes.flat, COMPARE_PANELS, strict=True):
        for name, records in runs.items():
            steps, values = _series(records, key)
            if steps:
                alpha = 2.0 / (1 + max(2, min(20, len(values) // 10)))
                (line,) = ax.plot(steps, values, alpha=0.3, linewidth=1)
                ax.plot(steps, ema(values, alpha), color=line.get_color(), label=name, linewidth=2)
        ax.set_title(key)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    axes.flat[0].legend(fontsize=8)
    fig.tight_layout()
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    summary = summarize_runs(runs)
    path.with_suffix(".json").write_text(
        json.dumps(
            {"runs": {name: str(log) for name, log in logs.items()}, "summary": summary}, indent=2
        )
        + "\n"
    )
    return path
