"""The veRL route short of running veRL: parquet export, compute_score and the gate, launch
configs and the command they make."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import sys
from pathlib import Path

import pytest
import yaml

from tasks import generate
from tasks.prompts import build_messages, interleaved_target
from training.rewards import RewardConfig, score, score_batch
from training.verl import reward
from training.verl.export import (
    example_from_ground_truth,
    ground_truth,
    read_parquet,
    write_parquet,
)
from training.verl.gate import STATE_FILE, VERL_TRACKER
from training.verl.launch import CONFIGS, REWARD_FILE, command, load_overrides

KK = generate("kk", 4, people=(3,), seed=5)
HOP = generate("multihop", 2, hops=(2,), seed=5)


def good(ex) -> str:
    return interleaved_target(ex)  # a perfect interleaved response


def bad(ex) -> str:
    return "<think> no idea </think> <answer> Paris </answer>"  # valid format, wrong answer


@pytest.fixture(autouse=True)
def fresh_gate() -> None:
    reward.STATE.reset(batch_size=reward.DEFAULT_BATCH_SIZE)
    reward.reset_batch_gate()


def test_reward_file_loads_by_path_without_sys_modules() -> None:
    """veRL's `load_module` execs the file under a hashed name it never puts in `sys.modules`
    (tests/test_verl_smoke.py repeats this through veRL's own loader)."""
    name = "custom_module_" + hashlib.md5(str(REWARD_FILE).encode()).hexdigest()
    spec = importlib.util.spec_from_file_location(name, REWARD_FILE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert name not in sys.modules
    ex = KK[0]
    result = module.compute_score("interleaved/kk", good(ex), ground_truth(ex), {"split": "val"})
    assert result["score"] == pytest.approx(score(good(ex), ex).total)


def test_parquet_has_verl_columns_and_round_trips_judging(tmp_path: Path) -> None:
    examples = KK + HOP
    assert write_parquet(examples, tmp_path / "train.parquet", "interleaved") == 6
    rows = read_parquet(tmp_path / "train.parquet")
    assert set(rows[0]) == {"data_source", "prompt", "ability", "reward_model", "extra_info"}
    for row, ex in zip(rows, examples, strict=True):
        assert row["data_source"] == f"interleaved/{ex.dataset}"
        assert row["prompt"] == build_messages(ex, "interleaved")
        assert row["ability"] == ("logic" if ex.dataset == "kk" else "multihop_qa")
        assert row["reward_model"]["style"] == "rule"
        assert row["extra_info"]["split"] == "train" and row["extra_info"]["id"] == ex.id
        judged = example_from_ground_truth(row["reward_model"]["ground_truth"])
        for response in (good(ex), bad(ex)):
            assert score(response, judged) == score(response, ex)


def test_compute_score_matches_training_rewards() -> None:
    ex = KK[0]
    result = reward.compute_score("interleaved/kk", good(ex), ground_truth(ex), {"split": "train"})
    expected = score(good(ex), ex)
    assert result["score"] == pytest.approx(expected.total) == pytest.approx(1 + 2 + 0.5)
    assert result["acc"] == 1.0 and result["format_ok"] == 1.0
    assert all(isinstance(v, float) for v in result.values())
    plain = reward.compute_score("interleaved/kk", "no tags", ground_truth(ex))
    assert plain["score"] == -1.0 and plain["acc"] == 0.0
    ablation = reward.compute_score(
        "interleaved/kk", bad(ex), ground_truth(ex), intermediate="partial", gate="direct"
    )
    assert ablation["final"] in (-1.5, -2.0) and ablation["intermediate"] == 0.0


def test_per_sample_gate_lags_one_batch_and_ignores_validation() -> None:
    ex = KK[0]
    gt = ground_truth(ex)
    train = {"split": "train"}

    def batch(responses: list[str], info: dict | None = None) -> list[float]:
        return [
            reward.compute_score("kk", r, gt, info or train, batch_size=2)["intermediate"]
            for r in responses
        ]

    assert batch([good(ex), good(ex)]) == [0.5, 0.5]  # batch 1: accuracy 1.0
    assert batch([bad(ex), bad(ex)]) == [0.0, 0.0]  # batch 2: accuracy 0.0, still open
    # Validation never moves the gate, whatever it scores.
    assert batch([good(ex)] * 4, {"split": "validation"}) == [0.5] * 4
    assert reward.STATE.accuracies == [1.0, 0.0]
    # Batch 3 is judged by batch 2 against batch 1: accuracy fell by more than epsilon -> closed.
    assert batch([good(ex), good(ex)]) == [0.0, 0.0]
    # Batch 4: batch 3 (1.0) against batch 2 (0.0) -> open again.
    assert batch([good(ex), bad(ex)]) == [0.5, 0.0]


def test_batch_compute_score_applies_the_exact_gate_across_calls() -> None:
    ex = KK[1]
    gts = [ground_truth(ex)] * 2
    infos = [{"split": "train"}] * 2
    first = reward.compute_score_batch(["kk"] * 2, [good(ex), good(ex)], gts, infos)
    assert [r["intermediate"] for r in first] == [0.5, 0.5]
    second = reward.compute_score_batch(["kk"] * 2, [good(ex), bad(ex)], gts, infos)
    # accuracy 0.5 < 1.0 - 0.05: the whole batch loses its intermediate reward
    assert [r["intermediate"] for r in second] == [0.0, 0.0]
    expected, _ = score_batch([good(ex), bad(ex)], [ex, ex], 1.0, RewardConfig())
    assert [r["score"] for r in second] == [b.total for b in expected]
    # A validation batch is scored with the gate open and leaves the memory alone.
    val = reward.compute_score_batch(["kk"], [good(ex)], gts[:1], [{"split": "test"}])
    assert val[0]["intermediate"] == 0.5
    third = reward.compute_score_batch(["kk"] * 2, [good(ex), bad(ex)], gts, infos)
    assert [r["intermediate"] for r in third] == [0.5, 0.0]  # 0.5 >= 0.5 - 0.05


def test_gate_state_is_restored_as_of_verls_latest_checkpoint(tmp_path: Path) -> None:
    ex = KK[0]
    gt, train = ground_truth(ex), {"split": "train"}

    def run(responses: list[str]) -> list[float]:
        kw = {"batch_size": 2, "state_dir": str(tmp_path)}
        return [reward.compute_score("kk", r, gt, train, **kw)["intermediate"] for r in responses]

    run([good(ex)] * 2 + [bad(ex)] * 2 + [good(ex)] * 2)  # batches 1.0, 0.0, 1.0
    assert json.loads((tmp_path / STATE_FILE).read_text())["accuracies"] == [1.0, 0.0, 1.0]
    # veRL checkpointed after step 2; a resumed process must gate step 3 as the first run did:
    # 0.0 against 1.0 -> closed.
    (tmp_path / VERL_TRACKER).write_text("2")
    reward.STATE.reset(batch_size=2)
    assert run([good(ex), good(ex)]) == [0.0, 0.0]
    assert reward.STATE.accuracies == [1.0, 0.0, 1.0]
    # No checkpoint: veRL starts afresh, and so does the gate.
    (tmp_path / VERL_TRACKER).unlink()
    reward.STATE.reset(batch_size=2)
    assert run([bad(ex), bad(ex)]) == [0.0, 0.0]
    assert reward.STATE.accuracies == [0.0]


PAPER = {
    "actor_rollout_ref.actor.optim.lr": "1e-06",
    "data.train_batch_size": "16",
    "actor_rollout_ref.rollout.n": "8",
    "actor_rollout_ref.actor.kl_loss_coef": "0.001",
    "actor_rollout_ref.actor.kl_loss_type": "low_var_kl",
    "actor_rollout_ref.actor.use_kl_loss": "true",
    "actor_rollout_ref.rollout.temperature": "0.8",
    "data.max_response_length": "2548",
}


@pytest.mark.parametrize("estimator", ["gae", "grpo", "reinforce_plus_plus"])
def test_launch_command_has_the_papers_hyperparameters(estimator: str, tmp_path: Path) -> None:
    cmd = command(estimator, "Qwen/Qwen2.5-1.5B-Instruct", tmp_path, extra=["trainer.nnodes=2"])
    assert cmd[1:3] == ["-m", "verl.trainer.main_ppo"]
    overrides = dict(o.split("=", 1) for o in cmd[3:])
    for key, value in PAPER.items():
        assert overrides[key] == value, key
    assert overrides["algorithm.adv_estimator"] == estimator
    assert ("critic.model.path" in overrides) == (estimator == "gae")
    assert overrides["actor_rollout_ref.model.path"] == "Qwen/Qwen2.5-1.5B-Instruct"
    assert overrides["data.train_files"] == str(tmp_path.resolve() / "train.parquet")
    assert Path(overrides["reward.custom_reward_function.path"]) == REWARD_FILE
    assert REWARD_FILE.is_file()
    assert overrides["reward.custom_reward_function.name"] == "compute_score"
    # Keys veRL's config lacks are added with "+"; the user's extras come last and win.
    assert overrides["+reward.custom_reward_function.reward_kwargs.batch_size"] == "128"
    assert cmd[-1] == "trainer.nnodes=2"
    assert not any("<" in o for o in cmd), "unfilled placeholder"
    state = overrides["+reward.custom_reward_function.reward_kwargs.state_dir"]
    assert state == overrides["trainer.default_local_dir"]
    assert Path(state).is_absolute() and "tensorboard" in overrides["trainer.logger"]


def test_verl_07_profile_uses_top_level_keys_and_the_batch_manager(tmp_path: Path) -> None:
    cmd = command("grpo", "m", tmp_path, verl="0.7")
    overrides = dict(o.split("=", 1) for o in cmd[3:])
    assert not any(k.startswith(("reward.", "+reward.")) for k in overrides)
    assert Path(overrides["custom_reward_function.path"]) == REWARD_FILE
    assert overrides["custom_reward_function.name"] == "compute_score_batch"
    assert overrides["reward_model.reward_manager"] == "batch"
    assert overrides["reward_model.use_reward_loop"] == "false"
    assert overrides["reward_model.num_workers"] == "1"
    assert overrides["+custom_reward_function.reward_kwargs.batch_size"] == "128"
    assert "+custom_reward_function.reward_kwargs.state_dir" not in overrides
    with pytest.raises(ValueError, match="veRL version"):
        command("grpo", "m", tmp_path, verl="0.6")


def test_configs_parse_and_name_every_estimator() -> None:
    files = {p.stem for p in CONFIGS.glob("*.yaml")}
    assert files == {"common", "gae", "grpo", "reinforce_plus_plus"}
    for name in ("gae", "grpo", "reinforce_plus_plus"):
        assert (
            yaml.safe_load((CONFIGS / f"{name}.yaml").read_text())["algorithm"]["adv_estimator"]
            == name
        )
        merged = load_overrides(name)
        assert merged["reward"]["custom_reward_function"]["reward_kwargs"]["batch_size"] == (
            merged["data"]["train_batch_size"] * merged["actor_rollout_ref"]["rollout"]["n"]
        )
    with pytest.raises(ValueError, match="estimator"):
        load_overrides("ppo")


def test_cli_export_and_dry_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from training.verl.__main__ import main

    assert (
        main(
            [
                "export",
                "--out",
                str(tmp_path),
                "--val-n",
                "2",
                "--set",
                "data=[{dataset: kk, n: 3, people: [3]}]",
            ]
        )
        == 0
    )
    train, val = (
        read_parquet(tmp_path / "train.parquet"),
        read_parquet(tmp_path / "validation.parquet"),
    )
    assert (len(train), len(val)) == (3, 2)
    assert {r["extra_info"]["split"] for r in val} == {"validation"}
    assert not {r["extra_info"]["id"] for r in train} & {r["extra_info"]["id"] for r in val}
    capsys.readouterr()
    assert (
        main(
            ["launch", "--estimator", "grpo", "--model", "m", "--data", str(tmp_path), "--dry-run"]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "verl.trainer.main_ppo" in out and "algorithm.adv_estimator=grpo" in out
