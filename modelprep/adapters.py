"""LoRA adapters the project ships with its source (trained by ``training``, served by ``server``).

An adapter is a PEFT folder (``adapter_config.json`` + ``adapter_model.safetensors`` + model card)
under ``modelprep/adapters/<name>``. Until training has produced one, lookups return None and the
server falls back to the base model with the interleaved instruction.
"""

import json
from pathlib import Path

DEFAULT_ADAPTER_NAME = "smollm2-135m-interleaved-arith"
THINK_ANSWER_ADAPTER_NAME = "smollm2-135m-think-answer"
# The default's think-answer twin: the same stages, traces, configs and seeds with every answer
# at the end, so the two compare equal models.
DEFAULT_TWIN_ADAPTER_NAME = "smollm2-135m-think-answer-arith"

_ADAPTERS_DIR = Path(__file__).resolve().parent / "adapters"


def shipped_adapter_dir(name: str = DEFAULT_ADAPTER_NAME) -> Path | None:
    """The folder of a shipped adapter, or None when this checkout does not contain it."""
    folder = _ADAPTERS_DIR / name
    return folder if (folder / "adapter_config.json").is_file() else None


def adapter_style(folder: str | Path) -> str | None:
    """The layout an adapter was trained for ("interleaved" or "think_answer"), from the
    `training_summary.json` training writes beside it; None when unknown."""
    try:
        summary = json.loads((Path(folder) / "training_summary.json").read_text())
        style = summary["config"]["style"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return style if isinstance(style, str) else None
