"""Per-token log-probabilities and the loss terms shared by every estimator.

    loss = policy_loss + kl_coef * KL_k3(policy || reference) - entropy_coef * entropy
           (+ value_coef * value_loss for gae)

All terms are token means over the real response tokens of a micro-batch (veRL's "token-mean"
aggregation), so long and short responses weigh by their tokens.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from training.rl.advantages import masked_mean


@dataclass
class Batch:
    """Prompt (left-padded) + response (right-padded) token ids, as one [B, P+R] tensor.

    Response token j of row b sits at input position P + j; the logits predicting it sit at
    P + j - 1. `response_mask` [B, R] marks real response tokens.
    """

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    response_mask: torch.Tensor

    @property
    def response_len(self) -> int:
        return int(self.response_mask.shape[1])

    @property
    def responses(self) -> torch.Tensor:
        return self.input_ids[:, -self.response_len :]

    def to(self, device: torch.device) -> Batch:
        return Batch(
            *(t.to(device) for t in (self.input_ids, self.attention_mask, self.response_mask))
        )

    def rows(self, index: slice | list[int]) -> Batch:
        return Batch(self.input_ids[index], self.attention_mask[index], self.response_mask[index])


def make_batch(prompts: list[list[int]], responses: list[list[int]], pad_id: int) -> Batch:
    width_p = max(len(p) for p in prompts)
    width_r = max(1, max(len(r) for r in responses))
    ids, attn, rmask = [], [], []
    for p, r in zip(prompts, responses, strict=True):
        left, right = width_p - len(p), width_r - len(r)
        ids.append([pad_id] * left + p + r + [pad_id] * right)
        attn.append([0] * left + [1] * (len(p) + len(r)) + [0] * right)
        rmask.append([1] * len(r) + [0] * right)
    return Batch(torch.tensor(ids), torch.tensor(attn), torch.tensor(rmask))


@dataclass
class Forward:
    logprobs: torch.Tensor  # [B, R] log pi(token) at the sampling temperature
    entropy: torch.Tensor | None  # [B, R]
    values: torch.Tensor | None  # [B, R] V(state before each response token)


def forward(
    model: nn.Module,
    batch: Batch,
    temperature: float = 1.0,
    value_head: nn.Module | None = None,
    with_entropy: bool = False,
    entropy_grad: bool = False,
) -> Forward:
    """One forward pass over prompt+response; logits only for the response positions."""
    r = batch.response_len
    # Positions count real tokens only, so left padding does not shift the prompt.
    position_ids = (batch.attention_mask.cumsum(-1) - 1).clamp(min=0)
    out = model(
        input_ids=batch.input_ids,
        attention_mask=batch.attention_mask,
        position_ids=position_ids,
        logits_to_keep=r + 1,
        output_hidden_states=value_head is not None,
        use_cache=False,
    )
    # Temperature-scaled: the ratio must compare the distributions the samples came from.
    logits = out.logits[:, :-1, :].float() / temperature
    logprobs = token_logprobs(logits, batch.responses)
    entropy = None
    if with_entropy:
        # Logged every step; differentiated only when it is part of the loss (the softmax
        # over the vocabulary is the costliest term of the backward pass otherwise).
        entropy = entropy_from_logits(logits if entropy_grad else logits.detach())
    values = None
    if value_head is not None:
        hidden = out.hidden_states[-1][:, -r - 1 : -1, :]
        values = value_head(hidden)
    return Forward(logprobs, entropy, values)


def token_logprobs(logits: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    picked = logits.gather(-1, tokens.unsqueeze(-1)).squeeze(-1)
    return picked - torch.logsumexp(logits, dim=-1)


def entropy_from_logits(logits: torch.Tensor) -> torch.Tensor:
    """H = logsumexp(l) - sum softmax(l) * l, per position."""
    probs = torch.softmax(logits, dim=-1)
    return torch.logsumexp(logits, dim=-1) - (probs * logits).sum(-1)


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
