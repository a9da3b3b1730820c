"""Shared fixtures: a real server (real vLLM engine, default model) started once per session.

`start_server(*flags)` starts `python -m server` as a subprocess on a free port and waits for
/health (with `benchmarks.launch`, as the benchmarks' `--launch` does); tests that need a
server of their own (other flags, SIGTERM) call it directly and `.stop()` it. The
session-wide `server` fixture is the one most tests share:

    def test_x(server):  # server.base_url, .api_key, .model, .process, .headers(), .log_text()
        httpx.post(f"{server.base_url}/v1/chat/completions", headers=server.headers(), ...)
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from benchmarks.launch import LaunchError, free_port, launch, stop

REPO = Path(__file__).resolve().parent.parent
SESSION_API_KEY = "test-key"
# Flags of the session server: fast start (no compilation), a small context and KV cache so
# several test servers fit beside each other, and a concurrency limit the 429 test can reach.
SESSION_FLAGS = (
    "--enforce-eager",
    "--max-model-len",
    "2048",
    "--kv-cache-memory-bytes",
    str(1 << 30),
    "--max-concurrent-requests",
    "20",
    "--max-request-bytes",
    str(256 * 1024),
)
START_TIMEOUT_S = float(os.environ.get("INTERLEAVED_TEST_START_TIMEOUT", "420"))
# The session server prefills the opening `<think>` (the default): "<", "think", ">" on the
# default model's tokenizer, counted as completion tokens but not decoded by the engine.
OPENING_TOKENS = 3


@dataclass
class ServerProcess:
    """A server subprocess. Its combined stdout/stderr goes to `log_path`."""

    base_url: str
    process: subprocess.Popen[bytes]
    log_path: Path
    api_key: str | None = None
    model: str = ""
    args: tuple[str, ...] = field(default=())

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}

    def openai_client(self, **kwargs: object):  # -> openai.OpenAI, imported lazily
        import openai

        return openai.OpenAI(
            base_url=f"{self.base_url}/v1", api_key=self.api_key or "none", **kwargs
        )

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for_log_lines(self, text: str, timeout: float = 10.0) -> list[str]:
        """The log lines containing `text`, polling until one appears or `timeout` passes.

        The access log is written once the response has been sent, so a client can hold the
        response a moment before the server's line reaches the log file.
        """
        deadline = time.monotonic() + timeout
        while True:
            lines = [line for line in self.log_text().splitlines() if text in line]
            if lines or time.monotonic() > deadline:
                return lines
            time.sleep(0.05)

    def terminate(self) -> None:
        """Send SIGTERM (graceful shutdown) without waiting."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)

    def kill_group(self) -> None:
        """SIGKILL the server and its children (needs `start_server(new_session=True)`)."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(30)

    def stop(self, timeout: float = 60.0) -> int:
        """SIGTERM, wait, SIGKILL if it hangs; returns the exit code."""
        stop(self.process, timeout)
        return self.process.returncode


def start_server(
    *flags: str,
    log_dir: Path,
    api_key: str | None = None,
    name: str = "server",
    env: dict[str, str] | None = None,
    module: str = "server",
    timeout: float = START_TIMEOUT_S,
    new_session: bool = False,
) -> ServerProcess:
    """Start `python -m <module> --host 127.0.0.1 --port <free> *flags` and wait for /health.

    `module` lets a test start another OpenAI-compatible server the same way (e.g. vLLM's
    `vllm.entrypoints.openai.api_server`); `new_session` puts it in its own process group, so
    `kill_group()` can take its engine processes down with it. Fails the test with the log
    tail if it dies during start-up.
    """
    port = free_port()
    args = ["--host", "127.0.0.1", "--port", str(port), *flags]
    if api_key:
        args += ["--api-key", api_key]
    try:
        launched = launch(
            name,
            [sys.executable, "-m", module, *args],
            f"http://127.0.0.1:{port}",
            log_dir / f"{name}-{port}.log",
            env=env,
            cwd=REPO,
            new_session=new_session,
            timeout=timeout,
            grace=10,
        )
    except LaunchError as error:
        pytest.fail(str(error))
    server = ServerProcess(
        launched.base_url, launched.process, launched.log_path, api_key, args=tuple(args)
    )
    models = httpx.get(f"{server.base_url}/v1/models", headers=server.headers(), timeout=10)
    server.model = models.json()["data"][0]["id"]
    return server


def scrape(server: Any) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """/metrics as {(sample name, sorted labels): value}."""
    text = httpx.get(f"{server.base_url}/metrics", timeout=30).text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: dict, name: str, **labels: str) -> float:
    matches = [
        v
        for (n, ls), v in samples.items()
        if n == name and all(dict(ls).get(k) == want for k, want in labels.items())
    ]
    assert matches, f"no sample {name} {labels}"
    return sum(matches)


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """The shared real server: default model, `SESSION_FLAGS`, API key `SESSION_API_KEY`.

    With INTERLEAVED_TEST_SERVER_URL set (and INTERLEAVED_TEST_SERVER_LOG, its log file), the
    tests use that already running server instead, started with the same flags and key: handy
    while iterating, since an engine start takes a while.
    """
    url = os.environ.get("INTERLEAVED_TEST_SERVER_URL")
    if url:
        log = Path(os.environ.get("INTERLEAVED_TEST_SERVER_LOG", "/dev/null"))
        running = ServerProcess(url.rstrip("/"), None, log, SESSION_API_KEY)  # type: ignore[arg-type]
        models = httpx.get(f"{running.base_url}/v1/models", headers=running.headers(), timeout=10)
        running.model = models.json()["data"][0]["id"]
        yield running
        return
    log_dir = tmp_path_factory.mktemp("server-logs")
    proc = start_server(
        *SESSION_FLAGS, log_dir=log_dir, api_key=SESSION_API_KEY, name="session-server"
    )
    yield proc
    code = proc.stop()
    assert code == 0, f"session server exited with {code}:\n{proc.log_text()[-3000:]}"
