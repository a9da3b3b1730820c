"""Rejection-sampling fine-tuning: learn from the model's own best samples, scored by the
paper's rewards. An RL-family step that fits a small machine: no critic, no reference or
old-log-prob passes, and sampling runs on the fast rollout engine (vLLM on CPU, or
`model.generate` on a GPU).

    for round in 1..rft_rounds:
        sample n_samples responses per training prompt from the current model
        score each with training.rewards (format, final answer, intermediate answers)
        per prompt keep the best correct, well-formed response: highest conditional
            intermediate reward (the paper's time-discounted one), then the shortest
        prompts with no correct sample keep their reference trace (rft_reference_fallback)
        fine-tune the current adapter on what was kept (one pass, SFT's loss and loop)

    python -m training rft --config training/configs/rft-early.yaml [--resume] [--set k=v]

Each round writes `out_dir/round-K/` (samples.jsonl: what was kept; sampling.json; stats.json;
the SFT run with its adapter and checkpoints); `out_dir/adapter` is the last round's. The
config's `init_adapter` is the model to start from (the SFT warm start); `max_steps` is ignored:
a round's steps are one pass over what it kept at `batch_size`.

Sampling runs in a child process: the rollout engine (vLLM, even in-process, or the HF model)
and everything it allocated go back to the OS before fine-tuning starts, so the two never hold
memory at once. With `--resume` a finished round is kept, a sampled round goes straight to its
fine-tuning (which continues from its newest checkpoint), and only an unsampled round samples.
"""

from __future__ import annotations

import dataclasses
import json
import math
import multiprocessing
import shutil
import statistics
import time
from pathlib import Path
from typing import Any

import torch

from tasks.example import Example, write_jsonl
from training.config import Config
from training.examples import load_examples
from training.model import base_model_path, load_policy, load_tokenizer, pick_device
from training.model_card import write_rft_card
from training.rewards import RewardBreakdown, score
from training.rl.rollout import Sample, make_backend
from training.templates import apply_template


def pick_best(
    candidates: list[tuple[Sample, RewardBreakdown]],
) -> tuple[Sample, RewardBreakdown] | None:
    """The sample to imitate among one prompt's: correct and well formed, the highest total
    reward (the intermediate reward decides between correct ones), then the shortest."""
    good = [(s, r) for s, r in candidates if r.correct and r.format_ok and not s.truncated]
    if not good:
        return None
    return max(good, key=lambda sr: (sr[1].total, -len(sr[0].response_ids)))


SAMPLES_FILE = "samples.jsonl"
SAMPLING_STATS_FILE = "sampling.json"
ROUND_STATS_FILE = "stats.json"
# A round's fine-tuning checkpoints this often, so `--resume` loses at most these many steps.
ROUND_SAVE_EVERY = 5


def first_answer_share(text: str) -> float | None:
    """Where the first answer opens, as a share of the response's characters (None if none)."""
    at = text.find("<answer>")
    return None if at < 0 or not text else at / len(text)


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def sample_round(cfg: Config, examples: list[Example], workdir: Path) -> dict[str, Any]:
    """Sample, score and select for one round; writes workdir/samples.jsonl."""
    device = pick_device(cfg.device, cfg.num_threads)
    tokenizer = load_tokenizer(base_model_path(cfg))
    policy = load_policy(cfg, device)
    policy.eval()
    backend = make_backend(cfg, tokenizer, base_model_path(cfg), workdir / "rollout")
    prompts = [
        tokenizer(apply_template(tokenizer, ex, cfg.style), add_special_tokens=False).input_ids
        for ex in examples
    ]
    started = time.perf_counter()
    try:
        backend.sync(policy, 0)
        samples, stats = backend.generate(
            prompts, cfg.n_samples, cfg.temperature, cfg.top_p, cfg.max_new_tokens
        )
    finally:
        backend.close()
    by_prompt: dict[int, list[tuple[Sample, RewardBreakdown]]] = {}
    for sample in samples:
        reward = score(sample.text, examples[sample.prompt_index], cfg.reward)
        by_prompt.setdefault(sample.prompt_index, []).append((sample, reward))
    kept: list[Example] = []
    own = fallback = 0
    kept_positions: list[float] = []
    for index, ex in enumerate(examples):
        best = pick_best(by_prompt.get(index, []))
        if best is not None:
            own += 1
            kept.append(dataclasses.replace(ex, meta={**ex.meta, "target": best[0].text.strip()}))
            if (share := first_answer_share(best[0].text)) is not None:
                kept_positions.append(share)
        elif cfg.rft_reference_fallback and ex.reasoning_steps:
            fallback += 1
            kept.append(ex)
    write_jsonl(kept, workdir / SAMPLES_FILE)
    rewards = [r for pairs in by_prompt.values() for _, r in pairs]
    # A selection can only prefer the earlier of two right answers where there are two.
    with_choice = sum(
        sum(r.correct and r.format_ok for _, r in pairs) >= 2 for pairs in by_prompt.values()
    )
    sampled_positions = [
        share for s in samples if (share := first_answer_share(s.text)) is not None
    ]
    del policy
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    return {
        "prompts": len(examples),
        "samples": len(samples),
        "sample_accuracy": sum(r.correct for r in rewards) / max(1, len(rewards)),
        "sample_format_ok": sum(r.format_ok for r in rewards) / max(1, len(rewards)),
        "truncated": sum(s.truncated for s in samples) / max(1, len(samples)),
        "mean_intermediate": sum(r.intermediate for r in rewards) / max(1, len(rewards)),
        "prompts_solved": own,
        "prompts_with_choice": with_choice,
        "first_answer_share_sampled": _median(sampled_positions),
        "first_answer_share_kept": _median(kept_positions),
        "reference_fallback": fallback,
        "kept": len(kept),
        "sampling_seconds": time.perf_counter() - started,
        "sampled_tokens_per_s": stats.tokens_per_s,
    }


def _sample_round_to_file(cfg: Config, examples: list[Example], workdir: Path) -> None:
    stats = sample_round(cfg, examples, workdir)
    (workdir / SAMPLING_STATS_FILE).write_text(json.dumps(stats, indent=2))


def sample_round_apart(cfg: Config, examples: list[Example], workdir: Path) -> dict[str, Any]:
    """`sample_round` in a fresh process; its stats. Spawned, not forked: the child builds its
    own torch and engine state, and all of it is gone when the child exits."""
    child = multiprocessing.get_context("spawn").Process(
        target=_sample_round_to_file, args=(cfg, examples, workdir), name="rft-sampling"
    )
    child.start()
    child.join()
    if child.exitcode != 0:
        raise RuntimeError(f"sampling for {workdir} failed (exit code {child.exitcode})")
    return json.loads((workdir / SAMPLING_STATS_FILE).read_text())


def train(cfg: Config, resume: bool = False) -> Path:
    """Run every round; returns the servable output folder (`out_dir/adapter`)."""
    from training.sft import train as sft_train

    if not cfg.lora or not cfg.init_adapter:
        raise ValueError("rft continues a LoRA adapter: set lora: true and init_adapter")
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.yaml").write_text(cfg.to_yaml())
    examples = [ex for ex in load_examples(cfg.data) if ex.reasoning_steps]
    adapter = cfg.init_adapter
    rounds: list[dict[str, Any]] = []
    for round_no in range(1, cfg.rft_rounds + 1):
        workdir = out / f"round-{round_no}"
        workdir.mkdir(parents=True, exist_ok=True)
        finished = workdir / ROUND_STATS_FILE
        if resume and finished.is_file() and (workdir / "sft" / "adapter").is_dir():
            print(f"{workdir}: already done; keeping it", flush=True)
            adapter = str(workdir / "sft" / "adapter")
            rounds.append(json.loads(finished.read_text()))
            continue
        current = cfg.replace(init_adapter=adapter, seed=cfg.seed + round_no)
        sampled = workdir / SAMPLING_STATS_FILE
        if resume and sampled.is_file() and (workdir / SAMPLES_FILE).is_file():
            print(f"{workdir}: already sampled; fine-tuning on its kept samples", flush=True)
            stats = json.loads(sampled.read_text())
        else:
            stats = sample_round_apart(current, examples, workdir)
        steps = max(1, math.ceil(stats["kept"] / cfg.batch_size))
        tune = current.replace(
            mode="sft",
            out_dir=str(workdir / "sft"),
            data=[{"path": str(workdir / SAMPLES_FILE)}],
            max_steps=steps,
            stop_at_step=0,
            save_every=min(steps, ROUND_SAVE_EVERY),
        )
        started = time.perf_counter()
        adapter = str(sft_train(tune, resume=resume))
        stats.update({"round": round_no, "sft_steps": steps})
        stats["sft_seconds"] = time.perf_counter() - started
        finished.write_text(json.dumps(stats, indent=2))
        print(json.dumps(stats), flush=True)
        rounds.append(stats)
    final = out / "adapter"
    if final.exists():
        shutil.rmtree(final)
    shutil.copytree(adapter, final)
    write_rft_card(final, cfg, rounds)  # the run's own card, not its last SFT step's
    return final
