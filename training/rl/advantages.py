"""The math of the three advantage estimators; `estimators` names them (veRL's names) and
says what each needs.

All take per-token tensors of shape [batch, response_len] with a `mask` of the real response
tokens, and return (advantages, returns) of the same shape, zero where the mask is zero. The
reward is one number per response, placed on its last token (`token_rewards`).

- `gae` (PPO): generalized advantage estimation with a learned value V(s_t); advantages are
  whitened over the batch, returns = GAE advantages + values are the value head's targets.
- `grpo`: the response's score minus the mean score of the n responses to the same prompt,
  divided by their standard deviation; the same advantage on every token. No critic.
- `reinforce_plus_plus`: discounted return-to-go of each token, whitened over the whole batch
  (batch normalization instead of a critic or groups).

Semantics follow veRL's `core_algos` (unbiased variance in whitening, std+eps in grpo, a group
of one keeps its raw score), so a run here and a veRL run of the same recipe mean the same thing.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

EPS = 1e-6


def masked_mean(x: torch.Tensor, mask: torch.Tensor, dim: int | None = None) -> torch.Tensor:
    mask = mask.to(x.dtype)
    if dim is None:
        return (x * mask).sum() / mask.sum().clamp(min=1.0)
    return (x * mask).sum(dim) / mask.sum(dim).clamp(min=1.0)


def masked_var(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Unbiased (Bessel-corrected) variance over the masked elements."""
    mask = mask.to(x.dtype)
    n = mask.sum()
    mean = masked_mean(x, mask)
    var = ((x - mean) ** 2 * mask).sum() / n.clamp(min=1.0)
    return var * n / (n - 1) if n > 1 else var


def masked_whiten(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    mean, var = masked_mean(x, mask), masked_var(x, mask)
    return (x - mean) * torch.rsqrt(var + 1e-8)


def token_rewards(scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """[batch] scores -> [batch, len] with each score on its response's last real token."""
    rewards = torch.zeros_like(mask, dtype=torch.float32)
    last = (mask.sum(-1) - 1).clamp(min=0).long()
    rewards[torch.arange(mask.shape[0]), last] = scores.float()
    return rewards * mask


def gae(
    rewards: torch.Tensor,
    values: torch.Tensor,
    mask: torch.Tensor,
    gamma: float = 1.0,
    lam: float = 1.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """delta_t = r_t + gamma V(s_{t+1}) - V(s_t); A_t = delta_t + gamma lam A_{t+1}.

    V after the last real token is 0 (the episode ended). Returns (whitened A, A + V).
    """
    mask = mask.float()
    values = values.float() * mask
    length = rewards.shape[1]
    advantages = torch.zeros_like(rewards, dtype=torch.float32)
    next_value = rewards.new_zeros(rewards.shape[0], dtype=torch.float32)
    next_adv = rewards.new_zeros(rewards.shape[0], dtype=torch.float32)
    for t in reversed(range(length)):
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        adv = delta + gamma * lam * next_adv
        # Padding positions pass the future through unchanged and stay zero themselves.
        m = mask[:, t]
        advantages[:, t] = adv * m
        next_value = values[:, t] * m + next_value * (1 - m)
        next_adv = adv * m + next_adv * (1 - m)
    returns = advantages + values
    return masked_whiten(advantages, mask) * mask, returns * mask


def grpo(
    scores: torch.Tensor,
    mask: torch.Tensor,
    group_ids: Sequence[int],
    norm_by_std: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Group-normalized score, broadcast over the response's tokens."""
    scores = scores.float()
    groups: dict[int, list[int]] = {}
    for i, g in enumerate(group_ids):
        groups.setdefault(int(g), []).append(i)
    normalized = torch.zeros_like(scores)
    for members in groups.values():
        s = scores[members]
        if len(members) == 1:
            mean, std = s.new_tensor(0.0), s.new_tensor(1.0)  # veRL: a lone sample keeps its score
        else:
            mean, std = s.mean(), s.std()
        normalized[members] = (s - mean) / (std + EPS) if norm_by_std else s - mean
    advantages = normalized.unsqueeze(-1) * mask.float()
    return advantages, advantages


def reinforce_plus_plus(
    rewards: torch.Tensor, mask: torch.Tensor, gamma: float = 1.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Discounted return-to-go per token, whitened over the batch."""
    mask = mask.float()
    returns = torch.zeros_like(rewards, dtype=torch.float32)
    running = rewards.new_zeros(rewards.shape[0], dtype=torch.float32)
    for t in reversed(range(rewards.shape[1])):
        running = rewards[:, t] + gamma * running
        returns[:, t] = running
        running = running * mask[:, t]  # nothing flows back across padding
    return masked_whiten(returns, mask) * mask, returns * mask
