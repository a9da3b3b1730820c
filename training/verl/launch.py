"""Turn `configs/common.yaml` + `configs/<estimator>.yaml` into a `verl.trainer.main_ppo` command.

The YAML files are nested overrides of veRL's own config; they are merged (estimator over
common), placeholders filled (<model>, <data>, <reward>, <experiment>), flattened to Hydra's
`a.b.c=value` form and with the user's extra overrides last, so they win.
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
NEW_KEY_PREFIXES = ("reward.custom_reward_function.reward_kwargs.",)


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
) -> list[str]:
    slots = {
        "model": model,
        "data": str(Path(data_dir).resolve()),
        "reward": str(REWARD_FILE),
        "experiment": experiment or f"interleaved-{estimator}",
    }
    tree = fill(load_overrides(estimator), slots)
    return [python, "-m", "verl.trainer.main_ppo", *flatten(tree), *(extra or [])]


def shell(cmd: list[str]) -> str:
    return " \\\n    ".join(shlex.quote(part) for part in cmd)
