"""SFT warm start: teach the format (and the reasoning layout) before RL.

The paper starts RL from an instruct model that follows the interleaved instruction; a 135M
model does not (0 of 48 base-model samples contained a `<think>` tag), so RL would see only the
format penalty. This step trains on targets built from the generators' own reasoning, laid out
interleaved or think-then-answer (`training.templates.sft_pair`): our documented deviation.

    for step in 1..max_steps:                        (the loop itself: `training.loop`)
        batch_size (prompt, target) pairs (seeded order, resumable cursor)
        loss = mean negative log-likelihood of the target tokens (prompt tokens carry no loss)
        AdamW step, warmup then cosine learning rate; log; every save_every steps a checkpoint

`sft_step` in `train` is SFT's part of the loop; the rest is shared with RL.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from training.checkpoint import EpochSampler, begin_run, finished_run
from training.config import Config
from training.examples import load_examples
from training.logprobs import forward, make_batch
from training.loop import Trainee, clip_and_step, last_step, run
from training.model import (
    autocast,
    base_model_path,
    load_policy,
    load_tokenizer,
    make_optimizer,
    pick_device,
)
from training.templates import sft_pair


def build_pairs(cfg: Config, tokenizer: Any) -> list[tuple[list[int], list[int]]]:
    """(prompt ids, target ids) for every example with reasoning, at most max_seq_len long."""
    # Loaded evaluation data has no reasoning to imitate.
    examples = [ex for ex in load_examples(cfg.data) if ex.reasoning_steps]
    texts = [sft_pair(tokenizer, ex, cfg.style) for ex in examples]
    # One batched call each: the fast tokenizer spreads a batch over the cores.
    prompts = tokenizer([p for p, _ in texts], add_special_tokens=False).input_ids if texts else []
    targets = tokenizer([c for _, c in texts], add_special_tokens=False).input_ids if texts else []
    pairs = [
        (p, c) for p, c in zip(prompts, targets, strict=True) if len(p) + len(c) <= cfg.max_seq_len
    ]
    if not pairs:
        raise ValueError(f"no example with reasoning fits max_seq_len={cfg.max_seq_len}")
    return pairs


def micro_batches(
    index: list[int], pairs: list[tuple[list[int], list[int]]], cfg: Config
) -> list[list[int]]:
    """A step's examples grouped for forward/backward: sorted by length, then cut by
    `micro_batch_tokens` (padded tokens counted) or every `micro_batch_size` sequences."""
    order = sorted(index, key=lambda i: len(pairs[i][0]) + len(pairs[i][1]))
    if cfg.micro_batch_tokens <= 0:
        size = cfg.micro_batch_size
        return [order[lo : lo + size] for lo in range(0, len(order), size)]
    out: list[list[int]] = []
    current: list[int] = []
    width_p = width_r = 0
    for i in order:
        p, r = max(width_p, len(pairs[i][0])), max(width_r, len(pairs[i][1]))
        if current and (p + r) * (len(current) + 1) > cfg.micro_batch_tokens:
            out.append(current)
            current, p, r = [], len(pairs[i][0]), len(pairs[i][1])
        current.append(i)
        width_p, width_r = p, r
    if current:
        out.append(current)
    return out


def train(cfg: Config, resume: bool = False) -> Path:
    """Run SFT as configured; returns the servable output folder (`out_dir/adapter`)."""
    if resume and (finished := finished_run(cfg.out_dir, last_step(cfg))) is not None:
        return finished
    out = begin_run(cfg.out_dir, cfg.to_yaml(), cfg.seed)
    device = pick_device(cfg.device, cfg.num_threads)
    tokenizer = load_tokenizer(base_model_path(cfg))
    pairs = build_pairs(cfg, tokenizer)
    policy = load_policy(cfg, device)
    optimizer, scheduler = make_optimizer(cfg, policy, None)
    sampler = EpochSampler(len(pairs), cfg.seed)
    pad = int(tokenizer.pad_token_id)

    def sft_step(step: int) -> dict[str, Any]:
        started = time.perf_counter()
        index = sampler.take(cfg.batch_size)
        loss_sum, tokens, target_tokens = 0.0, 0, 0
        step_targets = sum(len(pairs[i][1]) for i in index)
        for micro in micro_batches(index, pairs, cfg):
            prompt_ids, target_ids = [pairs[i][0] for i in micro], [pairs[i][1] for i in micro]
            batch = make_batch(prompt_ids, target_ids, pad).to(device)
            with autocast(cfg, device):
                # The RL forward at temperature 1 gives log p(target token | prefix).
                result = forward(
                    policy, batch, temperature=1.0, share_prefix=cfg.share_prompt_prefix
                )
            # Token mean over the whole step: every target token weighs the same, however the
            # step's sequences were grouped into micro-batches.
            mask = batch.response_mask
            loss_tokens = -(result.logprobs * mask).sum()
            (loss_tokens / step_targets).backward()
            loss_sum += float(loss_tokens.detach())
            tokens += int(batch.attention_mask.sum())
            target_tokens += int(mask.sum())
        grad_norm = clip_and_step(optimizer, cfg.max_grad_norm)
        return {
            "loss": loss_sum / max(1, target_tokens),
            "grad_norm": grad_norm,
            "epoch": sampler.epoch,
            "tokens": tokens,
            "target_tokens": target_tokens,
            "update_tokens_per_s": tokens / (time.perf_counter() - started),
        }

    trainee = Trainee(policy, tokenizer, optimizer, scheduler, sampler)
    return run(cfg, out, trainee, sft_step, resume=resume, show=("loss", "lr"))
