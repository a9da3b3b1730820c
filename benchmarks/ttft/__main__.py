"""Latency harness: what users of interleaved reasoning feel, measured over HTTP.

    python -m benchmarks.ttft --target ours=http://127.0.0.1:8101 --dataset kk \\
        --num-prompts 32 --max-concurrency 16 --max-tokens 256 \\
        --extra-body '{"enforce_format": true}'

    python -m benchmarks.ttft --compare ours vllm \\
        --launch ours="python -m server --model DIR --port 8101 --enforce-eager" \\
        --launch vllm="VLLM_CPU_KVCACHE_SPACE=2 python -m vllm.entrypoints.openai.api_server \\
                       --model DIR --port 8102 --enforce-eager --max-model-len 2048" \\
        --num-prompts 64 --max-concurrency 32 --max-tokens 128

Metrics (ttft, ttfa, answer gaps, tpot, itl, e2el, normalized TTFT) are defined in
`benchmarks.ttft.metrics`; target syntax in `benchmarks.ttft.targets`; load generation in
`benchmarks.ttft.load`; the JSON layout in `benchmarks.ttft.report`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import math
import os
import shlex
import signal
import sys
import threading
import time
from collections.abc import Callable, Coroutine, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import httpx
from tqdm import tqdm

from benchmarks.launch import Launcher, LaunchError, LaunchSpec, parse_launch
from benchmarks.ttft import budget_sweep, load, plots, report
from benchmarks.ttft.classify import classify
from benchmarks.ttft.client import RequestRecord, Target, make_client, request_body, send
from benchmarks.ttft.metrics import parse_slos, request_metrics, summarize
from benchmarks.ttft.prompts import Prompt, PromptError, load_prompts
from benchmarks.ttft.report import Run, TargetRun
from benchmarks.ttft.targets import parse_extra_body, parse_target

T = TypeVar("T")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.ttft",
        description="Time to first token and to first answer of OpenAI-compatible servers.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__,
    )
    g = p.add_argument_group("targets")
    g.add_argument(
        "--target",
        action="append",
        default=[],
        metavar="SPEC",
        help="[NAME=]BASE_URL[,model=M][,api_key=K][,format=F][,classify=C]; repeatable",
    )
    g.add_argument(
        "--compare", nargs="+", default=[], metavar="SPEC", help="several targets, same syntax"
    )
    g.add_argument(
        "--launch",
        action="append",
        default=[],
        metavar='NAME="CMD"',
        help="start a server, wait for /health, stop it after; repeatable",
    )
    g.add_argument("--launch-timeout", type=float, default=600.0, metavar="S")
    g.add_argument("--api-key", default=None, help="bearer key for targets without api_key=")
    g = p.add_argument_group("requests")
    g.add_argument(
        "--dataset",
        default="builtin",
        help="kk | multihop | arithmetic | chains | everyday (options as in benchmarks.accuracy: "
        "kk:people=2,3,4) | jsonl:PATH | builtin",
    )
    g.add_argument("--style", default="interleaved", help="interleaved | think_answer")
    g.add_argument("--num-prompts", type=int, default=16)
    g.add_argument("--max-tokens", type=int, default=256)
    g.add_argument("--temperature", type=float, default=0.0, help="default 0: same text on all")
    g.add_argument(
        "--extra-body",
        action="append",
        default=[],
        metavar="[NAME=]JSON",
        help="JSON merged into every request body (or NAME's only); repeatable",
    )
    g.add_argument("--request-timeout", type=float, default=600.0, metavar="S")
    g = p.add_argument_group("load")
    g.add_argument("--request-rate", type=float, default=math.inf, help="per target; default inf")
    g.add_argument("--burstiness", type=float, default=1.0, help="gamma shape; 1 = Poisson")
    g.add_argument("--max-concurrency", type=int, default=None, help="per target")
    g.add_argument("--warmups", type=int, default=1, help="unmeasured requests per target")
    g.add_argument("--seed", type=int, default=0, help="prompts and arrival times")
    g.add_argument("--interleave", choices=load.INTERLEAVE_MODES, default="request")
    g.add_argument("--block-size", type=int, default=None, help="prompts per block (block mode)")
    g.add_argument(
        "--sweep", action="store_true", help="synchronous, rising rates, then saturation"
    )
    g.add_argument("--sweep-steps", type=int, default=4, help="rates between the two ends")
    g.add_argument(
        "--budget-sweep",
        action="append",
        default=[],
        metavar="FIELD=V,V,...",
        help="our server's reasoning_budget FIELD over these values (none: unbudgeted); "
        "judges Pass@1 and intermediate answers against time to first answer on "
        "--dataset kk,multihop; repeatable (see benchmarks.ttft.budget_sweep)",
    )
    g = p.add_argument_group("output")
    g.add_argument("--slo", nargs="+", default=[], metavar="METRIC:MS", help="ttft ttfa tpot e2el")
    g.add_argument("--percentiles", default="90,99", help="comma-separated, besides the median")
    g.add_argument("--output", type=Path, default=None, help="default results/ttft-<time>.json")
    g.add_argument("--save-detailed", action="store_true", help="per-request arrays in the JSON")
    g.add_argument("--no-plots", action="store_true")
    g.add_argument("--no-progress", action="store_true")
    return p


def resolve_targets(args: argparse.Namespace) -> tuple[list[Target], list[LaunchSpec]]:
    targets = [parse_target(s, args.api_key) for s in [*args.target, *args.compare]]
    launches = [parse_launch(s) for s in args.launch]
    by_name = {t.name: t for t in targets}
    if len(by_name) != len(targets):
        raise ValueError("target names must be distinct")
    for spec in launches:
        target = by_name.get(spec.name)
        if target is None:
            target = Target(name=spec.name, base_url="", api_key=args.api_key)
            targets.append(target)
            by_name[spec.name] = target
        if not target.base_url:
            if spec.base_url is None:
                raise ValueError(f"--launch {spec.name}: give --port in the command or a URL")
            target.base_url = spec.base_url
    for target in targets:
        if not target.base_url:
            raise ValueError(f"target {target.name!r} has no URL and no --launch")
    if not targets:
        raise ValueError("give --target, --compare or --launch")
    common, per_target = parse_extra_body(args.extra_body)
    unknown = set(per_target) - set(by_name)
    if unknown:
        raise ValueError(f"--extra-body for unknown targets: {sorted(unknown)}")
    for target in targets:
        target.extra_body = {**common, **per_target.get(target.name, {})}
    return targets, launches


def resolve_models(targets: Sequence[Target]) -> None:
    """Fill in a missing model name from the server's /v1/models (its first model)."""
    for target in targets:
        if target.model is not None:
            continue
        headers = {"Authorization": f"Bearer {target.api_key}"} if target.api_key else {}
        try:
            response = httpx.get(f"{target.base_url}/v1/models", headers=headers, timeout=10)
            response.raise_for_status()
            target.model = response.json()["data"][0]["id"]
        except (httpx.HTTPError, KeyError, IndexError, ValueError) as e:
            raise ValueError(
                f"target {target.name}: no model= given and {target.base_url}/v1/models "
                f"did not name one ({type(e).__name__}: {e})"
            ) from e


class Benchmark:
    """One invocation: the targets, the prompts and the settings, run as one or more runs."""

    def __init__(
        self,
        args: argparse.Namespace,
        targets: list[Target],
        prompts: list[Prompt],
        argv: Sequence[str] = (),
    ) -> None:
        self.args = args
        self.argv = list(argv)
        self.targets = targets
        self.prompts = prompts
        self.percentiles = [float(p) for p in args.percentiles.split(",") if p.strip()]
        if not all(0 < p <= 100 for p in self.percentiles):
            raise ValueError(f"--percentiles must lie in (0, 100], got {args.percentiles!r}")
        self.slos = parse_slos(args.slo)
        self.loadavg_start: list[float] | None = None

    async def send(self, client: httpx.AsyncClient, job: load.Job) -> RequestRecord:
        body = request_body(
            job.target,
            job.prompt.messages,
            job.prompt.max_tokens or self.args.max_tokens,
            self.args.temperature,
        )
        return await send(
            client,
            job.target,
            body,
            prompt_index=job.prompt_index,
            timeout=self.args.request_timeout,
        )

    async def run_all(self) -> list[Run]:
        args = self.args
        self.loadavg_start = list(os.getloadavg())
        async with make_client(args.request_timeout) as client:

            async def send_job(job: load.Job) -> RequestRecord:
                return await self.send(client, job)

            if args.warmups > 0:
                warm = await load.warm_up(self.targets, self.prompts, args.warmups, send_job)
                for record in warm:
                    if not record.ok:
                        log(f"warm-up request to {record.target} failed: {record.error}")
            config = self.config(args.request_rate, args.max_concurrency)
            if not args.sweep:
                return [await self.run_one(config, send_job)]
            sync = await self.run_one(self.config(math.inf, 1), send_job, "synchronous")
            saturated = await self.run_one(config, send_job, "saturation")
            rates = load.sweep_rates(
                sync.targets[0].summary["request_throughput"] or 0.0,
                saturated.targets[0].summary["request_throughput"] or 0.0,
                args.sweep_steps,
            )
            middle = [
                await self.run_one(self.config(r, args.max_concurrency), send_job) for r in rates
            ]
            return [sync, *middle, saturated]

    def config(self, rate: float, max_concurrency: int | None) -> load.LoadConfig:
        return load.LoadConfig(
            request_rate=rate,
            burstiness=self.args.burstiness,
            max_concurrency=max_concurrency,
            interleave=self.args.interleave,
            block_size=self.args.block_size,
            seed=self.args.seed,
        )

    async def run_one(
        self, config: load.LoadConfig, send_job: load.SendFn, name: str | None = None
    ) -> Run:
        concurrency = config.max_concurrency or "unlimited"
        label = f"{name or f'rate {config.request_rate:g}/s'}, concurrency {concurrency}"
        phases = load.plan(self.targets, self.prompts, config)
        total = sum(len(phase) for phase in phases)
        with tqdm(total=total, desc=label, disable=self.args.no_progress, file=sys.stderr) as bar:
            result = await load.run(phases, send_job, config, on_done=lambda _: bar.update())
        run = Run(
            label=label, request_rate=config.request_rate, max_concurrency=config.max_concurrency
        )
        for target in self.targets:
            records = sorted(
                (r for r in result.records if r.target == target.name), key=lambda r: r.sent_at
            )
            requests = [
                request_metrics(
                    r, classify(r.chunks, target.classify, target.format), result.started_at
                )
                for r in records
            ]
            duration = result.durations.get(target.name, 0.0)
            summary = summarize(requests, duration, self.percentiles, self.slos)
            run.targets.append(TargetRun(target, requests, summary))
        return run

    def settings(self, launches: Sequence[LaunchSpec]) -> dict[str, Any]:
        args = self.args
        return {
            "date": time.strftime("%Y%m%d-%H%M%S"),
            "backend": "openai-chat",
            "harness": "benchmarks.ttft",
            "command": "python -m benchmarks.ttft " + shlex.join(self.argv),
            "dataset": args.dataset,
            "style": args.style,
            "num_prompts": args.num_prompts,
            "max_tokens": args.max_tokens,
            "temperature": args.temperature,
            "burstiness": args.burstiness,
            "interleave": args.interleave,
            "block_size": args.block_size,
            "warmups": args.warmups,
            "seed": args.seed,
            "percentiles": self.percentiles,
            "slos_ms": self.slos,
            "sweep": args.sweep,
            "targets": [
                {
                    "name": t.name,
                    "base_url": t.base_url,
                    "model": t.model,
                    "format": t.format,
                    "classify": t.classify,
                    "extra_body": t.extra_body,
                    "system": t.system,
                }
                for t in self.targets
            ],
            "launched": {s.name: shlex.join(s.argv) for s in launches},
            # On a shared machine other work skews every figure; this says how much there was.
            "loadavg_start": self.loadavg_start,
            "loadavg_end": list(os.getloadavg()),
            "cpu_count": os.cpu_count(),
            "launch_env": {s.name: s.env for s in launches},
        }


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@contextlib.contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM unwinds like Ctrl-C, so launched servers are stopped on the way out."""

    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set from the main thread
        return
    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class StopBenchmark(Exception):
    """The run could not finish (a server failed to launch, Ctrl-C); `code` is the exit code."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


def launch_and_run(
    output: Path,
    args: argparse.Namespace,
    targets: Sequence[Target],
    launches: Sequence[LaunchSpec],
    work: Callable[[], Coroutine[Any, Any, T]],
) -> T:
    """Start the `--launch` servers (logs beside `output`), wait until they are healthy, run
    `work()` to its end, and stop them however it ends; raises `StopBenchmark` (2: a launch
    failed; 130: interrupted) after saying why."""
    try:
        with (
            _terminate_as_interrupt(),
            Launcher(output.parent / f"{output.stem}-logs", args.launch_timeout) as launcher,
        ):
            for spec in launches:
                target = next(t for t in targets if t.name == spec.name)
                log(f"starting {spec.name}: {' '.join(spec.argv)}")
                launched = launcher.start(spec, target.base_url)
                log(f"{spec.name} is healthy at {launched.base_url} (log: {launched.log_path})")
            resolve_models(targets)
            return asyncio.run(work())
    except (LaunchError, ValueError) as e:
        log(f"error: {e}")
        raise StopBenchmark(2) from e
    except KeyboardInterrupt:
        log("interrupted; launched servers were stopped")
        raise StopBenchmark(130) from None


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.budget_sweep:
        return budget_main(parser, args, argv)
    try:
        targets, launches = resolve_targets(args)
        prompts = load_prompts(args.dataset, args.num_prompts, args.seed, args.style)
        benchmark = Benchmark(args, targets, prompts, argv)
        benchmark.config(args.request_rate, args.max_concurrency)  # validates the load flags
    except (ValueError, PromptError) as e:
        parser.error(str(e))
    output: Path = args.output or Path("results") / f"ttft-{time.strftime('%Y%m%d-%H%M%S')}.json"
    load_before = os.getloadavg()
    try:
        runs = launch_and_run(output, args, targets, launches, benchmark.run_all)
    except StopBenchmark as stop:
        return stop.code
    for run in runs:
        print(report.table(run, benchmark.percentiles))
        print()
    if len(runs) > 1:
        print(report.sweep_table(runs))
    result = report.result_json(benchmark.settings(launches), runs, args.save_detailed)
    # The machine's load (1, 5, 15 min), which the servers and this client add to: on a
    # shared host it says how much else was running.
    result["host"] = {
        "cpu_count": os.cpu_count(),
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
    }
    report.write_json(output, result)
    log(f"wrote {output}")
    if not args.no_plots:
        for i, run in enumerate(runs):
            stem = (
                output.with_suffix("")
                if len(runs) == 1
                else Path(f"{output.with_suffix('')}-run{i}")
            )
            for path in plots.plot_run(run, stem):
                log(f"wrote {path}")
    return 0


def budget_main(parser: argparse.ArgumentParser, args: argparse.Namespace, argv: list[str]) -> int:
    """`--budget-sweep`: accuracy against time to first answer (`budget_sweep`)."""
    datasets = [d.strip() for d in args.dataset.split(",") if d.strip()]
    try:
        settings = budget_sweep.parse_sweep(args.budget_sweep)
        targets, launches = resolve_targets(args)
        if len(targets) != 1:
            raise ValueError("--budget-sweep measures one target (our server)")
        unknown = [d for d in datasets if d not in ("kk", "multihop")]
        if unknown or not datasets:
            raise ValueError(
                f"--budget-sweep needs --dataset kk, multihop or kk,multihop; got {unknown}"
            )
        examples = budget_sweep.load_examples(datasets, args.num_prompts, args.seed)
    except ValueError as e:
        parser.error(str(e))
    target = targets[0]
    output: Path = (
        args.output or Path("results") / f"budget-sweep-{time.strftime('%Y%m%d-%H%M%S')}.json"
    )
    try:
        results = launch_and_run(
            output,
            args,
            targets,
            launches,
            lambda: budget_sweep.run(target, examples, settings, args),
        )
    except StopBenchmark as stop:
        return stop.code
    rows = budget_sweep.summaries(results, datasets)
    print(budget_sweep.table(rows))
    report.write_json(
        output,
        {
            "harness": "benchmarks.ttft --budget-sweep",
            "command": "python -m benchmarks.ttft " + shlex.join(argv),
            "date": time.strftime("%Y%m%d-%H%M%S"),
            "target": {"name": target.name, "base_url": target.base_url, "model": target.model},
            "datasets": datasets,
            "num_prompts": args.num_prompts,
            "max_tokens": args.max_tokens,
            "temperature": args.temperature,
            "style": args.style,
            "extra_body": target.extra_body,
            "cpu_count": os.cpu_count(),
            "loadavg_end": list(os.getloadavg()),
            "summaries": rows,
            "errors": [o.error for r in results for o in r.outcomes if o.error][:20],
            **(
                {
                    "requests": {
                        r.setting.label: [dataclasses.asdict(o) for o in r.outcomes]
                        for r in results
                    }
                }
                if args.save_detailed
                else {}
            ),
        },
    )
    log(f"wrote {output}")
    if not args.no_plots:
        log(f"wrote {budget_sweep.plot(rows, output.with_suffix('.png'))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
