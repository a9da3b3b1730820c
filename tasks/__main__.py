"""`python -m training.data` (or `python -m tasks`): write generated or converted datasets as
JSONL.

python -m training.data generate --dataset kk --n 1000 --split train --seed 0 --out kk.jsonl
python -m training.data generate --dataset kk --n 1000 --people 5 --out kk5.jsonl
python -m training.data convert --kind musique --path musique_dev.jsonl --out musique.jsonl
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from typing import Any

from tasks import GENERATORS, LOADERS, SPLITS, generate, load, write_jsonl


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in text.split(","))


def main(argv: list[str] | None = None, prog: str = "python -m tasks") -> int:
    parser = argparse.ArgumentParser(
        prog=prog,
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)

    gen = sub.add_parser("generate", help="generate a dataset")
    gen.add_argument("--dataset", choices=sorted(GENERATORS), required=True)
    gen.add_argument("--n", type=int, required=True)
    gen.add_argument("--split", choices=SPLITS, default="train")
    gen.add_argument("--seed", type=int, default=0)
    gen.add_argument("--out", required=True)
    gen.add_argument("--people", type=_ints, help="kk: people counts, e.g. 3,4,5")
    gen.add_argument("--hops", type=_ints, help="multihop: hop counts, e.g. 2,3,4")
    gen.add_argument("--steps", type=_ints, help="arithmetic: step counts, e.g. 2,3")

    conv = sub.add_parser("convert", help="load local data and write it as Example JSONL")
    conv.add_argument("--kind", choices=sorted(LOADERS), required=True)
    conv.add_argument("--path", required=True)
    conv.add_argument("--split", choices=SPLITS, default="test")
    conv.add_argument("--out", required=True)

    args = parser.parse_args(argv)
    start = time.perf_counter()
    if args.command == "generate":
        options: dict[str, Any] = {
            k: getattr(args, k) for k in ("people", "hops", "steps") if getattr(args, k)
        }
        examples = generate(args.dataset, args.n, split=args.split, seed=args.seed, **options)
    else:
        examples = load(args.kind, args.path, split=args.split)
    count = write_jsonl(examples, args.out)
    by_difficulty = dict(sorted(Counter(ex.difficulty for ex in examples).items()))
    print(
        f"wrote {count} examples to {args.out} in {time.perf_counter() - start:.2f}s "
        f"(by difficulty: {by_difficulty})",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
