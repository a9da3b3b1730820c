"""One admitted generation request, from the backend's first output to its cleanup.

`Run` feeds backend pieces into the choices' shapers and, when the request ends however it
ends (completed, client gone, error), aborts what is still running, frees the admission slot,
records metrics and leaves token counts for the access log. Both API routes use it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from server import metrics
from server.backend import Generation, Piece
from server.shaping import ChoiceShaper, Op, usage_dict
from server.streams import Admission


class Run:
    def __init__(
        self,
        generation: Generation,
        format: str,
        n: int,
        t0: float,
        admission: Admission,
        state: dict[str, Any],
    ) -> None:
        self.generation = generation
        self.shapers = [ChoiceShaper(format, t0) for _ in range(n)]
        self.t0 = t0
        self._admission = admission
        self._state = state
        self._closed = False

    def feed(self, piece: Piece, now: float) -> list[Op]:
        """A piece of one choice: its ops, including the end of its segments if it finished."""
        shaper = self.shapers[piece.index]
        ops = shaper.feed(piece.text, piece.num_tokens, now)
        if piece.finish_reason is not None:
            closing = shaper.close(now, piece.finish_reason)
            if closing:
                ops = ops + closing if ops else closing
        return ops

    async def collect(self, on_ops: Callable[[int, list[Op]], object] | None = None) -> None:
        """Non-streaming: run the generation to its end, handing each choice's ops to
        `on_ops` if given."""
        async for pieces in self.generation:
            now = time.monotonic()
            for piece in pieces:
                ops = self.feed(piece, now)
                if ops and on_ops is not None:
                    on_ops(piece.index, ops)
        self.close_unfinished(time.monotonic())

    def close_unfinished(self, now: float) -> None:
        """Choices the backend ended without a finish reason (should not happen) end here."""
        for shaper in self.shapers:
            if shaper.finish_reason is None:
                shaper.close(now, "abort")

    def finished(self) -> bool:
        return all(s.finish_reason is not None for s in self.shapers)

    def usage(self) -> dict[str, Any]:
        return usage_dict(self.generation.prompt_tokens, self.shapers)

    async def close(self, outcome: str) -> None:
        """Idempotent cleanup; `outcome` goes to the access log."""
        if self._closed:
            return
        self._closed = True
        self._admission.leave()
        end = time.monotonic()
        for shaper in self.shapers:
            if shaper.finish_reason is not None and shaper.finish_reason != "abort":
                metrics.observe_choice(shaper, self.t0, end)
            else:
                metrics.observe_tokens_only(shaper)
        self._state["usage"] = self.usage()
        self._state["outcome"] = outcome
        await self.generation.aclose()
