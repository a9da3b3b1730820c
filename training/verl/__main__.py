"""`python -m training.verl export|launch` (see `training.verl`)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from training.config import ESTIMATORS, Config, parse_overrides
from training.examples import load_examples
from training.verl.launch import VERL_VERSIONS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.verl", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    exp = sub.add_parser("export", help="write train/validation parquet files for veRL")
    exp.add_argument("--config", help="a training config; its data sources and style are used")
    exp.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE")
    exp.add_argument("--out", required=True, help="folder for train.parquet, validation.parquet")
    exp.add_argument(
        "--val-n",
        type=int,
        default=100,
        help="validation examples per generated source (held-out split)",
    )
    run = sub.add_parser("launch", help="run (or print) verl.trainer.main_ppo for an estimator")
    run.add_argument("--estimator", choices=ESTIMATORS, required=True)
    run.add_argument("--model", required=True, help="HF model id or folder (policy and critic)")
    run.add_argument("--data", required=True, help="folder written by `export`")
    run.add_argument("--experiment")
    run.add_argument(
        "--verl",
        choices=VERL_VERSIONS,
        default="0.9",
        help="the installed veRL's version: 0.9 (also 0.8) or 0.7; they read rewards differently",
    )
    run.add_argument(
        "--checkpoints",
        help="veRL's trainer.default_local_dir (and the gate's state); default "
        "checkpoints/interleaved-reasoning/<experiment>",
    )
    run.add_argument("--dry-run", action="store_true", help="print the command, run nothing")
    run.add_argument("extra", nargs="*", help="more Hydra overrides (after --), they win")
    args = parser.parse_args(argv)

    if args.command == "export":
        from training.verl.export import write_parquet

        cfg = Config.from_yaml(args.config, **parse_overrides(args.set))
        train = load_examples(cfg.data)
        val_sources = [
            {**s, "n": min(args.val_n, int(s["n"])), "split": "validation"}
            for s in cfg.data
            if "dataset" in s
        ]
        val = load_examples(val_sources)
        out = Path(args.out)
        for name, examples in (("train", train), ("validation", val)):
            count = write_parquet(examples, out / f"{name}.parquet", cfg.style)
            print(f"wrote {count} rows to {out / f'{name}.parquet'}")
        return 0

    from training.verl.launch import command, shell

    cmd = command(
        args.estimator,
        args.model,
        args.data,
        args.experiment,
        args.extra,
        verl=args.verl,
        checkpoints=args.checkpoints,
    )
    if args.dry_run:
        print(shell(cmd))
        return 0
    os.execv(cmd[0], cmd)  # veRL takes over this process (Ray starts its own workers)
    return 1  # not reached


if __name__ == "__main__":
    sys.exit(main())
