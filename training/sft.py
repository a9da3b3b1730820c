"""SFT warm start: teach the format (and the reasoning layout) before RL.

The paper starts RL from an instruct model that follows the interleaved instruction; a 135M
model does not (0 of 48 base-model samples contained a `<think>` tag), so RL would see only the
format penalty. This step trains on targets built from the generators' own reasoning, laid out
interleaved or think-then-answer (`training.templates.sft_pair`): our documented deviation.

    for step in 1..max_steps:
        batch_size (prompt, target) pairs (seeded order, resumable cursor)
        loss = mean negative log-likelihood of the target tokens (prompt tokens carry no loss)
        AdamW step, warmup then cosine learning rate; log; every save_every steps a checkpoint
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch

from training.checkpoint import (
    EpochSampler,
    begin_run,
    finished_run,
    latest_checkpoint,
    load_checkpoint,
    restore_rng,
    save_checkpoint,
)
from training.config import Config, load_examples
from training.logs import LOG_FILE, StepLog
from training.model import (
    autocast,
    base_model_path,
    load_policy,
    load_tokenizer,
    load_trainable_state,
    make_optimizer,
    pick_device,
    save_servable,
    trainable_state,
)
from training.model_card import write_model_card
from training.rl.losses import forward, make_batch
from training.templates import sft_pair


def build_pairs(cfg: Config, tokenizer: Any) -> list[tuple[list[int], list[int]]]:
    """(prompt ids, target ids) for every example with reasoning, at most max_seq_len long."""
    pairs = []
    for ex in load_examples(cfg.data):
        if not ex.reasoning_steps:
            continue  # loaded evaluation data has no reasoning to imitate
        prompt, completion = sft_pair(tokenizer, ex, cfg.style)
        p = tokenizer(prompt, add_special_tokens=False).input_ids
        c = tokenizer(completion, add_special_tokens=False).input_ids
        if len(p) + len(c) <= cfg.max_seq_len:
            pairs.append((p, c))
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
    last_step = cfg.stop_at_step or cfg.max_steps
    if resume and (finished := finished_run(cfg.out_dir, last_step)) is not None:
        return finished
    out = begin_run(cfg.out_dir, cfg.to_yaml(), cfg.seed)
    device = pick_device(cfg.device, cfg.num_threads)
    tokenizer = load_tokenizer(base_model_path(cfg))
    pairs = build_pairs(cfg, tokenizer)
    policy = load_policy(cfg, device)
    optimizer, scheduler = make_optimizer(cfg, policy, None)
    sampler = EpochSampler(len(pairs), cfg.seed)
    step = 0

    checkpoint = latest_checkpoint(out) if resume else None
    if checkpoint is not None:
        state = load_checkpoint(checkpoint)
        load_trainable_state(policy, state["trainable"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        sampler.restore(state["sampler"])
        step = state["step"]
        restore_rng(state["rng"])
        print(f"resumed from {checkpoint} (step {step})", flush=True)

    log = StepLog(
        out / LOG_FILE, last_step, resume_step=step, progress=cfg.progress, show=("loss", "lr")
    )
    params = [p for p in policy.parameters() if p.requires_grad]
    pad = int(tokenizer.pad_token_id)
    last: dict[str, Any] = {}
    try:
        while step < last_step:
            step += 1
            started = time.perf_counter()
            index = sampler.take(cfg.batch_size)
            optimizer.zero_grad(set_to_none=True)
            loss_sum, tokens, target_tokens = 0.0, 0, 0
            step_targets = sum(len(pairs[i][1]) for i in index)
            for micro in micro_batches(index, pairs, cfg):
                batch = make_batch(
                    [pairs[i][0] for i in micro], [pairs[i][1] for i in micro], pad
                ).to(device)
                with autocast(cfg, device):
                    # The RL forward at temperature 1 gives log p(target token | prefix).
                    out_ = forward(policy, batch, temperature=1.0)
                # Token mean over the whole step: every target token weighs the same,
                # however the step's sequences were grouped into micro-batches.
                mask = batch.response_mask
                loss_tokens = -(out_.logprobs * mask).sum()
                (loss_tokens / step_targets).backward()
                loss_sum += float(loss_tokens.detach())
                tokens += int(batch.attention_mask.sum())
                target_tokens += int(mask.sum())
            grad_norm = float(torch.nn.utils.clip_grad_norm_(params, cfg.max_grad_norm))
            optimizer.step()
            lr = scheduler.get_last_lr()[0]
            scheduler.step()
            seconds = time.perf_counter() - started
            record = {
                "step": step,
                "loss": loss_sum / max(1, target_tokens),
                "grad_norm": grad_norm,
                "lr": lr,
                "epoch": sampler.epoch,
                "tokens": tokens,
                "target_tokens": target_tokens,
                "update_tokens_per_s": tokens / seconds,
                "step_seconds": seconds,
            }
            log.write(record)
            last = record
            if step % cfg.save_every == 0 or step == last_step:
                state = {
                    "trainable": trainable_state(policy),
                    "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(),
                    "sampler": sampler.state(),
                    "prev_accuracy": None,
                    "config": cfg.to_dict(),
                }
                servable = (lambda f: save_servable(policy, tokenizer, f)) if cfg.lora else None
                save_checkpoint(out, step, state, servable, keep=cfg.keep_checkpoints)
    finally:
        log.close()
    adapter = save_servable(policy, tokenizer, out / "adapter")
    write_model_card(adapter, cfg, steps=step, final_metrics=last)
    return adapter
