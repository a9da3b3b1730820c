"""How requests are sent: arrival process, concurrency limit, interleaving of targets, sweeps.

Arrivals follow vLLM's `bench serve`: with `--request-rate` R and `--burstiness` B, the gaps
between requests are drawn from a gamma distribution with shape B and mean 1/R (B = 1 is a
Poisson process, B < 1 burstier, B > 1 more regular); R = inf sends everything at once. The
send times are laid out in advance and slept to, so a slow event loop does not stretch them.
`--max-concurrency` caps requests in flight per target; a request waiting for a slot is not
yet sent, so its clock has not started (as in vLLM).

Several targets are interleaved so that the machine's drift (other jobs, thermal state, page
cache) hits all alike:
- "request" (default): one schedule, prompt 0 to every target, then prompt 1, ...; the rate and
  the concurrency cap apply per target, so each server sees the load it would see alone (but
  they do share the machine while it runs).
- "block": blocks of prompts, each sent to one target at a time and awaited before the next
  target's turn, so every target runs alone; better for throughput on a small shared machine.
A target's duration is the sum, over the phases it took part in, of phase start to its last
request's end; throughputs divide by it.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from benchmarks.ttft.client import RequestRecord, Target
from benchmarks.ttft.prompts import Prompt

INTERLEAVE_MODES = ("request", "block")


@dataclass(frozen=True)
class Job:
    target: Target
    prompt_index: int
    prompt: Prompt


@dataclass(frozen=True)
class LoadConfig:
    request_rate: float = math.inf
    burstiness: float = 1.0
    max_concurrency: int | None = None
    interleave: str = "request"
    block_size: int | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        if not self.request_rate > 0:
            raise ValueError(f"--request-rate must be positive, got {self.request_rate}")
        if not self.burstiness > 0:
            raise ValueError(f"--burstiness must be positive, got {self.burstiness}")
        if self.max_concurrency is not None and self.max_concurrency < 1:
            raise ValueError("--max-concurrency must be at least 1")
        if self.interleave not in INTERLEAVE_MODES:
            raise ValueError(f"--interleave must be one of {INTERLEAVE_MODES}")
        if self.block_size is not None and self.block_size < 1:
            raise ValueError("--block-size must be at least 1")


@dataclass
class LoadResult:
    records: list[RequestRecord] = field(default_factory=list)
    durations: dict[str, float] = field(default_factory=dict)
    started_at: float = 0.0


SendFn = Callable[[Job], Awaitable[RequestRecord]]


def arrival_offsets(
    n: int, rate: float, burstiness: float, rng: np.random.Generator
) -> list[float]:
    """Send times (seconds after the start) of `n` requests; the first goes at once."""
    if math.isinf(rate):
        return [0.0] * n
    theta = 1.0 / (rate * burstiness)  # gamma mean = shape * scale = 1 / rate
    gaps = rng.gamma(shape=burstiness, scale=theta, size=max(n - 1, 0))
    return [0.0, *np.cumsum(gaps).tolist()][:n]


def plan(
    targets: Sequence[Target], prompts: Sequence[Prompt], config: LoadConfig
) -> list[list[Job]]:
    """The phases of a run, each a list of jobs in send order."""
    indices = range(len(prompts))
    if config.interleave == "request":
        return [[Job(t, i, prompts[i]) for i in indices for t in targets]]
    size = config.block_size or len(prompts)
    phases: list[list[Job]] = []
    for start in range(0, len(prompts), size):
        block = indices[start : start + size]
        phases += [[Job(t, i, prompts[i]) for i in block] for t in targets]
    return phases


async def run(
    phases: Sequence[Sequence[Job]],
    send: SendFn,
    config: LoadConfig,
    on_done: Callable[[RequestRecord], None] | None = None,
) -> LoadResult:
    rng = np.random.default_rng(config.seed)
    result = LoadResult(started_at=time.perf_counter())
    for phase in phases:
        names = list(dict.fromkeys(job.target.name for job in phase))
        # The rate is per target: n targets in one schedule get n times the arrivals.
        offsets = arrival_offsets(
            len(phase), config.request_rate * len(names), config.burstiness, rng
        )
        limits = {
            name: asyncio.Semaphore(config.max_concurrency) if config.max_concurrency else None
            for name in names
        }

        start = time.perf_counter()
        tasks: list[asyncio.Task[RequestRecord]] = []
        for job, offset in zip(phase, offsets, strict=True):
            wait = start + offset - time.perf_counter()
            if wait > 0:
                await asyncio.sleep(wait)
            limit = limits[job.target.name]
            tasks.append(asyncio.create_task(_limited(job, send, limit, on_done)))
        records = await asyncio.gather(*tasks)
        result.records.extend(records)
        for name in names:
            end = max(r.ended_at for r in records if r.target == name)
            result.durations[name] = result.durations.get(name, 0.0) + (end - start)
    return result


async def _limited(
    job: Job,
    send: SendFn,
    limit: asyncio.Semaphore | None,
    on_done: Callable[[RequestRecord], None] | None,
) -> RequestRecord:
    if limit is None:
        record = await send(job)
    else:
        async with limit:
            record = await send(job)
    if on_done is not None:
        on_done(record)
    return record


async def warm_up(
    targets: Sequence[Target], prompts: Sequence[Prompt], count: int, send: SendFn
) -> list[RequestRecord]:
    """`count` unmeasured requests per target, one at a time (first-request costs: connection
    setup, engine graph capture, prefix caches)."""
    records: list[RequestRecord] = []
    for target in targets:
        for i in range(count):
            records.append(await send(Job(target, -1 - i, prompts[i % len(prompts)])))
    return records


def sweep_rates(sync_rate: float, max_rate: float, steps: int) -> list[float]:
    """`steps` rates evenly between the synchronous and the saturated throughput (exclusive)."""
    if steps < 1 or not (max_rate > sync_rate > 0):
        return []
    return np.linspace(sync_rate, max_rate, steps + 2)[1:-1].tolist()
