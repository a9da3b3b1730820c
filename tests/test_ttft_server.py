"""The latency harness against the real server (session fixture `server` from conftest).

Small on purpose: 4 prompts, 200 tokens. `enforce_format` makes even the untrained base model
write the interleaved format, so every response must carry at least two timed answers.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.ttft.__main__ import main

pytestmark = pytest.mark.engine


def test_ttfa_and_answer_times_from_the_real_server(server, tmp_path: Path) -> None:
    out = tmp_path / "real.json"
    target = f"ours={server.base_url},model={server.model}"
    argv = [
        "--target", target, "--num-prompts", "4", "--max-tokens", "200",
        "--max-concurrency", "4", "--warmups", "0", "--request-timeout", "300",
        "--extra-body", '{"enforce_format": true}',
        "--output", str(out), "--save-detailed", "--no-plots", "--no-progress",
    ]  # fmt: skip
    if server.api_key:
        argv += ["--api-key", server.api_key]
    assert main(argv) == 0
    r = json.loads(out.read_text())["runs"][0]["targets"]["ours"]
    assert r["completed"] == 4, r["errors"]
    assert r["total_output_tokens"] > 0 and r["total_input_tokens"] > 0  # usage was reported
    for i in range(4):
        ttfa, e2el, answers = r["ttfas"][i], r["latencies"][i], r["answer_times"][i]
        assert r["classified_as"][i] == "ours"
        assert ttfa is not None and r["ttfts"][i] <= ttfa < e2el
        assert len(answers) >= 2, r["answer_texts"][i]
        assert answers == sorted(answers) and answers[0] >= ttfa
        assert 0.0 <= r["normalized_ttfts"][i] < 1.0
