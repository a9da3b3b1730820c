"""The soak harness against the app on the scripted backend: every kind of request is sent,
nothing fails, nothing is left held, and the JSON and plot are written."""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
from pathlib import Path

import uvicorn
from fakes import FakeBackend

from benchmarks import soak
from benchmarks.launch import free_port
from server.api import create_app
from server.config import parse_settings


def test_a_short_soak_of_the_scripted_server_finds_no_failure_and_no_leak(tmp_path: Path) -> None:
    port = free_port()
    app = create_app(parse_settings([]), FakeBackend())  # type: ignore[arg-type]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        result, held = asyncio.run(
            soak.soak(f"http://127.0.0.1:{port}", os.getpid(), 0.05, 4, 0.3, 16, 0, None)
        )
    finally:
        server.should_exit = True
        thread.join(10)
    summary = soak.summarize(result, held)
    assert summary["failures"] == 0, summary["failure_examples"]
    assert summary["leaked_requests"] == 0
    assert set(summary["by_kind"]) == set(soak.KINDS)
    assert summary["requests"] >= 20
    assert summary["rss_mb_after"] > 0 and summary["fds_after"] > 0
    out = tmp_path / "soak.png"
    soak.plot(result, out)
    assert out.stat().st_size > 0
    json.dumps(summary)  # the report is JSON as it stands
