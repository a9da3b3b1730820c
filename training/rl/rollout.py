"""Sample n responses per prompt from the current policy: transformers' generate or vLLM.

Both backends take prompt token ids and return `Sample`s holding the generated token ids (the
trainer scores exactly these tokens; re-tokenizing text could split them differently) and the
decoded text (what the reward reads). Samples come grouped: the n responses of prompt i are at
i*n .. i*n+n-1, which is what `grpo` normalizes over.

vLLM runs in its own worker process with its own copy of the weights, so after every update it
must be given the new policy (`sync`):
- "merged": the LoRA deltas are added into a bf16 copy of the weights, written to a folder and
  reloaded in place (`reload_weights`); decoding then runs at base-model speed.
- "lora": the adapter is saved and sent as a fresh `LoRARequest` (new id each step, or vLLM
  would reuse the cached old one); vLLM's LoRA kernels roughly halve decode speed on CPU.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import nn


@dataclass
class Sample:
    prompt_index: int
    prompt_ids: list[int]
    response_ids: list[int]  # ends with EOS when the model stopped by itself
    text: str  # decoded response, special tokens removed
    truncated: bool  # hit max_new_tokens


@dataclass
class RolloutStats:
    seconds: float
    tokens: int  # generated tokens, all samples

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.seconds if self.seconds > 0 else 0.0


class RolloutBackend(Protocol):
    def sync(self, policy: nn.Module, version: int) -> None: ...

    def generate(
        self,
        prompts: list[list[int]],
        n: int,
        temperature: float,
        top_p: float,
        max_new_tokens: int,
        ignore_eos: bool = False,
    ) -> tuple[list[Sample], RolloutStats]: ...

    def close(self) -> None: ...


def _cut_at_eos(ids: list[int], eos_ids: set[int]) -> tuple[list[int], bool]:
    for i, token in enumerate(ids):
        if token in eos_ids:
            return ids[: i + 1], False
    return ids, True


def eos_ids(tokenizer: Any, model_config: Any = None) -> set[int]:
    ids = {int(tokenizer.eos_token_id)}
    extra = getattr(model_config, "eos_token_id", None)
    if isinstance(extra, int):
        ids.add(extra)
    elif isinstance(extra, list):
        ids.update(int(x) for x in extra)
    return ids


class HFRollout:
    """`model.generate` on the training model itself: no second copy, no sync; LoRA is merged
    into the weights for the duration of the call so decoding pays no adapter overhead."""

    def __init__(self, tokenizer: Any, micro_batch: int = 64) -> None:
        self.tokenizer = tokenizer
        self.policy: nn.Module | None = None
        self.micro_batch = micro_batch  # sequences per generate call, to bound memory

    def sync(self, policy: nn.Module, version: int) -> None:
        self.policy = policy

    @torch.no_grad()
    def generate(
        self,
        prompts: list[list[int]],
        n: int,
        temperature: float,
        top_p: float,
        max_new_tokens: int,
        ignore_eos: bool = False,  # benchmarks: every sample exactly max_new_tokens long
    ) -> tuple[list[Sample], RolloutStats]:
        assert self.policy is not None, "sync() the policy first"
        model = self.policy
        device = next(model.parameters()).device
        stop = eos_ids(self.tokenizer, getattr(model, "config", None))
        pad = int(self.tokenizer.pad_token_id)
        was_training = model.training
        model.eval()
        # Merging LoRA into float32 weights for the call is exact enough to undo; a bf16 base
        # would drift a little with every merge/unmerge, so it generates through the adapter.
        merged = hasattr(model, "merge_adapter") and all(
            p.dtype == torch.float32 for p in model.parameters()
        )
        if merged:
            model.merge_adapter()
        start = time.perf_counter()
        samples: list[Sample] = []
        try:
            per_call = max(1, self.micro_batch // n)
            for lo in range(0, len(prompts), per_call):
                chunk = prompts[lo : lo + per_call]
                width = max(len(p) for p in chunk)
                # Left padding: every prompt ends where generation starts.
                ids = torch.tensor([[pad] * (width - len(p)) + p for p in chunk], device=device)
                mask = torch.tensor(
                    [[0] * (width - len(p)) + [1] * len(p) for p in chunk], device=device
                )
                out = model.generate(
                    input_ids=ids,
                    attention_mask=mask,
                    do_sample=True,
                    temperature=temperature,
                    top_p=top_p,
                    top_k=0,  # no top-k: the same distribution vLLM samples from
                    max_new_tokens=max_new_tokens,
                    min_new_tokens=max_new_tokens if ignore_eos else None,
                    num_return_sequences=n,
                    pad_token_id=pad,
                    eos_token_id=sorted(stop),
                )
                for row, seq in enumerate(out[:, width:].tolist()):
                    index = lo + row // n
                    response, truncated = _cut_at_eos(seq, set() if ignore_eos else stop)
                    samples.append(self._sample(index, prompts[index], response, truncated))
        finally:
            if merged:
                model.unmerge_adapter()
            model.train(was_training)
        seconds = time.perf_counter() - start
        return samples, RolloutStats(seconds, sum(len(s.response_ids) for s in samples))

    def _sample(
        self, index: int, prompt: list[int], response: list[int], truncated: bool
    ) -> Sample:
        text = self.tokenizer.decode(response, skip_special_tokens=True)
        return Sample(index, prompt, response, text, truncated)

    def close(self) -> None:
        self.policy = None


class VLLMRollout:
    """vLLM's offline engine in this process (its workers are spawned: callers need the
    `if __name__ == "__main__":` guard)."""

    def __init__(
        self,
        base_model: str | Path,
        tokenizer: Any,
        sync_mode: str = "merged",
        workdir: str | Path = ".",
        lora_rank: int = 16,
        kv_cache_bytes: int = 2 << 30,
        max_model_len: int = 2048,
        seed: int = 0,
        gpu_memory_utilization: float = 0.3,
    ) -> None:
        from vllm import LLM

        self.tokenizer = tokenizer
        self.sync_mode = sync_mode
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        on_gpu = torch.cuda.is_available()
        kwargs: dict[str, Any] = {
            "model": str(base_model),
            "max_model_len": max_model_len,
            "seed": seed,
            "enforce_eager": not on_gpu,  # CUDA graphs pay off on GPU; on CPU only start time
        }
        if on_gpu:
            # Training shares the GPU: vLLM gets this share, training the rest.
            kwargs["gpu_memory_utilization"] = gpu_memory_utilization
        else:
            kwargs["kv_cache_memory_bytes"] = kv_cache_bytes
        if sync_mode == "lora":
            kwargs.update(enable_lora=True, max_lora_rank=max(8, lora_rank), max_loras=1)
        self.llm = LLM(**kwargs)
        self.lora_request: Any = None
        self.sync_seconds = 0.0

    def sync(self, policy: nn.Module, version: int) -> None:
        start = time.perf_counter()
        if self.sync_mode == "lora":
            from vllm.lora.request import LoRARequest

            from training.model import save_servable

            folder = self.workdir / f"adapter-{version}"
            save_servable(policy, self.tokenizer, folder)
            # A new name and id each version: vLLM caches adapters by id.
            self.lora_request = LoRARequest(f"policy-{version}", version + 1, str(folder))
            _remove_older(self.workdir, "adapter-", keep=folder)
        else:
            from training.model import merged_weights

            folder = self.workdir / "merged"
            write_weights(merged_weights(policy), folder, policy)
            self.llm.collective_rpc("reload_weights", kwargs={"weights_path": str(folder)})
            self.llm.reset_prefix_cache()  # cached prompt KV came from the old weights
        self.sync_seconds = time.perf_counter() - start

    def generate(
        self,
        prompts: list[list[int]],
        n: int,
        temperature: float,
        top_p: float,
        max_new_tokens: int,
        ignore_eos: bool = False,  # benchmarks: every sample exactly max_new_tokens long
    ) -> tuple[list[Sample], RolloutStats]:
        from vllm import SamplingParams
        from vllm.inputs import TokensPrompt

        params = SamplingParams(
            n=n,
            temperature=temperature,
            top_p=top_p,
            max_tokens=max_new_tokens,
            ignore_eos=ignore_eos,
        )
        start = time.perf_counter()
        outputs = self.llm.generate(
            [TokensPrompt(prompt_token_ids=p) for p in prompts],
            params,
            lora_request=self.lora_request,
            use_tqdm=False,
        )
        seconds = time.perf_counter() - start
        samples: list[Sample] = []
        for index, output in enumerate(outputs):
            for completion in output.outputs:
                ids = list(completion.token_ids)
                text = self.tokenizer.decode(ids, skip_special_tokens=True)
                truncated = completion.finish_reason == "length"
                samples.append(Sample(index, prompts[index], ids, text, truncated))
        return samples, RolloutStats(seconds, sum(len(s.response_ids) for s in samples))

    def close(self) -> None:
        import contextlib

        with contextlib.suppress(Exception):
            self.llm.llm_engine.engine_core.shutdown()  # workers exit now, not at interpreter end
        del self.llm


def write_weights(state: dict[str, torch.Tensor], folder: Path, policy: nn.Module) -> None:
    """A safetensors file vLLM's loader reads in checkpoint format (tied lm_head left out)."""
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    config = getattr(policy, "config", None)
    tied = bool(getattr(config, "tie_word_embeddings", False))
    tensors = {
        k: v.contiguous().cpu() for k, v in state.items() if not (tied and k == "lm_head.weight")
    }
    tmp = folder / "model.safetensors.tmp"
    save_file(tensors, str(tmp), metadata={"format": "pt"})
    os.replace(tmp, folder / "model.safetensors")


def _remove_older(workdir: Path, prefix: str, keep: Path) -> None:
    import shutil

    for path in workdir.glob(f"{prefix}*"):
        if path != keep and path.is_dir():
            shutil.rmtree(path, ignore_errors=True)


def make_backend(cfg: Any, tokenizer: Any, base_model: Path, workdir: Path) -> RolloutBackend:
    if cfg.rollout == "hf":
        return HFRollout(tokenizer, micro_batch=max(cfg.micro_batch_size, cfg.n_samples))
    return VLLMRollout(
        base_model,
        tokenizer,
        sync_mode=cfg.vllm_sync,
        workdir=workdir,
        lora_rank=cfg.lora_r,
        kv_cache_bytes=cfg.vllm_kv_cache_bytes,
        max_model_len=cfg.vllm_max_model_len,
        seed=cfg.seed,
        gpu_memory_utilization=cfg.vllm_gpu_memory_utilization,
    )
