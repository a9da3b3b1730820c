"""`python -m benchmarks.startup`: launch to healthy over several starts, and what the server's
log says about vLLM's compile cache."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from benchmarks.launch import free_port
from benchmarks.startup import main, read_log

# Lines as vLLM 0.32 writes them (vllm/compilation/decorators.py and backends.py).
AOT_LOADED = "INFO [decorators.py:322] Directly load AOT compilation from path /c/model"
AOT_FAILED = (
    "WARNING [decorators.py:334] Compiling model again due to a load failure from /c/model, "
    "reason: 'function' object has no attribute 'finalize_loading'"
)
GRAPH_LOADED = (
    "INFO [backends.py:296] Directly load the compiled graph(s) for compile range (1, 2048) "
    "from the cache, took 0.412 s"
)
GRAPH_COMPILED = "INFO [backends.py:399] Compiling a graph for compile range (1, 2048) takes 31.2 s"
INIT = "INFO [core.py:250] init engine (profile, create kv cache, warmup model) took 15.20 s"


def test_log_outcomes() -> None:
    assert read_log(f"{AOT_LOADED}\n{INIT}") == ("loaded", None, 15.2)
    assert read_log(GRAPH_LOADED) == ("loaded", None, None)
    assert read_log(GRAPH_COMPILED) == ("compiled", None, None)
    assert read_log(f"{AOT_FAILED}\n{GRAPH_COMPILED}") == (
        "load_failed",
        "'function' object has no attribute 'finalize_loading'",
        None,
    )
    # No compile (--enforce-eager), or inductor's own cache, which vLLM does not report.
    assert read_log("nothing about compiling") == ("unreported", None, None)


def test_two_starts_of_a_real_server(tmp_path: Path) -> None:
    """The replay server answers /health: two starts, each timed, the JSON and the plot
    written, the cache variables pointed into the benchmark's own folder."""
    scripts = tmp_path / "scripts.json"
    scripts.write_text(json.dumps({"*": {"status": 200, "events": [[0.0, "[DONE]"]]}}))
    port = free_port()
    out = tmp_path / "startup.json"
    command = f"{sys.executable} -m benchmarks.replay --scripts {scripts} --port {port}"
    main(["--launch", command, "--starts", "2", "--timeout", "60", "--output", str(out)])
    report = json.loads(out.read_text())
    assert [s["index"] for s in report["starts"]] == [0, 1]
    assert all(s["seconds_to_healthy"] > 0 and s["error"] is None for s in report["starts"])
    assert all(s["compile_cache"] == "unreported" for s in report["starts"])
    assert report["second_over_first"] is not None and out.with_suffix(".png").is_file()
