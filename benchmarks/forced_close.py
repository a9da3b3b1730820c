"""What a reasoning budget's forced close costs, per enforcement: `benchmarks.forced_close`.

    python -m benchmarks.forced_close --base-url http://127.0.0.1:8000 --num-prompts 8
    python -m benchmarks.forced_close --num-prompts 8 \\
        --launch continue="python -m server --port 8101 --enforce-eager" \\
        --launch logits="python -m server --port 8102 --enforce-eager --budget-enforcement logits"

The server enforces budgets one of two ways (`--budget-enforcement`):
- `continue` (`server.generation.run`): abort the generation and continue it with the text so far
  plus `</think><answer>` as the assistant prefix. Each close reports `resume_ms` in the
  response's `timings`: from the decision to the continuation's first output (abort, prefill
  of prompt plus reply so far, one decode step).
- `logits` (`server.generation.budget_logits`): a logits processor in the engine forces the tag
  tokens, one per decode step; nothing is aborted, so there is no `resume_ms`.

For each server (one at a time: `--launch` starts, measures and stops each in turn, so they
never share the CPU) the harness sends the same held-out K&K prompts without a budget (the
decode time per token, and what the enforcement costs requests that carry no budget) and with
a per-segment cap (the forced closes), one request at a time. The cost of one close is
measured the same way for both: the budgeted request's time beyond its first token, minus
what decoding the model's own tokens takes at that server's unbudgeted rate, divided by the
number of closes. The tag tokens the `logits` engine decodes are not the model's, so they
count as cost there, as the `continue` prefill does. JSON with every figure goes to --output.
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

from benchmarks.launch import Launcher, LaunchError, LaunchSpec, parse_launch
from benchmarks.ttft.prompts import load_prompts

# Tokens of `</think><answer>` on the default model's tokenizer (SmolLM2): what the logits
# enforcement decodes per close. Measured, not assumed: `tag_tokens` in the JSON.
TAGS = "</think><answer>"


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
) -> dict[str, Any]:
    """One server's figures: unbudgeted decode ms per token, and for the budgeted runs each
    response's (time beyond the first token, completion tokens, forced closes, resume_ms)."""
    decode: list[float] = []
    budgeted: list[dict[str, Any]] = []
    _post(client, url, {"messages": prompts[0].messages, "max_tokens": 1})  # warm-up
    for prompt in prompts:
        base = {"messages": prompt.messages, "max_tokens": max_tokens, "temperature": 0}
        body, latency = _post(client, url, base)
        if (ms := per_token_ms(body, latency)) is not None:
            decode.append(ms)
        body, latency = _post(
            client, url, {**base, "reasoning_budget": {"max_segment_tokens": cap}}
        )
        timings = body["choices"][0]["timings"]
        budgeted.append(
            {
                "after_first_token_ms": latency - (timings["time_to_first_token_ms"] or 0.0),
                "completion_tokens": body["usage"]["completion_tokens"],
                "forced_closes": timings["forced_closes"],
                "resume_ms": [f["resume_ms"] for f in timings["forced"] if f["resume_ms"]],
            }
        )
    return {"decode_ms_per_token": decode, "budgeted": budgeted}


def close_cost_ms(figures: dict[str, Any], tag_tokens: int) -> list[float]:
    """Per budgeted response with closes: its extra time per close (see the module doc).
    With no resume times the engine wrote the tags: they are decoded tokens, not the model's."""
    step = statistics.median(figures["decode_ms_per_token"])
    costs = []
    for run in figures["budgeted"]:
        closes = run["forced_closes"]
        if not closes:
            continue
        in_engine = not run["resume_ms"]
        model_tokens = run["completion_tokens"] - (closes * tag_tokens if in_engine else 0)
        extra = run["after_first_token_ms"] - max(model_tokens - 1, 0) * step
        costs.append(extra / closes)
    return costs


def summarize(name: str, figures: dict[str, Any], tag_tokens: int) -> dict[str, Any]:
    step = statistics.median(figures["decode_ms_per_token"])
    costs = close_cost_ms(figures, tag_tokens)
    resume = [ms for run in figures["budgeted"] for ms in run["resume_ms"]]
    return {
        "name": name,
        "decode_ms_per_token": {"median": step, "values": figures["decode_ms_per_token"]},
        "forced_closes": sum(run["forced_closes"] for run in figures["budgeted"]),
        "close_cost_ms": {
            "median": statistics.median(costs) if costs else None,
            "values": costs,
        },
        "close_cost_in_decode_steps": statistics.median(costs) / step if costs else None,
        "resume_ms": {"median": statistics.median(resume) if resume else None, "values": resume},
        "budgeted": figures["budgeted"],
    }


def run_target(name: str, base_url: str, api_key: str | None, args: argparse.Namespace):
    prompts = load_prompts(args.dataset, args.num_prompts)
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    url = f"{base_url.rstrip('/')}/v1/chat/completions"
    with httpx.Client(headers=headers, timeout=600) as client:
        return measure(client, url, prompts, args.max_tokens, args.cap)


def tag_token_count() -> int:
    from transformers import AutoTokenizer

    from modelprep import ensure_base_model

    tokenizer = AutoTokenizer.from_pretrained(str(ensure_base_model()))
    return len(tokenizer.encode(TAGS, add_special_tokens=False))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.forced_close",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--base-url", default="http://127.0.0.1:8000", help="without --launch")
    p.add_argument(
        "--launch",
        action="append",
        default=[],
        metavar='NAME="CMD"',
        help="start this server (its --port gives the URL), measure it, stop it; repeatable",
    )
    p.add_argument("--launch-timeout", type=float, default=600.0)
    p.add_argument("--api-key", default=None)
    p.add_argument("--dataset", default="kk", help="kk | multihop | builtin | jsonl:PATH")
    p.add_argument("--num-prompts", type=int, default=8)
    p.add_argument("--max-tokens", type=int, default=160)
    p.add_argument("--cap", type=int, default=16, help="max_segment_tokens of the budgeted runs")
    p.add_argument("--output", type=Path, default=Path("results/forced_close.json"))
    args = p.parse_args(argv)
    try:
        specs: list[LaunchSpec] = [parse_launch(s) for s in args.launch]
    except ValueError as e:
        p.error(str(e))
    tag_tokens = tag_token_count()
    results = []
    if not specs:
        figures = run_target("server", args.base_url, args.api_key, args)
        results.append(summarize("server", figures, tag_tokens))
    for spec in specs:
        if spec.base_url is None:
            p.error(f"--launch {spec.name}: the command needs --port")
        with Launcher(args.output.parent / f"{args.output.stem}-logs", args.launch_timeout) as lc:
            try:
                launched = lc.start(spec, spec.base_url)
            except LaunchError as e:
                print(f"error: {e}", file=sys.stderr)
                return 2
            print(f"{spec.name}: measuring at {launched.base_url}", file=sys.stderr, flush=True)
            figures = run_target(spec.name, launched.base_url, args.api_key, args)
        results.append(summarize(spec.name, figures, tag_tokens))
    if any(r["close_cost_ms"]["median"] is None for r in results):
        print("a server made no forced closes: nothing to compare", file=sys.stderr)
        return 1
    output = {
        "dataset": args.dataset,
        "num_prompts": args.num_prompts,
        "max_tokens": args.max_tokens,
        "cap": args.cap,
        "tag_tokens": tag_tokens,
        "targets": results,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(output, indent=2) + "\n")
    # The direct figures first: a resumed close's resume_ms, or the tag tokens an in-engine
    # close decodes; the whole-request residual (cost/close) scatters by seconds per request.
    print(
        f"{'server':<12} {'decode ms/tok':>14} {'closes':>7} {'resume ms':>10} "
        f"{'tag tokens':>11} {'cost/close ms (residual)':>25}"
    )
    for r in results:
        resume = r["resume_ms"]["median"]
        print(
            f"{r['name']:<12} {r['decode_ms_per_token']['median']:>14.1f} "
            f"{r['forced_closes']:>7} {'-' if resume is None else f'{resume:.0f}':>10} "
            f"{'-' if resume is not None else tag_tokens:>11} "
            f"{r['close_cost_ms']['median']:>25.0f}"
        )
    if len(results) == 2:
        a, b = results
        slow = b["decode_ms_per_token"]["median"] / a["decode_ms_per_token"]["median"]
        print(f"{b['name']} / {a['name']}: unbudgeted decode {slow:.2f}x as long per token")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
