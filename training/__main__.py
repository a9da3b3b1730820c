"""`python -m training`: SFT warm start, RL, plots, model cards.

    python -m training sft  --config training/configs/sft-interleaved.yaml [--resume] [--set k=v]
    python -m training rl   --config training/configs/rl-interleaved-ir.yaml [--resume] [--set k=v]
    python -m training rft  --config training/configs/rft-early.yaml [--resume] [--set k=v]
    python -m training plot runs/rl/log.jsonl [--out DIR]
    python -m training plot --compare ta=runs/rl-think-answer/log.jsonl ir=... --out curves.png
    python -m training card runs/rl/adapter --evaluation eval.json
    python -m training extract runs/sft-kk-tables --rank 64 --out DIR

`--set` overrides config keys (values read as YAML: `--set max_steps=3 lora=false`; repeating
`--set` adds to the earlier ones). `--resume` continues from the newest checkpoint in the
config's out_dir (a fresh run otherwise). SIGTERM stops a run like Ctrl-C: the rollout engine's
worker processes are shut down with it, and `--resume` continues from the newest checkpoint.
Training, data export and measurements: see `training/configs/`, `python -m training.verl`,
`python -m training.rollout_speed`.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from types import FrameType

from training.config import Config, parse_overrides


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m training",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for mode in ("sft", "rl", "rft"):
        p = sub.add_parser(mode, help=f"train ({mode})")
        p.add_argument("--config", help="YAML file of Config fields")
        p.add_argument(
            "--resume", action="store_true", help="continue from the newest checkpoint in out_dir"
        )
        p.add_argument(
            "--set",
            nargs="*",
            action="extend",
            default=[],
            metavar="KEY=VALUE",
            help="override config keys (repeatable)",
        )
    plot = sub.add_parser("plot", help="write PNG curves of a training log")
    plot.add_argument("log", nargs="?")
    plot.add_argument(
        "--out",
        help="folder for the PNGs (default: plots/ beside the log); with --compare, the PNG file",
    )
    plot.add_argument(
        "--compare", nargs="+", metavar="NAME=LOG.jsonl", help="several runs on one figure instead"
    )
    card = sub.add_parser("card", help="add an evaluation to an output folder's model card")
    card.add_argument("folder")
    card.add_argument(
        "--evaluation", required=True, help="JSON written by python -m benchmarks.accuracy --output"
    )
    card.add_argument(
        "--unseen",
        action="store_true",
        help="the evaluation is of the held-out phrasing (question templates kept out of training)",
    )
    extract = sub.add_parser("extract", help="a LoRA adapter from a full fine-tune's change")
    extract.add_argument("folder", help="a full fine-tune's run folder (its out_dir)")
    extract.add_argument("--out", required=True, help="folder for the adapter")
    extract.add_argument("--rank", type=int, default=64)
    extract.add_argument(
        "--as-model",
        action="store_true",
        help="write the whole tuned model in fp32 instead (to train further)",
    )
    extract.add_argument(
        "--base", help="the model it was tuned from (default: the prepared SmolLM2-135M-Instruct)"
    )
    args = parser.parse_args(argv)

    if args.command in ("sft", "rl", "rft"):
        try:
            cfg = Config.from_yaml(
                args.config, **{**parse_overrides(args.set), "mode": args.command}
            )
        except (ValueError, TypeError, OSError) as e:
            parser.error(str(e))
        _exit_on_sigterm()
        if args.command == "rft":
            from training.rft import train as rft_train

            adapter = rft_train(cfg, resume=args.resume)
        else:
            if args.command == "sft":
                from training.sft import train
            else:
                from training.rl.trainer import train
            adapter = train(cfg, resume=args.resume)
        print(f"output: {adapter}", flush=True)
    elif args.command == "extract":
        from training.extract import extract as run_extract

        if args.base is None:
            from modelprep import ensure_base_model

            args.base = ensure_base_model()
        if args.as_model:
            from training.extract import write_full_model

            print(f"output: {write_full_model(args.folder, args.base, args.out)}")
        else:
            report = run_extract(args.folder, args.base, args.out, rank=args.rank)
            print(json.dumps(report, indent=2))
    elif args.command == "plot":
        from training.plot import plot_compare, plot_log, summary_table

        if args.compare:
            logs = dict(spec.partition("=")[::2] for spec in args.compare)
            if not all(logs.values()) or args.log:
                parser.error("--compare takes NAME=LOG.jsonl pairs and no positional LOG")
            png = plot_compare(logs, args.out or "training-curves.png")
            summary = json.loads(png.with_suffix(".json").read_text())["summary"]
            print(summary_table(summary))
            print(f"wrote {png} and {png.with_suffix('.json')}")
        elif args.log:
            for path in plot_log(args.log, args.out):
                print(path)
        else:
            parser.error("plot needs a LOG.jsonl or --compare")
    else:
        from training.model_card import add_evaluation

        with open(args.evaluation, encoding="utf-8") as f:
            key = "evaluation_unseen" if args.unseen else "evaluation"
            print(add_evaluation(args.folder, json.load(f), key))
    return 0


def _exit_on_sigterm() -> None:
    """Turn SIGTERM (`kill`, `docker stop`, a scheduler's preemption) into SystemExit.

    Python's default SIGTERM ends the process without running `finally` blocks, which leaves
    the vLLM rollout engine's worker processes running with gigabytes of memory and nobody to
    stop them. As an exception, the trainers' `finally` shuts the engine down first.
    """

    def stop(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, stop)


if __name__ == "__main__":  # vLLM rollouts spawn worker processes: keep the guard
    sys.exit(main())
