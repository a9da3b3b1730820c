"""Per-delta cost of `parsing.StreamParser` on a realistic stream, against naive re-parsing.

    python -m benchmarks.parser [--num-deltas 200000] [--seed 0] [--naive-deltas 10000]
                                [--repeats 5] [--output results/parser.json]

The stream is a seeded, synthetic interleaved response (long think segments, short answers,
"<" characters that are not tags, newlines) cut into deltas of 1-8 characters at random, so
tags are split across deltas the way a tokenizer splits them. Each delta is fed as the server
feeds it; the time includes the Python loop around `feed()`.

Reported per approach: µs per delta overall, in the first and last 10% of the deltas, and their
ratio (last/first). A parser whose cost does not grow with the response has a ratio near 1.
The naive approach, re-parsing the accumulated text on every delta, is quadratic, so it runs
on a prefix only (`--naive-deltas`); the stream parser is timed on the same prefix too.
Per-bucket times are the minimum over `--repeats` runs, to damp noise on a shared machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from itertools import pairwise
from pathlib import Path

from parsing import StreamParser, parse

BUCKETS = 10
TARGET_US_PER_DELTA = 3.0
TARGET_RATIO = 1.5

WORDS = (
    "the so we need to find sum of both sides then check value first step next because "
    "therefore let x y n equals 2 3 5 12 42 total each times divided by remainder is are "
    "wait no yes that gives answer number apples train speed hours km"
)
VOCABULARY = WORDS.split()
NOT_TAGS = (" a < b", " x<y", " 3 <= 4", " (n<10)", " <-", " i<n;")


def make_text(rng: random.Random, min_chars: int) -> str:
    """A well-formed interleaved response of at least `min_chars` characters."""
    parts: list[str] = []
    size = 0
    while size < min_chars:
        think = _sentence(rng, rng.randint(40, 160))
        answer = _sentence(rng, rng.randint(2, 20))
        lead = rng.choice(("", " ", "\n"))  # models vary in the whitespace after a tag
        chunk = f"<think>{lead}{think}</think>\n<answer>{answer}</answer>\n"
        parts.append(chunk)
        size += len(chunk)
    return "".join(parts)


def _sentence(rng: random.Random, words: int) -> str:
    out: list[str] = []
    for _ in range(words):
        roll = rng.random()
        if roll < 0.02:
            out.append(rng.choice(NOT_TAGS))
        elif roll < 0.05:
            out.append(".\n")
        else:
            out.append(" " + rng.choice(VOCABULARY))
    return "".join(out).strip()


def make_deltas(num_deltas: int, seed: int) -> list[str]:
    """`num_deltas` consecutive pieces of 1-8 characters of a synthetic response."""
    rng = random.Random(seed)
    sizes = [rng.randint(1, 8) for _ in range(num_deltas)]
    text = make_text(rng, sum(sizes))
    deltas: list[str] = []
    pos = 0
    for size in sizes:
        deltas.append(text[pos : pos + size])
        pos += size
    return deltas


def bucket_bounds(n: int) -> list[tuple[int, int]]:
    edges = [n * i // BUCKETS for i in range(BUCKETS + 1)]
    return list(pairwise(edges))


def time_stream(deltas: Sequence[str]) -> list[float]:
    """Seconds spent feeding each tenth of the deltas into one StreamParser."""
    parser = StreamParser()
    feed = parser.feed
    seconds: list[float] = []
    for start, stop in bucket_bounds(len(deltas)):
        chunk = deltas[start:stop]
        t0 = time.perf_counter()
        for delta in chunk:
            feed(delta)
        seconds.append(time.perf_counter() - t0)
    parser.close()
    return seconds


def time_naive(deltas: Sequence[str]) -> list[float]:
    """The straightforward alternative: re-parse everything received so far on each delta and
    emit whatever the segments gained since the previous delta."""
    seconds: list[float] = []
    received = ""
    emitted = 0
    for start, stop in bucket_bounds(len(deltas)):
        chunk = deltas[start:stop]
        t0 = time.perf_counter()
        for delta in chunk:
            received += delta
            segments = parse(received).segments
            total = sum(len(s.text) for s in segments)
            _new, emitted = total - emitted, total  # what would be sent to the client
        seconds.append(time.perf_counter() - t0)
    return seconds


def best_of(repeats: int, run: Callable[[], list[float]]) -> list[float]:
    runs = [run() for _ in range(repeats)]
    return [min(column) for column in zip(*runs, strict=True)]


@dataclass(frozen=True)
class Row:
    approach: str
    deltas: int
    chars: int
    us_per_delta: float
    first_10pct_us_per_delta: float
    last_10pct_us_per_delta: float
    last_first_ratio: float


def summarise(name: str, deltas: Sequence[str], seconds: list[float]) -> Row:
    bounds = bucket_bounds(len(deltas))
    first = seconds[0] / (bounds[0][1] - bounds[0][0]) * 1e6
    last = seconds[-1] / (bounds[-1][1] - bounds[-1][0]) * 1e6
    return Row(
        approach=name,
        deltas=len(deltas),
        chars=sum(map(len, deltas)),
        us_per_delta=sum(seconds) / len(deltas) * 1e6,
        first_10pct_us_per_delta=first,
        last_10pct_us_per_delta=last,
        last_first_ratio=last / first,
    )


def print_table(rows: list[Row]) -> None:
    header = f"{'approach':<34}{'deltas':>9}{'µs/delta':>11}{'first10%':>11}{'last10%':>11}"
    print(header + f"{'last/first':>12}")
    print("-" * (len(header) + 12))
    for r in rows:
        print(
            f"{r.approach:<34}{r.deltas:>9}{r.us_per_delta:>11.2f}"
            f"{r.first_10pct_us_per_delta:>11.2f}{r.last_10pct_us_per_delta:>11.2f}"
            f"{r.last_first_ratio:>12.2f}"
        )


def main(argv: Sequence[str] | None = None) -> dict[str, object]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--num-deltas", type=int, default=200_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--naive-deltas",
        type=int,
        default=10_000,
        help="prefix of the stream the quadratic naive approach runs on",
    )
    ap.add_argument("--repeats", type=int, default=5, help="runs per approach; best bucket kept")
    ap.add_argument("--output", type=Path, default=Path("results/parser.json"))
    args = ap.parse_args(argv)
    if args.num_deltas < BUCKETS or not BUCKETS <= args.naive_deltas <= args.num_deltas:
        ap.error(f"need {BUCKETS} <= --naive-deltas <= --num-deltas")

    deltas = make_deltas(args.num_deltas, args.seed)
    text = "".join(deltas)
    transcript = parse(text)
    prefix = deltas[: args.naive_deltas]
    print(
        f"stream: {len(deltas)} deltas, {len(text)} chars, {len(transcript.segments)} segments "
        f"(seed {args.seed}); naive re-parsing on the first {len(prefix)} deltas only "
        "(it is quadratic)"
    )

    stream_row = summarise(
        "StreamParser.feed", deltas, best_of(args.repeats, lambda: time_stream(deltas))
    )
    prefix_row = summarise(
        f"StreamParser.feed, first {len(prefix)}",
        prefix,
        best_of(args.repeats, lambda: time_stream(prefix)),
    )
    naive_row = summarise(f"naive re-parse, first {len(prefix)}", prefix, time_naive(prefix))
    t0 = time.perf_counter()
    parse(text)
    whole_s = time.perf_counter() - t0

    rows = [stream_row, prefix_row, naive_row]
    print_table(rows)
    speedup = naive_row.us_per_delta / prefix_row.us_per_delta
    meets = (
        stream_row.us_per_delta < TARGET_US_PER_DELTA and stream_row.last_first_ratio < TARGET_RATIO
    )
    print(f"naive / StreamParser on the same {len(prefix)}-delta prefix: {speedup:.0f}x")
    print(f"parse() of the whole {len(text)}-char text: {whole_s * 1e3:.1f} ms")
    print(
        f"targets: < {TARGET_US_PER_DELTA} µs/delta and last/first < {TARGET_RATIO}: "
        + ("met" if meets else "NOT met")
    )

    result: dict[str, object] = {
        "benchmark": "parser",
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "seed": args.seed,
        "repeats": args.repeats,
        "num_deltas": len(deltas),
        "chars": len(text),
        "segments": len(transcript.segments),
        "stream": asdict(stream_row),
        "stream_on_naive_prefix": asdict(prefix_row),
        "naive": asdict(naive_row),
        "naive_over_stream_on_prefix": speedup,
        "parse_whole_text_s": whole_s,
        "targets": {"us_per_delta": TARGET_US_PER_DELTA, "last_first_ratio": TARGET_RATIO},
        "meets_targets": meets,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.output}")
    return result


if __name__ == "__main__":
    main()
