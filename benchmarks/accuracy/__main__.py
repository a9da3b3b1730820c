"""CLI of `benchmarks.accuracy` (see the package docstring)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from benchmarks.accuracy import client, report
from tasks import generate, generator_options, read_jsonl
from tasks.example import Example


def _dataset_spec(text: str) -> tuple[str, int, dict[str, Any]]:
    """`kk:50`, `kk:40:people=3,5`, `multihop:30:hops=2`, `kk:40:phrasing=unseen` (numbers
    become tuples of ints, words stay strings)."""
    parts = text.split(":")
    if len(parts) < 2:
        raise argparse.ArgumentTypeError(f"expected NAME:N[:option=a,b], got {text!r}")
    try:
        return parts[0], int(parts[1]), generator_options(parts[2:])
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"{text!r}: {e}") from e


def load_examples(
    specs: list[tuple[str, int, dict[str, Any]]], files: list[str], seed: int
) -> list[Example]:
    examples: list[Example] = []
    for name, n, options in specs:
        examples.extend(generate(name, n, split="test", seed=seed, **options))
    for path in files:
        examples.extend(read_jsonl(path))
    return examples


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.accuracy",
        description=sys.modules["benchmarks.accuracy"].__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--base-url", help="a running OpenAI-compatible server")
    where.add_argument(
        "--launch",
        help="a server command to start for the run, e.g. "
        '"python -m server --adapter runs/rl/adapter"',
    )
    parser.add_argument("--api-key")
    parser.add_argument("--model", help="model name to send (default: none; ours serves one)")
    parser.add_argument(
        "--dataset",
        type=_dataset_spec,
        action="append",
        default=[],
        help="NAME:N[:option=a,b], generated held-out test items (default: kk:40 and multihop:40)",
    )
    parser.add_argument("--data", action="append", default=[], help="Example JSONL file")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--style", choices=("interleaved", "think_answer"), default="interleaved")
    parser.add_argument("--max-tokens", type=int, default=1024)
    parser.add_argument("--temperature", type=float, default=0.0)
    parser.add_argument(
        "--extra-body",
        type=json.loads,
        default={},
        help="JSON merged into every request, e.g. '{\"enforce_format\": true}'",
    )
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--output", default="results/accuracy.json")
    parser.add_argument("--plot", help="PNG path (default: the output path with .png)")
    args = parser.parse_args(argv)

    specs = args.dataset or ([] if args.data else [("kk", 40, {}), ("multihop", 40, {})])
    try:
        examples = load_examples(specs, args.data, args.seed)
    except ValueError as e:  # an unknown dataset or option, a bad file: before any server starts
        parser.error(str(e))
    settings = {k: v for k, v in vars(args).items() if k not in ("api_key",)}
    settings["dataset"] = [f"{n}:{c}" for n, c, _ in specs]

    def evaluate(base_url: str) -> list[Any]:
        return asyncio.run(
            client.run(
                base_url,
                examples,
                args.style,
                args.model,
                args.api_key,
                args.max_tokens,
                args.temperature,
                args.extra_body,
                args.concurrency,
                args.timeout,
            )
        )

    if args.launch:
        from benchmarks.launch import Launcher, LaunchError, free_port, parse_launch

        spec = parse_launch(f"server={args.launch}")
        base_url = spec.base_url
        if base_url is None:
            port = free_port()
            spec.argv += ["--port", str(port)]
            base_url = f"http://127.0.0.1:{port}"
        try:
            # One log folder per output, so evaluations run side by side keep separate logs.
            logs = Path(args.output).parent / "logs" / Path(args.output).stem
            with Launcher(logs) as launcher:
                launcher.start(spec, base_url)
                rows = evaluate(base_url)
        except LaunchError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
    else:
        rows = evaluate(args.base_url)

    summary = report.summarize(rows)
    print(report.table(summary))
    out = report.write_json(args.output, settings, summary, rows)
    png = report.plot(
        args.plot or out.with_suffix(".png"), summary, title=args.launch or args.base_url
    )
    print(f"wrote {out} and {png}", file=sys.stderr)
    failures = [r for r in rows if not r.ok]
    if failures:
        print(
            f"{len(failures)} of {len(rows)} requests failed; first: {failures[0].error}",
            file=sys.stderr,
        )
    return 1 if rows and len(failures) == len(rows) else 0


if __name__ == "__main__":
    sys.exit(main())
