"""Settings: flags, INTERLEAVED_* environment variables, their precedence and validation."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Literal, get_args, get_origin

import pytest

from parsing import INTERLEAVED_INSTRUCTION, THINK_ANSWER_INSTRUCTION
from server.__main__ import main
from server.backends.engine import (
    CPU_DEFAULT_EXECUTOR,
    CPU_DEFAULT_KV_CACHE_BYTES,
    cpu_engine_environment,
    engine_kwargs,
)
from server.config import (
    ENGINE_ARGS,
    build_parser,
    env_name,
    flag_name,
    own_fields,
    parse_settings,
    vllm_engine_actions,
)
from server.generation.prompting import INTERLEAVED_REGEX, enforce_regex, system_prompt_for
from server.startup import ConfigError, StartupError, UsageError


def test_defaults() -> None:
    s = parse_settings([])
    assert (s.model, s.adapter, s.format, s.host, s.port) == (
        None,
        None,
        "interleaved",
        "127.0.0.1",
        8000,
    )
    assert s.merge_adapter and s.shutdown_grace_seconds == 30.0
    assert not s.docs  # the docs routes are opt-in
    assert (s.header_timeout_seconds, s.body_timeout_seconds) == (10.0, 30.0)
    assert s.engine_args == {}  # no engine flag set: vLLM's defaults, except ours below


def test_every_flag_has_an_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each flag's INTERLEAVED_* variable sets it when the flag is not given."""
    samples = {
        "bool": ("1", True),
        "int": ("7", 7),
        "float": ("0.5", 0.5),
        "str": ("http://h", "http://h"),
    }
    parser = build_parser()
    actions = {a.dest: a for a in parser._actions}
    own = own_fields()
    for name in [*own, *ENGINE_ARGS]:
        action = actions[name]
        assert action.option_strings[0] == flag_name(name)
        choices = list(action.choices or ())
        if name in own and get_origin(own[name].annotation) is Literal:
            choices = list(get_args(own[name].annotation))
        if choices:
            raw = expected = choices[-1]
        elif isinstance(action, (argparse.BooleanOptionalAction, argparse._StoreTrueAction)):
            raw, expected = samples["bool"]
        elif name in own:  # the type, as pydantic-settings names it
            raw, expected = samples[str(action.metavar)]
        elif action.type in (int, float, str, None):
            raw, expected = samples[getattr(action.type, "__name__", "str")]
        else:  # one of vLLM's converters (human-readable sizes...)
            raw, expected = "7", action.type("7")
        monkeypatch.setenv(env_name(name), raw)
        settings = parse_settings([])
        value = getattr(settings, name) if name in own else settings.engine_args[name]
        assert value == expected, name
        monkeypatch.delenv(env_name(name))
    assert {"--tensor-parallel-size", "--gpu-memory-utilization", "--upstream"} <= {
        a.option_strings[0] for a in parser._actions if a.option_strings
    }


def test_help_lists_every_flag_and_variable() -> None:
    text = build_parser().format_help()
    for name in [*own_fields(), *ENGINE_ARGS]:
        assert flag_name(name) in text and env_name(name) in text, name
    for negation in ("--no-merge-adapter", "--no-enforce-eager", "--no-enable-prefix-caching"):
        assert negation in text
    assert "--no-no-adapter" not in text  # a field named no_* is a plain switch


def test_engine_flags_are_vllms_own() -> None:
    """Type, choices and default of each engine flag come from vLLM's argument definitions."""
    actions = vllm_engine_actions()
    assert actions is not None and set(actions) == set(ENGINE_ARGS)
    ours = {a.dest: a for a in build_parser()._actions}
    for name, theirs in actions.items():
        assert (ours[name].type, ours[name].choices) == (theirs.type, theirs.choices), name
    # vLLM's own conversions: human-readable sizes, its dtype choices.
    s = parse_settings(
        ["--max-model-len", "1k", "--kv-cache-memory-bytes", "1G", "--dtype", "half"]
    )
    assert s.engine_args == {
        "max_model_len": 1000,
        "kv_cache_memory_bytes": 1 << 30,
        "dtype": "half",
    }
    with pytest.raises(UsageError, match="--dtype"):
        parse_settings(["--dtype", "int3"])


def test_engine_keywords_and_our_cpu_default() -> None:
    bare = parse_settings([])
    assert engine_kwargs(bare, on_cpu=True) == {
        "kv_cache_memory_bytes": CPU_DEFAULT_KV_CACHE_BYTES,
        "distributed_executor_backend": CPU_DEFAULT_EXECUTOR,
        "disable_log_stats": False,
    }
    assert engine_kwargs(bare, on_cpu=False) == {"disable_log_stats": False}
    share = parse_settings(["--gpu-memory-utilization", "0.5", "--max-num-seqs", "4"])
    assert engine_kwargs(share, on_cpu=True) == {
        "gpu_memory_utilization": 0.5,
        "max_num_seqs": 4,
        "distributed_executor_backend": CPU_DEFAULT_EXECUTOR,
        "disable_log_stats": False,
    }
    kv = parse_settings(["--kv-cache-memory-bytes", "1000", "--no-enable-prefix-caching"])
    assert engine_kwargs(kv, on_cpu=True) == {
        "kv_cache_memory_bytes": 1000,
        "enable_prefix_caching": False,
        "distributed_executor_backend": CPU_DEFAULT_EXECUTOR,
        "disable_log_stats": False,
    }


def test_cpu_executor_default_yields_to_the_flag_and_to_several_workers() -> None:
    chosen = parse_settings(["--distributed-executor-backend", "mp"])
    assert engine_kwargs(chosen, on_cpu=True)["distributed_executor_backend"] == "mp"
    two = parse_settings(["--tensor-parallel-size", "2"])
    assert "distributed_executor_backend" not in engine_kwargs(two, on_cpu=True)


def test_cpu_engine_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """On CPU: no AOT compile cache (it cannot load there); with `uni`, vLLM's CPU platform
    keeps `uni` only with VLLM_ENABLE_V1_MULTIPROCESSING=0, and the model's threads leave
    this process a core. What the environment already sets wins."""
    for name in ("OMP_NUM_THREADS", "VLLM_USE_AOT_COMPILE", "VLLM_ENABLE_V1_MULTIPROCESSING"):
        monkeypatch.delenv(name, raising=False)
    no_aot = {"VLLM_USE_AOT_COMPILE": "0"}
    assert cpu_engine_environment({"distributed_executor_backend": "mp"}, on_cpu=True) == no_aot
    assert cpu_engine_environment({"distributed_executor_backend": "uni"}, on_cpu=False) == {}
    cores = len(os.sched_getaffinity(0))
    assert cpu_engine_environment({"distributed_executor_backend": "uni"}, on_cpu=True) == {
        **no_aot,
        "VLLM_ENABLE_V1_MULTIPROCESSING": "0",
        "OMP_NUM_THREADS": str(max(1, cores - 1)),
    }
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    monkeypatch.setenv("VLLM_USE_AOT_COMPILE", "1")
    assert cpu_engine_environment({"distributed_executor_backend": "uni"}, on_cpu=True) == {
        "VLLM_ENABLE_V1_MULTIPROCESSING": "0"
    }


def test_environment_then_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INTERLEAVED_PORT", "9001")
    monkeypatch.setenv("INTERLEAVED_ENFORCE_EAGER", "yes")
    monkeypatch.setenv("INTERLEAVED_MAX_MODEL_LEN", "1024")
    monkeypatch.setenv("INTERLEAVED_FORMAT", "r1")
    monkeypatch.setenv("INTERLEAVED_MERGE_ADAPTER", "off")
    s = parse_settings([])
    assert (s.port, s.format, s.merge_adapter) == (9001, "r1", False)
    assert s.engine_args == {"enforce_eager": True, "max_model_len": 1024}
    argv = ["--port", "9002", "--no-enforce-eager", "--format", "none", "--merge-adapter"]
    s = parse_settings([*argv, "--max-model-len", "2048"])
    assert (s.port, s.format, s.merge_adapter) == (9002, "none", True)
    assert s.engine_args == {"enforce_eager": False, "max_model_len": 2048}


def test_a_flag_wins_over_a_bad_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    """The flag is the value used, so the variable it overrides is not read at all."""
    monkeypatch.setenv("INTERLEAVED_PORT", "eighty")
    monkeypatch.setenv("INTERLEAVED_DOCS", "maybe")
    s = parse_settings(["--port", "9003", "--docs"])
    assert (s.port, s.docs) == (9003, True)


def test_switches_take_both_forms_and_no_fields_one() -> None:
    """Every boolean setting is --x / --no-x (last one wins), except the no_* ones, which are
    a single switch: there is no --no-no-adapter."""
    switches = [n for n, f in own_fields().items() if f.annotation is bool]
    assert {"merge_adapter", "docs", "prefill_think", "no_adapter"} <= set(switches)
    for name in switches:
        field = own_fields()[name]
        if name.startswith("no_"):
            assert getattr(parse_settings([flag_name(name)]), name) is True
            with pytest.raises(UsageError, match="unrecognized arguments"):
                parse_settings(["--no-" + flag_name(name)[2:]])
            continue
        on, off = flag_name(name), "--no-" + flag_name(name)[2:]
        assert getattr(parse_settings([on]), name) is True, name
        assert getattr(parse_settings([off]), name) is False, name
        assert getattr(parse_settings([on, off]), name) is False, name
        assert getattr(parse_settings([]), name) is field.default, name


def test_help_shows_each_default_and_variable() -> None:
    text = " ".join(build_parser().format_help().split())
    assert "Port to listen on. (default: 8000) [env: INTERLEAVED_PORT]" in text
    assert "(default: interleaved) [env: INTERLEAVED_FORMAT]" in text
    assert "--merge-adapter, --no-merge-adapter" in text
    assert "[env: INTERLEAVED_MAX_MODEL_LEN]" in text  # an engine flag: the same form
    # An unset setting: null, which the flag also accepts.
    assert "(default: null) [env: INTERLEAVED_MODEL]" in text
    assert parse_settings(["--model", "/m", "--model", "null"]).model is None


def test_unknown_and_malformed_flags_name_themselves() -> None:
    with pytest.raises(UsageError, match="unrecognized arguments: --no-such-flag"):
        parse_settings(["--no-such-flag"])
    with pytest.raises(UsageError, match=r"argument --port: .*integer.*'eighty'"):
        parse_settings(["--port", "eighty"])
    with pytest.raises(UsageError, match=r"argument --format: .*'r1'.*'xml'"):
        parse_settings(["--format", "xml"])
    with pytest.raises(UsageError, match=r"argument --reasoning-effort-low-tokens: .*0"):
        parse_settings(["--reasoning-effort-low-tokens", "-1"])
    with pytest.raises(UsageError, match="argument --enforce-eager"):  # vLLM's switch
        parse_settings(["--enforce-eager=yes"])


def test_gateway_settings_do_not_import_vllm() -> None:
    """A gateway needs no engine flag, so reading its settings must not pay vLLM's import."""
    code = (
        "import sys; from server.config import parse_settings; "
        "s = parse_settings(['--upstream', 'http://up:1/v1', '--port', '9']); "
        "assert s.port == 9 and s.engine_args == {}; "
        "assert not any(m.startswith('vllm') for m in sys.modules), 'vllm imported'"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("INTERLEAVED_")}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]


def test_a_gateway_still_accepts_engine_flags() -> None:
    s = parse_settings(["--upstream", "http://up:1/v1", "--max-num-seqs", "3"])
    assert s.upstream == "http://up:1/v1" and s.engine_args == {"max_num_seqs": 3}


@pytest.mark.parametrize(
    ("env", "value"),
    [
        ("INTERLEAVED_PORT", "eighty"),
        ("INTERLEAVED_ENFORCE_EAGER", "maybe"),
        ("INTERLEAVED_FORMAT", "xml"),
        ("INTERLEAVED_DOCS", "2"),
        ("INTERLEAVED_UPSTREAM_TIMEOUT", "soon"),
        ("INTERLEAVED_MAX_MODEL_LEN", "long"),
        ("INTERLEAVED_DTYPE", "int3"),
        ("INTERLEAVED_PORT", "0"),
        ("INTERLEAVED_SHUTDOWN_GRACE_SECONDS", "-1"),
    ],
)
def test_bad_environment_values_stop_with_a_message(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], env: str, value: str
) -> None:
    monkeypatch.setenv(env, value)
    with pytest.raises(ConfigError, match=env) as caught:
        parse_settings([])
    assert not isinstance(caught.value, UsageError)
    with pytest.raises(SystemExit) as exit_info:  # the same exit code as before: 1
        main([])
    assert exit_info.value.code == 1
    assert f"{env}={value!r}" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [
        ["--upstream", "ftp://x"],
        ["--upstream", "http://x", "--adapter", "/a"],
        ["--upstream", "http://x", "--budget-enforcement", "logits"],
        ["--system-prompt", "hi", "--no-system-prompt"],
        ["--max-concurrent-requests", "0"],
        ["--header-timeout-seconds", "0"],
        ["--body-timeout-seconds", "-1"],
        ["--body-timeout-seconds", "nan"],
        ["--shutdown-grace-seconds", "-1"],
        ["--reasoning-effort-high-tokens", "-5"],
        ["--port", "eighty"],
        ["--format", "xml"],
        ["--no-such-flag"],
        ["--max-model-len", "long"],
    ],
)
def test_contradictions_are_rejected(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(UsageError) as caught:
        parse_settings(argv)
    assert caught.value.usage.startswith("usage: python -m server")
    with pytest.raises(SystemExit) as exit_info:  # as argparse exits: usage, message, code 2
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: ") and f"python -m server: error: {caught.value}" in err


def test_a_bad_regex_stops_with_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--enforce-format-regex", "(", "--upstream", "http://up:1/v1"])
    assert exit_info.value.code == 1
    assert "--enforce-format-regex: not a valid expression" in capsys.readouterr().err


def test_system_prompt_choice() -> None:
    assert system_prompt_for(parse_settings([])) == INTERLEAVED_INSTRUCTION
    assert system_prompt_for(parse_settings(["--system-prompt", "Be brief."])) == "Be brief."
    assert system_prompt_for(parse_settings(["--no-system-prompt"])) is None
    assert system_prompt_for(parse_settings(["--format", "none"])) is None


@pytest.mark.parametrize("style", ["think_answer", "interleaved", None])
def test_an_adapter_is_served_under_the_instruction_it_learned(
    tmp_path: Path, style: str | None
) -> None:
    (tmp_path / "adapter_config.json").write_text("{}")
    if style is not None:  # training writes this beside every adapter; hand-made ones lack it
        summary = {"config": {"style": style}}
        (tmp_path / "training_summary.json").write_text(json.dumps(summary))
    chosen = system_prompt_for(parse_settings(["--adapter", str(tmp_path)]))
    expected = THINK_ANSWER_INSTRUCTION if style == "think_answer" else INTERLEAVED_INSTRUCTION
    assert chosen == expected
    flag = ["--adapter", str(tmp_path), "--system-prompt", "Be brief."]
    assert system_prompt_for(parse_settings(flag)) == "Be brief."


def test_enforce_regex_per_format() -> None:
    assert enforce_regex(parse_settings([])) == INTERLEAVED_REGEX
    assert enforce_regex(parse_settings(["--enforce-format-regex", "a+"])) == "a+"
    with pytest.raises(Exception, match="format none"):
        enforce_regex(parse_settings(["--format", "none"]))


def test_backends_raise_startup_errors_not_exits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Library code raises; only server.__main__ decides exit codes (3: never listened)."""
    from server.backends.engine import resolve_model
    from server.backends.upstream import UpstreamBackend

    settings = parse_settings(["--model", str(tmp_path), "--adapter", str(tmp_path / "none")])
    with pytest.raises(StartupError, match="not a LoRA adapter folder"):
        resolve_model(settings)

    backend = UpstreamBackend(parse_settings(["--upstream", "http://up:1/v1"]))

    async def no_models() -> list[dict[str, object]]:
        return []

    monkeypatch.setattr(backend, "_models", no_models)
    with pytest.raises(StartupError, match="serves no models"):
        asyncio.run(backend.start())


def _run_server(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INTERLEAVED_")}
    return subprocess.run(
        [sys.executable, "-m", "server", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        cwd=Path(__file__).resolve().parents[1],
    )


def test_help_exits_0_and_lists_vllms_help() -> None:
    result = _run_server("--help")
    assert result.returncode == 0, result.stderr[-2000:]
    for flag in ("--upstream", "--log-level", "--max-model-len", "--no-enable-prefix-caching"):
        assert flag in result.stdout
    # With --help on the command line vLLM renders its own help texts for its flags.
    assert "vLLM: Model context length" in result.stdout


def test_a_backend_that_cannot_start_exits_3_with_its_message(tmp_path: Path) -> None:
    """A StartupError raised while the app starts: the server never listens, exit 3."""
    result = _run_server(
        "--model", str(tmp_path), "--adapter", str(tmp_path / "none"), "--port", "1"
    )  # fmt: skip
    assert result.returncode == 3, result.stderr[-3000:]
    assert "not a LoRA adapter folder" in result.stderr
