"""Config, data cursor, checkpoint files, the step log, plots and the model card."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import pytest
import torch

import training.examples
from tasks import generate, write_jsonl
from training.checkpoint import (
    EpochSampler,
    latest_checkpoint,
    list_checkpoints,
    load_checkpoint,
    restore_rng,
    save_checkpoint,
)
from training.config import Config, parse_overrides
from training.examples import load_examples
from training.logs import StepLog, read_log
from training.model_card import add_evaluation, write_model_card
from training.plot import plot_log

CONFIGS = Path(__file__).resolve().parent.parent / "training" / "configs"


def test_config_from_yaml_with_overrides(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("estimator: gae\nlr: 1e-5\ndata: [{dataset: kk, n: 3}]\n")
    cfg = Config.from_yaml(path, **parse_overrides(["max_steps=7", "lora=false"]))
    assert (cfg.estimator, cfg.lr, cfg.max_steps, cfg.lora) == ("gae", 1e-5, 7, False)
    assert isinstance(cfg.lr, float)  # YAML reads 1e-5 as a string; the config coerces it
    assert Config.from_dict(cfg.to_dict()) == cfg


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"estimator": "ppo"}, "estimator\n.*'gae', 'grpo' or 'reinforce_plus_plus'"),
        ({"rollout": "sglang"}, "rollout\n.*'hf' or 'vllm'"),
        ({"intermediate": "substring"}, "intermediate\n.*'time_discounted'"),
        ({"n_samples": 0}, "n_samples\n.*greater than or equal to 1"),
        ({"vllm_gpu_memory_utilization": 1.5}, "vllm_gpu_memory_utilization\n.*less than 1"),
        ({"data": []}, "data\n.*at least 1 item"),
        ({"lr_typo": 1}, "unknown config keys"),
        ({"rollout": "vllm", "vllm_sync": "lora", "lora": False}, "needs lora"),
    ],
)
def test_config_rejects_mistakes(values: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Config.from_dict(values)


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.yaml")), ids=lambda p: p.stem)
def test_shipped_configs_load(path: Path) -> None:
    cfg = Config.from_yaml(path)
    assert cfg.mode in ("sft", "rl", "rft")
    if path.stem.startswith("rl-"):
        assert (cfg.n_samples, cfg.temperature) == (8, 0.8)
        assert cfg.init_adapter is not None  # RL starts from the SFT warm start
    expected_style = "think_answer" if "think-answer" in path.stem else "interleaved"
    assert cfg.style == expected_style
    if path.stem == "rl-interleaved":
        assert cfg.intermediate == "none"  # the baseline without intermediate reward


def test_the_compared_runs_differ_only_in_layout_and_reward() -> None:
    """The experiment's claim: same data, budget and seed for the three RL runs (and both SFTs)."""
    differing = {
        "out_dir",
        "init_adapter",
        "style",
        "intermediate",
        # memory only: how a step is split into micro-batches, the rollout KV cache
        "micro_batch_size",
        "vllm_kv_cache_bytes",
    }
    compared = {
        "sft": ("sft-interleaved", "sft-think-answer"),
        "rl": ("rl-interleaved", "rl-interleaved-ir", "rl-think-answer"),
    }
    for names in compared.values():
        runs = [Config.from_yaml(CONFIGS / f"{name}.yaml").to_dict() for name in names]
        for other in runs[1:]:
            assert {k for k in runs[0] if runs[0][k] != other[k]} <= differing


def test_shipped_config_set_is_complete() -> None:
    assert {p.stem for p in CONFIGS.glob("*.yaml")} == {
        "sft-interleaved",
        "sft-think-answer",
        "rl-interleaved-ir",
        "rl-interleaved",
        "rl-think-answer",
        "sft-kk-tables",
        "sft-kk-tables-2",
        "sft-kk-tables-3",
        "sft-kk-tables-4",
        "rl-tables-ir",
        "sft-early",
        "rft-early",
        "rft-wide",  # a second RFT round on more wordings, measured against the default
        "sft-arith",  # a first arithmetic stage after the RFT model, not kept
        "sft-arith-2",  # the arithmetic stage with replay that made the default
        "rft-arith",  # a rejection-sampling round after the arithmetic stage, not kept
        "sft-relations",  # multi-hop on the wider relation bank, after the default
        "sft-local-hops",  # the same stage with traces that restate each hop locally
        "rft-relations",  # a rejection-sampling round on the relation bank, own answers only
        "sft-gpu",  # the default in one stage on one GPU, within a time budget
        "smoke-rl-cuda",  # a first run on one GPU, from the base model
    }


def test_parse_overrides_rejects_pairs_without_equals() -> None:
    with pytest.raises(ValueError, match="key=value"):
        parse_overrides(["max_steps"])


def test_load_examples_from_generators_and_files(tmp_path: Path) -> None:
    file = tmp_path / "x.jsonl"
    write_jsonl(generate("multihop", 3, seed=1), file)
    examples = load_examples(
        [{"dataset": "kk", "n": 2, "people": [3, 4]}, {"path": str(file), "n": 2}]
    )
    assert [e.dataset for e in examples] == ["kk", "kk", "multihop", "multihop"]
    assert [e.difficulty for e in examples[:2]] == [3, 4]
    with pytest.raises(ValueError, match="dataset and n"):
        load_examples([{"dataset": "kk"}])


def test_load_examples_in_parallel_matches_one_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    file = tmp_path / "x.jsonl"
    write_jsonl(generate("multihop", 2, seed=1), file)
    sources = [
        {"dataset": "kk", "n": 4, "people": [2, 3], "phrasing": "wide", "seed": 5},
        {"path": str(file), "repeat": 3},
        {"dataset": "arithmetic", "n": 3, "phrasing": "wide", "hint": False},
        {"dataset": "multihop", "n": 3, "hops": [2], "seed": 2},
    ]
    alone = load_examples(sources)
    monkeypatch.setattr(training.examples, "PARALLEL_FROM", 0)
    parallel = load_examples(sources)
    assert [asdict(e) for e in parallel] == [asdict(e) for e in alone]
    assert [e.dataset for e in alone].count("multihop") == 2 * 3 + 3
    assert [e.meta.get("hint") for e in alone[10:13]] == [False] * 3  # the arithmetic


def test_epoch_sampler_is_deterministic_and_resumable() -> None:
    a = EpochSampler(5, seed=3)
    first = a.take(3) + a.take(4)  # crosses into the second epoch
    assert sorted(first[:5]) == list(range(5))  # each epoch is a permutation
    b = EpochSampler(5, seed=3)
    b.take(3)
    c = EpochSampler(5, seed=3)
    c.restore(b.state())
    assert c.take(4) == first[3:]
    assert EpochSampler(5, seed=4).take(5) != first[:5]


def test_checkpoints_are_atomic_pruned_and_restore_rng(tmp_path: Path) -> None:
    for step in (1, 2, 3):
        save_checkpoint(tmp_path, step, {"x": torch.tensor([step])}, keep=2)
    assert [s for s, _ in list_checkpoints(tmp_path)] == [2, 3]
    # A half-written checkpoint (killed during the write) is never taken as the latest.
    (tmp_path / "checkpoints" / "step-000009.tmp").mkdir()
    assert latest_checkpoint(tmp_path) == tmp_path / "checkpoints" / "step-000003"
    state = load_checkpoint(latest_checkpoint(tmp_path))
    assert state["step"] == 3 and state["x"].item() == 3
    after = torch.rand(3)  # the numbers drawn right after the save
    restore_rng(state["rng"])
    assert torch.equal(torch.rand(3), after)


def test_step_log_cuts_back_to_the_resumed_step(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    log = StepLog(path, total_steps=5, progress=False)
    for step in (1, 2, 3):
        log.write({"step": step, "loss": torch.tensor(1.5), "bad": float("nan")})
    log.close()
    with path.open("a") as f:
        f.write('{"step": 4, "lo')  # the line a kill interrupted
    assert [r["step"] for r in read_log(path)] == [1, 2, 3]
    StepLog(path, total_steps=5, resume_step=2, progress=False).close()
    records = read_log(path)
    assert [r["step"] for r in records] == [1, 2]
    assert records[0]["loss"] == 1.5 and records[0]["bad"] == "nan"


def _rl_log(path: Path, steps: int = 12) -> Path:
    with path.open("w") as f:
        for s in range(1, steps + 1):
            f.write(
                json.dumps(
                    {
                        "step": s,
                        "reward/total": -1 + s / 4,
                        "reward/format": 1.0,
                        "reward/final": 0.5,
                        "reward/intermediate": 0.1,
                        "accuracy": s / 20,
                        "intermediate_accuracy": 0.2,
                        "intermediate_paid_rate": 0.3,
                        "gated_rate": 0.4,
                        "format_rate": 0.9,
                        "response_length": 100.0 + s,
                        "policy_loss": 0.01,
                        "kl": 0.001 * s,
                        "entropy": 1.2,
                    }
                )
                + "\n"
            )
    return path


def test_plot_writes_one_png_per_group(tmp_path: Path) -> None:
    written = plot_log(_rl_log(tmp_path / "log.jsonl"), tmp_path / "plots")
    assert {p.name for p in written} == {
        "rewards.png",
        "accuracy.png",
        "gate.png",
        "format_rate.png",
        "response_length.png",
        "loss.png",
    }
    for p in written:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    sft = tmp_path / "sft.jsonl"
    sft.write_text('{"step": 1, "loss": 2.0}\n{"step": 2, "loss": 1.0}\n')
    assert [p.name for p in plot_log(sft, tmp_path / "sft")] == ["loss.png"]


def test_plot_cli(tmp_path: Path) -> None:
    from training.__main__ import main

    assert main(["plot", str(_rl_log(tmp_path / "log.jsonl"))]) == 0
    assert (tmp_path / "plots" / "rewards.png").is_file()
    a, b = _rl_log(tmp_path / "a.jsonl"), _rl_log(tmp_path / "b.jsonl")
    out = tmp_path / "curves.png"
    assert main(["plot", "--compare", f"ir={a}", f"ta={b}", "--out", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    summary = json.loads(out.with_suffix(".json").read_text())["summary"]
    # _rl_log: reward/total = -1 + s/4 over steps 1..12, halves 1..6 and 7..12.
    assert summary["ir"]["steps"] == 12
    total = summary["ir"]["reward/total"]
    assert (total["first_half"], total["second_half"], total["all"]) == pytest.approx(
        (-0.125, 1.375, 0.625)
    )
    with pytest.raises(SystemExit):
        main(["plot", "--compare", "no-log-given"])


def test_model_card_records_training_and_takes_an_evaluation(tmp_path: Path) -> None:
    cfg = Config(estimator="grpo", init_adapter="runs/sft/adapter", max_steps=50)
    card = write_model_card(tmp_path, cfg, steps=50, final_metrics={"accuracy": 0.25, "x": 1})
    text = card.read_text()
    assert text.startswith("---\nbase_model: SmolLM2-135M-Instruct\nlibrary_name: peft")
    assert "advantage estimator `grpo`" in text and "Steps: 50" in text
    assert "| accuracy | 0.250 |" in text and "| x |" not in text
    assert "Not evaluated yet" in text and "python -m server --adapter" in text
    evaluation = {
        "by_dataset": {
            "kk": {
                "n": 40,
                "pass_at_1": 0.5,
                "format_rate": 1.0,
                "intermediate_accuracy": 0.4,
                "normalized_ttft": 0.2,
            }
        },
        "settings": {"temperature": 0.0},
    }
    text = add_evaluation(tmp_path, evaluation).read_text()
    assert "| kk | 40 | 0.500 | 1.000 | 0.400 | 0.200 |" in text
    assert "Not evaluated yet" not in text


def test_an_rl_card_states_its_warm_start(tmp_path: Path) -> None:
    sft = Config(
        mode="sft",
        out_dir="runs/sft-x",
        max_steps=60,
        lr=2e-4,
        data=[{"dataset": "kk", "n": 360, "people": [2, 3]}],
    )
    (tmp_path / "sft").mkdir()
    (tmp_path / "rl").mkdir()
    write_model_card(tmp_path / "sft", sft, steps=60)
    rl = Config(estimator="grpo", init_adapter=str(tmp_path / "sft"), max_steps=12)
    text = write_model_card(tmp_path / "rl", rl, steps=12).read_text()
    assert (
        "Warm start (`runs/sft-x`, sft): 60 steps (batch 8, lr 0.0002, LoRA r16) on 360 "
        "generated `kk` (people=[2, 3])." in text
    )


def test_a_further_stage_card_names_the_original_base_and_the_first_stage(tmp_path: Path) -> None:
    first = Config(
        mode="sft",
        out_dir="runs/sft-a",
        lora=False,
        max_steps=150,
        lr=1e-4,
        data=[{"dataset": "kk", "n": 1000, "people": [2, 3]}],
    )
    weights = tmp_path / "full"  # what `extract --as-model` writes: weights plus the summary
    weights.mkdir()
    write_model_card(weights, first, steps=150)
    second = Config(mode="sft", out_dir="runs/sft-b", lora=False, model=str(weights), max_steps=90)
    (tmp_path / "b").mkdir()
    text = write_model_card(tmp_path / "b", second, steps=90).read_text()
    assert "base_model: SmolLM2-135M-Instruct" in text
    assert f"starting from the earlier stage's weights `{weights}`" in text
    assert (
        "Warm start (`runs/sft-a`, sft): 150 steps (batch 8, lr 0.0001, full fine-tuning) on "
        "1000 generated `kk` (people=[2, 3])." in text
    )


def test_a_third_stage_card_follows_the_chain_to_the_base(tmp_path: Path) -> None:
    """Stage 3 starts from stage 2's weights, which started from stage 1's: the card names
    the original base and lists both earlier stages, the latest first."""
    stage_weights = []
    model = None
    for name, steps in (("a", 150), ("b", 75)):
        cfg = Config(mode="sft", out_dir=f"runs/sft-{name}", lora=False, max_steps=steps,
                     **({"model": model} if model else {}))  # fmt: skip
        folder = tmp_path / f"{name}-full"
        folder.mkdir()
        write_model_card(folder, cfg, steps=steps)
        stage_weights.append(folder)
        model = str(folder)
    third = Config(mode="sft", out_dir="runs/sft-c", lora=False, model=model, max_steps=100)
    (tmp_path / "c").mkdir()
    text = write_model_card(tmp_path / "c", third, steps=100).read_text()
    assert "base_model: SmolLM2-135M-Instruct" in text
    second_line = text.index("Warm start (`runs/sft-b`, sft): 75 steps")
    first_line = text.index("Warm start (`runs/sft-a`, sft): 150 steps")
    assert second_line < first_line
