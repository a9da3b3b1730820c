"""What the HTTP layer needs from whatever generates text: the in-process vLLM engine
(`server.backends.engine`) or an upstream OpenAI-compatible server (`server.backends.upstream`).

Both turn a validated chat request into a stream of `Piece`s: raw text deltas per choice with
the number of tokens they took. Everything after that (parsing, event shaping, metrics) is the
same for both, which is what makes the gateway mode behave exactly like the local engine.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True, slots=True)
class Message:
    """One chat message after validation: role in {system, user, assistant}, plain text."""

    role: str
    content: str


@dataclass(frozen=True, slots=True)
class GenerationParams:
    """Sampling settings, already validated by the HTTP layer."""

    max_tokens: int | None = None  # None: up to the context length
    temperature: float | None = None  # None: the model's own default (generation_config.json)
    top_p: float | None = None
    n: int = 1
    stop: tuple[str, ...] = ()
    seed: int | None = None
    regex: str | None = None  # structured output: the completion must match this expression
    # Structured output as an xgrammar structural tag (JSON text; `server.structured.grammar`):
    # tool calls and JSON final answers. At most one of `regex` and `structural_tag` is set.
    structural_tag: str | None = None
    # Gateway mode with --upstream-tools: OpenAI's `tools`, `tool_choice` and
    # `parallel_tool_calls`, passed to the upstream as they are.
    tools: dict[str, Any] | None = None
    # Engine-side steering (`server.generation.budgets.engine_args`): passed to vLLM's
    # SamplingParams.
    extra_args: dict[str, object] | None = None


@dataclass(slots=True)
class Piece:
    """New output of one choice: `text` produced by `num_tokens` tokens; `finish_reason` is set
    on the choice's last piece ("stop", "length", "abort", ...)."""

    index: int
    text: str
    num_tokens: int
    finish_reason: str | None = None


class Generation(Protocol):
    """A started generation. Iterating yields its pieces; `aclose()` aborts it at the source."""

    prompt_tokens: int

    def __aiter__(self) -> AsyncIterator[list[Piece]]: ...

    async def aclose(self) -> None: ...


class Backend(Protocol):
    """The source of completions; `server.api` holds exactly one."""

    model_name: str
    max_model_len: int | None
    # True when reasoning budgets are enforced inside the engine (a logits processor closes
    # the thinking, `--budget-enforcement logits`); `Steering` then only marks what it forces.
    steers_in_engine: bool

    async def start(self) -> None:
        """Get ready to serve (load the engine, or look up the upstream)."""

    async def stop(self) -> None:
        """Release the engine or the connection pool."""

    async def check_health(self) -> None:
        """Return if generation works right now; raise otherwise."""

    def is_dead(self) -> bool:
        """True once the backend can never generate again (the engine process died): the
        server then exits for its supervisor to restart it. A failure that may pass (an
        upstream outage) is not death."""

    def schema_problem(self, schema: dict[str, Any]) -> str | None:
        """Why the engine could not constrain output to this JSON Schema (None when it can, or
        when it is not this backend's to say: an upstream checks its own requests)."""

    async def generate(
        self,
        messages: list[Message],
        params: GenerationParams,
        request_id: str,
        prefix: str = "",
    ) -> Generation:
        """Validate and submit a request. Raises `server.http.errors.APIError` for anything the
        client caused, before any output exists, so the caller can still answer 4xx.

        `prefix`, when not empty, is the start of the assistant's reply: generation continues
        it (a reasoning budget's forced close resumes this way, see `server.generation.run`). The
        engine leaves its tokens out of `prompt_tokens`; a gateway cannot, and `Run` corrects
        for that. With a prefix, `max_tokens` is clamped to the room left in the context
        instead of being an error. Callers pass it only when it
        is not empty, so backends without budgets need not take it."""


@runtime_checkable
class Prefilling(Protocol):
    """A backend that writes the opening of every reply for the model (`--prefill-think`):
    the local engine. `server.generation.run.Run` feeds the same text to its shapers, so everything
    after them sees the reply as if the model had written it."""

    opening: str  # the text written ("" when not prefilling)
    # The model may not write it on its own: only requests whose enforce_format expression
    # requires it are prefilled.
    opening_if_required: bool

    def count_tokens(self, text: str) -> int:
        """The tokens `text` takes as the start of a reply."""

    async def generate(
        self,
        messages: list[Message],
        params: GenerationParams,
        request_id: str,
        prefix: str = "",
        *,
        opening: str = "",
    ) -> Generation:
        """As `Backend.generate`; `opening`, when not empty, is written as the start of the
        reply: its tokens count as completion tokens, against `max_tokens`, and the lengths
        are checked as without it."""
