"""The loss terms shared by every estimator.

    loss = policy_loss + kl_coef * KL_k3(policy || reference) - entropy_coef * entropy
           (+ value_coef * value_loss for gae)

All terms are token means over the real response tokens of a micro-batch (veRL's "token-mean"
aggregation), so long and short responses weigh by their tokens. The forward pass and the
per-token log-probabilities live in `training.logprobs` (fine-tuning uses them too).
"""

from __future__ import annotations

import torch

from training.logprobs import (
    Batch,
    Forward,
    entropy_from_logits,
    forward,
    make_batch,
    token_logprobs,
)
from training.rl.advantages import masked_mean

__all__ = [
    "Batch",
    "Forward",
    "entropy_from_logits",
    "forward",
    "kl_k3",
    "make_batch",
    "policy_loss",
    "token_logprobs",
    "value_loss",
]


def policy_loss(
    logprobs: torch.Tensor,
    old_logprobs: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    clip_eps: float = 0.2,
) -> tuple[torch.Tensor, torch.Tensor]:
    """PPO's clipped surrogate: mean over tokens of max(-A r, -A clip(r, 1-eps, 1+eps)).

    Returns (loss, clip fraction: share of tokens where the clipped term was the larger).
    """
    ratio = torch.exp(logprobs - old_logprobs)
    unclipped = -advantages * ratio
    clipped = -advantages * torch.clamp(ratio, 1.0 - clip_eps, 1.0 + clip_eps)
    loss = masked_mean(torch.maximum(unclipped, clipped), mask)
    clipfrac = masked_mean((clipped > unclipped).float(), mask)
    return loss, clipfrac


def kl_k3(logprobs: torch.Tensor, ref_logprobs: torch.Tensor) -> torch.Tensor:
    """Per-token low-variance KL estimator (Schulman's k3, veRL's `low_var_kl`):
    r - log r - 1 with r = pi_ref / pi; non-negative, unbiased for KL(pi || pi_ref).
    Clamped to [-10, 10] as veRL does, so one wild token cannot blow up the loss."""
    log_ratio = ref_logprobs - logprobs
    kl = torch.exp(log_ratio) - log_ratio - 1.0
    return torch.clamp(kl, min=-10.0, max=10.0)


def value_loss(
    values: torch.Tensor,
    old_values: torch.Tensor,
    returns: torch.Tensor,
    mask: torch.Tensor,
    clip: float = 0.5,
) -> torch.Tensor:
    """0.5 * max((V - R)^2, (clip(V, V_old +- clip) - R)^2), token mean."""
    clipped = old_values + torch.clamp(values - old_values, -clip, clip)
    loss = torch.maximum((values - returns) ** 2, (clipped - returns) ** 2)
    return 0.5 * masked_mean(loss, mask)
