"""RL for interleaved reasoning: one trainer, the algorithm chosen by advantage-estimator name.

- `rollout`: n samples per prompt from the current policy (transformers generate or vLLM).
- `advantages`: `gae` (PPO, value head), `grpo` (group-normalized), `reinforce_plus_plus`
  (batch-normalized returns), with veRL's semantics.
- `estimators`: the registry of those names (veRL's style); `needs_values(name)` alone decides
  whether a critic (value head) is built, so adding an estimator is one registration.
- `losses`: log-probs of sampled tokens, the clipped objective, the k3 KL, value loss, entropy.
- `update`: one update on a scored batch (shared by every estimator).
- `trainer`: the loop (sample, score with `training.rewards`, update, log, checkpoint).
"""
