"""The server's settings: one declaration, filled from command-line flags and environment variables.

`Settings` declares each of the server's own settings once (type, default, help text); the flag
`--some-flag` and the environment variable `INTERLEAVED_SOME_FLAG` are derived from the field
`some_flag`. vLLM's engine arguments (`ENGINE_ARGS`) come from vLLM's own argument definitions
and land in `Settings.engine_args`, passed to the engine as they are. Boolean settings take
1/true/yes/on or 0/false/no/off in the environment. A flag on the command line wins over the
environment, which wins over the default. `python -m server --help` lists them all.

Bad values raise `server.startup.UsageError` (flags) or `ConfigError` (environment);
`server.__main__` turns them into a message and an exit code.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Sequence
from functools import cache
from typing import Annotated, Any, Literal, NoReturn, get_args, get_origin

from pydantic import BeforeValidator, Field, ValidationError
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from server.startup import ConfigError, UsageError

ENV_PREFIX = "INTERLEAVED_"
FormatName = Literal["interleaved", "r1", "none"]
FORMATS: tuple[str, ...] = get_args(FormatName)
PROG = "python -m server"

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


class _EnvSource(EnvSettingsSource):
    """The environment, for our own settings only: engine arguments have their own variables."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        if field_name == "engine_args":
            return None, field_name, False
        return super().get_field_value(field, field_name)


class Settings(BaseSettings):
    """Everything the server needs to start. Field names are the flags without dashes; each
    field's description is its flag's help text."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, frozen=True, extra="forbid")

    # What to serve.
    model: str | None = Field(
        None,
        description="Hugging Face model folder (default: the project's base model, prepared "
        "automatically on first start).",
    )
    adapter: str | None = Field(
        None,
        description="LoRA adapter folder served on top of the model (default: the project's "
        "trained interleaved adapter when it ships).",
    )
    no_adapter: Switch = Field(
        False, description="Serve the bare model even when an adapter ships."
    )
    merge_adapter: Switch = Field(
        True,
        description="Merge the adapter into the weights once at load time (default; "
        "decodes at base-model speed). --no-merge-adapter uses vLLM's LoRA instead.",
    )
    served_model_name: str | None = Field(
        None,
        description="Model name clients send and /v1/models lists (default: the "
        "adapter's or model's folder name, or the upstream's model).",
    )
    format: FormatName = Field(
        "interleaved",
        description="Output format of the model, i.e. which parsing preset splits its "
        "text into thinking and answers (default: interleaved).",
    )
    tool_call_syntax: Literal["hermes"] = Field(
        "hermes",
        description="How the model writes tool calls, i.e. which parsing preset reads them "
        '(default: hermes, <tool_call>{"name": ..., "arguments": {...}}</tool_call>).',
    )
    system_prompt: str | None = Field(
        None,
        description="System prompt used when a request has none (default for the "
        "interleaved format: the interleaved instruction).",
    )
    no_system_prompt: Switch = Field(False, description="Never add a system prompt.")
    # Gateway mode: forward to an OpenAI-compatible server instead of running an engine.
    upstream: str | None = Field(
        None,
        description="Gateway mode: forward requests to this OpenAI-compatible server "
        "(e.g. http://host:8000/v1) that streams raw text, and shape its output; no local engine.",
    )
    upstream_api_key: str | None = Field(None, description="Bearer key sent to the upstream.")
    upstream_model: str | None = Field(
        None, description="Model name sent to the upstream (default: its first model)."
    )
    upstream_tools: Switch = Field(
        False,
        description="Gateway mode: pass a request's tools, tool_choice and "
        "parallel_tool_calls on to the upstream (for an upstream that forces or parses calls "
        "itself, e.g. vLLM with --enable-auto-tool-choice) instead of listing the tools in the "
        "system prompt; the calls it returns are parsed like the model's own text.",
    )
    upstream_timeout: float = Field(
        600.0, description="Seconds to wait for the upstream (default: 600)."
    )
    # HTTP.
    host: str = Field("127.0.0.1", description="Interface to listen on (default: 127.0.0.1).")
    port: int = Field(8000, description="Port to listen on (default: 8000).")
    api_key: str | None = Field(
        None, description="Require 'Authorization: Bearer KEY' on /v1/ routes."
    )
    max_concurrent_requests: int = Field(
        256, description="Generation requests in flight before new ones get 429 (default: 256)."
    )
    max_request_bytes: int = Field(
        4 * 1024 * 1024,
        description="Largest accepted request body; larger gets 413 (default: 4 MiB).",
    )
    header_timeout_seconds: float = Field(
        10.0,
        description="A client must send a request's headers within this time of its first "
        "byte (or of connecting); else 408 and the connection is closed (default: 10).",
    )
    body_timeout_seconds: float = Field(
        30.0,
        description="A client must send the whole request body within this time of its "
        "headers; else 408 and the connection is closed (default: 30).",
    )
    docs: Switch = Field(
        False,
        description="Serve the interactive API docs (/docs, /redoc) and the schema "
        "(/openapi.json); off by default. With --api-key they need the key too.",
    )
    shutdown_grace_seconds: float = Field(
        30.0,
        description="On SIGTERM, how long running streams may take to "
        "finish before they are cut (default: 30).",
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
        description="Secret for the signatures of Messages API thinking blocks (default: a "
        "random one per process, so signatures do not survive a restart or reach another "
        "replica; set it to share them).",
    )
    enforce_format_regex: str | None = Field(
        None,
        description="Regular expression used for requests with "
        "enforce_format (default: 2-3 bounded think/answer pairs).",
    )
    # Total think-token caps of `reasoning_effort` low / medium / high
    # (server.generation.reasoning_fields).
    reasoning_effort_low_tokens: int = Field(
        64,
        description="Total thinking tokens a request with reasoning_effort 'low' may use; then "
        "every segment is an answer (default: 64).",
    )
    reasoning_effort_medium_tokens: int = Field(
        256, description="Total thinking tokens of reasoning_effort 'medium' (default: 256)."
    )
    reasoning_effort_high_tokens: int = Field(
        1024, description="Total thinking tokens of reasoning_effort 'high' (default: 1024)."
    )
    prefill_think: Switch = Field(
        True,
        description="Write the opening <think> of every reply for the model, as the start of "
        "the assistant turn, instead of letting it decode those tokens: the first reasoning "
        "text streams that many decode steps sooner, and the output, usage and answer offsets "
        "stay what they were. Local engine with the interleaved format only; a model served "
        "without an adapter (it may be a base model that does not write the format) only "
        "where enforce_format requires the tag (default: on).",
    )
    budget_enforcement: Literal["continue", "logits"] = Field(
        "continue",
        description="How reasoning budgets are enforced: 'continue' aborts the generation and "
        "continues it with the closing and opening tags as the assistant prefix (also in "
        "gateway mode); 'logits' has the engine write the tags itself through a logits "
        "processor, no second prefill, in-process engine only (default: continue; "
        "python -m benchmarks.forced_close compares them).",
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        "info", description="Log level (default: info)."
    )
    # vLLM: the `ENGINE_ARGS` that were set (flag or environment), by EngineArgs field name.
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
        # Arguments (the command line) over the environment over the defaults; nothing else.
        return init_settings, _EnvSource(settings_cls)


def own_fields() -> dict[str, FieldInfo]:
    """The server's own settings (each a flag and a variable), in declaration order."""
    return {k: v for k, v in Settings.model_fields.items() if k != "engine_args"}


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


def _value_type(annotation: Any) -> Any:
    """`int | None` -> int; `Literal[...]` -> the tuple of choices; bool stays bool."""
    if get_origin(annotation) is Literal:
        return get_args(annotation)
    args = [a for a in get_args(annotation) if a is not type(None)]
    return _value_type(args[0]) if args else annotation


def _add_own_flag(
    parser: argparse.ArgumentParser, name: str, info: FieldInfo, default: Any
) -> None:
    flag = flag_name(name)
    kind = _value_type(info.annotation)
    help_text = f"{info.description} [env {env_name(flag)}]"
    if kind is bool and flag.startswith("--no-"):
        # Already a negation: a plain switch, so no "--no-no-..." appears.
        parser.add_argument(flag, dest=name, action="store_true", default=default, help=help_text)
    elif kind is bool:
        parser.add_argument(
            flag, dest=name, action=argparse.BooleanOptionalAction, default=default, help=help_text
        )
    elif isinstance(kind, tuple):
        parser.add_argument(flag, dest=name, choices=kind, default=default, help=help_text)
    else:
        parser.add_argument(flag, dest=name, type=kind, default=default, help=help_text)


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


def _engine_value_from_env(action: argparse.Action, name: str, raw: str) -> Any:
    """An engine argument's environment value, converted as vLLM converts its flag."""
    if isinstance(action, argparse.BooleanOptionalAction):
        try:
            return _switch(raw)
        except ValueError:
            raise ConfigError(f"{name}={raw!r}: {_BOOL_EXPECTED}") from None
    try:
        value = action.type(raw) if callable(action.type) else raw
    except (ValueError, TypeError, argparse.ArgumentTypeError) as exc:
        flag = flag_name(action.dest)
        raise ConfigError(f"{name}={raw!r}: not a valid value of {flag} ({exc})") from None
    if action.choices is not None and value not in action.choices:
        raise ConfigError(f"{name}={raw!r}: expected one of {', '.join(map(str, action.choices))}")
    return value


def _help_of(action: argparse.Action, note: str) -> str:
    """vLLM's help (its first sentence), our note and the variable."""
    paragraph = re.sub(r"\s+", " ", (action.help or "").strip().split("\n\n")[0])
    first = re.split(r"(?<=\.)\s", paragraph, maxsplit=1)[0].rstrip(":")
    text = " ".join(t for t in (f"vLLM: {first}" if first else "vLLM.", note) if t)
    return f"{text} [env {env_name(action.dest)}]"


def _add_engine_flags(
    parser: argparse.ArgumentParser, actions: dict[str, argparse.Action] | None
) -> None:
    if actions is None:
        parser.add_argument_group(
            "vLLM engine", "vLLM is not installed: its engine flags are not available."
        )
        return
    group = parser.add_argument_group("vLLM engine", "Passed to vLLM unchanged.")
    for name, action in actions.items():
        flag = flag_name(name)
        var = env_name(name)
        raw = os.environ.get(var)
        # Unset (no flag, no variable) stays out of the namespace: vLLM's default applies.
        default = argparse.SUPPRESS if raw is None else _engine_value_from_env(action, var, raw)
        help_text = _help_of(action, ENGINE_ARGS[name])
        if isinstance(action, argparse.BooleanOptionalAction):
            group.add_argument(
                flag,
                dest=name,
                action=argparse.BooleanOptionalAction,
                default=default,
                help=help_text,
            )
        elif type(action) is argparse._StoreAction and action.nargs is None:
            group.add_argument(
                flag,
                dest=name,
                type=action.type or str,  # argparse's own default when vLLM gives none
                choices=action.choices,
                default=default,
                metavar=name.upper(),
                help=help_text,
            )
        else:  # pragma: no cover - a vLLM upgrade changed the argument's kind
            raise TypeError(f"vLLM's {flag} is a {type(action).__name__}: not supported here")


def from_environment() -> Settings:
    """The server's own settings from the environment over the defaults (no flags)."""
    try:
        return Settings()
    except ValidationError as exc:
        raise ConfigError(_env_problem(exc)) from None


_EXPECTED = {"int_parsing": "expected int", "float_parsing": "expected float"}


def _env_problem(exc: ValidationError) -> str:
    error = exc.errors()[0]
    name = env_name(str(error["loc"][0])) if error["loc"] else ENV_PREFIX + "*"
    raw = os.environ.get(name)
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] in _EXPECTED:
        message = _EXPECTED[error["type"]]
    if error["type"] == "literal_error":
        message = "expected one of " + ", ".join(get_args(_field_annotation(error["loc"][0])))
    return f"{name}={raw!r}: {message}"


def _field_annotation(name: Any) -> Any:
    return Settings.model_fields[str(name)].annotation


def build_parser(
    defaults: Settings | None = None, *, engine: bool = True
) -> argparse.ArgumentParser:
    """The command line: our own settings (defaults: `defaults`, or the environment's), then
    vLLM's engine arguments unless `engine` is False."""
    defaults = defaults if defaults is not None else from_environment()
    parser = _Parser(
        prog=PROG,
        description="OpenAI-compatible server that streams every intermediate answer of an "
        "interleaved-reasoning model. Each flag can also be set as INTERLEAVED_<FLAG>.",
    )
    for name, info in own_fields().items():
        _add_own_flag(parser, name, info, getattr(defaults, name))
    if engine:
        _add_engine_flags(parser, vllm_engine_actions())
    return parser


def _needs_engine_flags(argv: Sequence[str]) -> bool:
    """False for a gateway (--upstream) whose command line and environment name only our own
    flags: it need not import vLLM to read its settings."""
    gateway = ENV_PREFIX + "UPSTREAM" in os.environ or any(
        a == "--upstream" or a.startswith("--upstream=") for a in argv
    )
    if not gateway:
        return True
    if any(a.startswith("-") and a.split("=", 1)[0] not in _own_options() for a in argv):
        return True  # --help, an engine flag, an abbreviation: let the full parser judge
    return any(env_name(n) in os.environ for n in ENGINE_ARGS)


def _own_options() -> set[str]:
    options = set()
    for name in own_fields():
        options.add(flag_name(name))
        options.add("--no-" + name.replace("_", "-"))
    return options


def parse_settings(argv: Sequence[str] | None = None) -> Settings:
    """Settings from flags (argv, default sys.argv[1:]) over environment over defaults."""
    argv = list(sys.argv[1:] if argv is None else argv)
    base = from_environment()
    parser = build_parser(base, engine=_needs_engine_flags(argv))
    values = vars(parser.parse_args(argv))
    engine_args = {name: values.pop(name) for name in ENGINE_ARGS if name in values}
    try:
        settings = Settings(**values, engine_args=engine_args)
    except ValidationError as exc:  # argparse converted the values; this is a safety net
        raise UsageError(str(exc), parser.format_usage()) from None
    problem = validate(settings)
    if problem:
        raise UsageError(problem, parser.format_usage())
    return settings


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
    for name in ("max_concurrent_requests", "max_request_bytes", "port"):
        if getattr(settings, name) <= 0:
            return f"--{name.replace('_', '-')} must be positive"
    for name in ("header_timeout_seconds", "body_timeout_seconds"):
        if not getattr(settings, name) > 0:  # `not >` also catches NaN
            return f"--{name.replace('_', '-')} must be positive"
    for level in ("low", "medium", "high"):
        if getattr(settings, f"reasoning_effort_{level}_tokens") < 0:
            return f"--reasoning-effort-{level}-tokens must not be negative"
    if settings.shutdown_grace_seconds < 0:
        return "--shutdown-grace-seconds must not be negative"
    return None
