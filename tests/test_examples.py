"""The example agent loops (examples/) run end to end against the session server: the model
calls the tool, the script runs it and sends the result back, the model answers; streamed."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
from conftest import REPO

pytestmark = [pytest.mark.engine, pytest.mark.timeout(600)]


def run_example(name: str, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, str(REPO / "examples" / name), *args],
        capture_output=True,
        text=True,
        timeout=540,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_openai_agent_loop(server: Any) -> None:
    out = run_example(
        "agent_openai.py", "--base-url", f"{server.base_url}/v1", "--api-key", server.api_key
    )
    lines = out.splitlines()
    assert lines[0] == "user: What is the weather in Paris?"
    assert "[tool call get_weather] {" in out and "[finish_reason: tool_calls]" in out
    ran = [line for line in lines if line.startswith("tool get_weather(")]
    assert len(ran) == 1 and '"sky": "sunny"' in ran[0]
    assert out.index("[thinking]") < out.index("[tool call get_weather]") < out.index(ran[0])
    assert "[finish_reason: stop]" in out
    final = out[out.index("\nfinal answer: ") :].removeprefix("\nfinal answer: ")
    assert final.strip()


def test_anthropic_agent_loop(server: Any) -> None:
    out = run_example(
        "agent_anthropic.py", "--base-url", server.base_url, "--api-key", server.api_key
    )
    lines = out.splitlines()
    assert lines[0] == "user: What is the weather in Paris?"
    assert "[tool_use get_weather] {" in out and "[stop_reason: tool_use]" in out
    ran = [line for line in lines if line.startswith("tool get_weather(")]
    assert len(ran) == 1 and '"sky": "sunny"' in ran[0]
    assert out.index("[thinking]") < out.index("[tool_use get_weather]") < out.index(ran[0])
    assert "[signed " in out  # thinking blocks come signed, and went back to the server so
    assert "[stop_reason: end_turn]" in out
    final = out[out.index("\nfinal answer: ") :].removeprefix("\nfinal answer: ")
    assert final.strip()
