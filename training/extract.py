"""A LoRA adapter extracted from a full fine-tune: the low-rank part of the weight change.

    python -m training extract runs/sft-kk-tables --rank 64 --out DIR

Full fine-tuning learns faster per example than LoRA, but a whole 135M model in the source tree
is 270 MB. Each trained linear layer's change `W_ft - W_base` is factored by a truncated SVD,
`U_r S_r V_r^T`, and stored as LoRA factors `B = U_r sqrt(S_r)`, `A = sqrt(S_r) V_r^T` with
`lora_alpha = r` (scaling 1), so `python -m server --adapter DIR` serves it like any trained
adapter. Only linear layers can be carried: train with `freeze_embeddings: true` so nothing else
changes (extraction refuses a model whose other weights moved). The change is read from the
run's newest checkpoint, in fp32: the servable model folder holds bf16 weights, whose rounding
is a full-rank noise as large as a short run's whole change. The share of the change's
energy (squared Frobenius norm) the rank keeps is written beside the adapter; accuracy after
extraction must be re-measured, it is not implied by that share.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import torch

from training.checkpoint import latest_checkpoint, load_checkpoint
from training.model import ADAPTER_WEIGHTS, load_base
from training.model_card import SUMMARY_FILE, render, warm_start_of

LINEAR_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
EXTRACTION_FILE = "extraction.json"


def low_rank(delta: torch.Tensor, rank: int) -> tuple[torch.Tensor, torch.Tensor, float]:
    """(B [out, r], A [r, in], kept energy share) with B @ A the best rank-r approximation."""
    u, s, vh = torch.linalg.svd(delta.float(), full_matrices=False)
    r = min(rank, s.numel())
    root = s[:r].sqrt()
    total = float((s**2).sum())
    kept = float((s[:r] ** 2).sum()) / total if total > 0 else 1.0
    return u[:, :r] * root, root[:, None] * vh[:r], kept


def tuned_weights(run_dir: Path, base: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The base weights with the run's newest checkpoint's trained (fp32) parameters on top."""
    checkpoint = latest_checkpoint(run_dir)
    if checkpoint is None:
        raise ValueError(f"{run_dir} has no checkpoint to extract from")
    trained = load_checkpoint(checkpoint)["trainable"]
    unknown = sorted(set(trained) - set(base))
    if unknown:
        raise ValueError(f"{checkpoint} is not a full fine-tune of this base: {unknown[:3]}")
    return {**base, **{k: v.float() for k, v in trained.items()}}


def extract(
    run_dir: str | Path, base_dir: str | Path, out: str | Path, rank: int = 64
) -> dict[str, Any]:
    """Write a PEFT LoRA adapter for the run's change from `base_dir`; returns the report."""
    from peft import LoraConfig, get_peft_model
    from peft.utils import get_peft_model_state_dict
    from safetensors.torch import save_file

    run_dir = Path(run_dir)
    base_model = load_base(base_dir, torch.float32, torch.device("cpu"))
    base = {k: v.clone() for k, v in base_model.state_dict().items()}
    tuned = tuned_weights(run_dir, base)
    moved = [
        k
        for k in base
        if not any(f".{t}." in k for t in LINEAR_TARGETS)
        and k in tuned
        and not torch.equal(base[k], tuned[k])
    ]
    if moved:
        raise ValueError(
            f"weights outside the linear layers changed ({moved[:3]}...): a LoRA adapter cannot "
            "carry them; train with freeze_embeddings: true"
        )
    config = LoraConfig(
        r=rank, lora_alpha=rank, target_modules=list(LINEAR_TARGETS), task_type="CAUSAL_LM"
    )
    model = get_peft_model(base_model, config)
    params = dict(model.named_parameters())
    kept_num = kept_den = 0.0
    per_layer: dict[str, float] = {}
    with torch.no_grad():
        for name, weight in base.items():
            if not name.endswith(".weight") or not any(f".{t}." in name for t in LINEAR_TARGETS):
                continue
            delta = tuned[name] - weight
            b, a, kept = low_rank(delta, rank)
            stem = "base_model.model." + name[: -len(".weight")]
            params[f"{stem}.lora_A.default.weight"].copy_(a)
            params[f"{stem}.lora_B.default.weight"].copy_(b)
            energy = float((delta.float() ** 2).sum())
            kept_num += kept * energy
            kept_den += energy
            per_layer[name] = kept
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    state = get_peft_model_state_dict(model)
    save_file(
        {k: v.detach().to(torch.bfloat16).contiguous() for k, v in state.items()},
        str(out / ADAPTER_WEIGHTS),
        metadata={"format": "pt"},
    )
    peft_config = model.peft_config["default"]
    peft_config.base_model_name_or_path = Path(base_dir).name
    peft_config.save_pretrained(str(out))
    report = {
        "source": str(run_dir),
        "rank": rank,
        "energy_kept": kept_num / kept_den if kept_den else 1.0,
        "min_layer_energy_kept": min(per_layer.values()) if per_layer else 1.0,
        "adapter_bytes": (out / ADAPTER_WEIGHTS).stat().st_size,
    }
    (out / EXTRACTION_FILE).write_text(json.dumps(report, indent=2) + "\n")
    summary_path = run_dir / "adapter" / SUMMARY_FILE
    if summary_path.is_file():  # the run's record travels with its adapter, and its card
        summary = json.loads(summary_path.read_text())
        summary["extraction"] = {k: v for k, v in report.items() if k != "source"}
        summary["evaluation"] = None  # an evaluation of the full model is not of this adapter
        # Recorded now: the earlier stage's folder need not exist where the card is rendered.
        summary["warm_start"] = summary.get("warm_start") or warm_start_of(summary["config"])
        (out / SUMMARY_FILE).write_text(json.dumps(summary, indent=2) + "\n")
        render(out)
    return report


def write_full_model(run_dir: str | Path, base_dir: str | Path, out: str | Path) -> Path:
    """The run's newest checkpoint as a whole fp32 model folder: the start of a further stage
    of full fine-tuning that keeps the change exact (the bf16 servable copy would not)."""
    base_model = load_base(base_dir, torch.float32, torch.device("cpu"))
    base = {k: v.clone() for k, v in base_model.state_dict().items()}
    base_model.load_state_dict(tuned_weights(Path(run_dir), base))
    out = Path(out)
    base_model.save_pretrained(out, safe_serialization=True)
    from transformers import AutoTokenizer

    AutoTokenizer.from_pretrained(str(base_dir)).save_pretrained(out)
    summary = Path(run_dir) / "adapter" / SUMMARY_FILE
    if summary.is_file():  # what these weights are, for the card of the stage trained from them
        shutil.copyfile(summary, out / SUMMARY_FILE)
    return out
