"""veRL's own code runs our route: Hydra composition of veRL's ppo_trainer config with our
launch overrides, our reward loaded by veRL's loader, and scored through veRL's reward loop.

Runs in the separate environment scripts/setup_verl.sh makes (.venv-verl: veRL pinned, CPU
torch, this project without its engine); skipped only when that environment is absent.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tasks import generate
from tasks.prompts import interleaved_target
from training.rewards import RewardConfig, score
from training.verl.export import read_parquet, write_parquet
from training.verl.gate import STATE_FILE

ROOT = Path(__file__).resolve().parent.parent
VERL_PYTHON = Path(os.environ.get("VERL_VENV", ROOT / ".venv-verl")) / "bin" / "python"
MODEL = Path(os.environ.get("INTERLEAVED_MODEL_CACHE", ROOT / ".cache" / "models")) / (
    "SmolLM2-135M-Instruct"
)

pytestmark = pytest.mark.skipif(
    not VERL_PYTHON.exists(),
    reason=f"no veRL environment at {VERL_PYTHON.parent.parent}: create it with "
    "`bash scripts/setup_verl.sh` (about 2 minutes)",
)


def test_verl_scores_our_reward_through_its_reward_loop(tmp_path: Path) -> None:
    if not (MODEL / "config.json").exists():
        pytest.skip(f"the base model is not prepared at {MODEL} (scripts/setup.sh)")
    examples = generate("kk", 2, people=(3,), seed=11)
    write_parquet(examples, tmp_path / "train.parquet", "interleaved")
    write_parquet(examples, tmp_path / "validation.parquet", "interleaved")
    rows = read_parquet(tmp_path / "train.parquet")
    good = [interleaved_target(ex) for ex in examples]
    bad = "<think> no idea </think> <answer> Paris </answer>"
    # Three steps of two responses: accuracy 1.0, 0.0, then a step the lagged gate closes.
    steps = [
        [{"row": rows[0], "response": good[0]}, {"row": rows[1], "response": good[1]}],
        [{"row": rows[0], "response": bad}, {"row": rows[1], "response": bad}],
        [{"row": rows[0], "response": good[0]}, {"row": rows[1], "response": good[1]}],
    ]
    (tmp_path / "steps.json").write_text(json.dumps(steps))
    checkpoints = tmp_path / "checkpoints"
    proc = subprocess.run(
        [
            str(VERL_PYTHON),
            str(ROOT / "tests" / "verl_smoke.py"),
            str(MODEL),
            str(tmp_path),
            str(checkpoints),
            str(tmp_path / "steps.json"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), "TOKENIZERS_PARALLELISM": "false"},
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stderr[-4000:]
    out = json.loads(lines[-1].removeprefix("RESULT "))
    assert out["manager"] == "NaiveRewardManager"
    assert out["reward_fn"].endswith("training/verl/reward.py")
    scored = out["steps"]
    for i, (batch, results) in enumerate(zip(steps, scored, strict=True)):
        gate_open = i < 2
        for item, result in zip(batch, results, strict=True):
            ex = next(e for e in examples if e.id == item["row"]["extra_info"]["id"])
            expected = score(item["response"], ex, RewardConfig(), batch_gate_open=gate_open)
            assert result["score"] == pytest.approx(expected.total), (i, result)
            assert result["intermediate"] == pytest.approx(expected.intermediate)
    assert [r["intermediate"] for r in scored[2]] == [0.0, 0.0]  # the lagged gate closed
    saved = json.loads((checkpoints / STATE_FILE).read_text())
    assert saved["accuracies"] == [1.0, 0.0, 1.0]
