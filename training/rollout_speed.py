"""Tokens per second of RL rollouts (transformers generate vs vLLM) and of the update step.

    python -m training.rollout_speed [--prompts 4] [--n 8] [--max-new-tokens 256]
        [--update-batch 8] [--update-len 256] [--backends hf,hf-unmerged,vllm-merged,vllm-lora]
        [--output results/training_speed.json]

Measured on the default model (SmolLM2-135M-Instruct) with a LoRA adapter (rank 16 on every
projection, random non-zero weights, so the adapter really is applied), through the trainer's
own code: `training.rl.rollout` backends and `training.rl.losses.forward`.

- rollout: `--prompts` K&K prompts x `--n` samples at temperature 0.8, every sample exactly
  `--max-new-tokens` long (EOS ignored) so the backends generate the same number of tokens.
  vLLM also reports its engine start and the per-step policy sync (merged weights reload, or a
  new LoRA request).
- update: forward + backward of the clipped policy loss on `--update-batch` sequences of
  `--update-len` tokens (half prompt, half response); tokens/s counts every token processed.
  Measured again while a vLLM engine is alive, because in training the two share the cores.

It measures the trainer, not a server, so it lives in `training` (formerly
`python -m benchmarks.training_speed`; same flags, same output file).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

BACKENDS = ("hf", "hf-unmerged", "vllm-merged", "vllm-lora")


def _policy(seed: int) -> tuple[Any, Any, Path]:
    from training.config import Config
    from training.model import base_model_path, load_policy, load_tokenizer

    torch.manual_seed(seed)
    cfg = Config()
    base = base_model_path(cfg)
    tokenizer = load_tokenizer(base)
    policy = load_policy(cfg, torch.device("cpu"))
    with torch.no_grad():
        for name, p in policy.named_parameters():
            if "lora_B" in name:
                p.normal_(0.0, 0.01)  # peft starts B at zero: the adapter would be a no-op
    return policy, tokenizer, base


def _prompts(tokenizer: Any, count: int) -> list[list[int]]:
    from tasks import generate
    from training.templates import apply_template

    examples = generate("kk", count, split="train", seed=0, people=(3, 4))
    return [
        tokenizer(apply_template(tokenizer, ex), add_special_tokens=False).input_ids
        for ex in examples
    ]


def measure_update(policy: Any, batch: int, length: int, repeats: int = 3) -> dict[str, float]:
    from training.rl.losses import Batch, forward, policy_loss

    half = length // 2
    ids = torch.randint(10, 40_000, (batch, length))
    data = Batch(ids, torch.ones_like(ids), torch.ones(batch, length - half, dtype=torch.long))
    params = [p for p in policy.parameters() if p.requires_grad]
    times = []
    for _ in range(repeats + 1):  # the first pass warms up allocators and kernels
        start = time.perf_counter()
        out = forward(policy, data, temperature=0.8)
        loss, _ = policy_loss(
            out.logprobs, out.logprobs.detach(), torch.ones_like(out.logprobs), data.response_mask
        )
        loss.backward()
        for p in params:
            p.grad = None
        times.append(time.perf_counter() - start)
    seconds = statistics.median(times[1:])
    return {"seconds": seconds, "tokens": batch * length, "tokens_per_s": batch * length / seconds}


def measure_rollout(
    backend: Any, policy: Any, prompts: list[list[int]], n: int, max_new_tokens: int
) -> dict[str, float]:
    backend.sync(policy, version=0)
    backend.generate(prompts[:1], 1, 0.8, 1.0, 8, ignore_eos=True)  # warm-up
    sync_start = time.perf_counter()
    backend.sync(policy, version=1)
    sync = time.perf_counter() - sync_start
    samples, stats = backend.generate(prompts, n, 0.8, 1.0, max_new_tokens, ignore_eos=True)
    assert len(samples) == len(prompts) * n
    return {
        "seconds": stats.seconds,
        "tokens": stats.tokens,
        "tokens_per_s": stats.tokens_per_s,
        "sync_seconds": sync,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m training.rollout_speed",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--prompts", type=int, default=4)
    parser.add_argument("--n", type=int, default=8)
    parser.add_argument("--max-new-tokens", type=int, default=256)
    parser.add_argument("--update-batch", type=int, default=8)
    parser.add_argument("--update-len", type=int, default=256)
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument(
        "--threads",
        type=int,
        default=0,
        help="torch CPU threads (0: one per core); on a loaded machine 1 can win",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", default="results/training_speed.json")
    args = parser.parse_args(argv)
    backends = [b for b in args.backends.split(",") if b]
    unknown = set(backends) - set(BACKENDS)
    if unknown:
        parser.error(f"unknown backends {sorted(unknown)}; known: {BACKENDS}")

    from training.rl.rollout import HFRollout, VLLMRollout

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    policy, tokenizer, base = _policy(args.seed)
    prompts = _prompts(tokenizer, args.prompts)
    result: dict[str, Any] = {
        "model": str(base),
        "lora_rank": 16,
        "prompts": args.prompts,
        "n": args.n,
        "max_new_tokens": args.max_new_tokens,
        "prompt_tokens_mean": statistics.mean(len(p) for p in prompts),
        "device": "cuda" if torch.cuda.is_available() else "cpu",
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "platform": platform.platform(),
        "load_average_at_start": os.getloadavg(),
        "rollout": {},
    }
    report = lambda key, value: print(f"{key:<28} {json.dumps(value)}", flush=True)  # noqa: E731

    result["update"] = measure_update(policy, args.update_batch, args.update_len)
    report("update", result["update"])
    for name in backends:
        if name.startswith("hf"):
            backend = HFRollout(tokenizer, micro_batch=args.prompts * args.n)
            # hf-unmerged generates through peft's LoRA layers instead of merging them in.
            target = _NoMerge(policy) if name == "hf-unmerged" else policy
            result["rollout"][name] = measure_rollout(
                backend, target, prompts, args.n, args.max_new_tokens
            )
            backend.close()
        else:
            with tempfile.TemporaryDirectory() as work:
                start = time.perf_counter()
                backend = VLLMRollout(
                    base, tokenizer, sync_mode=name.split("-")[1], workdir=work, seed=args.seed
                )
                started = time.perf_counter() - start
                entry = measure_rollout(backend, policy, prompts, args.n, args.max_new_tokens)
                entry["engine_start_seconds"] = started
                result["rollout"][name] = entry
                if "update_with_vllm_alive" not in result:
                    result["update_with_vllm_alive"] = measure_update(
                        policy, args.update_batch, args.update_len
                    )
                    report("update_with_vllm_alive", result["update_with_vllm_alive"])
                backend.close()
        report(f"rollout {name}", result["rollout"][name])
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}", file=sys.stderr)
    return 0


class _NoMerge(torch.nn.Module):
    """The policy without `merge_adapter`, so HFRollout generates through the LoRA layers."""

    def __init__(self, policy: Any) -> None:
        super().__init__()
        self.inner = policy
        self.config = policy.config

    def generate(self, *args: Any, **kwargs: Any) -> Any:
        return self.inner.generate(*args, **kwargs)


if __name__ == "__main__":
    sys.exit(main())
