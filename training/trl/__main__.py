"""`python -m training.trl`: GRPO with TRL on the rows `python -m training.verl export` wrote.

    python -m training.verl export --config training/configs/rl-interleaved-ir.yaml --out data/verl
    python -m training.trl --config training/trl/configs/paper-qwen2.5-1.5b.yaml \\
        --model Qwen/Qwen2.5-1.5B-Instruct --data data/verl --out runs/trl-grpo
    accelerate launch --num_processes 8 -m training.trl ...   # several GPUs

The gate's state is saved in every checkpoint folder and read back with --resume.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import yaml


def load_rows(path: Path) -> list[dict[str, Any]]:
    """TRL's conversational prompt column plus what the reward needs."""
    from training.verl.export import read_parquet

    return [
        {
            "prompt": row["prompt"],
            "ground_truth": row["reward_model"]["ground_truth"],
            "split": row["extra_info"]["split"],
        }
        for row in read_parquet(path)
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.trl", description=__doc__)
    parser.add_argument("--config", required=True, help="GRPOConfig fields (YAML)")
    parser.add_argument("--model", required=True, help="HF model id or folder")
    parser.add_argument(
        "--data", required=True, help="folder with train.parquet (validation.parquet)"
    )
    parser.add_argument(
        "--out", required=True, help="output_dir: checkpoints, TensorBoard logs (runs/)"
    )
    parser.add_argument("--resume", help="a checkpoint folder under --out to resume from")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="GRPOConfig")
    parser.add_argument("--intermediate", default="time_discounted")
    parser.add_argument("--gate", default="conditional")
    parser.add_argument("--epsilon", type=float, default=0.05)
    args = parser.parse_args(argv)

    from datasets import Dataset
    from transformers import TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    from training.rewards import RewardConfig
    from training.trl.rewards import InterleavedReward

    fields = yaml.safe_load(Path(args.config).read_text())
    for item in args.set:
        key, value = item.split("=", 1)
        parsed = yaml.safe_load(value)
        # YAML 1.1 reads "no"/"yes" as booleans; TrainingArguments' strategies are those strings.
        fields[key] = (
            value if isinstance(parsed, bool) and value not in ("true", "false") else parsed
        )
    data = Path(args.data)
    val_path = data / "validation.parquet"
    if not val_path.is_file():
        fields["eval_strategy"] = "no"
    config = GRPOConfig(output_dir=args.out, **fields)  # TensorBoard: <out>/runs
    reward = InterleavedReward(
        RewardConfig(intermediate=args.intermediate, gate=args.gate, epsilon=args.epsilon)
    )
    if args.resume:
        reward.load(args.resume)

    class GateCallback(TrainerCallback):
        def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if state.is_world_process_zero:
                reward.save(Path(args.output_dir) / f"checkpoint-{state.global_step}")

    trainer = GRPOTrainer(
        model=args.model,
        reward_funcs=[reward],
        args=config,
        train_dataset=Dataset.from_list(load_rows(data / "train.parquet")),
        eval_dataset=Dataset.from_list(load_rows(val_path))
        if config.eval_strategy != "no"
        else None,
        callbacks=[GateCallback()],
    )
    trainer.train(resume_from_checkpoint=args.resume)
    trainer.save_model(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
