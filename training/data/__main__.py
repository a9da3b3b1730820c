"""`python -m training.data`: the datasets CLI of `tasks` (see `tasks.__main__`), under the
name the README documents.

python -m training.data generate --dataset kk --n 1000 --split train --seed 0 --out kk.jsonl
python -m training.data convert --kind musique --path musique_dev.jsonl --out musique.jsonl
"""

from __future__ import annotations

from tasks.__main__ import main as _main


def main(argv: list[str] | None = None) -> int:
    return _main(argv, prog="python -m training.data")


if __name__ == "__main__":
    raise SystemExit(main())
