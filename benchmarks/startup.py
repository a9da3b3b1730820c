"""Startup: time from launch to a healthy server, first start (cold caches) and later starts.

    python -m benchmarks.startup --launch "python -m server --port 8260 --max-model-len 2048" \\
        --starts 2 --output results/speed/startup.json

Each start runs the command, polls /health until it answers 200, then stops the server
(SIGTERM, then its process group) before the next start. By default the starts share a fresh,
empty cache folder (vLLM's `VLLM_CACHE_ROOT` and torch inductor's `TORCHINDUCTOR_CACHE_DIR`
point into it), so the first start compiles from nothing and the later ones show what the
compile cache saves; `--cache-dir DIR` keeps one across runs, `--keep-caches` uses the
caller's own. Leading `KEY=VALUE` words of the command set environment variables, as in
`benchmarks.ttft --launch`.

Besides the seconds to healthy, each start reports what the log says about the compile cache:
whether vLLM loaded its compiled model ("Directly load AOT compilation", or the compiled
graphs "from the cache") or compiled it again ("Compiling model again due to a load failure",
with the reason), and vLLM's own count of the
engine's initialisation time. The machine's load averages (`os.getloadavg`) are recorded before
each start: on a shared host they say how much to trust the figures.

Output: one line per start on stdout, JSON (`--output`) and a bar chart beside it.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.launch import Launcher, LaunchError, parse_launch

# vLLM has two compile caches: the AOT-compiled function (its default with recent torch) and,
# without it (`VLLM_USE_AOT_COMPILE=0`), inductor's compiled graphs per compile range.
_CACHE_LOADED = re.compile(
    r"Directly load AOT compilation|Directly load the compiled graph\(s\) for .* from the cache"
)
_CACHE_FAILED = re.compile(r"Compiling model again due to a load failure from \S+, reason: (.*)")
_CACHE_SAVED = re.compile(r"saved AOT compiled function|Compiling a graph for compile range")
_ENGINE_INIT = re.compile(r"init engine \(profile, create kv cache, warmup model\) took ([\d.]+) s")


@dataclass
class Start:
    """One launch of the server."""

    index: int
    seconds_to_healthy: float | None
    load_average: tuple[float, float, float]
    # "loaded", "load_failed", "compiled" (nothing to load), or "unreported": no compile, or
    # torch's own inductor cache (vLLM on CPU without its AOT cache), which logs nothing.
    compile_cache: str
    cache_failure: str | None = None
    engine_init_s: float | None = None
    error: str | None = None


@dataclass
class Report:
    command: str
    cache_dir: str | None
    starts: list[Start] = field(default_factory=list)

    def ratio(self) -> float | None:
        """Second start over the first (launch to healthy)."""
        times = [s.seconds_to_healthy for s in self.starts[:2]]
        if len(times) < 2 or times[0] is None or times[1] is None:
            return None
        return times[1] / times[0]


def read_log(text: str) -> tuple[str, str | None, float | None]:
    """(compile cache outcome, failure reason, vLLM's engine init seconds) from a server log."""
    failed = _CACHE_FAILED.search(text)
    if _CACHE_LOADED.search(text):
        outcome = "loaded"
    elif failed:
        outcome = "load_failed"
    elif _CACHE_SAVED.search(text):
        outcome = "compiled"
    else:
        outcome = "unreported"
    init = _ENGINE_INIT.search(text)
    reason = failed.group(1).strip() if failed else None
    return outcome, reason, float(init.group(1)) if init else None


def run(command: str, starts: int, cache_dir: Path | None, timeout: float, log_dir: Path) -> Report:
    spec = parse_launch(f"server={command}")
    if cache_dir is not None:
        spec.env.setdefault("VLLM_CACHE_ROOT", str(cache_dir / "vllm"))
        spec.env.setdefault("TORCHINDUCTOR_CACHE_DIR", str(cache_dir / "inductor"))
    base_url = spec.base_url
    if base_url is None:
        raise SystemExit("the command needs --port, so the benchmark knows where to poll /health")
    report = Report(command, str(cache_dir) if cache_dir else None)
    for i in range(starts):
        load = os.getloadavg()
        began = time.monotonic()
        error = None
        elapsed: float | None = None
        with Launcher(log_dir / f"start-{i}", timeout=timeout) as launcher:
            try:
                launcher.start(spec, base_url)
                elapsed = time.monotonic() - began
            except LaunchError as exc:
                error = str(exc)
            log_path = log_dir / f"start-{i}" / "server.log"
            text = log_path.read_text(errors="replace") if log_path.exists() else ""
        outcome, reason, init = read_log(text)
        start = Start(i, elapsed, load, outcome, reason, init, error)
        report.starts.append(start)
        shown = f"{elapsed:.1f} s" if elapsed is not None else "failed"
        print(
            f"start {i + 1}: {shown} to healthy; compile cache: {outcome}"
            + (f" ({reason})" if reason else "")
            + (f"; engine init {init:.1f} s" if init is not None else "")
            + f"; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}",
            flush=True,
        )
        if error:
            print(error, file=sys.stderr)
    return report


def plot(report: Report, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.2))
    labels = [f"start {s.index + 1}\n({s.compile_cache})" for s in report.starts]
    values = [s.seconds_to_healthy or 0.0 for s in report.starts]
    ax.bar(labels, values, color=["#c44e52" if i == 0 else "#4c72b0" for i in range(len(values))])
    for x, v in enumerate(values):
        ax.text(x, v, f"{v:.0f} s", ha="center", va="bottom")
    ax.set_ylabel("launch to healthy (s)")
    ratio = report.ratio()
    ax.set_title("server start" + (f": second / first = {ratio:.2f}" if ratio else ""))
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.startup",
        description="Seconds from launch to a healthy server, first and later starts.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__,
    )
    p.add_argument("--launch", required=True, metavar='"CMD"', help="the server command")
    p.add_argument("--starts", type=int, default=2, help="how many starts (default: 2)")
    caches = p.add_mutually_exclusive_group()
    caches.add_argument(
        "--cache-dir", type=Path, default=None, help="cache folder shared by the starts"
    )
    caches.add_argument(
        "--keep-caches",
        action="store_true",
        help="use the caller's caches as they are (the first start may then be warm)",
    )
    p.add_argument("--timeout", type=float, default=900.0, metavar="S", help="per start")
    p.add_argument("--output", type=Path, default=None, help="JSON (a PNG goes beside it)")
    p.add_argument("--no-plots", action="store_true")
    return p


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    if args.starts < 1:
        raise SystemExit("--starts must be at least 1")
    with tempfile.TemporaryDirectory(prefix="startup-") as scratch:
        cache_dir = None if args.keep_caches else (args.cache_dir or Path(scratch) / "cache")
        report = run(args.launch, args.starts, cache_dir, args.timeout, Path(scratch) / "logs")
    ratio = report.ratio()
    if ratio is not None:
        print(f"second / first: {ratio:.2f}")
    if args.output is not None:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        data: dict[str, Any] = asdict(report)
        data["second_over_first"] = ratio
        data["cpu_count"] = os.cpu_count()
        args.output.write_text(json.dumps(data, indent=2) + "\n")
        if not args.no_plots:
            plot(report, args.output.with_suffix(".png"))
    if any(s.error for s in report.starts):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
