"""Load the policy (base model + LoRA via peft, or the whole model), its reference and value head;
save what the server serves.

The policy is a plain `transformers` causal LM, wrapped by peft when `cfg.lora` is set. Nothing
else stands between the trainer and the model's forward pass.

- Reference policy (for the KL term): the policy as it was at step 0. With LoRA and no initial
  adapter that is the base model, obtained for free by disabling the adapter; after an SFT warm
  start (`init_adapter`) or with full fine-tuning it is a frozen copy.
- Value head (`gae` only): one linear layer on the policy's last hidden state, sharing the trunk
  (like TRL's value-head models; veRL uses a separate critic model, which would double the
  compute on a CPU for a 135M model).
"""

from __future__ import annotations

import contextlib
import copy
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch import nn

from training.config import Config

ADAPTER_WEIGHTS = "adapter_model.safetensors"


def pick_device(name: str = "auto", num_threads: int = 0) -> torch.device:
    # On a CPU shared with other work, fewer threads than cores avoids OpenMP threads spinning
    # against each other (measured here: 1 thread ran a tiny model 3-5x faster than 2 under load).
    if num_threads > 0:
        torch.set_num_threads(num_threads)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def base_model_path(cfg: Config) -> Path:
    if cfg.model:
        return Path(cfg.model)
    from modelprep import ensure_base_model

    return ensure_base_model()


def load_tokenizer(path: str | Path) -> Any:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(path))
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def _dtype(cfg: Config, device: torch.device) -> torch.dtype:
    if cfg.dtype == "auto":
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    return torch.bfloat16 if cfg.dtype == "bfloat16" else torch.float32


def load_base(path: str | Path, dtype: torch.dtype, device: torch.device) -> nn.Module:
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(path), dtype=dtype)
    return model.to(device)


def load_policy(cfg: Config, device: torch.device) -> nn.Module:
    """The trainable policy: base + (initial or fresh) LoRA, or the whole model."""
    model = load_base(base_model_path(cfg), _dtype(cfg, device), device)
    if cfg.gradient_checkpointing:
        model.gradient_checkpointing_enable()
        model.config.use_cache = False
    if not cfg.lora:
        if cfg.init_adapter:
            model = _merged(model, cfg.init_adapter)
        if cfg.mixed_precision:
            model = model.float()  # master weights; autocast runs the matmuls in bf16
        if cfg.freeze_embeddings:
            for name, p in model.named_parameters():
                p.requires_grad_(name.endswith(".weight") and _is_decoder_linear(name))
        model.train()
        return model
    from peft import LoraConfig, PeftModel, get_peft_model

    if cfg.init_adapter:
        # Continue training the warm-start adapter itself, so the result stays one adapter on
        # the original base and `python -m server --adapter` serves it as is.
        model = PeftModel.from_pretrained(model, cfg.init_adapter, is_trainable=True)
    else:
        lora = LoraConfig(
            r=cfg.lora_r,
            lora_alpha=cfg.lora_alpha,
            lora_dropout=cfg.lora_dropout,
            target_modules=list(cfg.lora_targets),
            task_type="CAUSAL_LM",
        )
        model = get_peft_model(model, lora)
    # LoRA weights train in float32 whatever the base dtype (peft's default already; made sure
    # here because an adapter saved in bf16 loads as bf16).
    for p in model.parameters():
        if p.requires_grad:
            p.data = p.data.float()
    model.train()
    return model


_DECODER_LINEARS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


def _is_decoder_linear(name: str) -> bool:
    return any(f".{part}." in name for part in _DECODER_LINEARS)


def autocast(cfg: Config, device: torch.device) -> contextlib.AbstractContextManager[Any]:
    """bf16 autocast for mixed precision (fp32 weights, or fp32 LoRA weights over an fp32
    base, with bf16 matmuls: twice the matmul rate of fp32 on CPUs with bf16 units); a no-op
    otherwise."""
    if cfg.mixed_precision:
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def _merged(model: nn.Module, adapter: str) -> nn.Module:
    from peft import PeftModel

    return PeftModel.from_pretrained(model, adapter).merge_and_unload()


def load_reference(cfg: Config, device: torch.device) -> nn.Module | None:
    """A frozen copy of the initial policy, or None when disabling the adapter gives it."""
    if cfg.kl_coef == 0.0 or (cfg.lora and not cfg.init_adapter):
        return None
    model = load_base(base_model_path(cfg), _dtype(cfg, device), device)
    if cfg.init_adapter:
        model = _merged(model, cfg.init_adapter)
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


@contextlib.contextmanager
def reference_mode(policy: nn.Module, reference: nn.Module | None) -> Iterator[nn.Module]:
    """Yields the module whose forward is the reference policy."""
    if reference is not None:
        yield reference
    else:
        with policy.disable_adapter():  # type: ignore[operator]
            yield policy


class ValueHead(nn.Module):
    """V(s_t) from the policy's last hidden state; zero-initialised so early advantages are
    the returns themselves rather than noise."""

    def __init__(self, hidden_size: int) -> None:
        super().__init__()
        self.proj = nn.Linear(hidden_size, 1)
        nn.init.zeros_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.proj(hidden.float()).squeeze(-1)


def hidden_size(model: nn.Module) -> int:
    return int(model.config.hidden_size)  # type: ignore[union-attr]


def trainable_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """The parameters being trained (LoRA, or everything), detached, on CPU."""
    return {n: p.detach().cpu().clone() for n, p in model.named_parameters() if p.requires_grad}


def load_trainable_state(model: nn.Module, state: dict[str, torch.Tensor]) -> None:
    params = dict(model.named_parameters())
    missing = [n for n, p in params.items() if p.requires_grad and n not in state]
    unknown = [n for n in state if n not in params]
    if missing or unknown:
        raise ValueError(
            f"checkpoint does not fit the model: missing {missing[:3]}, unknown {unknown[:3]}"
        )
    with torch.no_grad():
        for name, value in state.items():
            params[name].copy_(value.to(params[name].device, params[name].dtype))


# ---------------------------------------------------------------------------------------------
# Output


def save_servable(model: nn.Module, tokenizer: Any, out: str | Path) -> Path:
    """What `python -m server --adapter DIR` (LoRA) or `--model DIR` (full) serves, in bf16."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if hasattr(model, "peft_config"):
        _save_adapter_bf16(model, out)
    else:
        model.save_pretrained(
            out,
            safe_serialization=True,
            state_dict={k: v.to(torch.bfloat16) for k, v in model.state_dict().items()},
        )
        _set_config_dtype(out / "config.json")
        tokenizer.save_pretrained(out)
    return out


def _save_adapter_bf16(model: nn.Module, out: Path) -> None:
    from peft import get_peft_model_state_dict
    from safetensors.torch import save_file

    state = get_peft_model_state_dict(model)
    save_file(
        {k: v.detach().to(torch.bfloat16).contiguous().cpu() for k, v in state.items()},
        str(out / ADAPTER_WEIGHTS),
        metadata={"format": "pt"},
    )
    config = model.peft_config["default"]  # type: ignore[index]
    # peft records the base as the local path it was loaded from; a shipped adapter should not
    # carry this machine's paths. Loaders take the base from their caller (`--model`), not here.
    base = config.base_model_name_or_path
    if base and Path(base).is_dir():
        config = copy.copy(config)
        config.base_model_name_or_path = Path(base).name
    config.save_pretrained(str(out))


def _set_config_dtype(path: Path) -> None:
    config = json.loads(path.read_text())
    config["dtype"] = "bfloat16"
    path.write_text(json.dumps(config, indent=2) + "\n")


def merged_weights(model: nn.Module) -> dict[str, torch.Tensor]:
    """The policy's weights as one plain HF state dict (LoRA deltas added), in bf16.

    Computed functionally, without `merge_adapter()`/`unmerge_adapter()` round trips that would
    drift a bf16 base a little further every step.
    """
    if not hasattr(model, "peft_config"):
        return {k: v.detach().to(torch.bfloat16) for k, v in model.state_dict().items()}
    from peft.tuners.lora import LoraLayer

    inner = model.get_base_model()  # type: ignore[operator]
    out: dict[str, torch.Tensor] = {}
    with torch.no_grad():
        for name, module in inner.named_modules():
            if isinstance(module, LoraLayer):
                base = module.get_base_layer()
                weight = base.weight.float() + module.get_delta_weight("default").float()
                out[f"{name}.weight"] = weight.to(torch.bfloat16)
                if getattr(base, "bias", None) is not None:
                    out[f"{name}.bias"] = base.bias.detach().to(torch.bfloat16)
        for name, value in inner.state_dict().items():
            if "lora_" in name or ".base_layer." in name:
                continue
            out.setdefault(name, value.detach().to(torch.bfloat16))
    return out


# ---------------------------------------------------------------------------------------------
# Optimisation


def make_optimizer(
    cfg: Config, policy: nn.Module, value_head: nn.Module | None = None
) -> tuple[torch.optim.Optimizer, Any]:
    """AdamW over the trained parameters (the value head at its own rate) and the schedule."""
    groups: list[dict[str, Any]] = [
        {"params": [p for p in policy.parameters() if p.requires_grad], "lr": cfg.lr}
    ]
    if value_head is not None:
        groups.append({"params": list(value_head.parameters()), "lr": cfg.value_lr})
    optimizer = torch.optim.AdamW(groups, weight_decay=cfg.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor(cfg))
    return optimizer, scheduler


def lr_factor(cfg: Config) -> Any:
    """Linear warmup over `warmup_steps`, then constant (RL) or cosine down to 10% (SFT)."""

    def factor(step: int) -> float:
        if step < cfg.warmup_steps:
            return (step + 1) / (cfg.warmup_steps + 1)
        if cfg.mode != "sft":
            return 1.0
        progress = (step - cfg.warmup_steps) / max(1, cfg.max_steps - cfg.warmup_steps)
        return 0.1 + 0.9 * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    return factor
