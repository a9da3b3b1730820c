"""LoRA adapters the project ships with its source (trained by ``training``, served by ``server``).

An adapter is a PEFT folder (``adapter_config.json`` + ``adapter_model.safetensors`` + model card)
under ``modelprep/adapters/<name>``. Until training has produced one, lookups return None and the
server falls back to the base model with the interleaved instruction.
"""

from pathlib import Path

DEFAULT_ADAPTER_NAME = "smollm2-135m-interleaved-ir"
THINK_ANSWER_ADAPTER_NAME = "smollm2-135m-think-answer"

_ADAPTERS_DIR = Path(__file__).resolve().parent / "adapters"


def shipped_adapter_dir(name: str = DEFAULT_ADAPTER_NAME) -> Path | None:
    """The folder of a shipped adapter, or None when this checkout does not contain it."""
    folder = _ADAPTERS_DIR / name
    return folder if (folder / "adapter_config.json").is_file() else None
