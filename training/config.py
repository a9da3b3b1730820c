"""One config for SFT and RL: a flat pydantic model, loadable from YAML, overridable by flags.

    cfg = Config.from_yaml("training/configs/rl-interleaved-ir.yaml", max_steps=3)

Every field has a default that works on a CPU laptop; a YAML file only names what differs.
Unknown keys are errors, so a typo never silently trains with a default. Choices are the
`Literal` types the rewards, estimators and prompt styles declare.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from tasks.prompts import Style
from training.rewards import Gate, RewardConfig, Variant
from training.rl import estimators
from training.rl.estimators import EstimatorName

MODES = ("sft", "rl", "rft")
ESTIMATORS = estimators.NAMES  # veRL's names (algorithm.adv_estimator), from the registry
ROLLOUTS = ("hf", "vllm")
VLLM_SYNC = ("lora", "merged")
DTYPES = ("auto", "float32", "bfloat16")
Positive = Annotated[int, Field(ge=1)]


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)

    # -- run ----------------------------------------------------------------------------------
    mode: Literal["sft", "rl", "rft"] = "rl"  # "sft" or "rl"; the CLI subcommand sets it
    out_dir: str = "runs/rl"  # log.jsonl, checkpoints/, adapter/ (the servable output)
    seed: int = 0
    device: str = "auto"  # auto: cuda when available, else cpu
    num_threads: int = 0  # CPU threads for torch; 0: torch's default (one per core)
    # -- model --------------------------------------------------------------------------------
    model: str | None = None  # HF folder; None: the prepared SmolLM2-135M-Instruct
    init_adapter: str | None = None  # PEFT adapter to start from (RL after the SFT warm start)
    lora: bool = True  # False: full fine-tuning (the output is then a whole model folder)
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.0
    lora_targets: list[str] = Field(
        default_factory=lambda: [
            "q_proj",
            "k_proj",
            "v_proj",
            "o_proj",
            "gate_proj",
            "up_proj",
            "down_proj",
        ]
    )
    # Weights of the frozen base (auto: bfloat16 on GPU, float32 on CPU); LoRA trains in float32.
    dtype: Literal["auto", "float32", "bfloat16"] = "auto"
    gradient_checkpointing: bool = False
    # Run the tokens every row of a micro-batch starts with (the chat template and system
    # instruction, ~140 tokens) once, and the rows on from its cached keys and values: the same
    # log-probs and gradients (exact in fp32) from fewer decoder tokens. Off by default: on 2
    # CPU cores it ran 22% fewer tokens of a mostly-arithmetic mix but was only 1.06-1.10x
    # faster (the rows then attend through an explicit mask), 1.01x on long K&K traces
    # (`python -m training.speed --recipes lora-r64-whole-rows lora-r64 --mix arithmetic`).
    share_prompt_prefix: bool = False
    # fp32 master weights with bf16 autocast for the matmuls (bf16 weights updated by AdamW
    # lose small steps to rounding); with LoRA the adapter trains in fp32 the same way.
    mixed_precision: bool = False
    # Full fine-tuning only: train the decoder's linear layers and keep the (tied) embeddings
    # and norms frozen. The change is then exactly what a LoRA adapter can carry (see
    # `python -m training extract`), and the embedding gradient, a 49k x 576 matmul per
    # token, is skipped.
    freeze_embeddings: bool = False
    # -- data ---------------------------------------------------------------------------------
    style: Style = "interleaved"  # "interleaved" or "think_answer": prompt and SFT target layout
    # Each source: {"dataset": kk|multihop|arithmetic, "n": N, **generator options}
    # or {"path": "file.jsonl"} (Example records, as `python -m training.data` writes them).
    data: list[dict[str, Any]] = Field(
        default_factory=lambda: [{"dataset": "kk", "n": 1000, "people": [3, 4, 5]}], min_length=1
    )
    # -- optimisation (shared) ----------------------------------------------------------------
    lr: float = 1e-5
    weight_decay: float = 0.0
    warmup_steps: int = 0
    max_grad_norm: float = 1.0
    max_steps: Positive = 100
    # End after this step (0: at max_steps) while the schedule still spans max_steps, as
    # when a run was cut short for time and is reproduced as it was.
    stop_at_step: int = 0
    # A wall-clock budget in seconds for the training steps (0: none), for a rented GPU: the
    # run times steps PACE_FIRST..PACE_LAST, then sets max_steps so the cosine schedule ends
    # inside the budget (recorded in the run's config.yaml and log); max_steps is the ceiling.
    time_budget_s: float = Field(0.0, ge=0)
    batch_size: Positive = (
        8  # SFT: sequences per step; RL: prompts per step (x n_samples responses)
    )
    micro_batch_size: Positive = 8  # sequences per forward/backward; gradients accumulate across
    # -- SFT ----------------------------------------------------------------------------------
    max_seq_len: Positive = 1024  # longer prompt+target pairs are dropped, not truncated
    # Micro-batches by token budget (0: micro_batch_size sequences each). A step's sequences are
    # sorted by length first, so padding stays small and micro-batches stay large.
    micro_batch_tokens: int = 0
    # -- RL -----------------------------------------------------------------------------------
    estimator: EstimatorName = "grpo"
    n_samples: Positive = 8
    temperature: float = 0.8
    top_p: float = 1.0
    max_new_tokens: Positive = 512
    max_prompt_tokens: int = 1024  # longer prompts are dropped from the RL pool
    ppo_epochs: Positive = 1  # passes over each rollout batch
    mini_batch_size: Positive = 64  # responses per optimizer step within an RL step
    clip_eps: float = 0.2
    kl_coef: float = 0.001  # KL to the reference policy, low-variance (k3) estimator, in the loss
    entropy_coef: float = 0.0
    gamma: float = 1.0
    lam: float = 1.0
    value_coef: float = 0.5  # gae only: weight of the value loss
    value_clip: float = 0.5  # gae only: value predictions move at most this far per update
    value_lr: float = 1e-4  # gae only: the value head's learning rate
    # Rewards (training.rewards.RewardConfig).
    intermediate: Variant = "time_discounted"  # none | all_or_none | partial | time_discounted
    gate: Gate = "conditional"  # conditional | direct
    epsilon: float = 0.05
    # Rollouts.
    rollout: Literal["hf", "vllm"] = "hf"  # "hf" (transformers generate) or "vllm"
    vllm_sync: Literal["lora", "merged"] = (
        "merged"  # how vLLM gets the new policy: LoRA request or merged weights
    )
    vllm_kv_cache_bytes: int = 2 << 30  # must be explicit on CPU (the default share fails)
    vllm_max_model_len: int = 2048  # prompt + response; the paper's 1,024 + 2,548 needs 3,572+
    # On a GPU: vLLM's share of its memory (the rest trains the policy); unused on CPU.
    vllm_gpu_memory_utilization: float = Field(0.3, gt=0, lt=1)
    # -- rejection-sampling fine-tuning (`training.rft`) ---------------------------------------
    rft_rounds: Positive = 1  # sample -> keep the best correct response per prompt -> fine-tune
    # Prompts none of whose samples was right train on their reference trace instead, so the
    # fine-tune does not forget the hard ones (expert iteration); False: own samples only.
    rft_reference_fallback: bool = True
    # -- bookkeeping --------------------------------------------------------------------------
    save_every: Positive = 10  # steps between checkpoints (and at the last step)
    keep_checkpoints: int = 2
    progress: bool = True  # tqdm bar on stderr

    @model_validator(mode="after")
    def _consistent(self) -> Config:
        if not 0 <= self.stop_at_step <= self.max_steps:
            raise ValueError(
                f"stop_at_step must be between 0 and max_steps ({self.max_steps}), "
                f"got {self.stop_at_step}"
            )
        if self.rollout == "vllm" and self.vllm_sync == "lora" and not self.lora:
            raise ValueError("vllm_sync: lora needs lora: true; full fine-tuning syncs merged")
        return self

    # -- derived ------------------------------------------------------------------------------
    @property
    def reward(self) -> RewardConfig:
        return RewardConfig(intermediate=self.intermediate, gate=self.gate, epsilon=self.epsilon)

    @property
    def responses_per_step(self) -> int:
        return self.batch_size * self.n_samples

    # -- I/O ----------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return self.model_dump()

    def replace(self, **changes: Any) -> Config:
        """A validated copy with `changes` applied."""
        return type(self).from_dict({**self.to_dict(), **changes})

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Config:
        unknown = sorted(set(values) - set(cls.model_fields))
        if unknown:
            raise ValueError(f"unknown config keys: {unknown}")
        # YAML reads "1e-5" as a string (its floats need a dot); pydantic's lax mode reads it.
        return cls.model_validate(values)

    @classmethod
    def from_yaml(cls, path: str | Path | None, **overrides: Any) -> Config:
        values: dict[str, Any] = {}
        if path is not None:
            loaded = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
            if loaded is not None and not isinstance(loaded, dict):
                raise ValueError(f"{path}: expected a mapping of config keys")
            values.update(loaded or {})
        values.update(overrides)
        return cls.from_dict(values)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)


def parse_overrides(pairs: list[str]) -> dict[str, Any]:
    """`key=value` strings (the CLI's `--set`), values read as YAML: `lr=1e-5`, `lora=false`."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"expected key=value, got {pair!r}")
        out[key.strip()] = yaml.safe_load(raw)
    return out
