"""A 1-step LoRA SFT on the REAL base model yields a PEFT folder that peft loads onto the base
as is (what `python -m server --adapter DIR` is given)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from modelprep import ensure_base_model
from training.config import Config
from training.sft import train


@pytest.mark.timeout(300)
def test_one_step_sft_adapter_loads_on_the_real_base(tmp_path: Path) -> None:
    base = ensure_base_model(progress=False)
    cfg = Config(
        mode="sft",
        model=str(base),
        out_dir=str(tmp_path),
        num_threads=1,
        progress=False,
        data=[{"dataset": "multihop", "n": 1, "hops": [2]}],
        max_steps=1,
        batch_size=1,
        micro_batch_size=1,
        lora_r=8,
        lora_alpha=16,
        lr=1e-3,
        max_seq_len=1024,
    )
    adapter = train(cfg)
    config = json.loads((adapter / "adapter_config.json").read_text())
    assert config["peft_type"] == "LORA" and config["r"] == 8
    assert set(config["target_modules"]) == set(cfg.lora_targets)
    assert (adapter / "README.md").read_text().startswith("---\nbase_model: SmolLM2-135M")

    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    loaded = PeftModel.from_pretrained(model, adapter)
    lora_b = [p for n, p in loaded.named_parameters() if "lora_B" in n]
    assert len(lora_b) == 30 * 7  # every projection of every layer
    assert any(p.abs().sum() > 0 for p in lora_b)
    # It generates, and merges into plain weights (the server's default way of serving it).
    tokenizer = AutoTokenizer.from_pretrained(base)
    ids = tokenizer("What is 2+3?", return_tensors="pt").input_ids
    out = loaded.generate(ids, max_new_tokens=4, do_sample=False)
    assert out.shape[1] > ids.shape[1]
    merged = loaded.merge_and_unload()
    assert not any("lora" in n for n, _ in merged.named_parameters())
