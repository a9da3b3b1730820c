"""The local backend: vLLM's `AsyncLLM` in this process, streaming DELTA outputs.

The chat template comes from the model's tokenizer; we apply it ourselves (a long prompt in a
worker thread, so it does not stall other streams) to know the prompt length up front:
that is what lets a too-long prompt or a too-large `max_tokens` get a 400 before any output.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from modelprep.merged import adapter_rank, merged_model_dir
from server.backends.base import GenerationParams, Message, Piece
from server.config import Settings
from server.generation.prompting import enforce_regex, opening_prefill, opens_by_itself, regex_after
from server.http.errors import APIError, engine_dead
from server.startup import StartupError

log = logging.getLogger("server")

CPU_DEFAULT_KV_CACHE_BYTES = 2 << 30
# The executor on CPU (one worker): `uni` runs the model in vLLM's engine-core process, on
# all cores but one (`cpu_engine_environment`). vLLM's own CPU default, `mp`, runs it in a
# worker process of its own on all cores but one and leaves that one to the engine core, which
# polls the worker without sleeping: one busy process more for the same compute
# (docs/benchmarks-latency.md, "Engine process layout", has the measurements).
CPU_DEFAULT_EXECUTOR = "uni"
WARM_UP_TIMEOUT_S = 180.0
# Prompts shorter than this are tokenized on the event loop: that takes well under a
# millisecond, less than the hop to a worker thread; longer ones go to a thread so they cannot
# stall the other streams.
INLINE_TOKENIZE_CHARS = 8192
# vLLM's LoRA ranks are a fixed menu; the adapter's rank is rounded up to the next entry.
_LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)


def resolve_model(settings: Settings) -> tuple[str, Path | None]:
    """The model folder (prepared on first use when it is the default) and the adapter."""
    from modelprep import ensure_base_model, shipped_adapter_dir

    model = settings.model or str(ensure_base_model())
    if settings.no_adapter:
        return model, None
    if settings.adapter:
        adapter = Path(settings.adapter)
        if not (adapter / "adapter_config.json").is_file():
            raise StartupError(
                f"--adapter {adapter}: not a LoRA adapter folder (no adapter_config.json)"
            )
        return model, adapter
    return model, shipped_adapter_dir()


def engine_kwargs(settings: Settings, on_cpu: bool) -> dict[str, Any]:
    """`AsyncEngineArgs` keywords from the settings: the engine flags that were set, as they
    are (see `server.config.ENGINE_ARGS`), plus our own defaults where they differ from vLLM's.
    The caller adds the model and its served name."""
    kwargs = {k: v for k, v in settings.engine_args.items() if v is not None}
    if on_cpu and "kv_cache_memory_bytes" not in kwargs and "gpu_memory_utilization" not in kwargs:
        # vLLM's default share (0.92 of node RAM on CPU) fails to start on most hosts.
        kwargs["kv_cache_memory_bytes"] = CPU_DEFAULT_KV_CACHE_BYTES
    if on_cpu and "distributed_executor_backend" not in kwargs and _one_worker(kwargs):
        # The model runs in the engine-core process (see `CPU_DEFAULT_EXECUTOR`).
        kwargs["distributed_executor_backend"] = CPU_DEFAULT_EXECUTOR
    # Engine metrics (vllm:*) land in prometheus_client's default registry, which /metrics
    # serves beside ours.
    kwargs["disable_log_stats"] = False
    return kwargs


def _one_worker(kwargs: dict[str, Any]) -> bool:
    return all(
        kwargs.get(k, 1) == 1
        for k in ("tensor_parallel_size", "pipeline_parallel_size", "data_parallel_size")
    )


def cpu_engine_environment(kwargs: dict[str, Any], on_cpu: bool) -> dict[str, str]:
    """The environment the engine process needs on CPU; {} elsewhere. Values already in the
    environment are kept.

    - `VLLM_USE_AOT_COMPILE=0`: vLLM's ahead-of-time compile cache fails to load on CPU
      (`'function' object has no attribute 'finalize_loading'`), so every start compiled the
      model again; without it vLLM caches inductor's compiled graphs, which do load, and a
      second start skips compiling (measured with `python -m benchmarks.startup`).
    - With the `uni` executor:
      - `VLLM_ENABLE_V1_MULTIPROCESSING=0`: vLLM's CPU platform replaces `uni` by `mp` unless
        it is set; for `AsyncLLM` it changes nothing else (the engine core keeps its own
        process).
      - `OMP_NUM_THREADS`: the model's threads, one core fewer than this process may use (at
        least one), so that this process (HTTP, detokenizing, shaping) keeps a core; vLLM's
        `mp` layout leaves one out likewise. Threads that outnumber the free cores wait on
        each other at every parallel region: on a loaded 2-core host two threads decoded 25x
        slower than one.
    """
    if not on_cpu:
        return {}
    env = {"VLLM_USE_AOT_COMPILE": "0"}
    if kwargs.get("distributed_executor_backend") == "uni":
        env["VLLM_ENABLE_V1_MULTIPROCESSING"] = "0"
        env["OMP_NUM_THREADS"] = str(max(1, len(os.sched_getaffinity(0)) - 1))
    return {k: v for k, v in env.items() if k not in os.environ}


class EngineGeneration:
    """A running engine request. Iterate for lists of pieces; `aclose()` aborts it."""

    def __init__(
        self,
        engine: Any,
        request_id: str,
        outputs: AsyncIterator[Any],
        first: Any,
        prompt_tokens: int,
    ) -> None:
        self.prompt_tokens = prompt_tokens
        self._engine = engine
        self._request_id = request_id
        self._outputs = outputs
        self._first = first
        self._done = False
        # The engine's timestamps of the request (vLLM's RequestStateStats; None when the
        # engine keeps no stats): what the per-request `metrics` are computed from.
        self.stats: Any = first.metrics

    async def __aiter__(self) -> AsyncIterator[list[Piece]]:
        first, self._first = self._first, None
        if first is not None:
            yield _pieces(first)
            if first.finished:
                self._done = True
                return
        from vllm.v1.engine.exceptions import EngineDeadError

        try:
            async for out in self._outputs:
                if out.metrics is not None:
                    self.stats = out.metrics
                yield _pieces(out)
        except EngineDeadError as exc:
            self._done = True  # nothing left to abort
            raise engine_dead() from exc
        self._done = True

    async def aclose(self) -> None:
        """Abort the engine request unless it finished (idempotent)."""
        if self._done:
            return
        self._done = True
        try:
            await self._outputs.aclose()  # type: ignore[attr-defined]
        finally:
            await self._engine.abort(self._request_id)


def _pieces(out: Any) -> list[Piece]:
    return [Piece(o.index, o.text, len(o.token_ids), o.finish_reason) for o in out.outputs]


class EngineBackend:
    """`server.backends.base.Backend` on an in-process vLLM engine."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.model_name = settings.served_model_name or ""
        # Reasoning budgets steered inside the engine (`server.generation.budget_logits`) rather
        # than by abort-and-continue in `server.generation.run.Run`.
        self.steers_in_engine = settings.budget_enforcement == "logits"
        # `--prefill-think`: the opening think tag every reply starts with ("" when off).
        self.opening = opening_prefill(settings)
        self.opening_if_required = not opens_by_itself(settings)
        self.max_model_len: int | None = None
        self._engine: Any = None
        self._tokenizer: Any = None
        self._lora: Any = None
        self._defaults: dict[str, Any] = {}

    async def start(self) -> None:
        from vllm.engine.arg_utils import AsyncEngineArgs
        from vllm.lora.request import LoRARequest
        from vllm.platforms import current_platform
        from vllm.v1.engine.async_llm import AsyncLLM

        s = self.settings
        model, adapter = resolve_model(s)
        weights = model
        if adapter is not None and s.merge_adapter:
            weights = str(merged_model_dir(Path(model), adapter))
        if not self.model_name:
            self.model_name = (adapter or Path(model)).name
        on_cpu = current_platform.is_cpu()
        kwargs = engine_kwargs(s, on_cpu)
        # Read when the engine configuration is built, here, and inherited by the engine process.
        os.environ.update(cpu_engine_environment(kwargs, on_cpu))
        kwargs.update(model=weights, served_model_name=self.model_name)
        if s.budget_enforcement == "logits":
            from server.generation.budget_logits import QUALNAME

            kwargs["logits_processors"] = [QUALNAME]
        if adapter is not None and not s.merge_adapter:
            rank = adapter_rank(adapter)
            kwargs.update(
                enable_lora=True,
                max_loras=1,
                max_lora_rank=next(r for r in _LORA_RANKS if r >= rank),
            )
            self._lora = LoRARequest(self.model_name, 1, str(adapter))
        # xgrammar compiles the enforce_format expression's bounded repetitions in seconds, more
        # on a busy CPU, and vLLM gives up after 5 s by default; the result is cached, so it is
        # paid once (by the warm-up below).
        os.environ.setdefault("VLLM_REGEX_COMPILATION_TIMEOUT_S", "120")
        log.info(
            "starting vLLM engine: model=%s adapter=%s merged=%s served as %r",
            model,
            adapter,
            adapter is not None and s.merge_adapter,
            self.model_name,
        )
        self._engine = AsyncLLM.from_engine_args(AsyncEngineArgs(**kwargs))
        self._tokenizer = self._engine.get_tokenizer()
        self.max_model_len = self._engine.model_config.max_model_len
        # The model's own sampling defaults (generation_config.json), as vLLM's server uses.
        self._defaults = self._engine.model_config.get_diff_sampling_param()
        await self._warm_up_enforce_format()

    async def _warm_up_enforce_format(self) -> None:
        """Compile the enforce_format expression now, so the first such request does not wait
        for it; with `--prefill-think` also its rest after the opening, which is what most
        such requests use. A failure is logged, not fatal: only enforce_format requests need
        it."""
        try:
            regex = enforce_regex(self.settings)
        except APIError:
            return  # --format none: no expression
        rest = regex_after(regex, self.opening) if self.opening else None
        for pattern in (regex,) if rest is None else (rest, regex):
            started = time.monotonic()
            params = GenerationParams(max_tokens=1, regex=pattern)
            try:
                generation = await asyncio.wait_for(
                    self.generate([Message("user", "Hi")], params, "warm-up"), WARM_UP_TIMEOUT_S
                )
                # Run the one-token request to its end: compiling the expression is the point.
                _ = [pieces async for pieces in generation]
            except Exception as exc:
                log.warning(
                    "enforce_format warm-up failed (%s: %s); the first enforce_format "
                    "request will compile the expression",
                    type(exc).__name__,
                    exc,
                )
                return
            log.info("enforce_format expression compiled in %.1f s", time.monotonic() - started)

    async def stop(self) -> None:
        if self._engine is not None:
            self._engine.shutdown()
            self._engine = None

    async def check_health(self) -> None:
        if self._engine is None:
            raise RuntimeError("engine not started")
        await self._engine.check_health()

    def is_dead(self) -> bool:
        # vLLM marks the client errored when the engine core process exits or its output
        # loop fails; neither recovers, so the server has to be restarted.
        return self._engine is not None and bool(self._engine.errored)

    def schema_problem(self, schema: dict[str, Any]) -> str | None:
        return schema_problem(schema)

    def _prompt_ids(self, messages: list[Message]) -> list[int]:
        chat = [{"role": m.role, "content": m.content} for m in messages]
        return list(
            self._tokenizer.apply_chat_template(
                chat, add_generation_prompt=True, tokenize=True, return_dict=False
            )
        )

    def count_tokens(self, text: str) -> int:
        return len(self._tokenizer.encode(text, add_special_tokens=False))

    def _sampling(self, params: GenerationParams, max_tokens: int) -> Any:
        from vllm.sampling_params import RequestOutputKind, SamplingParams

        return SamplingParams(
            n=params.n,
            max_tokens=max_tokens,
            temperature=params.temperature
            if params.temperature is not None
            else self._defaults.get("temperature", 1.0),
            top_p=params.top_p if params.top_p is not None else self._defaults.get("top_p", 1.0),
            stop=list(params.stop) or None,
            seed=params.seed,
            output_kind=RequestOutputKind.DELTA,
            structured_outputs=_structured(params),
            extra_args=params.extra_args,
        )

    async def generate(
        self,
        messages: list[Message],
        params: GenerationParams,
        request_id: str,
        prefix: str = "",
        *,
        opening: str = "",
    ) -> EngineGeneration:
        from vllm.exceptions import VLLMValidationError
        from vllm.inputs import TokensPrompt
        from vllm.v1.engine.exceptions import EngineDeadError

        try:
            if sum(len(m.content) for m in messages) < INLINE_TOKENIZE_CHARS:
                ids = self._prompt_ids(messages)
            else:
                ids = await asyncio.to_thread(self._prompt_ids, messages)
        except Exception as exc:  # a template that rejects the conversation (role order...)
            raise APIError(
                400,
                f"messages: the chat template rejected them: {exc}",
                param="messages",
                code="invalid_value",
            ) from exc
        prompt_tokens = len(ids)
        limit = self.max_model_len or 0
        if prefix:
            # A continuation: the reply so far goes after the template's generation prompt,
            # as if the model had written it (prefix caching makes its prefill cheap).
            ids += self._tokenizer.encode(prefix, add_special_tokens=False)
            room = limit - len(ids)
            if room < 1:
                raise APIError(
                    400,
                    f"no room left in the {limit}-token context to continue the reply",
                    code="context_length_exceeded",
                )
            max_tokens = min(params.max_tokens or room, room)
        else:
            max_tokens = _check_lengths(len(ids), params.max_tokens, limit)
            if opening:
                # Written for the model (`--prefill-think`): its tokens are completion tokens.
                ids += self._tokenizer.encode(opening, add_special_tokens=False)
                max_tokens -= len(ids) - prompt_tokens
                if max_tokens < 1:
                    raise APIError(
                        400,
                        f"the prompt leaves no room in the {limit}-token context for the reply",
                        param="messages",
                        code="context_length_exceeded",
                    )
        try:
            sampling = self._sampling(params, max_tokens)
        except (VLLMValidationError, ValueError) as exc:  # vLLM checks the values (n > 1 greedy)
            raise APIError(400, str(exc), code="invalid_value") from exc
        engine_id = f"{request_id}-{uuid.uuid4().hex[:8]}"
        outputs = self._engine.generate(
            TokensPrompt(prompt_token_ids=ids),
            sampling,
            request_id=engine_id,
            lora_request=self._lora,
        )
        # Wait for the first output here, not in the response body: validation happens when
        # the engine admits the request, and its errors must still become 4xx responses.
        try:
            first = await anext(outputs)
        except asyncio.CancelledError:
            # The client left while the request was queued or in prefill (the route watches
            # for that). vLLM aborts a cancelled generate() itself, except when the cancel
            # lands before it has handed back its queue; this abort covers that gap.
            await self._engine.abort(engine_id)
            raise
        except (VLLMValidationError, ValueError) as exc:
            raise APIError(400, str(exc), code="invalid_value") from exc
        except EngineDeadError as exc:
            raise engine_dead() from exc
        except StopAsyncIteration:
            raise APIError(500, "the engine returned no output", code="engine_error") from None
        return EngineGeneration(self._engine, engine_id, outputs, first, prompt_tokens)


def _structured(params: GenerationParams) -> Any:
    from vllm.sampling_params import StructuredOutputsParams

    if params.structural_tag:
        return StructuredOutputsParams(structural_tag=params.structural_tag)
    if params.regex:
        return StructuredOutputsParams(regex=params.regex)
    return None


def schema_problem(schema: dict[str, Any]) -> str | None:
    """Why vLLM's grammar backend (xgrammar) cannot constrain output to `schema`, or None."""
    import xgrammar as xgr
    from vllm.v1.structured_output.backend_xgrammar import (
        has_xgrammar_unsupported_json_features,
    )

    try:
        if has_xgrammar_unsupported_json_features(schema):
            return "the schema uses JSON Schema features the engine's grammar cannot enforce"
        xgr.Grammar.from_json_schema(json.dumps(schema))
    except Exception as exc:  # xgrammar's own errors carry the reason
        return f"the engine cannot compile the schema: {exc}"
    return None


def _check_lengths(prompt_tokens: int, max_tokens: int | None, limit: int) -> int:
    """The completion budget; 400 when the prompt or the requested budget does not fit."""
    if prompt_tokens >= limit:
        raise APIError(
            400,
            f"the prompt is {prompt_tokens} tokens but the model's context is {limit} tokens "
            "(prompt plus at least one completion token must fit)",
            param="messages",
            code="context_length_exceeded",
        )
    room = limit - prompt_tokens
    if max_tokens is None:
        return room
    if max_tokens > room:
        raise APIError(
            400,
            f"max_tokens is {max_tokens} but only {room} tokens fit after the "
            f"{prompt_tokens}-token prompt (context {limit})",
            param="max_tokens",
            code="context_length_exceeded",
        )
    return max_tokens
