"""A second real server of its own: a LoRA adapter merged at start-up, then SIGTERM draining.

One engine start serves both tests (starts are the expensive part on a CPU machine); the
SIGTERM test ends that server, so it runs last in this module.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import ServerProcess, start_server

pytestmark = [pytest.mark.engine, pytest.mark.timeout(600)]

GRACE_S = 10
# This server's enforce_format expression: at least 30 think/answer pairs, hundreds of tokens
# whatever the (randomly adapted) model would rather say, so a stream outlasts the grace period.
LONG_REGEX = "(<think>[^<>]{1,50}</think><answer>[^<>]{1,20}</answer>){30,40}"


@pytest.fixture(scope="module")
def tiny_adapter(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(base model folder, a rank-2 LoRA adapter with random A and B made for it)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from modelprep import ensure_base_model

    base = ensure_base_model()
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    config = LoraConfig(
        r=2, lora_alpha=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False
    )  # random B: merging visibly changes weights
    adapter = tmp_path_factory.mktemp("adapters") / "tiny-adapter"
    get_peft_model(model, config).save_pretrained(adapter)
    return base, adapter


@pytest.fixture(scope="module")
def adapter_server(tiny_adapter, tmp_path_factory) -> Iterator[tuple[ServerProcess, Path]]:
    base, adapter = tiny_adapter
    cache = tmp_path_factory.mktemp("model-cache")  # the merged model goes here, not the repo
    proc = start_server(
        "--model", str(base), "--adapter", str(adapter), "--enforce-eager",
        "--max-model-len", "1024", "--kv-cache-memory-bytes", str(512 << 20),
        "--shutdown-grace-seconds", str(GRACE_S), "--enforce-format-regex", LONG_REGEX,
        log_dir=tmp_path_factory.mktemp("adapter-logs"), name="adapter-server",
        env={"INTERLEAVED_MODEL_CACHE": str(cache)},
    )  # fmt: skip
    yield proc, cache
    proc.stop()


def test_adapter_is_merged_and_served(adapter_server, tiny_adapter) -> None:
    from safetensors import safe_open

    proc, cache = adapter_server
    base, _ = tiny_adapter
    assert proc.model == "tiny-adapter"
    response = httpx.post(
        f"{proc.base_url}/v1/chat/completions",
        timeout=120,
        json={
            "model": "tiny-adapter",
            "messages": [{"role": "user", "content": "Hi"}],
            "max_tokens": 8,
        },
    )
    assert response.status_code == 200, response.text
    assert response.json()["usage"]["completion_tokens"] > 0
    merged = [d for d in (cache / "merged").iterdir() if (d / ".merged").is_file()]
    assert len(merged) == 1
    name = "model.layers.0.self_attn.q_proj.weight"
    with (
        safe_open(base / "model.safetensors", "pt") as a,
        safe_open(merged[0] / "model.safetensors", "pt") as b,
    ):
        assert not a.get_tensor(name).equal(b.get_tensor(name)), "adapter not merged"
        other = "model.layers.0.mlp.up_proj.weight"  # not a LoRA target: unchanged
        assert a.get_tensor(other).equal(b.get_tensor(other))


def _stream(
    proc: ServerProcess, body: dict[str, Any], out: dict[str, Any], first_chunk: threading.Event
) -> None:
    out.update(lines=[], error=None)
    try:
        with httpx.stream(
            "POST",
            f"{proc.base_url}/v1/chat/completions",
            timeout=120,
            json={**body, "stream": True},
        ) as response:
            out["status"] = response.status_code
            for line in response.iter_lines():
                if line.startswith("data: "):
                    out["lines"].append(line[6:])
                    first_chunk.set()
    except httpx.HTTPError as exc:
        out["error"] = type(exc).__name__
    first_chunk.set()


def test_sigterm_drains_running_streams_then_exits_0(adapter_server) -> None:
    proc, _ = adapter_server
    short = {"messages": [{"role": "user", "content": "Name a fruit."}], "max_tokens": 30}
    long = {
        "messages": [{"role": "user", "content": "Count from 1 to 500, one per line."}],
        "max_tokens": 800,
        "enforce_format": True,
    }  # the prompt is ~170 of 1024 tokens
    results: list[dict[str, Any]] = [{}, {}]
    started = [threading.Event(), threading.Event()]
    threads = [
        threading.Thread(target=_stream, args=(proc, body, results[i], started[i]))
        for i, body in enumerate((short, long))
    ]
    for thread in threads:
        thread.start()
    assert all(event.wait(120) for event in started)
    proc.terminate()
    sigterm_at = time.monotonic()
    # New connections are refused (or told the server is going away) while streams drain.
    time.sleep(1.0)
    try:
        refused = httpx.get(f"{proc.base_url}/health", timeout=5).status_code == 503
    except httpx.TransportError:
        refused = True
    assert refused
    code = proc.process.wait(GRACE_S + 60)
    exited_after = time.monotonic() - sigterm_at
    for thread in threads:
        thread.join(30)
    assert code == 0, proc.log_text()[-3000:]
    short_result, long_result = results
    assert short_result["status"] == long_result["status"] == 200, results
    # The short stream finished normally during the grace period...
    assert short_result["error"] is None and short_result["lines"][-1] == "[DONE]"
    finish = [
        json.loads(x)["choices"][0]["finish_reason"]
        for x in short_result["lines"][:-1]
        if json.loads(x)["choices"]
    ]
    assert finish[-1] in ("stop", "length")
    # ...the long one was cut when the grace period ran out, and the exit was not held up.
    assert long_result["lines"] and long_result["lines"][-1] != "[DONE]"
    assert GRACE_S - 1 <= exited_after < GRACE_S + 45
