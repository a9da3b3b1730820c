"""SFT tokens/s of recipes side by side, and the share of this CPU's matmul peak each reaches.

    python -m training.speed [--recipes A B ...] [--mix tables|arithmetic] [--steps 3]
        [--batch 8] [--threads 2] [--output results/sft_speed.json]

The recipes train on the same examples (`--mix`: the truth-table stages' K&K and multi-hop
traces, or an arithmetic stage's mostly short chains), in alternating rounds (A, B, A, B, ...)
so a change in machine load hits all alike; the first step of each is a warm-up and not
counted. Speed-ups are against the first recipe named. By default the first two:

- `lora-r16`: the earlier shipped recipe (rank-16 LoRA on every projection, bf16 frozen base,
  micro-batches of 4 sequences by count).
- `full-mixed`: the default model's recipe (full fine-tuning of the decoder's linear layers,
  embeddings frozen, fp32 master weights with bf16 autocast, micro-batches by token budget
  after sorting by length).

and two more, for the shared prompt prefix (`share_prompt_prefix`):

- `lora-r64`: the later stages' recipe (a rank-64 LoRA over an fp32 base with bf16 autocast,
  micro-batches by token budget), the rows' common first tokens run once per micro-batch.
- `lora-r64-whole-rows`: the same with every row run whole.

The peak is measured in the same run: a 2048^3 bf16 (and fp32) matmul on the same threads.
"Achieved" counts the matmul FLOPs the recipe really does: 2 per weight per token forward,
2 more backward through the activations, and 2 more for the weight's gradient where the weight
is trained (the decoder's projections in full fine-tuning; nothing of the base under LoRA,
whose small factors are not counted); the output head runs on target positions only.
Attention and the loss are extra work not counted, so the share is a lower bound; a shared
prefix that ran once counts once.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path
from typing import Any

import torch

from training.config import Config
from training.logprobs import forward, make_batch, shared_prefix_len
from training.model import autocast, base_model_path, load_policy, load_tokenizer, make_optimizer
from training.sft import build_pairs, micro_batches

RECIPES: dict[str, dict[str, Any]] = {
    "lora-r16": {"lora": True, "lora_r": 16, "lora_alpha": 32, "dtype": "bfloat16",
                 "micro_batch_size": 4, "lr": 2e-4},
    "full-mixed": {"lora": False, "mixed_precision": True, "freeze_embeddings": True,
                   "dtype": "float32", "micro_batch_tokens": 4096, "lr": 1e-4},
    "lora-r64": {"lora": True, "lora_r": 64, "lora_alpha": 64, "dtype": "float32",
                 "mixed_precision": True, "micro_batch_tokens": 4096, "lr": 2e-4,
                 "share_prompt_prefix": True},
    "lora-r64-whole-rows": {"lora": True, "lora_r": 64, "lora_alpha": 64, "dtype": "float32",
                            "mixed_precision": True, "micro_batch_tokens": 4096, "lr": 2e-4,
                            "share_prompt_prefix": False},
}  # fmt: skip
MIXES: dict[str, list[dict[str, Any]]] = {
    # The truth-table stages' examples: long K&K traces (~600 target tokens), multi-hop.
    "tables": [
        {"dataset": "kk", "n": 48, "people": [2, 3, 3, 4]},
        {"dataset": "multihop", "n": 16, "hops": [2, 3, 4]},
    ],
    # An arithmetic stage's: mostly short chains (~170 target tokens) with K&K and multi-hop.
    "arithmetic": [
        {"dataset": "arithmetic", "n": 40, "phrasing": "wide"},
        {"dataset": "kk", "n": 16, "people": [2, 3, 4], "phrasing": "wide"},
        {"dataset": "multihop", "n": 8, "hops": [2, 3, 4], "phrasing": "wide"},
    ],
}


def matmul_peak(dtype: torch.dtype, size: int = 2048, repeats: int = 5) -> float:
    """GFLOP/s of a square matmul (best of `repeats`)."""
    a = torch.randn(size, size, dtype=dtype)
    b = torch.randn(size, size, dtype=dtype)
    a @ b  # warm-up
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best / 1e9


class Recipe:
    """One recipe's model, optimizer and examples, stepping on demand."""

    def __init__(self, name: str, threads: int, batch: int, data: list[dict[str, Any]]) -> None:
        self.name = name
        self.cfg = Config(mode="sft", data=data, max_seq_len=1100, batch_size=batch,
                          num_threads=threads, **RECIPES[name])  # fmt: skip
        self.device = torch.device("cpu")
        tokenizer = load_tokenizer(base_model_path(self.cfg))
        self.pad = int(tokenizer.pad_token_id)
        self.pairs = build_pairs(self.cfg, tokenizer)
        self.policy = load_policy(self.cfg, self.device)
        self.optimizer, _ = make_optimizer(self.cfg, self.policy, None)
        self.cursor = 0
        self.params = [p for p in self.policy.parameters() if p.requires_grad]
        # Weights on the per-token compute path: the decoder's projections and the output head.
        lora = hasattr(self.policy, "peft_config")
        inner = self.policy.get_base_model() if lora else self.policy
        self.decoder_params = sum(
            m.weight.numel()
            for name, m in inner.model.named_modules()
            if isinstance(m, torch.nn.Linear) and "lora_" not in name
        )
        self.head_params = inner.lm_head.weight.numel()
        self.decoder_trained = not lora

    def flops(self, tokens: int, targets: int) -> float:
        decoder = (6 if self.decoder_trained else 4) * self.decoder_params * tokens
        return decoder + 4 * self.head_params * targets  # the tied head stays frozen

    def step(self) -> tuple[int, int, int, float]:
        """One optimizer step over the next batch; (the examples' tokens, the tokens the decoder
        ran: fewer where rows shared a prefix, target tokens, seconds)."""
        index = [(self.cursor + i) % len(self.pairs) for i in range(self.cfg.batch_size)]
        self.cursor += self.cfg.batch_size
        started = time.perf_counter()
        self.optimizer.zero_grad(set_to_none=True)
        tokens = computed = 0
        targets = sum(len(self.pairs[i][1]) for i in index)
        for micro in micro_batches(index, self.pairs, self.cfg):
            batch = make_batch([self.pairs[i][0] for i in micro],
                               [self.pairs[i][1] for i in micro], self.pad)  # fmt: skip
            with autocast(self.cfg, self.device):
                out = forward(
                    self.policy, batch, temperature=1.0, share_prefix=self.cfg.share_prompt_prefix
                )
            (-(out.logprobs * batch.response_mask).sum() / targets).backward()
            tokens += int(batch.attention_mask.sum())
            shared = shared_prefix_len(batch) if self.cfg.share_prompt_prefix else 0
            computed += int(batch.attention_mask.sum()) - (len(micro) - 1) * shared
        self.optimizer.step()
        return tokens, computed, targets, time.perf_counter() - started


def run(
    steps: int, batch: int, threads: int, names: list[str] | None = None, mix: str = "tables"
) -> dict[str, Any]:
    names = names or list(RECIPES)[:2]
    torch.set_num_threads(threads)
    peak_bf16 = matmul_peak(torch.bfloat16)
    peak_fp32 = matmul_peak(torch.float32)
    recipes = [Recipe(name, threads, batch, MIXES[mix]) for name in names]
    measured: dict[str, list[tuple[int, int, int, float]]] = {r.name: [] for r in recipes}
    for round_ in range(steps + 1):
        for recipe in recipes:
            tokens, computed, targets, seconds = recipe.step()
            if round_ > 0:  # round 0 warms up allocators and oneDNN kernels
                measured[recipe.name].append((tokens, computed, targets, seconds))
            print(f"{recipe.name}: round {round_}, {tokens / seconds:.0f} tokens/s", flush=True)
    results: dict[str, Any] = {}
    for recipe in recipes:
        tokens, computed, targets, seconds = (
            sum(col) for col in zip(*measured[recipe.name], strict=True)
        )
        # FLOPs of what the decoder really ran; tokens/s counts every example's tokens.
        gflops = recipe.flops(int(computed), int(targets)) / seconds / 1e9
        results[recipe.name] = {
            "tokens_per_s": tokens / seconds,
            "target_tokens_per_s": targets / seconds,
            "tokens": tokens,
            "decoder_tokens": computed,
            "seconds": seconds,
            "gflop_per_s": gflops,
            "share_of_bf16_peak": gflops / peak_bf16,
        }
    base = results[names[0]]["tokens_per_s"]
    for row in results.values():
        row["speedup"] = row["tokens_per_s"] / base
    return {
        "settings": {"steps": steps, "batch": batch, "threads": threads, "mix": mix,
                     "data": MIXES[mix],
                     "baseline": names[0]},
        "machine": {"processor": platform.processor() or platform.machine(),
                    "peak_bf16_gflop_per_s": peak_bf16, "peak_fp32_gflop_per_s": peak_fp32},
        "recipes": results,
    }  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m training.speed",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--recipes",
        nargs="+",
        choices=list(RECIPES),
        default=list(RECIPES)[:2],
        help="recipes to compare; speed-ups are against the first",
    )
    parser.add_argument("--mix", choices=list(MIXES), default="tables", help="the examples")
    parser.add_argument("--steps", type=int, default=3, help="measured steps per recipe")
    parser.add_argument("--batch", type=int, default=8, help="sequences per step")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--output", default="results/sft_speed.json")
    args = parser.parse_args(argv)
    result = run(args.steps, args.batch, args.threads, args.recipes, args.mix)
    machine = result["machine"]
    print(
        f"matmul peak: bf16 {machine['peak_bf16_gflop_per_s']:.0f} GFLOP/s, "
        f"fp32 {machine['peak_fp32_gflop_per_s']:.0f} GFLOP/s"
    )
    print(f"{'recipe':<20} {'tokens/s':>9} {'GFLOP/s':>8} {'of peak':>8} {'speed-up':>9}")
    for name, row in result["recipes"].items():
        print(
            f"{name:<20} {row['tokens_per_s']:>9.0f} {row['gflop_per_s']:>8.0f} "
            f"{row['share_of_bf16_peak']:>8.0%} {row['speedup']:>8.2f}x"
        )
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
