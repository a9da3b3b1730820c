"""The server's settings: one declaration, filled from command-line flags and environment variables.

`ServerSettings` declares each of the server's own settings once (type, default, constraints,
help text). pydantic-settings derives the rest from it: the flag `--some-flag` (booleans also
`--no-some-flag`; a field named `no_*` is a plain switch), the environment variable
`INTERLEAVED_SOME_FLAG`, the help text with the default and the variable, and the
precedence: a flag on the command line wins over the environment, which wins over the default.
Boolean variables take 1/true/yes/on or 0/false/no/off. `python -m server --help` lists them all.

What the library cannot do is here too: vLLM's engine arguments (`ENGINE_ARGS`) come from
vLLM's own argument definitions (types, choices, help) and land in `Settings.engine_args`,
passed to the engine as they are; and a bad value raises `server.startup.UsageError` (a flag)
or `ConfigError` (a variable), which `server.__main__` turns into a message and an exit code.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Mapping, Sequence
from functools import cache
from typing import Annotated, Any, Literal, NoReturn, get_args

from pydantic import BeforeValidator, Field, ValidationError
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    CliSettingsSource,
    CliToggleFlag,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from server.startup import ConfigError, UsageError

ENV_PREFIX = "INTERLEAVED_"
FormatName = Literal["interleaved", "r1", "none"]
FORMATS: tuple[str, ...] = get_args(FormatName)
PROG = "python -m server"
DESCRIPTION = (
    "OpenAI-compatible server that streams every intermediate answer of an interleaved-reasoning "
    "model. Each flag can also be set as INTERLEAVED_<FLAG>."
)

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}
_BOOL_EXPECTED = "expected one of 1/0, true/false, yes/no, on/off"


def _switch(value: Any) -> Any:
    """A boolean from the environment: exactly the words listed in _TRUE and _FALSE."""
    if isinstance(value, str):
        word = value.strip().lower()
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
        raise ValueError(_BOOL_EXPECTED)
    return value


Switch = Annotated[bool, BeforeValidator(_switch)]

# vLLM's engine arguments this server exposes, by `vllm.engine.arg_utils.EngineArgs` field name.
# Their flags (the name with dashes; `--no-` for booleans), types, choices and help text are
# vLLM's own (`AsyncEngineArgs.add_cli_args`); the text here is what we add to vLLM's help. One
# that is not set is not passed, so vLLM's default applies, except where our default differs:
# - gpu_memory_utilization / kv_cache_memory_bytes: on CPU, with neither set, the KV cache gets
#   2 GiB (`server.backends.engine.CPU_DEFAULT_KV_CACHE_BYTES`), because vLLM's default share
#   (0.92 of host RAM there) fails to start on most hosts.
# - distributed_executor_backend: on CPU with one worker,
#   `server.backends.engine.CPU_DEFAULT_EXECUTOR`.
ENGINE_ARGS: dict[str, str] = {
    "max_model_len": "(default: the model's)",
    "max_num_seqs": "",
    "max_num_batched_tokens": "A long prompt is prefilled in chunks of this size, and an abort "
    "(a client gone) takes effect when the step in progress ends.",
    "tensor_parallel_size": "",
    "pipeline_parallel_size": "",
    "data_parallel_size": "",
    "distributed_executor_backend": "Default here on CPU with one worker: uni (the model runs "
    "in the engine-core process; vLLM's CPU default mp gives it a worker process and all cores "
    "but one, the other left to a polling engine core).",
    "dtype": "(default: auto)",
    "gpu_memory_utilization": "On CPU: a share of node RAM.",
    "kv_cache_memory_bytes": "Default on CPU without --gpu-memory-utilization: 2 GiB.",
    "enforce_eager": "Skips compilation/graph capture: starts faster, decodes slower.",
    "enable_prefix_caching": "vLLM's default: on. Off makes greedy output independent of what "
    "ran before.",
}


class ServerSettings(BaseSettings):
    """The server's own settings. Field names are the flags without dashes; each field's
    description is its flag's help text, to which the help adds the default and the variable."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        frozen=True,
        extra="forbid",
        cli_kebab_case=True,  # max_model_len -> --max-model-len
        cli_implicit_flags=True,  # a boolean is --x / --no-x (a `CliToggleFlag` only --x)
        cli_show_env_vars=True,  # "[env: INTERLEAVED_X]" in the help
        cli_hide_none_type=True,  # "--model str", not "--model {str,null}"
    )

    # What to serve.
    model: str | None = Field(
        None,
        description="Hugging Face model folder; unset: the project's base model, prepared "
        "automatically on first start.",
    )
    adapter: str | None = Field(
        None,
        description="LoRA adapter folder served on top of the model; unset: the project's "
        "trained interleaved adapter when it ships.",
    )
    no_adapter: CliToggleFlag[Switch] = Field(
        False, description="Serve the bare model even when an adapter ships."
    )
    merge_adapter: Switch = Field(
        True,
        description="Merge the adapter into the weights once at load time (decodes at "
        "base-model speed). --no-merge-adapter uses vLLM's LoRA instead.",
    )
    served_model_name: str | None = Field(
        None,
        description="Model name clients send and /v1/models lists; unset: the adapter's or "
        "model's folder name, or the upstream's model.",
    )
    format: FormatName = Field(
        "interleaved",
        description="Output format of the model, i.e. which parsing preset splits its "
        "text into thinking and answers.",
    )
    tool_call_syntax: Literal["hermes"] = Field(
        "hermes",
        description="How the model writes tool calls, i.e. which parsing preset reads them "
        '(hermes: <tool_call>{"name": ..., "arguments": {...}}</tool_call>).',
    )
    system_prompt: str | None = Field(
        None,
        description="System prompt used when a request has none; unset, with the "
        "interleaved format: the interleaved instruction.",
    )
    no_system_prompt: CliToggleFlag[Switch] = Field(False, description="Never add a system prompt.")
    # Gateway mode: forward to an OpenAI-compatible server instead of running an engine.
    upstream: str | None = Field(
        None,
        description="Gateway mode: forward requests to this OpenAI-compatible server "
        "(e.g. http://host:8000/v1) that streams raw text, and shape its output; no local engine.",
    )
    upstream_api_key: str | None = Field(None, description="Bearer key sent to the upstream.")
    upstream_model: str | None = Field(
        None, description="Model name sent to the upstream; unset: its first model."
    )
    upstream_tools: Switch = Field(
        False,
        description="Gateway mode: pass a request's tools, tool_choice and "
        "parallel_tool_calls on to the upstream (for an upstream that forces or parses calls "
        "itself, e.g. vLLM with --enable-auto-tool-choice) instead of listing the tools in the "
        "system prompt; the calls it returns are parsed like the model's own text.",
    )
    upstream_timeout: float = Field(600.0, description="Seconds to wait for the upstream.")
    # HTTP.
    host: str = Field("127.0.0.1", description="Interface to listen on.")
    port: int = Field(8000, gt=0, description="Port to listen on.")
    api_key: str | None = Field(
        None, description="Require 'Authorization: Bearer KEY' on /v1/ routes."
    )
    max_concurrent_requests: int = Field(
        256, gt=0, description="Generation requests in flight before new ones get 429."
    )
    max_request_bytes: int = Field(
        4 * 1024 * 1024,
        gt=0,
        description="Largest accepted request body (the default is 4 MiB); larger gets 413.",
    )
    header_timeout_seconds: float = Field(
        10.0,
        gt=0,
        description="A client must send a request's headers within this time of its first "
        "byte (or of connecting); else 408 and the connection is closed.",
    )
    body_timeout_seconds: float = Field(
        30.0,
        gt=0,
        description="A client must send the whole request body within this time of its "
        "headers; else 408 and the connection is closed.",
    )
    docs: Switch = Field(
        False,
        description="Serve the interactive API docs (/docs, /redoc) and the schema "
        "(/openapi.json). With --api-key they need the key too.",
    )
    shutdown_grace_seconds: float = Field(
        30.0,
        ge=0,
        description="On SIGTERM, how long running streams may take to finish before they are cut.",
    )
    reasoning_content_field: Switch = Field(
        False,
        description="Also send thinking text as `reasoning_content` (the older name) beside "
        "`reasoning`.",
    )
    per_request_metrics: Switch = Field(
        False,
        description="Add vLLM's per-request `metrics` object (time_to_first_token_ms, "
        "generation_time_ms, queue_time_ms, mean_itl_ms, tokens_per_second) to responses: "
        "the chat body and a stream's usage chunk, the final Responses object, the Messages "
        "response and its message_delta (for n=1).",
    )
    thinking_signature_key: str | None = Field(
        None,
        description="Secret for the signatures of Messages API thinking blocks; unset: a "
        "random one per process, so signatures do not survive a restart or reach another "
        "replica (set it to share them).",
    )
    enforce_format_regex: str | None = Field(
        None,
        description="Regular expression used for requests with enforce_format; unset: 2-3 "
        "bounded think/answer pairs.",
    )
    # Total think-token caps of `reasoning_effort` low / medium / high
    # (server.generation.reasoning_fields).
    reasoning_effort_low_tokens: int = Field(
        64,
        ge=0,
        description="Total thinking tokens a request with reasoning_effort 'low' may use; then "
        "every segment is an answer.",
    )
    reasoning_effort_medium_tokens: int = Field(
        256, ge=0, description="Total thinking tokens of reasoning_effort 'medium'."
    )
    reasoning_effort_high_tokens: int = Field(
        1024, ge=0, description="Total thinking tokens of reasoning_effort 'high'."
    )
    prefill_think: Switch = Field(
        True,
        description="Write the opening <think> of every reply for the model, as the start of "
        "the assistant turn, instead of letting it decode those tokens: the first reasoning "
        "text streams that many decode steps sooner, and the output, usage and answer offsets "
        "stay what they were. Local engine with the interleaved format only; a model served "
        "without an adapter (it may be a base model that does not write the format) only "
        "where enforce_format requires the tag.",
    )
    budget_enforcement: Literal["continue", "logits"] = Field(
        "continue",
        description="How reasoning budgets are enforced: 'continue' aborts the generation and "
        "continues it with the closing and opening tags as the assistant prefix (also in "
        "gateway mode); 'logits' has the engine write the tags itself through a logits "
        "processor, no second prefill, in-process engine only (python -m "
        "benchmarks.forced_close compares them).",
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        "info", description="Log level."
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The command line (a `CliSettingsSource`, which pydantic-settings puts first) over
        # the environment over the defaults; no .env or secrets files.
        return init_settings, env_settings


class Settings(ServerSettings):
    """Everything the server needs to start: its own settings and the vLLM engine arguments
    that were set (flag or variable), by EngineArgs field name. `parse_settings` builds it."""

    engine_args: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)  # what `parse_settings` read: no second look at the environment


def own_fields() -> dict[str, FieldInfo]:
    """The server's own settings (each a flag and a variable), in declaration order."""
    return dict(ServerSettings.model_fields)


def flag_name(name: str) -> str:
    """`max_model_len` -> `--max-model-len`."""
    return "--" + name.replace("_", "-")


def env_name(flag: str) -> str:
    """`--max-model-len` (or `max_model_len`) -> `INTERLEAVED_MAX_MODEL_LEN`."""
    return ENV_PREFIX + flag.lstrip("-").replace("-", "_").upper()


class _Parser(argparse.ArgumentParser):
    """argparse, except that an error raises `UsageError` instead of exiting."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message, self.format_usage())


@cache
def vllm_engine_actions() -> dict[str, argparse.Action] | None:
    """vLLM's own argparse actions for `ENGINE_ARGS`, by field name; None without vLLM.

    Importing vLLM takes seconds, so a gateway that needs no engine flag does not call this.
    """
    try:
        from vllm.engine.arg_utils import AsyncEngineArgs
    except ImportError:
        return None
    scratch = argparse.ArgumentParser(add_help=False, conflict_handler="resolve")
    AsyncEngineArgs.add_cli_args(scratch)  # type: ignore[arg-type]
    by_dest = {action.dest: action for action in scratch._actions}
    return {name: by_dest[name] for name in ENGINE_ARGS}


def _help_of(action: argparse.Action, note: str) -> str:
    """vLLM's help (its first sentence), our note and the variable, as the library writes it."""
    paragraph = re.sub(r"\s+", " ", (action.help or "").strip().split("\n\n")[0])
    first = re.split(r"(?<=\.)\s", paragraph, maxsplit=1)[0].rstrip(":")
    text = " ".join(t for t in (f"vLLM: {first}" if first else "vLLM.", note) if t)
    return f"{text} [env: {env_name(action.dest)}]"


def _add_engine_flags(parser: argparse.ArgumentParser) -> None:
    """vLLM's engine flags, each with its variable's value as the default, converted by the
    flag itself; one that is not set (no flag, no variable) stays out of the namespace, so
    vLLM's default applies."""
    actions = vllm_engine_actions()
    if actions is None:
        parser.add_argument_group(
            "vLLM engine", "vLLM is not installed: its engine flags are not available."
        )
        return
    group = parser.add_argument_group("vLLM engine", "Passed to vLLM unchanged.")
    for name, action in actions.items():
        flag, help_text = flag_name(name), _help_of(action, ENGINE_ARGS[name])
        if isinstance(action, argparse.BooleanOptionalAction):
            kind: dict[str, Any] = {"action": argparse.BooleanOptionalAction}
        elif type(action) is argparse._StoreAction and action.nargs is None:
            # argparse's own type (str) when vLLM gives none
            kind = {"type": action.type or str, "choices": action.choices}
            kind["metavar"] = name.upper()
        else:  # pragma: no cover - a vLLM upgrade changed the argument's kind
            raise TypeError(f"vLLM's {flag} is a {type(action).__name__}: not supported here")
        group.add_argument(flag, dest=name, default=argparse.SUPPRESS, help=help_text, **kind)
    for name, action in actions.items():
        if (raw := os.environ.get(env_name(name))) is not None:
            parser.set_defaults(**{name: _engine_value_from_env(parser, action, raw)})


def _engine_value_from_env(
    parser: argparse.ArgumentParser, action: argparse.Action, raw: str
) -> Any:
    """A variable's value, read as its flag would read it."""
    flag = flag_name(action.dest)
    try:
        if isinstance(action, argparse.BooleanOptionalAction):
            return _switch(raw)
        return getattr(parser.parse_args([f"{flag}={raw}"]), action.dest)
    except (ValueError, UsageError) as exc:  # _switch's, or argparse's message
        raise ConfigError(f"{env_name(flag)}={raw!r}: {exc}") from None


def build_parser(*, engine: bool = True) -> argparse.ArgumentParser:
    """The command line: our own settings' flags (pydantic-settings' `CliSettingsSource`), then
    vLLM's engine flags unless `engine` is False."""
    parser, _ = _command_line(engine)
    return parser


def _command_line(engine: bool) -> tuple[_Parser, CliSettingsSource[_Parser]]:
    parser = _Parser(prog=PROG, description=DESCRIPTION)
    source = CliSettingsSource[_Parser](ServerSettings, root_parser=parser)
    if engine:
        _add_engine_flags(parser)
    return parser, source


def _needs_engine_flags(argv: Sequence[str], parser: argparse.ArgumentParser) -> bool:
    """False for a gateway (--upstream) whose command line and environment name only our own
    flags (`parser` has them): it need not import vLLM to read its settings."""
    gateway = ENV_PREFIX + "UPSTREAM" in os.environ or any(
        a == "--upstream" or a.startswith("--upstream=") for a in argv
    )
    if not gateway:
        return True
    own = {o for a in parser._actions for o in a.option_strings} - {"-h", "--help"}
    if any(a.startswith("-") and a.split("=", 1)[0] not in own for a in argv):
        return True  # --help, an engine flag, an abbreviation: let the full parser judge
    return any(env_name(n) in os.environ for n in ENGINE_ARGS)


def parse_settings(argv: Sequence[str] | None = None) -> Settings:
    """Settings from flags (argv, default sys.argv[1:]) over environment over defaults."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser, source = _command_line(engine=False)
    if _needs_engine_flags(argv, parser):
        _add_engine_flags(parser)
    values = vars(parser.parse_args(argv))
    engine_args = {name: values.pop(name) for name in ENGINE_ARGS if name in values}
    try:
        own = ServerSettings(_cli_settings_source=source(parsed_args=values))
    except ValidationError as exc:
        raise _bad_value(exc, values, parser.format_usage()) from None
    settings = Settings(**own.model_dump(), engine_args=engine_args)
    problem = validate(settings)
    if problem:
        raise UsageError(problem, parser.format_usage())
    return settings


def _bad_value(exc: ValidationError, flags: Mapping[str, Any], usage: str) -> ConfigError:
    """The first bad value, named as the user gave it: a flag (`UsageError`) or a variable."""
    error = exc.errors()[0]
    name = str(error["loc"][0])
    message = str(error["msg"]).removeprefix("Value error, ")
    if name in flags:
        return UsageError(f"argument {flag_name(name)}: {message}, got {error['input']!r}", usage)
    return ConfigError(f"{env_name(name)}={error['input']!r}: {message}")


def validate(settings: Settings) -> str | None:
    """The first inconsistency among the settings, as a message for the user, or None."""
    if settings.upstream and not settings.upstream.startswith(("http://", "https://")):
        return f"--upstream must be an http(s) URL, got {settings.upstream!r}"
    if settings.upstream and settings.adapter:
        return "--adapter needs the local engine; it cannot be combined with --upstream"
    if settings.upstream and settings.budget_enforcement == "logits":
        return (
            "--budget-enforcement logits needs the local engine (the logits processor runs "
            "inside it); with --upstream budgets are enforced by 'continue'"
        )
    if settings.no_system_prompt and settings.system_prompt:
        return "--system-prompt and --no-system-prompt contradict each other"
    return None
