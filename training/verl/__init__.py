"""The veRL route for the same recipe, for users with GPUs (the paper trained on 8 H100s).

- `export`: our datasets as veRL parquet (data_source, prompt as chat messages, ability,
  reward_model {style: rule, ground_truth}, extra_info).
- `reward`: veRL's `compute_score(data_source, solution_str, ground_truth, extra_info=None)`
  over `training.rewards`, plus the batch-level conditional gate.
- `launch` + `configs/`: `python -m verl.trainer.main_ppo` overrides for `gae`, `grpo` and
  `reinforce_plus_plus` with the paper's hyperparameters.

    python -m training.verl export --config training/configs/rl-interleaved-ir.yaml --out data/verl
    python -m training.verl launch --estimator grpo --model Qwen/Qwen2.5-1.5B-Instruct \\
        --data data/verl [--dry-run] [-- extra.hydra=overrides]

Nothing here imports veRL; only the launched process needs it.
"""
