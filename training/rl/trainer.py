"""The RL loop: sample, score, update, log, checkpoint. One trainer for every estimator.

    for step in 1..max_steps:                        (the loop itself: `training.loop`)
        prompts  = next batch_size prompts (seeded order, resumable cursor)
        samples  = n_samples responses per prompt from the current policy (hf or vLLM)
        rewards  = training.rewards.score_batch(responses, examples, prev_accuracy)
        prev_accuracy = this batch's accuracy        (the conditional gate's memory)
        update(policy; estimator decides the advantages)
        log one JSON line; every save_every steps a checkpoint

`rl_step` in `train` is RL's part of the loop; the rest is shared with SFT. What a reader may
need to know beyond that is in `update` (the losses), `estimators` (what each estimator needs)
and `rollout` (the sampling backends).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from tasks.example import Example
from training.checkpoint import EpochSampler, begin_run, finished_run
from training.config import Config
from training.examples import load_examples
from training.loop import Trainee, last_step, run
from training.model import (
    ValueHead,
    base_model_path,
    hidden_size,
    load_policy,
    load_reference,
    load_tokenizer,
    make_optimizer,
    pick_device,
)
from training.rewards import score_batch, summarize
from training.rl import estimators
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
    if resume and (finished := finished_run(cfg.out_dir, last_step(cfg))) is not None:
        return finished
    out = begin_run(cfg.out_dir, cfg.to_yaml(), cfg.seed)
    device = pick_device(cfg.device, cfg.num_threads)
    base = base_model_path(cfg)
    tokenizer = load_tokenizer(base)
    prompts = build_prompts(load_examples(cfg.data), tokenizer, cfg)

    policy = load_policy(cfg, device)
    reference = load_reference(cfg, device)
    value_head = None
    if estimators.needs_values(cfg.estimator):
        value_head = ValueHead(hidden_size(policy)).to(device)
    optimizer, scheduler = make_optimizer(cfg, policy, value_head)
    models = Models(policy, reference, value_head, optimizer)
    sampler = EpochSampler(len(prompts), cfg.seed)
    trainee = Trainee(policy, tokenizer, optimizer, scheduler, sampler, value_head)
    backend = make_backend(cfg, tokenizer, base, out / "rollout")

    def rl_step(step: int) -> dict[str, Any]:
        prev_accuracy = trainee.memory["prev_accuracy"]
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
        trainee.memory["prev_accuracy"] = accuracy
        return {
            **summarize(breakdowns),
            "prev_accuracy": prev_accuracy,
            **_length_stats(samples),
            **metrics,
            "rollout_seconds": rollout.seconds,
            "rollout_tokens_per_s": rollout.tokens_per_s,
            "sync_seconds": getattr(backend, "sync_seconds", 0.0),
            **_gpu_memory(),
        }

    try:
        return run(cfg, out, trainee, rl_step, resume=resume, show=SHOW)
    finally:
        backend.close()  # however the run ends: the vLLM engine's workers must not outlive it


def _gpu_memory() -> dict[str, float]:
    """Peak CUDA memory this process allocated during the step (GiB); nothing on CPU."""
    if not torch.cuda.is_available():
        return {}
    peak = torch.cuda.max_memory_allocated() / 2**30
    torch.cuda.reset_peak_memory_stats()
    return {"gpu_peak_gib": peak}


def _length_stats(samples: Sequence[Sample]) -> dict[str, float]:
    lengths = [len(s.response_ids) for s in samples]
    return {
        "response_length": statistics.mean(lengths),
        "response_length_max": max(lengths),
        "truncated_rate": sum(s.truncated for s in samples) / len(samples),
    }
