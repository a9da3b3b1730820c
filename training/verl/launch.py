"""Turn `configs/common.yaml` + `configs/<estimator>.yaml` into a `verl.trainer.main_ppo` command.

The YAML files are nested overrides of veRL's own config; they are merged (estimator over
common), placeholders filled (<model>, <data>, <reward>, <experiment>, <checkpoints>), moved to
the places the chosen veRL version reads (`VERL_VERSIONS`), flattened to Hydra's `a.b.c=value`
form and with the user's extra overrides last, so they win.

- veRL 0.9 (0.8 too): `reward.*` keys; rewards are scored one response per call through the
  reward loop, so the gate is the lagged per-sample one (`compute_score`), saved with checkpoints.
- veRL 0.7: a top-level `custom_reward_function` and `reward_model.*`; the legacy `batch` reward
  manager (reward loop off) hands a whole step to `compute_score_batch`: the exact gate.
"""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path
from typing import Any

import yaml

from training.config import ESTIMATORS

CONFIGS = Path(__file__).resolve().parent / "configs"
REWARD_FILE = Path(__file__).resolve().parent / "reward.py"
# Keys veRL's config does not declare: Hydra adds them only with a leading "+". Every other key
# in configs/ exists in veRL 0.9.1's generated ppo_trainer config.
NEW_KEY_PREFIXES = (
    "reward.custom_reward_function.reward_kwargs.",
    "custom_reward_function.reward_kwargs.",
)
VERL_VERSIONS = ("0.9", "0.7")
CHECKPOINTS = Path("checkpoints") / "interleaved-reasoning"


def for_verl(tree: dict[str, Any], version: str) -> dict[str, Any]:
    """The overrides at the keys veRL `version` reads (configs/ are written for 0.9)."""
    if version not in VERL_VERSIONS:
        raise ValueError(f"veRL version must be one of {VERL_VERSIONS}, got {version!r}")
    if version == "0.9":
        return tree
    out = {k: v for k, v in tree.items() if k != "reward"}
    reward = dict(tree.get("reward", {}))
    custom = dict(reward.pop("custom_reward_function", {}))
    custom["name"] = "compute_score_batch"
    # The batch manager keeps the exact gate in memory; it is not tied to checkpoints.
    custom["reward_kwargs"] = {
        k: v for k, v in custom.get("reward_kwargs", {}).items() if k != "state_dir"
    }
    out["custom_reward_function"] = custom
    out["reward_model"] = {"reward_manager": "batch", "use_reward_loop": False, **reward}
    return out


def load_overrides(estimator: str) -> dict[str, Any]:
    if estimator not in ESTIMATORS:
        raise ValueError(f"estimator must be one of {ESTIMATORS}, got {estimator!r}")
    common = yaml.safe_load((CONFIGS / "common.yaml").read_text())
    specific = yaml.safe_load((CONFIGS / f"{estimator}.yaml").read_text())
    return merge(common, specific)


def merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def fill(value: Any, slots: dict[str, str]) -> Any:
    if isinstance(value, dict):
        return {k: fill(v, slots) for k, v in value.items()}
    if isinstance(value, list):
        return [fill(v, slots) for v in value]
    if isinstance(value, str):
        for name, text in slots.items():
            value = value.replace(f"<{name}>", text)
    return value


def flatten(tree: dict[str, Any], prefix: str = "") -> list[str]:
    """Hydra overrides; lists and nulls written as Hydra reads them."""
    out: list[str] = []
    for key, value in tree.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            out.extend(flatten(value, path + "."))
            continue
        if path.startswith(NEW_KEY_PREFIXES):
            path = "+" + path
        out.append(f"{path}={_hydra_value(value)}")
    return out


def _hydra_value(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if value is None:
        return "null"
    if isinstance(value, list):
        return json.dumps(value)
    return str(value)


def command(
    estimator: str,
    model: str,
    data_dir: str | Path,
    experiment: str | None = None,
    extra: list[str] | None = None,
    python: str = sys.executable,
    verl: str = "0.9",
    checkpoints: str | Path | None = None,
) -> list[str]:
    name = experiment or f"interleaved-{estimator}"
    slots = {
        "model": model,
        "data": str(Path(data_dir).resolve()),
        "reward": str(REWARD_FILE),
        "experiment": name,
        "checkpoints": str(Path(checkpoints or CHECKPOINTS / name).resolve()),
    }
    tree = for_verl(fill(load_overrides(estimator), slots), verl)
    return [python, "-m", "verl.trainer.main_ppo", *flatten(tree), *(extra or [])]


def shell(cmd: list[str]) -> str:
    return " \\\n    ".join(shlex.quote(part) for part in cmd)
