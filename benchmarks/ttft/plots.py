"""PNG plots of a run: CDFs of TTFT and TTFA per target, and a timeline of a few requests.

The timeline is what interleaving looks like: one bar per request, light grey while waiting for
the first token, blue while thinking tokens stream, green while answer tokens stream, dark grey
for tokens without visible text (tags), a black tick where each answer completed. A
think-then-answer model shows one long blue bar and green only at the end; an interleaved one
alternates, with ticks early.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display; must precede pyplot's import

import matplotlib.pyplot as plt
import numpy as np

from benchmarks.ttft.metrics import RequestMetrics
from benchmarks.ttft.report import Run

COLORS = {"T": "tab:blue", "A": "tab:green", "O": "tab:gray"}
WAIT_COLOR = "lightgray"


def plot_cdfs(run: Run, path: Path) -> Path:
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    for ax, metric, title in zip(
        axes, ("ttft", "ttfa"), ("time to first token", "time to first answer"), strict=True
    ):
        for t in run.targets:
            values = np.sort([v for r in t.requests if (v := getattr(r, metric)) is not None])
            if len(values):
                fractions = np.arange(1, len(values) + 1) / len(values)
                ax.step(values * 1000, fractions, where="post", label=t.target.name)
        ax.set_title(title)
        ax.set_xlabel("ms since the request was sent")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("fraction of requests")
    axes[0].legend(loc="best")
    fig.suptitle(f"TTFT and TTFA, {run.label}")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def spans(request: RequestMetrics) -> list[tuple[float, float, str]]:
    """(start, end, kind letter) runs: token i occupies the time since the previous token."""
    out: list[tuple[float, float, str]] = []
    previous = request.ttft or 0.0
    for t, kind in zip(request.token_times, request.token_kinds, strict=True):
        if out and out[-1][2] == kind:
            out[-1] = (out[-1][0], t, kind)
        else:
            out.append((previous, t, kind))
        previous = t
    return out


def plot_timeline(run: Run, path: Path, per_target: int = 4) -> Path:
    chosen = [
        (t.target.name, r)
        for t in run.targets
        for r in [r for r in t.requests if r.ok][:per_target]
    ]
    fig, ax = plt.subplots(figsize=(11, 0.45 * max(len(chosen), 2) + 1.5))
    for row, (_, request) in enumerate(chosen):
        y = len(chosen) - 1 - row
        ax.barh(y, request.ttft or 0.0, left=0.0, color=WAIT_COLOR, height=0.6)
        for start, end, kind in spans(request):
            ax.barh(y, max(end - start, 1e-3), left=start, color=COLORS[kind], height=0.6)
        for t in request.answer_times:
            ax.plot([t, t], [y - 0.4, y + 0.4], color="black", linewidth=1.5)
    ax.set_yticks(range(len(chosen)))
    ax.set_yticklabels([f"{n} #{r.prompt_index}" for n, r in reversed(chosen)])
    ax.set_xlabel("seconds since the request was sent")
    handles = [
        plt.Rectangle((0, 0), 1, 1, color=WAIT_COLOR),
        plt.Rectangle((0, 0), 1, 1, color=COLORS["T"]),
        plt.Rectangle((0, 0), 1, 1, color=COLORS["A"]),
        plt.Rectangle((0, 0), 1, 1, color=COLORS["O"]),
        plt.Line2D([0], [0], color="black"),
    ]
    labels = ["waiting", "thinking", "answer", "tags, held back", "answer complete"]
    ax.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.set_title(f"Think and answer segments over time, {run.label}")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_run(run: Run, stem: Path) -> list[Path]:
    """Both plots, named `<stem>-cdf.png` and `<stem>-timeline.png`."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    return [
        plot_cdfs(run, stem.with_name(stem.name + "-cdf.png")),
        plot_timeline(run, stem.with_name(stem.name + "-timeline.png")),
    ]
