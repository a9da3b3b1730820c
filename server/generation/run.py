"""One admitted generation request, from the backend's first output to its cleanup.

The request path flows one way: backend pieces → `Run` (the choices' shapers) → an encoder's
events → the response. `Run.events(encoder)` is the one loop over the pieces, for chat and
Responses, streaming or not: it yields the encoder's events (`ServerSentEvent`s) and ends
with the run closed and its `RunSummary` (usage, outcome, each choice's finish reason and
timings) in `Run.summary`. When the request ends however it ends (completed, client gone,
error), `close` aborts what is still running, frees the admission slot, records metrics and
returns that summary; the route hands it to the access log (`server.http.middleware.AccessRecord`).

The request's reasoning budget is `server.generation.steering.Steering`'s: the run passes it
choice 0's text and asks it after each output; when it says so, the run aborts the backend
generation and starts a continuation from the steering's prefix, the text so far plus the tags
it inserted (with prefix caching the prefill of the text so far is mostly cache hits, and
`ForcedClose.resume_ms` reports what each close cost). With `--budget-enforcement logits` the
in-process engine forces the tags itself and nothing is aborted.

With `--prefill-think` the local engine writes the reply's opening think tag for the model
(`server.backends.base.Prefilling`): the run feeds that text to every choice's shaper first, as if
the model had written it (its tokens counted as completion tokens), and asks the engine's grammar
for the rest of the reply only (`server.structured.grammar.after`). Output, usage and answer
offsets are what they were; the first reasoning text streams the tag's decode steps sooner.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import replace
from typing import Protocol, TypeVar

from parsing import get_format
from server import metrics
from server.backends.base import Backend, Generation, GenerationParams, Message, Piece, Prefilling
from server.generation.budgets import NO_BUDGET, ReasoningBudget
from server.generation.shaping import ChoiceShaper, Op, RunSummary, chat_usage, summarize
from server.generation.steering import Steering
from server.http.errors import APIError, as_api_error, generation_error
from server.http.streams import Admission
from server.schemas import ChoiceTimings, Usage
from server.structured.final import FinalAnswerCheck
from server.structured.grammar import Constraint, after
from server.tools.calls import CallParsing

log = logging.getLogger("server")
E = TypeVar("E", covariant=True)

# One step of output: (choice index, its ops, its finish reason or None) per choice that moved.
Step = list[tuple[int, list[Op], str | None]]


class Encoder(Protocol[E]):
    """Turns a run's ops into what the client is sent (`server.generation.shaping.ChatEncoder`,
    `server.responses.encoder.ResponsesEncoder`)."""

    def start(self) -> Sequence[E]: ...

    def ops(self, index: int, ops: list[Op]) -> Sequence[E]: ...

    def finish(self, index: int, finish_reason: str, timings: ChoiceTimings) -> Sequence[E]: ...

    def end(self, summary: RunSummary) -> Sequence[E]: ...

    def error(self, error: APIError) -> Sequence[E]: ...


class Silent:
    """The encoder of a non-streaming chat request: nothing is sent until the end, and the
    body is built from the run's shapers and summary."""

    def start(self) -> list[None]:
        return []

    def ops(self, index: int, ops: list[Op]) -> list[None]:
        return []

    def finish(self, index: int, finish_reason: str, timings: ChoiceTimings) -> list[None]:
        return []

    def end(self, summary: RunSummary) -> list[None]:
        return []

    def error(self, error: APIError) -> list[None]:
        return []


class Run:
    def __init__(
        self,
        backend: Backend,
        messages: list[Message],
        params: GenerationParams,
        format: str,
        admission: Admission,
        request_id: str,
        t0: float,
        budget: ReasoningBudget = NO_BUDGET,
        calls: CallParsing | None = None,
        final_check: FinalAnswerCheck | None = None,
    ) -> None:
        self.backend = backend
        self.messages = messages
        self.params = params
        self.request_id = request_id
        self.t0 = t0  # the request's arrival (monotonic seconds)
        self.shapers = [ChoiceShaper(format, self.t0, calls, final_check) for _ in range(params.n)]
        self.generation: Generation | None = None
        self._first_generation: Generation | None = None
        self.summary: RunSummary | None = None  # set by `close`
        # Every budget decision is the steering's; it watches choice 0 (budgets need n=1).
        self.steering = Steering(
            budget, self.shapers[0], get_format(format), self.t0, backend.steers_in_engine
        )
        self._admission = admission
        self._prompt_tokens = 0  # the first submission's, when known then (the engine)
        self._prefix_tokens = 0  # completion tokens in the current generation's prefix
        self._opening = ""  # written for the model as the start of the reply (`_prefill`)

    async def start(self) -> None:
        """Submit the request (raises `APIError` for what the client caused). A budget that
        allows no thinking at all opens the response with an answer right away."""
        tokens = self._prefill()
        self.params = self.steering.engine_params(self.params, self._opening, tokens)
        self.steering.start(time.monotonic(), self._opening)
        if self._opening:
            assert isinstance(self.backend, Prefilling)
            self.generation = await self.backend.generate(
                self.messages, self.params, self.request_id, opening=self._opening
            )
            # The model goes on from the opening: every choice's text starts with it.
            now = time.monotonic()
            for shaper in self.shapers:
                opened = shaper.feed(self._opening, tokens, now)
                assert not opened, "an opening tag alone produces no output"
        else:
            self.generation = await self._submit(self.steering.prefix, self.params)
        self._first_generation = self.generation  # its engine timestamps go into `metrics`
        self._prompt_tokens = self.generation.prompt_tokens

    def _prefill(self) -> int:
        """Decide whether the backend writes the reply's opening (`--prefill-think`): set
        `_opening` and the constraint on the rest, and return the opening's tokens. Not when a
        budget opens the reply with an answer, when `max_tokens` leaves no room after it, when
        the grammar of the rest cannot be said, or, for a model that may not write the opening
        on its own, when no enforce_format expression requires it."""
        backend = self.backend
        if not isinstance(backend, Prefilling) or not backend.opening:
            return 0
        if not self.steering.allows_opening():
            return 0
        params = self.params
        if backend.opening_if_required and params.regex is None:
            return 0
        opening = backend.opening
        tokens = backend.count_tokens(opening)
        if params.max_tokens is not None and params.max_tokens <= tokens:
            return 0
        rest = after(Constraint(params.regex, params.structural_tag), opening)
        if rest is None:
            return 0
        self.params = replace(params, regex=rest.regex, structural_tag=rest.structural_tag)
        self._opening = opening
        return tokens

    async def _submit(self, prefix: str, params: GenerationParams) -> Generation:
        request_id = self.request_id
        if prefix:
            return await self.backend.generate(self.messages, params, request_id, prefix=prefix)
        return await self.backend.generate(self.messages, params, request_id)

    def feed(self, piece: Piece, now: float) -> list[Op]:
        """A piece of one choice: its ops, including the end of its segments if it finished."""
        shaper = self.shapers[piece.index]
        text = self.steering.text(piece.text, piece.finish_reason is not None)
        ops = shaper.feed(text, piece.num_tokens, now)
        if piece.finish_reason is not None:
            closing = shaper.close(now, piece.finish_reason)
            if closing:
                ops = ops + closing if ops else closing
        return ops

    async def steps(self) -> AsyncIterator[Step]:
        """The request's output, step by step, across the continuations a budget causes."""
        assert self.generation is not None, "start() first"
        while True:
            forced: list[Op] | None = None
            assert self.generation is not None
            async for pieces in self.generation:
                now = time.monotonic()
                step: Step = []
                for piece in pieces:
                    ops = self.feed(piece, now)
                    # The shaper's finish reason: "tool_calls" where the engine said "stop".
                    finish = None
                    if piece.finish_reason is not None:
                        finish = self.shapers[piece.index].finish_reason or piece.finish_reason
                    step.append((piece.index, ops, finish))
                if (forced := self.steering.after_output(now)) is not None:
                    if step:
                        index, ops, finish = step[-1]
                        step[-1] = (index, ops + forced, finish)
                    else:
                        step.append((0, forced, None))
                    yield step
                    break
                if step:
                    yield step
            if forced is None:
                return
            finish = await self._resume()
            if finish is not None:
                yield [(0, self.shapers[0].close(time.monotonic(), finish), finish)]
                return

    async def _resume(self) -> str | None:
        """Abort the generation and continue from the text so far; a finish reason instead
        when nothing can follow (no tokens left of max_tokens, or of the context)."""
        assert self.generation is not None
        shaper = self.shapers[0]
        decided = time.monotonic()
        await self.generation.aclose()
        params = self.params
        if params.max_tokens is not None:
            left = params.max_tokens - shaper.completion_tokens
            if left <= 0:
                return "length"
            params = replace(params, max_tokens=left)
        before = shaper.completion_tokens
        try:
            generation = await self._submit(self.steering.prefix, params)
        except APIError as exc:
            if exc.code == "context_length_exceeded":
                return "length"
            raise
        self.generation = generation
        self._prefix_tokens = before
        shaper.forced[-1].resume_ms = round((time.monotonic() - decided) * 1000.0, 3)
        return None

    async def events(self, encoder: Encoder[E], *, in_band_errors: bool = True) -> AsyncIterator[E]:
        """The run as the client sees it: the encoder's events for every step, then the end
        events, the run closed ("completed") just before them (a client that hangs up on
        seeing them has still been served completely). A failure closes the run ("error");
        with `in_band_errors` (a stream whose 200 is sent) it becomes the encoder's error
        events, else it propagates to the exception handlers."""
        for event in encoder.start():
            yield event
        try:
            async for step in self.steps():
                for index, ops, finish_reason in step:
                    if ops:
                        for event in encoder.ops(index, ops):
                            yield event
                    if finish_reason is not None:
                        for event in encoder.finish(index, finish_reason, self.timings(index)):
                            yield event
            for index in self.close_unfinished(time.monotonic()):
                for event in encoder.finish(index, "abort", self.timings(index)):
                    yield event
            summary = await self.close("completed")
            for event in encoder.end(summary):
                yield event
        except Exception as exc:
            await self.close("error")
            if not in_band_errors:
                raise
            # The response has started: the error can only go into the stream itself.
            log.warning("stream failed mid-way: %s: %s", type(exc).__name__, exc, exc_info=exc)
            for event in encoder.error(as_api_error(exc, generation_error())):
                yield event

    async def complete(self, encoder: Encoder[object] | None = None) -> RunSummary:
        """Non-streaming: run to the end (`events`, its output dropped) and return the
        summary. A failure propagates, after the run is closed."""
        chosen: Encoder[object] = encoder if encoder is not None else Silent()
        async for _ in self.events(chosen, in_band_errors=False):
            continue  # drain: a non-streaming body is built from the shapers and the summary
        assert self.summary is not None
        return self.summary

    def close_unfinished(self, now: float) -> list[int]:
        """Choices the backend ended without a finish reason (should not happen) end here,
        as "abort"; returns their indices."""
        ended = []
        for index, shaper in enumerate(self.shapers):
            if shaper.finish_reason is None:
                shaper.close(now, "abort")
                ended.append(index)
        return ended

    def finished(self) -> bool:
        return all(s.finish_reason is not None for s in self.shapers)

    @property
    def prompt_tokens(self) -> int:
        """The conversation's prompt tokens. A gateway learns them only from the upstream's
        final usage, which an aborted stream never sends; a continuation's count includes the
        reply so far, which we subtract (the forced tags, a few tokens, stay in)."""
        if self._prompt_tokens:
            return self._prompt_tokens
        if self.generation is None:
            return 0
        return max(0, self.generation.prompt_tokens - self._prefix_tokens)

    def usage(self) -> Usage:
        return chat_usage(self.prompt_tokens, self.shapers)

    def timings(self, index: int) -> ChoiceTimings:
        return self.shapers[index].timings(index)

    async def close(self, outcome: str) -> RunSummary:
        """Idempotent cleanup; returns the run's summary, whose `outcome` is the first close's
        (it goes to the access log)."""
        if self.summary is not None:
            return self.summary
        stats = getattr(self._first_generation, "stats", None)
        self.summary = summarize(outcome, self.prompt_tokens, self.shapers, stats)
        self._admission.leave()
        end = time.monotonic()
        for shaper in self.shapers:
            if shaper.finish_reason is not None and shaper.finish_reason != "abort":
                metrics.observe_choice(shaper, self.t0, end)
            else:
                metrics.observe_tokens_only(shaper)
            for forced in shaper.forced:
                metrics.FORCED_CLOSES.labels(reason=forced.reason).inc()
        if self.generation is not None:
            await self.generation.aclose()
        return self.summary
