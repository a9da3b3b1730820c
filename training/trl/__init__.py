"""The TRL route: the same recipe on TRL's `GRPOTrainer` (one node, one or more processes).

- `rewards`: our rewards as a GRPOTrainer reward function, with the paper's batch gate exact
  per optimizer step (correct counts all-reduced across processes).
- `dataset`: the rows `python -m training.verl export` writes, as TRL's conversational prompts.
- `__main__` + `configs/`: `python -m training.trl --config ... --data ... --model ...`.

TRL is not a dependency of this package's main environment; scripts/setup_verl.sh installs it
into the separate training environment.
"""
