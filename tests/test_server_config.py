"""Settings: flags, INTERLEAVED_* environment variables, their precedence and validation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from parsing import INTERLEAVED_INSTRUCTION, THINK_ANSWER_INSTRUCTION
from server.config import _FLAGS, build_parser, env_name, parse_settings
from server.prompting import INTERLEAVED_REGEX, enforce_regex, system_prompt_for


def test_defaults() -> None:
    s = parse_settings([])
    assert (s.model, s.adapter, s.format, s.host, s.port) == (
        None,
        None,
        "interleaved",
        "127.0.0.1",
        8000,
    )
    assert s.merge_adapter and not s.enforce_eager and s.shutdown_grace_seconds == 30.0
    assert not s.docs  # the docs routes are opt-in
    assert (s.header_timeout_seconds, s.body_timeout_seconds) == (10.0, 30.0)


def test_every_flag_has_an_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    samples = {bool: ("1", True), int: ("7", 7), float: ("0.5", 0.5), str: ("abc", "abc")}
    for flag, kind, _ in _FLAGS:
        raw, expected = (kind[-1], kind[-1]) if isinstance(kind, tuple) else samples[kind]
        monkeypatch.setenv(env_name(flag), raw)
        dest = flag.lstrip("-").replace("-", "_")
        assert getattr(build_parser().parse_args([]), dest) == expected, flag
        monkeypatch.delenv(env_name(flag))
    assert {"--tensor-parallel-size", "--gpu-memory-utilization", "--upstream"} <= {
        f for f, _, _ in _FLAGS
    }


def test_environment_then_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INTERLEAVED_PORT", "9001")
    monkeypatch.setenv("INTERLEAVED_ENFORCE_EAGER", "yes")
    monkeypatch.setenv("INTERLEAVED_MAX_MODEL_LEN", "1024")
    monkeypatch.setenv("INTERLEAVED_FORMAT", "r1")
    s = parse_settings([])
    assert (s.port, s.enforce_eager, s.max_model_len, s.format) == (9001, True, 1024, "r1")
    s = parse_settings(["--port", "9002", "--no-enforce-eager", "--format", "none"])
    assert (s.port, s.enforce_eager, s.format) == (9002, False, "none")


@pytest.mark.parametrize(
    ("env", "value"),
    [
        ("INTERLEAVED_PORT", "eighty"),
        ("INTERLEAVED_ENFORCE_EAGER", "maybe"),
        ("INTERLEAVED_FORMAT", "xml"),
    ],
)
def test_bad_environment_values_stop_with_a_message(
    monkeypatch: pytest.MonkeyPatch, env: str, value: str
) -> None:
    monkeypatch.setenv(env, value)
    with pytest.raises(SystemExit, match=env):
        parse_settings([])


@pytest.mark.parametrize(
    "argv",
    [
        ["--upstream", "ftp://x"],
        ["--upstream", "http://x", "--adapter", "/a"],
        ["--system-prompt", "hi", "--no-system-prompt"],
        ["--max-concurrent-requests", "0"],
        ["--header-timeout-seconds", "0"],
        ["--body-timeout-seconds", "-1"],
        ["--body-timeout-seconds", "nan"],
    ],
)
def test_contradictions_are_rejected(argv: list[str]) -> None:
    with pytest.raises(SystemExit):
        parse_settings(argv)


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
