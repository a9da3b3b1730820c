"""Start a server, wait until it is healthy, stop it: the benchmarks' `--launch` and the tests.

`launch(name, argv, base_url, log_path)` starts a command with its output in a log file and
polls `base_url/health` until it answers 200; `stop(process, grace)` ends it; `free_port()`
finds a port nobody listens on. The test suite's servers (tests/conftest.py) and every
benchmark that starts servers use them.

`--launch NAME="CMD"` (the benchmarks): CMD is split like a shell command line; leading
`KEY=VALUE` words set environment variables (`VLLM_CPU_KVCACHE_SPACE=2 python -m
vllm.entrypoints.openai.api_server ...`), and a leading `python`/`python3` is replaced by the
interpreter running the harness, so the server uses the same virtual environment. The server's
URL is taken from its `--host`/`--port` flags unless a target of the same NAME gives one. Each
server's output goes to a log file; when it exits early or /health does not answer 200 in
time, the error quotes the log's last lines.

Servers start one after the other (on a 2-core machine two engines starting at once slow each
other down and can time out), and stop in reverse order: SIGTERM to the server, then SIGKILL
to its process group (its engine workers included) after a grace period. `Launcher` is a
context manager, so they stop on errors and Ctrl-C too.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import httpx

_ENV_WORD = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
LOG_TAIL_LINES = 30


class LaunchError(RuntimeError):
    """A launched server that exited or never became healthy (`launched`: which; stopped)."""

    def __init__(self, message: str, launched: Launched | None = None) -> None:
        super().__init__(message)
        self.launched = launched


@dataclass
class LaunchSpec:
    name: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)

    @property
    def base_url(self) -> str | None:
        """http://HOST:PORT from the command's flags, or None without --port."""
        port = _flag(self.argv, "--port")
        if port is None:
            return None
        host = _flag(self.argv, "--host") or "127.0.0.1"
        if host in ("0.0.0.0", "::", ""):
            host = "127.0.0.1"
        return f"http://{host}:{port}"


def parse_launch(spec: str) -> LaunchSpec:
    """NAME="CMD" -> LaunchSpec."""
    name, sep, command = spec.partition("=")
    if not sep or not name or not command.strip():
        raise ValueError(f'--launch wants NAME="COMMAND", got {spec!r}')
    words = shlex.split(command)
    env: dict[str, str] = {}
    while words and _ENV_WORD.match(words[0]):
        key, _, value = words.pop(0).partition("=")
        env[key] = value
    if not words:
        raise ValueError(f"--launch {name}: no command after the environment assignments")
    if words[0] in ("python", "python3"):
        words[0] = sys.executable
    return LaunchSpec(name=name.strip(), argv=words, env=env)


def _flag(argv: list[str], flag: str) -> str | None:
    for i, word in enumerate(argv):
        if word == flag and i + 1 < len(argv):
            return argv[i + 1]
        if word.startswith(flag + "="):
            return word.split("=", 1)[1]
    return None


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that nothing listens on right now (the OS picks it)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@dataclass
class Launched:
    """A started server: its name, URL, process and log file."""

    name: str
    base_url: str
    process: subprocess.Popen[bytes]
    log_path: Path


def launch(
    name: str,
    argv: list[str],
    base_url: str,
    log_path: Path,
    *,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    new_session: bool = True,
    timeout: float = 600.0,
    grace: float = 20.0,
) -> Launched:
    """Start `argv` (output to `log_path`, environment `env` over ours) and wait until
    `base_url/health` answers 200.

    `new_session` puts it in its own process group, so `stop` also takes down the engine
    processes it starts. If it exits or is not healthy within `timeout` seconds (or the wait is
    interrupted), it is stopped and `LaunchError` (or the interruption) is raised.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=cwd,
            env={**os.environ, **(env or {})},
            start_new_session=new_session,
        )
    launched = Launched(name, base_url, process, log_path)
    try:
        wait_healthy(launched, timeout)
    except BaseException:
        stop(process, grace)
        raise
    return launched


class Launcher:
    """Starts servers one at a time; stops every started one on exit."""

    def __init__(self, log_dir: Path, timeout: float = 600.0, grace: float = 20.0) -> None:
        self.log_dir = log_dir
        self.timeout = timeout
        self.grace = grace
        self.launched: list[Launched] = []

    def __enter__(self) -> Launcher:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop_all()

    def start(self, spec: LaunchSpec, base_url: str) -> Launched:
        launched = launch(
            spec.name,
            spec.argv,
            base_url,
            self.log_dir / f"{spec.name}.log",
            env=spec.env,
            timeout=self.timeout,
            grace=self.grace,
        )
        self.launched.append(launched)
        return launched

    def stop_all(self) -> None:
        while self.launched:
            stop(self.launched.pop().process, self.grace)


def wait_healthy(launched: Launched, timeout: float) -> None:
    """Poll GET /health until 200; raise LaunchError if the process exits or time runs out."""
    deadline = time.monotonic() + timeout
    url = f"{launched.base_url}/health"
    with httpx.Client(timeout=5.0) as client:
        while True:
            code = launched.process.poll()
            if code is not None:
                raise LaunchError(
                    f"{launched.name} exited with code {code} before /health answered; "
                    f"last lines of {launched.log_path}:\n{log_tail(launched.log_path)}",
                    launched,
                )
            try:
                if client.get(url).status_code == 200:
                    return
            except httpx.HTTPError:
                pass  # not listening yet
            if time.monotonic() > deadline:
                raise LaunchError(
                    f"{launched.name}: {url} did not answer 200 within {timeout:g} s; "
                    f"last lines of {launched.log_path}:\n{log_tail(launched.log_path)}",
                    launched,
                )
            time.sleep(0.5)


def stop(process: subprocess.Popen[bytes], grace: float) -> None:
    """SIGTERM the server itself, then SIGKILL whatever is left of it.

    Only the leader gets SIGTERM: servers shut their engine processes down themselves, and a
    SIGTERM reaching those directly can break that. Whatever outlives the grace period (a hung
    server; for a server in its own process group, orphaned engine workers too) is killed.
    """
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            _signal_group(process, signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError):
                process.kill()  # not a group leader: the process alone
            process.wait(10)
    deadline = time.monotonic() + min(grace, 5.0)
    while _group_alive(process) and time.monotonic() < deadline:
        time.sleep(0.1)  # engine workers exit shortly after their server
    _signal_group(process, signal.SIGKILL)


def _group_alive(process: subprocess.Popen[bytes]) -> bool:
    try:
        os.killpg(process.pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def _signal_group(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sig)  # the group id is the pid: start_new_session=True


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        with path.open(errors="replace") as f:
            return "".join(deque(f, maxlen=lines)).rstrip() or "(empty log)"
    except OSError as e:
        return f"(cannot read the log: {e})"
