"""The veRL route for the same recipe, for users with GPUs (the paper trained on 8 H100s).

- `export`: our datasets as veRL parquet (data_source, prompt as chat messages, ability,
  reward_model {style: rule, ground_truth}, extra_info).
- `reward`: veRL's `compute_score(data_source, solution_str, ground_truth, extra_info=None)`
  over `training.rewards`, with the batch gate lagged one step on veRL 0.8/0.9 (which score one
  response per call; `gate` keeps its state beside veRL's checkpoints), and
  `compute_score_batch` with the exact gate for veRL 0.7's batch reward manager.
- `launch` + `configs/`: `python -m verl.trainer.main_ppo` overrides for `gae`, `grpo` and
  `reinforce_plus_plus` with the paper's hyperparameters, for veRL 0.9 (default) or 0.7.

    python -m training.verl export --config training/configs/rl-interleaved-ir.yaml --out data/verl
    python -m training.verl launch --estimator grpo --model Qwen/Qwen2.5-1.5B-Instruct \\
        --data data/verl [--dry-run] [-- extra.hydra=overrides]

Nothing here imports veRL; only the launched process needs it.
"""
