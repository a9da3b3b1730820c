"""The RL loop: sample, score, update, log, checkpoint. One trainer for every estimator.

    for step in 1..max_steps:
        prompts  = next batch_size prompts (seeded order, resumable cursor)
        samples  = n_samples responses per prompt from the current policy (hf or vLLM)
        rewards  = training.rewards.score_batch(responses, examples, prev_accuracy)
        prev_accuracy = this batch's accuracy        (the conditional gate's memory)
        update(policy; estimator decides the advantages)
        log one JSON line; every save_every steps a checkpoint

What a reader may need to know beyond that is in `update` (the losses) and `rollout` (the
sampling backends).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from tasks.example import Example
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
    ValueHead,
    base_model_path,
    hidden_size,
    load_policy,
    load_reference,
    load_tokenizer,
    load_trainable_state,
    make_optimizer,
    pick_device,
    save_servable,
    trainable_state,
)
from training.model_card import write_model_card
from training.rewards import score_batch, summarize
from training.rl.losses import make_batch
from training.rl.rollout import Sample, make_backend
from training.rl.update import Models, update
from training.templates import apply_template

SHOW = ("reward/total", "accuracy", "format_rate", "kl")


@dataclass
class Prompt:
    example: Example
    ids: list[int]


def build_prompts(examples: Sequence[Example], tokenizer: Any, cfg: Config) -> list[Prompt]:
    """Tokenized chat prompts; prompts longer than `max_prompt_tokens` are dropped."""
    prompts = []
    for ex in examples:
        text = apply_template(tokenizer, ex, cfg.style)
        ids = tokenizer(text, add_special_tokens=False).input_ids
        if len(ids) <= cfg.max_prompt_tokens:
            prompts.append(Prompt(ex, ids))
    if not prompts:
        raise ValueError(f"every prompt is longer than max_prompt_tokens={cfg.max_prompt_tokens}")
    return prompts


def train(cfg: Config, resume: bool = False) -> Path:
    """Run RL as configured; returns the servable output folder (`out_dir/adapter`)."""
    if resume and (finished := finished_run(cfg.out_dir, cfg.max_steps)) is not None:
        return finished
    out = begin_run(cfg.out_dir, cfg.to_yaml(), cfg.seed)
    device = pick_device(cfg.device, cfg.num_threads)
    base = base_model_path(cfg)
    tokenizer = load_tokenizer(base)
    prompts = build_prompts(load_examples(cfg.data), tokenizer, cfg)

    policy = load_policy(cfg, device)
    reference = load_reference(cfg, device)
    value_head = ValueHead(hidden_size(policy)).to(device) if cfg.estimator == "gae" else None
    optimizer, scheduler = make_optimizer(cfg, policy, value_head)
    models = Models(policy, reference, value_head, optimizer, scheduler)
    sampler = EpochSampler(len(prompts), cfg.seed)
    step, prev_accuracy = 0, None

    checkpoint = latest_checkpoint(out) if resume else None
    if checkpoint is not None:
        state = load_checkpoint(checkpoint)
        load_trainable_state(policy, state["trainable"])
        if value_head is not None:
            value_head.load_state_dict(state["value_head"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        sampler.restore(state["sampler"])
        step, prev_accuracy = state["step"], state["prev_accuracy"]
        restore_rng(state["rng"])
        print(f"resumed from {checkpoint} (step {step})", flush=True)

    log = StepLog(out / LOG_FILE, cfg.max_steps, resume_step=step, progress=cfg.progress, show=SHOW)
    backend = make_backend(cfg, tokenizer, base, out / "rollout")
    last: dict[str, Any] = {}
    try:
        while step < cfg.max_steps:
            step += 1
            started = time.perf_counter()
            batch_prompts = [prompts[i] for i in sampler.take(cfg.batch_size)]
            backend.sync(policy, step)
            samples, rollout = backend.generate(
                [p.ids for p in batch_prompts],
                cfg.n_samples,
                cfg.temperature,
                cfg.top_p,
                cfg.max_new_tokens,
            )
            examples = [batch_prompts[s.prompt_index].example for s in samples]
            breakdowns, accuracy = score_batch(
                [s.text for s in samples], examples, prev_accuracy, cfg.reward
            )
            batch = make_batch(
                [s.prompt_ids for s in samples],
                [s.response_ids for s in samples],
                int(tokenizer.pad_token_id),
            )
            scores = torch.tensor([b.total for b in breakdowns], dtype=torch.float32)
            metrics = update(models, batch, scores, [s.prompt_index for s in samples], cfg)
            record = {
                "step": step,
                **summarize(breakdowns),
                "prev_accuracy": prev_accuracy,
                **_length_stats(samples),
                **metrics,
                "lr": scheduler.get_last_lr()[0],
                "rollout_seconds": rollout.seconds,
                "rollout_tokens_per_s": rollout.tokens_per_s,
                "sync_seconds": getattr(backend, "sync_seconds", 0.0),
                "step_seconds": time.perf_counter() - started,
            }
            prev_accuracy = accuracy
            log.write(record)
            last = record
            if step % cfg.save_every == 0 or step == cfg.max_steps:
                _save(cfg, out, step, models, sampler, prev_accuracy, tokenizer)
    finally:
        backend.close()
        log.close()
    adapter = save_servable(policy, tokenizer, out / "adapter")
    write_model_card(adapter, cfg, steps=step, final_metrics=last)
    return adapter


def _save(
    cfg: Config,
    out: Path,
    step: int,
    m: Models,
    sampler: EpochSampler,
    prev_accuracy: float | None,
    tokenizer: Any,
) -> Path:
    state = {
        "trainable": trainable_state(m.policy),
        "value_head": m.value_head.state_dict() if m.value_head is not None else None,
        "optimizer": m.optimizer.state_dict(),
        "scheduler": m.scheduler.state_dict(),
        "sampler": sampler.state(),
        "prev_accuracy": prev_accuracy,
        "config": cfg.to_dict(),
    }
    servable = (lambda folder: save_servable(m.policy, tokenizer, folder)) if cfg.lora else None
    return save_checkpoint(out, step, state, servable, keep=cfg.keep_checkpoints)


def _length_stats(samples: Sequence[Sample]) -> dict[str, float]:
    lengths = [len(s.response_ids) for s in samples]
    return {
        "response_length": statistics.mean(lengths),
        "response_length_max": max(lengths),
        "truncated_rate": sum(s.truncated for s in samples) / len(samples),
    }
