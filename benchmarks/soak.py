"""Soak: minutes of mixed load with random disconnects, then count what leaked.

    python -m benchmarks.soak --launch "python -m server --enforce-eager --port 8111" \\
        --minutes 5 --concurrency 16 --output results/soak.json

A bounded benchmark, not a test: it reports what a long-running server accumulates. Workers
send, for as long as `--minutes` says, a mix of streaming chat completions, non-streaming ones,
streaming Responses and malformed bodies; a share of the requests are cut off by the client at
a random moment (while queued, in prefill, while decoding). Every few seconds the server
process's memory (its own RSS and its engine processes') and open file descriptors are sampled.
At the end, once the server has had a moment to settle, its /metrics tell whether anything is
still held: our in-flight gauge and vLLM's running and waiting counts should all read 0.

A failure is any 5xx, a transport error the client did not cause, a stream that ends without
its last event (`[DONE]`, `response.completed` or `.incomplete`), an error event in a stream,
or a malformed body that is not answered with a 4xx. Output: a summary on stdout, JSON, and a
PNG of memory and completed requests over time beside the JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil
from httpx_sse import EventSource, SSEError
from prometheus_client.parser import text_string_to_metric_families
from tqdm import tqdm

from benchmarks.launch import Launcher, parse_launch

QUESTIONS = (
    "Ava says: 'Ben is a knave.' Ben says: 'Ava and I are both knights.' Who is a knight?",
    "Tom is taller than Sue, and Sue is taller than Ann. Who is the shortest?",
    "A knight always tells the truth and a knave always lies. Kai says 'I am a knave'. "
    "Can that happen?",
    "What is the capital of the country whose capital is Paris, and which river runs there?",
)
# Bodies a client may send by mistake: each must get a 4xx, never a 5xx.
MALFORMED = (
    b"{",
    b'{"messages": "hi"}',
    b'{"messages": [{"role": "wizard", "content": "hi"}]}',
    b'{"messages": [{"role": "user", "content": "hi"}], "max_tokens": -1}',
    b'{"messages": [{"role": "user", "content": "hi"}], "stop": ["\\ud83d"]}',
    b'{"messages": [{"role": "user", "content": "hi"}], "stream_options": {}}',
)
# The last event of a complete stream: chat's [DONE], Responses' completed or incomplete (the
# token budget ran out, which is still a whole response).
# The event that ends each stream kind well: chat's `data: [DONE]`, a Responses stream's
# terminal event types. An `error` event (or an error body in the data) is a failure.
DONE_DATA = "[DONE]"
TERMINAL_EVENTS = ("response.completed", "response.incomplete")
KINDS = ("chat_stream", "chat", "responses_stream", "malformed")
KIND_WEIGHTS = (0.5, 0.2, 0.2, 0.1)
SAMPLE_SECONDS = 2.0
# A request the server still holds after the load stops may only be slow to let go (a cut
# stream's disconnect is noticed at the next chunk, later on a loaded machine); one still held
# after this long is a leak.
SETTLE_SECONDS = 15.0
SETTLE_POLL_SECONDS = 0.25
HELD_GAUGES = (
    "interleaved_requests_in_flight",
    "vllm:num_requests_running",
    "vllm:num_requests_waiting",
)


@dataclass
class Outcome:
    kind: str
    cut: bool  # the client disconnected on purpose
    ok: bool
    status: int | None
    seconds: float
    detail: str = ""


@dataclass
class Sample:
    t: float
    rss_mb: float  # the server and its child processes (the engine)
    fds: int
    completed: int


@dataclass
class Soak:
    outcomes: list[Outcome] = field(default_factory=list)
    samples: list[Sample] = field(default_factory=list)


def body_for(kind: str, max_tokens: int, rng: random.Random) -> dict[str, Any]:
    question = rng.choice(QUESTIONS)
    if kind == "responses_stream":
        return {"input": question, "max_output_tokens": max_tokens, "stream": True}
    return {
        "messages": [{"role": "user", "content": question}],
        "max_tokens": max_tokens,
        "stream": kind == "chat_stream",
        "temperature": 0.8,
    }


async def one_request(
    client: httpx.AsyncClient,
    kind: str,
    cut_after: float | None,
    max_tokens: int,
    rng: random.Random,
) -> Outcome:
    """Send one request of `kind`; with `cut_after`, hang up after that many seconds."""
    start = time.monotonic()
    if kind == "malformed":
        response = await client.post(
            "/v1/chat/completions",
            content=rng.choice(MALFORMED),
            headers={"Content-Type": "application/json"},
        )
        ok = 400 <= response.status_code < 500
        detail = "" if ok else f"malformed body answered {response.status_code}"
        return Outcome(kind, False, ok, response.status_code, time.monotonic() - start, detail)
    path = "/v1/responses" if kind.startswith("responses") else "/v1/chat/completions"
    body = body_for(kind, max_tokens, rng)
    try:
        return await asyncio.wait_for(_exchange(client, kind, path, body, start), cut_after)
    except TimeoutError:
        return Outcome(kind, True, True, None, time.monotonic() - start)


async def _exchange(
    client: httpx.AsyncClient, kind: str, path: str, body: dict[str, Any], start: float
) -> Outcome:
    if not body.get("stream"):
        response = await client.post(path, json=body)
        ok = response.status_code == 200
        return Outcome(
            kind,
            False,
            ok,
            response.status_code,
            time.monotonic() - start,
            "" if ok else response.text[:200],
        )
    async with client.stream("POST", path, json=body) as response:
        if response.status_code != 200:
            text = (await response.aread()).decode(errors="replace")[:200]
            return Outcome(kind, False, False, response.status_code, time.monotonic() - start, text)
        finished, error = False, ""
        try:
            async for event in EventSource(response).aiter_sse():
                if event.data == DONE_DATA or event.event in TERMINAL_EVENTS:
                    finished = True
                elif event.event == "error":
                    error = "error event: " + event.data[:180]
                elif '"error"' in event.data[:40]:
                    error = event.data[:200]
        except SSEError as e:  # a 200 that is not an event stream
            error = str(e)[:200]
        ok = finished and not error
        detail = error or ("" if finished else "stream ended without its last event")
        return Outcome(kind, False, ok, 200, time.monotonic() - start, detail)


def process_sample(pid: int | None) -> tuple[float, int]:
    """(RSS in MB of the process and its children, open fds of the process); 0s without pid."""
    if pid is None:
        return 0.0, 0
    try:
        proc = psutil.Process(pid)
        procs = [proc, *proc.children(recursive=True)]
        rss = sum(p.memory_info().rss for p in procs if p.is_running())
        return rss / 2**20, proc.num_fds()
    except psutil.Error:
        return 0.0, 0


async def held_gauges(client: httpx.AsyncClient) -> dict[str, float]:
    """The gauges that count requests still held, read from /metrics (summed over labels)."""
    text = (await client.get("/metrics")).text
    held = dict.fromkeys(HELD_GAUGES, 0.0)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name in held:
                held[sample.name] += sample.value
    return held


async def soak(
    base_url: str,
    pid: int | None,
    minutes: float,
    concurrency: int,
    cut_share: float,
    max_tokens: int,
    seed: int,
    api_key: str | None,
) -> tuple[Soak, dict[str, float]]:
    result = Soak()
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    deadline = time.monotonic() + minutes * 60
    t0 = time.monotonic()
    limits = httpx.Limits(max_connections=concurrency + 4)
    async with httpx.AsyncClient(
        base_url=base_url, headers=headers, timeout=300.0, limits=limits
    ) as client:

        async def worker(index: int) -> None:
            rng = random.Random(seed * 1000 + index)
            while time.monotonic() < deadline:
                kind = rng.choices(KINDS, KIND_WEIGHTS)[0]
                cut = (
                    rng.uniform(0.05, 3.0)
                    if kind != "malformed" and rng.random() < cut_share
                    else None
                )
                try:
                    outcome = await one_request(client, kind, cut, max_tokens, rng)
                except httpx.HTTPError as exc:
                    outcome = Outcome(kind, False, False, None, 0.0, f"{type(exc).__name__}: {exc}")
                result.outcomes.append(outcome)

        async def sampler(bar: tqdm) -> None:
            while time.monotonic() < deadline:
                rss, fds = process_sample(pid)
                result.samples.append(Sample(time.monotonic() - t0, rss, fds, len(result.outcomes)))
                bar.n = min(int(time.monotonic() - t0), bar.total)
                bar.set_postfix(requests=len(result.outcomes), rss_mb=f"{rss:.0f}")
                await asyncio.sleep(SAMPLE_SECONDS)

        with tqdm(total=int(minutes * 60), unit="s", desc="soak", file=sys.stderr) as bar:
            await asyncio.gather(sampler(bar), *(worker(i) for i in range(concurrency)))
        held = await settled_gauges(client)
        rss, fds = process_sample(pid)
        result.samples.append(Sample(time.monotonic() - t0, rss, fds, len(result.outcomes)))
    return result, held


async def settled_gauges(client: httpx.AsyncClient) -> dict[str, float]:
    """The held-request gauges once they read 0, or as they read after `SETTLE_SECONDS`."""
    deadline = time.monotonic() + SETTLE_SECONDS
    while True:
        held = await held_gauges(client)
        if not any(held.values()) or time.monotonic() >= deadline:
            return held
        await asyncio.sleep(SETTLE_POLL_SECONDS)


def summarize(result: Soak, held: dict[str, float]) -> dict[str, Any]:
    outcomes = result.outcomes
    failures = [o for o in outcomes if not o.ok]
    first, last = (result.samples[0], result.samples[-1]) if result.samples else (None, None)
    return {
        "requests": len(outcomes),
        "by_kind": dict(Counter(o.kind for o in outcomes)),
        "cut_by_client": sum(o.cut for o in outcomes),
        "failures": len(failures),
        "failure_examples": [asdict(o) for o in failures[:20]],
        "status_5xx": sum(1 for o in outcomes if o.status is not None and o.status >= 500),
        "held_after": held,
        "leaked_requests": sum(held.values()),
        "rss_mb_before": first.rss_mb if first else None,
        "rss_mb_after": last.rss_mb if last else None,
        "rss_mb_max": max((s.rss_mb for s in result.samples), default=None),
        "fds_before": first.fds if first else None,
        "fds_after": last.fds if last else None,
    }


def plot(result: Soak, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = [s.t for s in result.samples]
    fig, (mem, done) = plt.subplots(2, 1, figsize=(7, 5), sharex=True)
    mem.plot(t, [s.rss_mb for s in result.samples])
    mem.set_ylabel("server + engine RSS (MB)")
    done.plot(t, [s.completed for s in result.samples])
    done.set_ylabel("requests finished")
    done.set_xlabel("seconds")
    fig.suptitle("soak: memory and throughput over time")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.soak", description=__doc__.split("\n")[0]
    )
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--url", help="a running server, e.g. http://127.0.0.1:8000")
    where.add_argument("--launch", metavar="CMD", help="start this server command (needs --port)")
    p.add_argument("--pid", type=int, help="with --url: the server's pid, to sample its memory")
    p.add_argument("--api-key")
    p.add_argument("--minutes", type=float, default=5.0)
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--cut-share", type=float, default=0.3, help="share of requests the client cuts")
    p.add_argument("--max-tokens", type=int, default=256)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--output", type=Path, default=Path("results/soak.json"))
    p.add_argument("--launch-timeout", type=float, default=600.0, metavar="S")
    args = p.parse_args(argv)
    if not 0 <= args.cut_share <= 1:
        p.error("--cut-share must be between 0 and 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    with Launcher(args.output.parent / "soak-logs", timeout=args.launch_timeout) as launcher:
        if args.launch:
            spec = parse_launch(f"server={args.launch}")
            if spec.base_url is None:
                raise SystemExit("--launch: give --port in the command")
            launched = launcher.start(spec, spec.base_url)
            base_url, pid = launched.base_url, launched.process.pid
        else:
            base_url, pid = args.url.rstrip("/"), args.pid
        result, held = asyncio.run(
            soak(
                base_url,
                pid,
                args.minutes,
                args.concurrency,
                args.cut_share,
                args.max_tokens,
                args.seed,
                args.api_key,
            )
        )
    summary = summarize(result, held)
    settings = {k: v for k, v in vars(args).items() if k not in ("output", "api_key")}
    args.output.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "settings": settings,
        "summary": summary,
        "samples": [asdict(s) for s in result.samples],
    }
    args.output.write_text(json.dumps(payload, indent=2, default=str))
    plot(result, args.output.with_suffix(".png"))
    print(json.dumps({k: v for k, v in summary.items() if k != "failure_examples"}, indent=2))
    print(f"wrote {args.output} and {args.output.with_suffix('.png')}")
    return 1 if summary["failures"] or summary["leaked_requests"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
