"""The server's settings: one dataclass, filled from command-line flags and environment variables.

Every flag `--some-flag` can also be set with the environment variable `INTERLEAVED_SOME_FLAG`
(boolean flags take 1/true/yes/on or 0/false/no/off). A flag on the command line wins over the
environment, which wins over the default. `python -m server --help` lists them all.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

ENV_PREFIX = "INTERLEAVED_"
FORMATS = ("interleaved", "r1", "none")


@dataclass(frozen=True)
class Settings:
    """Everything the server needs to start. Field names are the flags without dashes."""

    # What to serve.
    model: str | None = None  # None: the project's default base model, prepared on first use
    adapter: str | None = None  # None: the shipped interleaved adapter, when there is one
    no_adapter: bool = False  # serve the bare model even when an adapter ships
    merge_adapter: bool = True  # merge the LoRA into the weights (faster decode) vs vLLM LoRA
    served_model_name: str | None = None
    format: str = "interleaved"
    system_prompt: str | None = None  # replaces the interleaved instruction
    no_system_prompt: bool = False
    # Gateway mode: forward to an OpenAI-compatible server instead of running an engine.
    upstream: str | None = None
    upstream_api_key: str | None = None
    upstream_model: str | None = None
    upstream_timeout: float = 600.0
    # HTTP.
    host: str = "127.0.0.1"
    port: int = 8000
    api_key: str | None = None
    max_concurrent_requests: int = 256
    max_request_bytes: int = 4 * 1024 * 1024
    header_timeout_seconds: float = 10.0
    body_timeout_seconds: float = 30.0
    docs: bool = False
    shutdown_grace_seconds: float = 30.0
    reasoning_content_field: bool = False
    enforce_format_regex: str | None = None
    # Total think-token caps of `reasoning_effort` low / medium / high (server.reasoning_fields).
    reasoning_effort_low_tokens: int = 64
    reasoning_effort_medium_tokens: int = 256
    reasoning_effort_high_tokens: int = 1024
    log_level: str = "info"
    # Engine (vLLM), passed through unchanged.
    max_model_len: int | None = None
    max_num_seqs: int | None = None
    max_num_batched_tokens: int | None = None
    tensor_parallel_size: int = 1
    pipeline_parallel_size: int = 1
    data_parallel_size: int = 1
    distributed_executor_backend: str | None = None
    dtype: str = "auto"
    gpu_memory_utilization: float | None = None
    kv_cache_memory_bytes: int | None = None
    enforce_eager: bool = False
    enable_prefix_caching: bool | None = None  # None: vLLM's default (on)


# (flag, type, help). Types: str, int, float, bool (a switch), or a tuple of choices.
_FLAGS: list[tuple[str, Any, str]] = [
    (
        "--model",
        str,
        "Hugging Face model folder (default: the project's base model, prepared "
        "automatically on first start).",
    ),
    (
        "--adapter",
        str,
        "LoRA adapter folder served on top of the model (default: the project's "
        "trained interleaved adapter when it ships).",
    ),
    ("--no-adapter", bool, "Serve the bare model even when an adapter ships."),
    (
        "--merge-adapter",
        bool,
        "Merge the adapter into the weights once at load time (default; "
        "decodes at base-model speed). --no-merge-adapter uses vLLM's LoRA instead.",
    ),
    (
        "--served-model-name",
        str,
        "Model name clients send and /v1/models lists (default: the "
        "adapter's or model's folder name, or the upstream's model).",
    ),
    (
        "--format",
        FORMATS,
        "Output format of the model, i.e. which parsing preset splits its "
        "text into thinking and answers (default: interleaved).",
    ),
    (
        "--system-prompt",
        str,
        "System prompt used when a request has none (default for the "
        "interleaved format: the interleaved instruction).",
    ),
    ("--no-system-prompt", bool, "Never add a system prompt."),
    (
        "--upstream",
        str,
        "Gateway mode: forward requests to this OpenAI-compatible server "
        "(e.g. http://host:8000/v1) that streams raw text, and shape its output; no local engine.",
    ),
    ("--upstream-api-key", str, "Bearer key sent to the upstream."),
    ("--upstream-model", str, "Model name sent to the upstream (default: its first model)."),
    ("--upstream-timeout", float, "Seconds to wait for the upstream (default: 600)."),
    ("--host", str, "Interface to listen on (default: 127.0.0.1)."),
    ("--port", int, "Port to listen on (default: 8000)."),
    ("--api-key", str, "Require 'Authorization: Bearer KEY' on /v1/ routes."),
    (
        "--max-concurrent-requests",
        int,
        "Generation requests in flight before new ones get 429 (default: 256).",
    ),
    (
        "--max-request-bytes",
        int,
        "Largest accepted request body; larger gets 413 (default: 4 MiB).",
    ),
    (
        "--header-timeout-seconds",
        float,
        "A client must send a request's headers within this time of its first byte (or of "
        "connecting); else 408 and the connection is closed (default: 10).",
    ),
    (
        "--body-timeout-seconds",
        float,
        "A client must send the whole request body within this time of its headers; else 408 "
        "and the connection is closed (default: 30).",
    ),
    (
        "--docs",
        bool,
        "Serve the interactive API docs (/docs, /redoc) and the schema (/openapi.json); off by "
        "default. With --api-key they need the key too.",
    ),
    (
        "--shutdown-grace-seconds",
        float,
        "On SIGTERM, how long running streams may take to "
        "finish before they are cut (default: 30).",
    ),
    (
        "--reasoning-content-field",
        bool,
        "Also send thinking text as `reasoning_content` (the older name) beside `reasoning`.",
    ),
    (
        "--enforce-format-regex",
        str,
        "Regular expression used for requests with "
        "enforce_format (default: 2-3 bounded think/answer pairs).",
    ),
    (
        "--reasoning-effort-low-tokens",
        int,
        "Total thinking tokens a request with reasoning_effort 'low' may use; then every "
        "segment is an answer (default: 64).",
    ),
    (
        "--reasoning-effort-medium-tokens",
        int,
        "Total thinking tokens of reasoning_effort 'medium' (default: 256).",
    ),
    (
        "--reasoning-effort-high-tokens",
        int,
        "Total thinking tokens of reasoning_effort 'high' (default: 1024).",
    ),
    ("--log-level", ("debug", "info", "warning", "error"), "Log level (default: info)."),
    ("--max-model-len", int, "vLLM: context length (default: the model's)."),
    ("--max-num-seqs", int, "vLLM: sequences batched per step."),
    (
        "--max-num-batched-tokens",
        int,
        "vLLM: tokens per engine step. A long prompt is prefilled in chunks of this size, and "
        "an abort (a client gone) takes effect when the step in progress ends.",
    ),
    ("--tensor-parallel-size", int, "vLLM: tensor parallel size."),
    ("--pipeline-parallel-size", int, "vLLM: pipeline parallel size."),
    ("--data-parallel-size", int, "vLLM: data parallel size."),
    ("--distributed-executor-backend", str, "vLLM: 'mp' or 'ray'."),
    ("--dtype", str, "vLLM: weight dtype (default: auto)."),
    (
        "--gpu-memory-utilization",
        float,
        "vLLM: share of GPU memory (on CPU: of node RAM) for weights and KV cache.",
    ),
    (
        "--kv-cache-memory-bytes",
        int,
        "vLLM: KV cache size in bytes (default on CPU without --gpu-memory-utilization: 2 GiB).",
    ),
    (
        "--enforce-eager",
        bool,
        "vLLM: skip compilation/graph capture; starts faster, decodes slower.",
    ),
    (
        "--enable-prefix-caching",
        bool,
        "vLLM: reuse the KV cache of shared prompt prefixes (vLLM's default: on). Off makes "
        "greedy output independent of what ran before.",
    ),
]

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_name(flag: str) -> str:
    """`--max-model-len` -> `INTERLEAVED_MAX_MODEL_LEN`."""
    return ENV_PREFIX + flag.lstrip("-").replace("-", "_").upper()


def _env_default(flag: str, kind: Any, default: Any) -> Any:
    raw = os.environ.get(env_name(flag))
    if raw is None:
        return default
    name = env_name(flag)
    if kind is bool:
        if raw.strip().lower() in _TRUE:
            return True
        if raw.strip().lower() in _FALSE:
            return False
        raise SystemExit(f"{name}={raw!r}: expected one of 1/0, true/false, yes/no, on/off")
    if isinstance(kind, tuple):
        if raw not in kind:
            raise SystemExit(f"{name}={raw!r}: expected one of {', '.join(kind)}")
        return raw
    try:
        return kind(raw)
    except ValueError:
        raise SystemExit(f"{name}={raw!r}: expected {kind.__name__}") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m server",
        description="OpenAI-compatible server that streams every intermediate answer of an "
        "interleaved-reasoning model. Each flag can also be set as INTERLEAVED_<FLAG>.",
    )
    defaults = {f.name: f.default for f in fields(Settings)}
    for flag, kind, help_text in _FLAGS:
        dest = flag.lstrip("-").replace("-", "_")
        default = _env_default(flag, kind, defaults[dest])
        help_text = f"{help_text} [env {env_name(flag)}]"
        if kind is bool and flag.startswith("--no-"):
            # Already a negation: a plain switch, so no "--no-no-..." appears.
            parser.add_argument(
                flag, dest=dest, action="store_true", default=default, help=help_text
            )
        elif kind is bool:
            parser.add_argument(
                flag,
                dest=dest,
                action=argparse.BooleanOptionalAction,
                default=default,
                help=help_text,
            )
        elif isinstance(kind, tuple):
            parser.add_argument(flag, dest=dest, choices=kind, default=default, help=help_text)
        else:
            parser.add_argument(flag, dest=dest, type=kind, default=default, help=help_text)
    return parser


def parse_settings(argv: Sequence[str] | None = None) -> Settings:
    """Settings from flags (argv, default sys.argv[1:]) over environment over defaults."""
    parser = build_parser()
    args = parser.parse_args(argv)
    settings = Settings(**vars(args))
    problem = validate(settings)
    if problem:
        parser.error(problem)
    return settings


def validate(settings: Settings) -> str | None:
    """The first inconsistency among the settings, as a message for the user, or None."""
    if settings.upstream and not settings.upstream.startswith(("http://", "https://")):
        return f"--upstream must be an http(s) URL, got {settings.upstream!r}"
    if settings.upstream and settings.adapter:
        return "--adapter needs the local engine; it cannot be combined with --upstream"
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
