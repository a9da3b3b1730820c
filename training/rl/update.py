"""One RL update on a scored rollout batch: old/reference log-probs, advantages, clipped steps.

The estimator only decides `advantages`; every estimator then takes the same steps:

    for epoch in ppo_epochs:
        for mini-batch (mini_batch_size responses):        one optimizer step
            for micro-batch (micro_batch_size responses):  forward + backward
                loss = clipped policy loss + kl_coef * KL_k3 - entropy_coef * H (+ value loss)
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import nn

from training.config import Config
from training.loop import clip_and_step
from training.model import autocast, reference_mode
from training.rl import estimators
from training.rl.advantages import masked_mean
from training.rl.losses import Batch, forward, kl_k3, policy_loss, value_loss


@dataclass
class Models:
    policy: nn.Module
    reference: nn.Module | None  # None: the policy with its adapter disabled
    value_head: nn.Module | None  # estimators that need values (gae)
    optimizer: torch.optim.Optimizer


@contextlib.contextmanager
def _eval(model: nn.Module) -> Iterator[None]:
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


def _chunks(index: list[int], size: int) -> list[list[int]]:
    return [index[i : i + size] for i in range(0, len(index), size)]


@torch.no_grad()
def _old_pass(m: Models, batch: Batch, cfg: Config) -> dict[str, torch.Tensor]:
    """Log-probs (and values) of the sampled tokens before the update."""
    rows = list(range(batch.input_ids.shape[0]))
    with autocast(cfg, batch.input_ids.device):
        outs = [
            forward(
                m.policy,
                batch.rows(micro),
                cfg.temperature,
                m.value_head,
                share_prefix=cfg.share_prompt_prefix,
            )
            for micro in _chunks(rows, cfg.micro_batch_size)
        ]
    result = {"old_logprobs": torch.cat([o.logprobs for o in outs])}
    if m.value_head is not None:
        result["values"] = torch.cat([o.values for o in outs])  # type: ignore[misc]
    return result


@torch.no_grad()
def _reference_pass(m: Models, batch: Batch, cfg: Config) -> torch.Tensor:
    """Log-probs of the sampled tokens under the reference policy (for the KL term)."""
    rows = list(range(batch.input_ids.shape[0]))
    parts = []
    with reference_mode(m.policy, m.reference) as reference, autocast(cfg, batch.input_ids.device):
        for micro in _chunks(rows, cfg.micro_batch_size):
            out = forward(
                reference, batch.rows(micro), cfg.temperature, share_prefix=cfg.share_prompt_prefix
            )
            parts.append(out.logprobs)
    return torch.cat(parts)


def update(
    m: Models, batch: Batch, scores: torch.Tensor, group_ids: list[int], cfg: Config
) -> dict[str, float]:
    """Train on one rollout batch; returns the step's loss metrics (means over micro-batches).

    The learning-rate schedule is stepped by the loop (`training.loop`), once per RL step."""
    start = time.perf_counter()
    device = next(m.policy.parameters()).device
    batch = batch.to(device)
    scores = scores.to(device)
    mask = batch.response_mask.float()
    n = batch.input_ids.shape[0]
    use_kl = cfg.kl_coef > 0.0
    # With one epoch over one mini-batch the pre-update log-probs equal the ones the training
    # forward computes (ratio 1), so that forward's detached output serves as "old" and a whole
    # no-grad pass is saved. An estimator that needs values (gae) needs them before the update,
    # so it always makes the pass.
    single_pass = (
        cfg.ppo_epochs == 1
        and cfg.mini_batch_size >= n
        and not estimators.needs_values(cfg.estimator)
    )
    with _eval(m.policy):  # no dropout in the passes that only measure
        before = {} if single_pass else _old_pass(m, batch, cfg)
        if use_kl:
            before["ref_logprobs"] = _reference_pass(m, batch, cfg)
    advantages, returns = estimators.compute(
        cfg.estimator, scores, mask, group_ids, before.get("values"), cfg.gamma, cfg.lam
    )

    sums: dict[str, float] = {}
    counts = 0
    grad_norms = []
    for _ in range(cfg.ppo_epochs):
        shuffle = cfg.ppo_epochs > 1 or cfg.mini_batch_size < n
        order = torch.randperm(n).tolist() if shuffle else list(range(n))
        for mini in _chunks(order, cfg.mini_batch_size):
            for micro in _chunks(mini, cfg.micro_batch_size):
                part = batch.rows(micro)
                pmask = mask[micro]
                with autocast(cfg, device):
                    out = forward(
                        m.policy,
                        part,
                        cfg.temperature,
                        m.value_head,
                        with_entropy=True,
                        entropy_grad=cfg.entropy_coef > 0,
                        share_prefix=cfg.share_prompt_prefix,
                    )
                old = out.logprobs.detach() if single_pass else before["old_logprobs"][micro]
                pg, clipfrac = policy_loss(
                    out.logprobs, old, advantages[micro], pmask, cfg.clip_eps
                )
                entropy = masked_mean(out.entropy, pmask)  # type: ignore[arg-type]
                loss = pg - cfg.entropy_coef * entropy if cfg.entropy_coef > 0 else pg
                terms = {"policy_loss": pg, "clipfrac": clipfrac, "entropy": entropy}
                if use_kl:
                    kl = masked_mean(kl_k3(out.logprobs, before["ref_logprobs"][micro]), pmask)
                    loss = loss + cfg.kl_coef * kl
                    terms["kl"] = kl
                if out.values is not None:
                    vl = value_loss(
                        out.values, before["values"][micro], returns[micro], pmask, cfg.value_clip
                    )
                    loss = loss + cfg.value_coef * vl
                    terms["value_loss"] = vl
                # Each micro-batch's token mean, weighted by its share of the mini-batch.
                (loss * len(micro) / len(mini)).backward()
                for k, v in terms.items():
                    sums[k] = sums.get(k, 0.0) + float(v.detach())
                counts += 1
            grad_norms.append(clip_and_step(m.optimizer, cfg.max_grad_norm))
    seconds = time.perf_counter() - start
    tokens = int(batch.attention_mask.sum())
    metrics = {k: v / counts for k, v in sums.items()}
    metrics.update(
        grad_norm=sum(grad_norms) / len(grad_norms),
        advantage_mean=float(masked_mean(advantages, mask)),
        advantage_abs=float(masked_mean(advantages.abs(), mask)),
        update_seconds=seconds,
        update_tokens_per_s=tokens * cfg.ppo_epochs / seconds,
    )
    if "values" in before:
        metrics["value_mean"] = float(masked_mean(before["values"], mask))
    if not use_kl:
        metrics["kl"] = 0.0
    return metrics
