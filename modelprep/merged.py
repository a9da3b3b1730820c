"""LoRA adapters: merged into the base weights once, cached by content.

vLLM's LoRA path roughly halves decode speed on CPU; a merged model decodes at base-model
speed. Merging takes seconds for a small model, so the merged folder is cached under
`<model cache>/merged/<hash>`, keyed by the base model folder and the adapter's file contents:
a retrained adapter gets a new folder, an unchanged one is reused across restarts.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path

from modelprep import cache_root

log = logging.getLogger(__name__)

_DONE_MARKER = ".merged"


class AdapterError(RuntimeError):
    """The adapter folder cannot be used; the message says why."""


def adapter_rank(adapter: Path) -> int:
    """The LoRA rank `r` from adapter_config.json."""
    config = read_adapter_config(adapter)
    rank = config.get("r")
    if not isinstance(rank, int) or rank <= 0:
        raise AdapterError(f"{adapter}/adapter_config.json has no positive integer 'r'")
    return rank


def read_adapter_config(adapter: Path) -> dict[str, object]:
    path = adapter / "adapter_config.json"
    if not path.is_file():
        raise AdapterError(f"{adapter} is not a LoRA adapter folder (no adapter_config.json)")
    try:
        config = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise AdapterError(f"cannot read {path}: {exc}") from exc
    if not isinstance(config, dict):
        raise AdapterError(f"{path} is not a JSON object")
    return config


def merge_key(base: Path, adapter: Path) -> str:
    """Content hash of the adapter files plus the base folder's identity."""
    digest = hashlib.sha256()
    digest.update(str(base.resolve()).encode())
    for name in ("config.json", ".prepared"):
        if (base / name).is_file():
            digest.update((base / name).read_bytes())
    for path in sorted(p for p in adapter.rglob("*") if p.is_file()):
        digest.update(path.relative_to(adapter).as_posix().encode())
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()[:16]


def merged_model_dir(base: Path, adapter: Path) -> Path:
    """A model folder with `adapter` merged into `base`, built once and cached."""
    read_adapter_config(adapter)
    target = cache_root() / "merged" / merge_key(base, adapter)
    if (target / _DONE_MARKER).is_file():
        log.info("using merged model %s (cached)", target)
        return target
    log.info("merging adapter %s into %s -> %s (once)", adapter, base, target)
    target.parent.mkdir(parents=True, exist_ok=True)
    # Build in a sibling temp folder and rename: a killed merge never looks complete.
    work = Path(tempfile.mkdtemp(prefix=".merge-", dir=target.parent))
    try:
        _merge(base, adapter, work)
        (work / _DONE_MARKER).write_text(f"base={base}\nadapter={adapter}\n")
        try:
            os.rename(work, target)
        except OSError:
            # Another process finished the same merge first; theirs is as good as ours.
            if not (target / _DONE_MARKER).is_file():
                raise
    finally:
        if work.exists():
            shutil.rmtree(work, ignore_errors=True)
    return target


def _merge(base: Path, adapter: Path, out: Path) -> None:
    # Imported here: torch/transformers/peft are slow to import and only needed for a merge.
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        model = AutoModelForCausalLM.from_pretrained(base, dtype="auto")
        merged = PeftModel.from_pretrained(model, adapter).merge_and_unload()
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        raise AdapterError(f"cannot apply adapter {adapter} to {base}: {exc}") from exc
    merged.save_pretrained(out, safe_serialization=True)
    AutoTokenizer.from_pretrained(base).save_pretrained(out)
    # The chat template and generation config live beside the weights; keep the base's.
    for name in ("chat_template.jinja", "generation_config.json"):
        if (base / name).is_file():
            shutil.copy2(base / name, out / name)
