"""SFT and RL end to end on CPU: the real SmolLM2 tokenizer, a tiny random Llama built from a
config (vocabulary = the tokenizer's), transformers rollouts. Finite losses, checkpoints that
reload and serve (a valid PEFT folder), and resume after a SIGKILL."""

from __future__ import annotations

import itertools
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

import training.loop
from modelprep import ensure_base_model
from training.checkpoint import latest_checkpoint, list_checkpoints, load_checkpoint
from training.config import Config
from training.logs import read_log
from training.loop import PACE_FIRST, PACE_LAST, Pace
from training.model import (
    ValueHead,
    load_policy,
    load_reference,
    load_tokenizer,
    lr_factor,
    make_optimizer,
)
from training.rl import estimators
from training.rl import trainer as rl
from training.rl.losses import forward, make_batch
from training.rl.update import Models, update

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = load_tokenizer(ensure_base_model(progress=False))
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=4096,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    folder = tmp_path_factory.mktemp("tiny") / "model"
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def tiny_config(model: Path, out: Path, **overrides: object) -> Config:
    values: dict[str, object] = {
        "model": str(model),
        "out_dir": str(out),
        "num_threads": 1,
        "progress": False,
        "data": [
            {"dataset": "kk", "n": 6, "people": [3]},
            {"dataset": "multihop", "n": 2, "hops": [2]},
        ],
        "lora_r": 4,
        "lora_alpha": 8,
        "lr": 1e-2,
        "max_steps": 2,
        "save_every": 1,
        "batch_size": 2,
        "micro_batch_size": 4,
        "mini_batch_size": 4,
        "n_samples": 2,
        "max_new_tokens": 8,
        "max_seq_len": 700,
    }
    values.update(overrides)
    return Config.from_dict(values)


def finite(record: dict, *keys: str) -> bool:
    return all(isinstance(record[k], float) and math.isfinite(record[k]) for k in keys)


def test_sft_stop_at_step_ends_early_on_the_full_schedule(tiny_model: Path, tmp_path: Path) -> None:
    from training.sft import train

    cfg = tiny_config(tiny_model, tmp_path / "cut", mode="sft", max_steps=4, stop_at_step=2)
    train(cfg)
    log = read_log(tmp_path / "cut" / "log.jsonl")
    assert [r["step"] for r in log] == [1, 2]
    full = tiny_config(tiny_model, tmp_path / "whole", mode="sft", max_steps=4)
    train(full)
    whole = read_log(tmp_path / "whole" / "log.jsonl")
    # The same learning rates as the first two steps of the whole run: the schedule spans 4.
    assert [r["lr"] for r in log] == [r["lr"] for r in whole[:2]]
    # Each step logs the rate it trained with (step s uses the schedule's factor at s - 1).
    factor = lr_factor(full)
    assert [r["lr"] for r in whole] == [pytest.approx(full.lr * factor(s)) for s in range(4)]
    assert latest_checkpoint(tmp_path / "cut").name.endswith("2")
    assert train(cfg, resume=True) == tmp_path / "cut" / "adapter"  # finished: kept as it is


def test_pace_fits_the_steps_left_in_the_budget() -> None:
    now = [100.0]
    pace = Pace(budget_s=200.0, clock=lambda: now[0])
    horizons = []
    for step in range(1, PACE_LAST + 1):
        # the first steps are slow (kernels load), the timed ones take 2 s each
        now[0] += 10.0 if step <= PACE_FIRST else 2.0
        horizons.append(pace.horizon(step))
    assert horizons[:-1] == [None] * (PACE_LAST - 1)
    spent = PACE_FIRST * 10.0 + (PACE_LAST - PACE_FIRST) * 2.0
    assert horizons[-1] == PACE_LAST + int((200.0 - spent) / 2.0)
    over = Pace(budget_s=1.0, clock=lambda: now[0])
    for step in range(1, PACE_LAST + 1):
        now[0] += 1.0
        horizon = over.horizon(step)
    assert horizon == PACE_LAST  # already past the budget: stop now
    assert over.expired() and not pace.expired()


def test_sft_time_budget_fits_the_cosine_into_the_steps_it_sets(
    tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from training.sft import train

    # A clock where every step takes one second: 40 s of budget hold exactly 40 steps.
    monkeypatch.setattr(
        training.loop, "Pace", lambda budget: Pace(budget, clock=itertools.count(1).__next__)
    )
    out = tmp_path / "budget"
    cfg = tiny_config(
        tiny_model, out, mode="sft", max_steps=400, time_budget_s=40.0, save_every=1000
    )
    train(cfg)
    log = read_log(out / "log.jsonl")
    recorded = yaml.safe_load((out / "config.yaml").read_text())
    assert recorded["max_steps"] == 40
    assert [r["step"] for r in log] == list(range(1, 41))
    assert log[PACE_LAST - 1]["max_steps"] == 40
    # After the pace is known the rates follow the cosine over 40 steps, ending at its floor.
    factor = lr_factor(Config.from_dict(recorded))
    assert [r["lr"] for r in log[PACE_LAST:]] == [
        pytest.approx(cfg.lr * factor(s)) for s in range(PACE_LAST, 40)
    ]
    assert log[-1]["lr"] < 0.11 * cfg.lr
    assert (out / "adapter" / "adapter_model.safetensors").is_file()


def test_sft_resumes_a_checkpoint_of_the_earlier_layout(tiny_model: Path, tmp_path: Path) -> None:
    """SFT checkpoints used to have no `value_head` key; such a run resumes and redoes the
    steps after its checkpoint exactly as they were."""
    from training.sft import train

    out = tmp_path / "sft"
    cfg = tiny_config(tiny_model, out, mode="sft", max_steps=3, keep_checkpoints=5)
    train(cfg)
    first = read_log(out / "log.jsonl")
    for _, folder in list_checkpoints(out)[1:]:
        shutil.rmtree(folder)
    (state_file,) = list_checkpoints(out)[0][1].glob("state.pt")
    state = torch.load(state_file, weights_only=False)
    assert state["value_head"] is None and state["prev_accuracy"] is None
    del state["value_head"]
    torch.save(state, state_file)
    train(cfg, resume=True)
    log = read_log(out / "log.jsonl")
    assert [r["step"] for r in log] == [1, 2, 3]
    for redone, original in zip(log[1:], first[1:], strict=True):
        for key in ("loss", "lr", "epoch", "target_tokens"):
            assert redone[key] == pytest.approx(original[key], rel=1e-4), key


def test_left_padding_does_not_change_log_probs(tiny_model: Path, tmp_path: Path) -> None:
    policy = load_policy(tiny_config(tiny_model, tmp_path), torch.device("cpu"))
    policy.eval()
    alone = forward(policy, make_batch([[5, 6, 7]], [[8, 9]], pad_id=2))
    padded = forward(policy, make_batch([[5, 6, 7], [1, 2, 3, 4, 5, 6]], [[8, 9], [10]], 2))
    assert torch.allclose(alone.logprobs[0], padded.logprobs[0, :2], atol=1e-5)


def test_sft_steps_write_a_servable_peft_adapter(tiny_model: Path, tmp_path: Path) -> None:
    from training.sft import train

    cfg = tiny_config(tiny_model, tmp_path / "sft", mode="sft", batch_size=2, micro_batch_size=1)
    adapter = train(cfg)
    log = read_log(tmp_path / "sft" / "log.jsonl")
    assert [r["step"] for r in log] == [1, 2]
    assert all(finite(r, "loss", "grad_norm") for r in log)
    assert log[0]["loss"] > 5.0  # a random model over a 49k vocabulary: about ln(49152) = 10.8

    # The output is a PEFT folder in bf16 that peft loads onto the base model.
    from peft import PeftModel
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM

    assert json.loads((adapter / "adapter_config.json").read_text())["peft_type"] == "LORA"
    weights = load_file(str(adapter / "adapter_model.safetensors"))
    assert weights and all(w.dtype == torch.bfloat16 for w in weights.values())
    loaded = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model), adapter)
    trained_b = [p for n, p in loaded.named_parameters() if "lora_B" in n]
    assert any(p.abs().sum() > 0 for p in trained_b)  # B starts at zero: the steps moved it
    card = (adapter / "README.md").read_text()
    assert "base_model: model" in card and "Steps: 2" in card and "generated `kk`" in card

    # Checkpoints: the state reloads into a fresh policy and equals the trained weights.
    state = load_checkpoint(latest_checkpoint(tmp_path / "sft"))
    assert state["step"] == 2 and state["sampler"]["position"] > 0
    assert (latest_checkpoint(tmp_path / "sft") / "adapter" / "adapter_config.json").is_file()

    # Resuming a finished run keeps it as it is (the card may have gained an evaluation since).
    (adapter / "README.md").write_text(card + "\n## Evaluation\n")
    log_before = (tmp_path / "sft" / "log.jsonl").read_text()
    assert train(cfg, resume=True) == adapter
    assert (adapter / "README.md").read_text() == card + "\n## Evaluation\n"
    assert (tmp_path / "sft" / "log.jsonl").read_text() == log_before


@pytest.mark.parametrize("estimator", estimators.NAMES)
def test_rl_estimator_runs_with_finite_losses(
    tiny_model: Path, tmp_path: Path, estimator: str
) -> None:
    cfg = tiny_config(tiny_model, tmp_path / estimator, estimator=estimator)
    adapter = rl.train(cfg)
    log = read_log(tmp_path / estimator / "log.jsonl")
    assert [r["step"] for r in log] == [1, 2]
    keys = [
        "policy_loss",
        "kl",
        "entropy",
        "reward/total",
        "format_rate",
        "accuracy",
        "intermediate_accuracy",
        "response_length",
        "rollout_tokens_per_s",
        "update_tokens_per_s",
    ]
    if estimators.needs_values(estimator):
        keys.append("value_loss")
    for record in log:
        assert finite(record, *[k for k in keys if k != "response_length"])
        assert 1 <= record["response_length"] <= 8
    # A random model never writes the format: every response scores -1, the gate has nothing
    # to compare at step 1, and step 2 compares with step 1's accuracy.
    assert log[0]["reward/total"] == -1.0 and log[0]["prev_accuracy"] is None
    assert log[1]["prev_accuracy"] == log[0]["accuracy"]
    # Finished: resuming returns the adapter without another step.
    assert rl.train(cfg, resume=True) == adapter
    assert len(read_log(tmp_path / estimator / "log.jsonl")) == 2
    state = load_checkpoint(latest_checkpoint(tmp_path / estimator))
    assert state["prev_accuracy"] == log[1]["accuracy"]
    assert (state["value_head"] is not None) == estimators.needs_values(estimator)
    assert (adapter / "adapter_model.safetensors").is_file()


@pytest.mark.parametrize(
    ("estimator", "lora"),
    [(name, True) for name in estimators.NAMES] + [("gae", False)],
)
def test_rl_update_moves_the_policy_and_kl_follows(
    tiny_model: Path, tmp_path: Path, estimator: str, lora: bool
) -> None:
    """One update on a hand-made batch with varied scores: weights move, and the KL to the
    reference (the adapter-less base, or a frozen copy under full fine-tuning) is positive."""
    cfg = tiny_config(
        tiny_model,
        tmp_path,
        estimator=estimator,
        ppo_epochs=2,
        lora=lora,
        mini_batch_size=2,
        micro_batch_size=2,
        entropy_coef=0.01 if estimator == "grpo" else 0.0,
    )
    torch.manual_seed(0)
    policy = load_policy(cfg, torch.device("cpu"))
    reference = load_reference(cfg, torch.device("cpu"))
    assert (reference is None) == lora
    with torch.no_grad():
        for name, p in policy.named_parameters():
            if "lora_B" in name or (not lora and "mlp" in name):
                p.add_(torch.randn_like(p) * 0.02)  # away from the reference: KL has a gradient
    head = ValueHead(64) if estimators.needs_values(estimator) else None
    optimizer, _ = make_optimizer(cfg, policy, head)
    models = Models(policy, reference, head, optimizer)
    batch = make_batch(
        [[5, 6, 7], [5, 6, 7], [9, 10], [9, 10]],
        [[11, 12, 2], [13, 2], [14, 15, 16, 2], [17, 2]],
        pad_id=2,
    )
    before = {n: p.detach().clone() for n, p in policy.named_parameters() if p.requires_grad}
    metrics = update(models, batch, torch.tensor([3.0, -1.0, 0.5, -2.0]), [0, 0, 1, 1], cfg)
    assert all(math.isfinite(v) for v in metrics.values())
    assert metrics["kl"] > 0.0
    assert metrics["advantage_abs"] > 0.0
    moved = [
        n
        for n, p in policy.named_parameters()
        if p.requires_grad and not torch.equal(p.detach(), before[n])
    ]
    assert moved
    if estimators.needs_values(estimator):
        assert metrics["value_loss"] > 0.0


def test_rl_logs_the_learning_rate_of_its_step_and_stops_at_stop_at_step(
    tiny_model: Path, tmp_path: Path
) -> None:
    """During warmup the rate changes every step: step s trains with the schedule's factor
    at s - 1, and that is what its log line says (RL used to log the next step's rate). RL ends
    at stop_at_step, as SFT does, with the schedule spanning max_steps."""
    cfg = tiny_config(tiny_model, tmp_path / "warm", warmup_steps=3, max_steps=4, stop_at_step=2)
    adapter = rl.train(cfg)
    log = read_log(tmp_path / "warm" / "log.jsonl")
    assert [r["step"] for r in log] == [1, 2]
    assert [r["lr"] for r in log] == [pytest.approx(cfg.lr * f) for f in (1 / 4, 2 / 4)]
    state = load_checkpoint(latest_checkpoint(tmp_path / "warm"))
    assert state["step"] == 2
    assert state["scheduler"]["last_epoch"] == 2  # the next step trains at factor(2)
    assert rl.train(cfg, resume=True) == adapter  # finished at stop_at_step: kept as it is


def _wait_for(predicate, timeout: float, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if process.poll() is not None:
            raise AssertionError(
                f"training exited early with {process.returncode}:\n"
                f"{process.stdout.read().decode() if process.stdout else ''}"
            )
        if time.monotonic() > deadline:
            process.kill()
            raise AssertionError("training made no checkpoint in time")
        time.sleep(0.2)


@pytest.mark.timeout(240)
def test_resume_after_kill_continues_the_same_run(
    tiny_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    cfg = tiny_config(
        tiny_model, out, estimator="grpo", max_steps=40, save_every=2, keep_checkpoints=5
    )
    config_file = tmp_path / "rl.yaml"
    config_file.write_text(yaml.safe_dump(cfg.to_dict()))
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "training", "rl", "--config", str(config_file)]
    process = subprocess.Popen(
        cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    log_path = out / "log.jsonl"

    def ready() -> bool:  # a checkpoint exists and the step after it was logged
        saved = list_checkpoints(out)
        return bool(saved) and log_path.exists() and len(read_log(log_path)) > saved[-1][0]

    _wait_for(ready, 180, process)
    process.send_signal(signal.SIGKILL)
    process.wait(30)
    killed_log = read_log(log_path)
    saved_step = list_checkpoints(out)[-1][0]
    assert saved_step < 40 and len(killed_log) > saved_step

    # Resume in this process (one interpreter start less); same config, a nearer end.
    resumed = Config.from_dict({**cfg.to_dict(), "max_steps": saved_step + 2})
    rl.train(resumed, resume=True)
    assert f"(step {saved_step})" in capsys.readouterr().out
    log = read_log(log_path)
    assert [r["step"] for r in log] == list(range(1, saved_step + 3))  # continuous, no repeats
    # Same data cursor, RNG and gate memory: the first resumed step repeats what the killed run
    # did at that step.
    redone, original = log[saved_step], killed_log[saved_step]
    for key in ("response_length", "reward/total", "prev_accuracy", "entropy"):
        assert redone[key] == pytest.approx(original[key], rel=1e-4), key


def test_full_fine_tuning_saves_a_whole_model(tiny_model: Path, tmp_path: Path) -> None:
    """lora: false trains every weight; RL then keeps a frozen reference copy for the KL, and
    the output is a model folder (`python -m server --model DIR`)."""
    from transformers import AutoModelForCausalLM

    cfg = tiny_config(
        tiny_model, tmp_path / "full", lora=False, estimator="gae", max_steps=1, lr=1e-3
    )
    out = rl.train(cfg)
    assert not (out / "adapter_config.json").exists()
    assert json.loads((out / "config.json").read_text())["dtype"] == "bfloat16"
    assert (out / "tokenizer.json").is_file() and (out / "README.md").is_file()
    trained = AutoModelForCausalLM.from_pretrained(out)
    base = AutoModelForCausalLM.from_pretrained(tiny_model)
    assert [n for n, _ in trained.named_parameters()] == [n for n, _ in base.named_parameters()]
    record = read_log(tmp_path / "full" / "log.jsonl")[0]
    assert finite(record, "kl", "value_loss", "policy_loss")
    state = load_checkpoint(latest_checkpoint(tmp_path / "full"))
    assert len(state["trainable"]) == len(list(base.parameters()))
    assert not (latest_checkpoint(tmp_path / "full") / "adapter").exists()


def test_rft_round_keeps_reference_traces_when_nothing_is_right(
    tiny_model: Path, tmp_path: Path
) -> None:
    """One rejection-sampling round end to end: sample with the rollout engine, score, fall back
    to the reference trace (a random model solves nothing), fine-tune the adapter it started
    from, and leave a servable adapter with the round's figures."""
    from training.rft import train as rft_train
    from training.sft import train as sft_train

    warm = sft_train(tiny_config(tiny_model, tmp_path / "sft", mode="sft", max_steps=1))
    cfg = tiny_config(
        tiny_model, tmp_path / "rft", mode="rft", init_adapter=str(warm), rollout="hf"
    )
    adapter = rft_train(cfg)
    assert (adapter / "adapter_config.json").is_file()
    stats = json.loads((tmp_path / "rft" / "round-1" / "stats.json").read_text())
    assert stats["prompts"] == stats["kept"] == 8 and stats["samples"] == 16
    assert stats["prompts_solved"] == 0 and stats["reference_fallback"] == 8
    assert stats["prompts_with_choice"] == 0 and stats["first_answer_share_kept"] is None
    kept = (tmp_path / "rft" / "round-1" / "samples.jsonl").read_text().splitlines()
    assert all("target" not in json.loads(line)["meta"] for line in kept)
    # Its card is the rejection-sampling run's, with the round, over the warm start's.
    summary = json.loads((adapter / "training_summary.json").read_text())
    assert summary["config"]["mode"] == "rft" and summary["rounds"] == [stats]
    assert summary["warm_start"]["config"]["mode"] == "sft"
    card = (adapter / "README.md").read_text()
    assert "rejection-sampling fine-tuning" in card and "- Round 1: 16 samples of 8" in card
    # Resuming a finished round keeps it: nothing is sampled or trained again.
    sampled = (tmp_path / "rft" / "round-1" / "sampling.json").stat().st_mtime_ns
    assert rft_train(cfg, resume=True) == adapter
    assert (tmp_path / "rft" / "round-1" / "sampling.json").stat().st_mtime_ns == sampled
    assert json.loads((adapter / "training_summary.json").read_text())["rounds"] == [stats]
    # Own samples only: with nothing right there is nothing to learn from, and that is an error.
    with pytest.raises(ValueError, match="no example"):
        rft_train(
            tiny_config(
                tiny_model,
                tmp_path / "rft-own",
                mode="rft",
                init_adapter=str(warm),
                rollout="hf",
                rft_reference_fallback=False,
            )
        )
