"""Where a single request's time to first token goes, stage by stage.

    python -m benchmarks.first_token --target ours=http://127.0.0.1:8262 \\
        --target vllm=http://127.0.0.1:8263 --tokenizer MODEL_DIR \\
        --dataset kk --num-prompts 8 --output results/speed/first-token.json

One request at a time per target (nothing else queued, the targets alternating request by
request so both see the same machine), each a streamed chat completion. For each request:

- the client's clock (`time.perf_counter()`, started just before the request is sent): the
  response headers, the first SSE data event (our server's and vLLM's first event carries
  only the role), the first event with text (TTFT, as `benchmarks.ttft` counts it);
- the engine's own account, read from the difference of the server's `/metrics` before and
  after the request (vLLM's per-request histograms, so any server on vLLM has them): time
  queued (`vllm:request_queue_time_seconds`), in prefill up to the first token
  (`vllm:request_prefill_time_seconds`), vLLM's TTFT from the moment the request reached the
  engine client to its first token (`vllm:time_to_first_token_seconds`), the mean time per
  output token after it, and the prompt's length and the part of it found in the prefix cache;
- our server's own account (`timings.time_to_first_token_ms` on the last chunk): from the
  request's arrival to the first token the engine handed back (with `--no-prefill-think`, the
  first of the opening tag the model writes first, which the shaper holds back and never
  sends; with the default `--prefill-think` the server wrote the tag, and that token is
  already reasoning text);
- the chat template and tokenization of the same messages, timed here with the model's
  tokenizer (`--tokenizer`, the call the server makes), and the opening tag's token count.

Stages (medians over requests, see `stages`): before the engine (template, tokenization,
admission), queued, the engine's own overhead, prefill, the first SSE write, and the hold-back
of the opening tag (its decode steps). For a server without our `timings` the first stage is
left out.

Output: a table per target on stdout, JSON with every request's figures (`--output`), and a
stacked bar chart beside it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from benchmarks.ttft.client import Target, request_body
from benchmarks.ttft.prompts import load_prompts
from benchmarks.ttft.targets import parse_target

# vLLM histograms read per request: (key in our output, metric family name).
_ENGINE_HISTOGRAMS = {
    "engine_ttft_ms": "vllm:time_to_first_token_seconds",
    "queue_ms": "vllm:request_queue_time_seconds",
    "prefill_ms": "vllm:request_prefill_time_seconds",
    "decode_ms": "vllm:request_decode_time_seconds",
    "engine_e2e_ms": "vllm:e2e_request_latency_seconds",
}
_ENGINE_COUNTERS = {
    "prompt_tokens": "vllm:prompt_tokens",
    "cached_prompt_tokens": "vllm:prompt_tokens_cached",
    "generation_tokens": "vllm:generation_tokens",
}


STAGES = ("before_engine", "queue", "engine_overhead", "prefill", "first_write", "hold_back")


@dataclass
class Sample:
    """One request's figures; times in ms, None where the server does not say."""

    target: str
    prompt_index: int
    headers_ms: float | None = None
    first_event_ms: float | None = None
    client_ttft_ms: float | None = None
    server_ttft_ms: float | None = None  # ours: arrival to first text handed to the stream
    engine: dict[str, float] = field(default_factory=dict)
    template_ms: float | None = None
    tag_tokens: int | None = None
    error: str | None = None


def scrape(base_url: str) -> dict[str, float]:
    """Sums and counts of the vLLM histograms and counters we read, by family name."""
    text = httpx.get(f"{base_url}/metrics", timeout=30).text
    out: dict[str, float] = {}
    wanted = set(_ENGINE_HISTOGRAMS.values()) | set(_ENGINE_COUNTERS.values())
    for family in text_string_to_metric_families(text):
        if family.name not in wanted:
            continue
        for s in family.samples:
            if s.name.endswith(("_sum", "_count", "_total")):
                out[s.name] = out.get(s.name, 0.0) + s.value
    return out


def engine_delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """One request's engine figures from two scrapes around it (nothing else running)."""
    d = {k: after.get(k, 0.0) - before.get(k, 0.0) for k in after}
    out: dict[str, float] = {}
    for key, name in _ENGINE_HISTOGRAMS.items():
        if d.get(f"{name}_count", 0.0) >= 1:
            out[key] = 1000.0 * d[f"{name}_sum"] / d[f"{name}_count"]
    for key, name in _ENGINE_COUNTERS.items():
        if f"{name}_total" in d:
            out[key] = d[f"{name}_total"]
    tokens = out.get("generation_tokens", 0.0)
    if "decode_ms" in out and tokens > 1:
        out["time_per_output_token_ms"] = out["decode_ms"] / (tokens - 1)
    return out


def send(client: httpx.Client, target: Target, body: dict[str, Any], index: int) -> Sample:
    sample = Sample(target.name, index)
    headers = {"Authorization": f"Bearer {target.api_key}"} if target.api_key else {}
    payload = json.dumps(body).encode()
    sent = time.perf_counter()

    def ms() -> float:
        return round(1000.0 * (time.perf_counter() - sent), 3)

    with client.stream(
        "POST",
        target.chat_url,
        content=payload,
        headers={**headers, "Content-Type": "application/json"},
    ) as response:
        sample.headers_ms = ms()
        if response.status_code != 200:
            sample.error = f"HTTP {response.status_code}: {response.read()[:300]!r}"
            return sample
        for line in response.iter_lines():
            if not line.startswith("data:"):
                continue
            data = line[5:].strip()
            if data == "[DONE]":
                break
            now = ms()
            if sample.first_event_ms is None:
                sample.first_event_ms = now
            event = json.loads(data)
            for choice in event.get("choices") or []:
                delta = choice.get("delta") or {}
                text = delta.get("content") or delta.get("reasoning") or ""
                if text and sample.client_ttft_ms is None:
                    sample.client_ttft_ms = now
                timings = choice.get("timings")
                if isinstance(timings, dict):
                    sample.server_ttft_ms = timings.get("time_to_first_token_ms")
    return sample


class Templater:
    """The server's chat template and tokenization, timed on this side."""

    def __init__(self, path: str, opening_tag: str) -> None:
        from transformers import AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.tag_tokens = len(self.tokenizer.encode(opening_tag, add_special_tokens=False))

    def time_ms(self, messages: list[dict[str, Any]]) -> float:
        started = time.perf_counter()
        self.tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, tokenize=True, return_dict=False
        )
        return 1000.0 * (time.perf_counter() - started)


def stages(s: Sample) -> dict[str, float]:
    """A request's time to first token split into consecutive stages (ms).

    `before_engine`: arrival to the engine (ours only: our TTFT, which is stamped at the
    first token the engine hands back, tag or not, minus vLLM's); `queue`, `engine_overhead`
    (vLLM's TTFT minus queue and prefill: the hops between the engine client and the
    engine-core process), `prefill`; `first_write`: from the engine's first token to the
    client's first SSE event; `hold_back`: from there to the first event with text (the
    decode steps of the opening tag, which our server holds back and never sends).
    """
    e = s.engine
    out: dict[str, float] = {}
    engine_ttft = e.get("engine_ttft_ms")
    if engine_ttft is None:
        return out
    inner = engine_ttft
    if s.server_ttft_ms is not None:
        out["before_engine"] = max(0.0, s.server_ttft_ms - engine_ttft)
        inner = s.server_ttft_ms
    if "queue_ms" in e and "prefill_ms" in e:
        out["queue"] = e["queue_ms"]
        out["engine_overhead"] = max(0.0, engine_ttft - e["queue_ms"] - e["prefill_ms"])
        out["prefill"] = e["prefill_ms"]
    if s.first_event_ms is not None:
        out["first_write"] = max(0.0, s.first_event_ms - inner)
        if s.client_ttft_ms is not None:
            out["hold_back"] = max(0.0, s.client_ttft_ms - s.first_event_ms)
    return out


def median(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def summarize(samples: list[Sample]) -> dict[str, Any]:
    ok = [s for s in samples if s.error is None]
    keys = sorted({k for s in ok for k in s.engine})
    split = [stages(s) for s in ok]
    stage_keys = list(STAGES)
    return {
        "requests": len(samples),
        "failed": len(samples) - len(ok),
        "median_client_ttft_ms": median([s.client_ttft_ms for s in ok]),
        "median_first_event_ms": median([s.first_event_ms for s in ok]),
        "median_headers_ms": median([s.headers_ms for s in ok]),
        "median_server_ttft_ms": median([s.server_ttft_ms for s in ok]),
        "median_template_ms": median([s.template_ms for s in ok]),
        "engine": {k: median([s.engine.get(k) for s in ok]) for k in keys},
        "stages_ms": {
            k: median([d.get(k) for d in split]) for k in stage_keys if any(k in d for d in split)
        },
    }


def print_table(name: str, summary: dict[str, Any]) -> None:
    def f(v: Any) -> str:
        return "-" if v is None else f"{v:.1f}"

    print(f"\n{name}: {summary['requests'] - summary['failed']} requests")
    print(f"  client TTFT            {f(summary['median_client_ttft_ms'])} ms")
    print(f"  first SSE event        {f(summary['median_first_event_ms'])} ms")
    print(f"  server TTFT (ours)     {f(summary['median_server_ttft_ms'])} ms")
    for key, value in summary["engine"].items():
        print(f"  engine {key:<22} {f(value)}")
    print(f"  template + tokenize    {f(summary['median_template_ms'])} ms (this process)")
    for key, value in summary["stages_ms"].items():
        print(f"  stage {key:<16} {f(value)} ms")


def plot(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(result["targets"])
    order = list(STAGES)
    fig, ax = plt.subplots(figsize=(6.5, 1.2 + 0.7 * len(names)))
    for row, name in enumerate(names):
        left = 0.0
        parts = result["targets"][name]["summary"]["stages_ms"]
        for i, key in enumerate(order):
            width = parts.get(key) or 0.0
            ax.barh(row, width, left=left, color=f"C{i}", label=key if row == 0 else None)
            left += width
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel("ms from sending the request (medians, stacked)")
    ax.set_title("time to first token, by stage")
    ax.legend(fontsize=7, ncol=3, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.first_token",
        description="Where a single request's time to first token goes.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__,
    )
    p.add_argument("--target", action="append", required=True, metavar="SPEC")
    p.add_argument("--api-key", default=None)
    p.add_argument("--tokenizer", default=None, help="model folder whose template to time")
    p.add_argument("--opening-tag", default="<think>", help="what the shaper holds back first")
    p.add_argument("--dataset", default="kk")
    p.add_argument("--num-prompts", type=int, default=8)
    p.add_argument("--max-tokens", type=int, default=16)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--warmups", type=int, default=1, help="unmeasured requests per target")
    p.add_argument("--output", type=Path, default=None)
    p.add_argument("--no-plots", action="store_true")
    return p


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    targets = [parse_target(spec, args.api_key) for spec in args.target]
    prompts = load_prompts(args.dataset, args.num_prompts + args.warmups, args.seed)
    templater = Templater(args.tokenizer, args.opening_tag) if args.tokenizer else None
    load_before = os.getloadavg()
    samples: dict[str, list[Sample]] = {t.name: [] for t in targets}
    with httpx.Client(timeout=httpx.Timeout(600.0, connect=10.0)) as client:
        for i, prompt in enumerate(prompts):
            for target in targets:  # alternating: each request runs alone
                body = request_body(target, prompt.messages, args.max_tokens, 0.0)
                before = scrape(target.base_url)
                sample = send(client, target, body, i)
                time.sleep(0.2)  # the engine's stats reach /metrics after the last chunk
                sample.engine = engine_delta(before, scrape(target.base_url))
                if templater is not None:
                    sample.template_ms = round(templater.time_ms(body["messages"]), 3)
                    sample.tag_tokens = templater.tag_tokens
                if i >= args.warmups:
                    samples[target.name].append(sample)
    result: dict[str, Any] = {
        "harness": "benchmarks.first_token",
        "date": time.strftime("%Y%m%d-%H%M%S"),
        "dataset": args.dataset,
        "num_prompts": args.num_prompts,
        "max_tokens": args.max_tokens,
        "host": {
            "cpu_count": os.cpu_count(),
            "load_average_before": load_before,
            "load_average_after": os.getloadavg(),
        },
        "targets": {},
    }
    for target in targets:
        summary = summarize(samples[target.name])
        print_table(target.name, summary)
        result["targets"][target.name] = {
            "base_url": target.base_url,
            "summary": summary,
            "requests": [asdict(s) for s in samples[target.name]],
        }
    if args.output is not None:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(result, indent=2) + "\n")
        if not args.no_plots:
            plot(result, args.output.with_suffix(".png"))


if __name__ == "__main__":
    main()
