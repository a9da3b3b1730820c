"""What a reasoning budget's forced close costs: `python -m benchmarks.forced_close`.

    python -m benchmarks.forced_close --base-url http://127.0.0.1:8000 --num-prompts 8

Our server enforces budgets by aborting the generation and continuing it with the text so far
plus `</think><answer>` as the assistant prefix (`server.generation`). Each forced close
reports `resume_ms` in the response's `timings`: from the decision to the continuation's
first output (abort, prefill of prompt plus reply so far, one decode step). This harness sends
the same held-out K&K prompts without a budget (for the decode time per token) and with a
per-segment cap (for the forced closes), one request at a time, and prints how many decode
steps one forced close costs. JSON with every figure goes to --output.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from benchmarks.ttft.prompts import load_prompts


def _post(client: httpx.Client, url: str, body: dict[str, Any]) -> tuple[dict[str, Any], float]:
    start = time.perf_counter()
    response = client.post(url, json=body)
    elapsed_ms = (time.perf_counter() - start) * 1000.0
    response.raise_for_status()
    return response.json(), elapsed_ms


def per_token_ms(body: dict[str, Any], latency_ms: float) -> float | None:
    """Decode time per token of one response: (e2e - first token) / (tokens - 1)."""
    tokens = body["usage"]["completion_tokens"]
    ttft = body["choices"][0]["timings"]["time_to_first_token_ms"]
    if tokens < 2 or ttft is None:
        return None
    return (latency_ms - ttft) / (tokens - 1)


def measure(
    client: httpx.Client, url: str, prompts: list[Any], max_tokens: int, cap: int
) -> tuple[list[float], list[float]]:
    """(decode ms per token of each unbudgeted response, resume_ms of every forced close)."""
    decode: list[float] = []
    resume: list[float] = []
    _post(client, url, {"messages": prompts[0].messages, "max_tokens": 1})  # warm-up
    for prompt in prompts:
        base = {"messages": prompt.messages, "max_tokens": max_tokens, "temperature": 0}
        body, latency = _post(client, url, base)
        if (ms := per_token_ms(body, latency)) is not None:
            decode.append(ms)
        body, _ = _post(client, url, {**base, "reasoning_budget": {"max_segment_tokens": cap}})
        resume += [
            f["resume_ms"]
            for f in body["choices"][0]["timings"]["forced"]
            if f["resume_ms"] is not None
        ]
    return decode, resume


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.forced_close", description=__doc__)
    p.add_argument("--base-url", default="http://127.0.0.1:8000")
    p.add_argument("--api-key", default=None)
    p.add_argument("--dataset", default="kk", help="kk | multihop | builtin | jsonl:PATH")
    p.add_argument("--num-prompts", type=int, default=8)
    p.add_argument("--max-tokens", type=int, default=160)
    p.add_argument("--cap", type=int, default=16, help="max_segment_tokens of the budgeted runs")
    p.add_argument("--output", type=Path, default=Path("results/forced_close.json"))
    args = p.parse_args(argv)
    prompts = load_prompts(args.dataset, args.num_prompts)
    headers = {"Authorization": f"Bearer {args.api_key}"} if args.api_key else {}
    url = f"{args.base_url.rstrip('/')}/v1/chat/completions"
    with httpx.Client(headers=headers, timeout=600) as client:
        decode, resume = measure(client, url, prompts, args.max_tokens, args.cap)
    if not decode or not resume:
        print("no decode times or no forced closes measured", file=sys.stderr)
        return 1
    result = {
        "base_url": args.base_url,
        "dataset": args.dataset,
        "num_prompts": args.num_prompts,
        "cap": args.cap,
        "decode_ms_per_token": {"median": statistics.median(decode), "values": decode},
        "resume_ms": {
            "median": statistics.median(resume),
            "p90": sorted(resume)[int(0.9 * (len(resume) - 1))],
            "values": resume,
        },
    }
    # The continuation's first output is a token the model would have decoded anyway: the
    # extra cost is what resuming takes beyond one decode step.
    step = result["decode_ms_per_token"]["median"]
    result["extra_ms"] = result["resume_ms"]["median"] - step
    result["extra_in_decode_steps"] = result["extra_ms"] / step
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"{len(resume)} forced closes over {len(prompts)} prompts: median resume "
        f"{result['resume_ms']['median']:.0f} ms (p90 {result['resume_ms']['p90']:.0f} ms); "
        f"decode {step:.0f} ms/token; a forced close adds {result['extra_ms']:.0f} ms, "
        f"{result['extra_in_decode_steps']:.1f} decode steps. Wrote {args.output}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
