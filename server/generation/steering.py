"""Budget steering: how one request's reasoning budget acts on its reply, as a state machine.

`server.generation.budgets.close_reason` says *whether* a think segment must close now;
`Steering` says *what happens then*, for choice 0 of a run (budgets are refused with n > 1).
Its control state is a `Phase`; what it observes is classified into an `Event`; and `TABLE`
maps each (phase, event) to the next phase and the `Action` taken. The classification only
says what happened; every consequence is a row of the table, so the combinations the request
path can meet are listed once and tested one by one (tests/test_steering.py) rather than
spread over flags that interact.

Two ways to steer, chosen once per request:
  - by continuation (the default, and every backend that cannot steer itself): when the budget
    fires, the closing and opening tags are fed to the shaper as if the model had written
    them, and the run aborts the backend generation and continues it from `prefix`, the text
    so far plus those tags. Past the total think cap the model may not open thinking again:
    text that could start its opening tag is held back, and a complete tag is cut off (the
    model's output is dropped until the restart), and an answer is opened in its place.
  - in the engine (`--budget-enforcement logits`, `server.generation.budget_logits`): the
    engine forces the tags itself on the same decision; here the answer they open is only
    marked as forced, and nothing is decided while the engine is still writing them.
"""

from __future__ import annotations

import time
from dataclasses import replace
from enum import Enum

from parsing import ANSWER, THINK, Format
from server.backends.base import GenerationParams
from server.generation.budgets import (
    FIRST_MS,
    FIRST_TOKENS,
    MAX_FORCED_CLOSES,
    TOTAL,
    BudgetView,
    ReasoningBudget,
    close_reason,
    engine_args,
    forced_text,
    opens_with_answer,
)
from server.generation.shaping import ChoiceShaper, Op


class Phase(Enum):
    """Where steering stands: what kind of steering, and whether something is under way."""

    OFF = "off"  # nothing to steer: no budget, or the choice is done or past the guard
    WATCH = "watch"  # continuation steering: a decision after every output
    CUT = "cut"  # the model reopened thinking past the total cap: its output is dropped
    ENGINE = "engine"  # the engine steers; a decision after every output, to mark it
    ENGINE_CLOSING = "engine_closing"  # the engine is writing forced tags: wait for the answer


class Event(Enum):
    """What choice 0 shows, as far as the budget is concerned."""

    # A piece of choice 0's output text (looked at only when steering by continuation, the
    # one case where the model's text must be filtered before the parser sees it).
    TEXT = "text"  # text the total cap does not concern (under the cap, or inside thinking)
    PAST_CAP = "past_cap"  # text past the total cap, outside thinking, without the opening tag
    REOPEN = "reopen"  # text past the total cap, outside thinking, with the opening tag
    # Choice 0 after an output (and before the first submission).
    SPENT = "spent"  # it has finished, or was force-closed `MAX_FORCED_CLOSES` times
    ANSWERING = "answering"  # an answer is open: nothing is forced inside one
    UNSTEERABLE = "unsteerable"  # tags cannot be inserted now (`ChoiceShaper.steerable`)
    CALM = "calm"  # the budget does not fire
    DUE = "due"  # the budget fires and there are tags to insert
    DUE_UNTAGGED = "due_untagged"  # it fires with nothing to insert (r1's tagless answer next)


class Action(Enum):
    """What is done about it."""

    GO_ON = "go_on"  # the output stands as it is
    HOLD = "hold"  # keep back what may be the start of the opening tag, pass the rest
    CUT = "cut"  # pass the text before the opening tag, drop it and what follows
    DROP = "drop"  # drop the text: the backend is restarted at the next decision
    CLOSE = "close"  # insert the tags (the budget's reason) and restart from `prefix`
    ANSWER = "answer"  # insert what opens an answer (maybe nothing), restart from `prefix`
    MARK = "mark"  # the engine writes the tags: mark the answer they open as forced
    NOTE = "note"  # nothing to insert; a first-answer deadline still counts as spent


_AFTER_OUTPUT = (Event.ANSWERING, Event.UNSTEERABLE, Event.CALM, Event.DUE, Event.DUE_UNTAGGED)

TABLE: dict[tuple[Phase, Event], tuple[Phase, Action]] = {
    # Continuation steering, output text.
    (Phase.WATCH, Event.TEXT): (Phase.WATCH, Action.GO_ON),
    (Phase.WATCH, Event.PAST_CAP): (Phase.WATCH, Action.HOLD),
    (Phase.WATCH, Event.REOPEN): (Phase.CUT, Action.CUT),
    # The backend went on thinking after the cut; it is restarted at the next decision.
    (Phase.CUT, Event.TEXT): (Phase.CUT, Action.DROP),
    (Phase.CUT, Event.PAST_CAP): (Phase.CUT, Action.DROP),
    (Phase.CUT, Event.REOPEN): (Phase.CUT, Action.DROP),
    # Continuation steering, after an output. Inside an answer close_reason never fires.
    (Phase.WATCH, Event.ANSWERING): (Phase.WATCH, Action.GO_ON),
    (Phase.WATCH, Event.UNSTEERABLE): (Phase.WATCH, Action.GO_ON),
    (Phase.WATCH, Event.CALM): (Phase.WATCH, Action.GO_ON),
    (Phase.WATCH, Event.DUE): (Phase.WATCH, Action.CLOSE),
    (Phase.WATCH, Event.DUE_UNTAGGED): (Phase.WATCH, Action.NOTE),
    # After a cut the restart is due whatever the budget says: the text so far no longer
    # matches the backend's generation. Not even a held-back "</thi" stops it: it was cut.
    **{(Phase.CUT, event): (Phase.WATCH, Action.ANSWER) for event in _AFTER_OUTPUT},
    # In-engine steering.
    (Phase.ENGINE, Event.ANSWERING): (Phase.ENGINE, Action.GO_ON),
    (Phase.ENGINE, Event.UNSTEERABLE): (Phase.ENGINE, Action.GO_ON),
    (Phase.ENGINE, Event.CALM): (Phase.ENGINE, Action.GO_ON),
    (Phase.ENGINE, Event.DUE): (Phase.ENGINE_CLOSING, Action.MARK),
    (Phase.ENGINE, Event.DUE_UNTAGGED): (Phase.ENGINE, Action.NOTE),
    # The forced tags arrive as model output over the next engine steps: the decision would
    # fire again on the same think segment until the answer they open is open, or has already
    # ended (an output may carry the tags and that whole answer at once).
    (Phase.ENGINE_CLOSING, Event.ANSWERING): (Phase.ENGINE, Action.GO_ON),
    (Phase.ENGINE_CLOSING, Event.UNSTEERABLE): (Phase.ENGINE_CLOSING, Action.GO_ON),
    (Phase.ENGINE_CLOSING, Event.CALM): (Phase.ENGINE_CLOSING, Action.GO_ON),
    (Phase.ENGINE_CLOSING, Event.DUE): (Phase.ENGINE_CLOSING, Action.GO_ON),
    (Phase.ENGINE_CLOSING, Event.DUE_UNTAGGED): (Phase.ENGINE_CLOSING, Action.GO_ON),
    # Done: the choice ended, or the guard against endless closes stopped steering.
    **{
        (phase, Event.SPENT): (Phase.OFF, Action.GO_ON) for phase in Phase if phase is not Phase.OFF
    },
}

# Phases whose output text is filtered: only continuation steering inserts text of its own.
_FILTERING = (Phase.WATCH, Phase.CUT)


class Steering:
    """The reasoning budget of one run's choice 0: filters its text, decides after each of its
    outputs, and keeps `prefix`, the text a continuation starts from."""

    def __init__(
        self,
        budget: ReasoningBudget,
        shaper: ChoiceShaper,
        fmt: Format,
        t0: float,
        in_engine: bool,
    ) -> None:
        self.budget = budget
        self.shaper = shaper
        self.t0 = t0  # the request's arrival (monotonic seconds): first_answer_ms counts from it
        self._fmt = fmt
        if not budget.steers:
            self.phase = Phase.OFF
        else:
            self.phase = Phase.ENGINE if in_engine else Phase.WATCH
        self.prefix = ""  # choice 0's raw text so far, the forced tags included
        self._held = ""  # text held back past the total cap: maybe the start of a think tag
        self._deadline_spent = False  # a first-answer deadline fired (it fires once)

    # -- before the first submission ---------------------------------------------------------

    def allows_opening(self) -> bool:
        """Whether the reply may start with a think tag written for the model
        (`--prefill-think`): not when the budget opens it with an answer."""
        return not opens_with_answer(self.budget)

    def engine_params(
        self, params: GenerationParams, opening: str, opening_tokens: int
    ) -> GenerationParams:
        """`params` with what makes the engine steer this request, when it steers."""
        if self.phase is not Phase.ENGINE:
            return params
        # The engine process reads the wall clock: the arrival, in its terms.
        arrival_unix = time.time() - (time.monotonic() - self.t0)
        args = engine_args(self.budget, arrival_unix, opening, opening_tokens)
        return replace(params, extra_args=args)

    def start(self, now: float, opening: str = "") -> None:
        """Before the first submission. A reply that starts with `opening` (written for the
        model) continues from it. Otherwise a budget that allows no thinking decides here,
        and the first submission already starts from the answer it opens (`prefix`); the ops
        of those tags are none worth sending, a bare opening tag produces no output."""
        if opening:
            self.prefix = opening
            return
        self.after_output(now)

    # -- after each output -----------------------------------------------------------------------

    def text(self, text: str, last: bool) -> str:
        """A piece of choice 0's output as the parser may see it (`last`: the backend ends
        here, so nothing may stay held back)."""
        if self.phase not in _FILTERING:
            return text
        action = self._on(self._classify_text(text))
        if action is Action.GO_ON:
            passed = text
        elif action is Action.HOLD:
            passed = self._hold(text, last)
        elif action is Action.CUT:
            passed = self._cut(text)
        elif action is Action.DROP:
            passed = ""
        else:
            raise AssertionError(f"{action} is not done to output text")  # a wrong row
        self.prefix += passed
        return passed

    def after_output(self, now: float) -> list[Op] | None:
        """The decision after an output of the run: the ops of the tags inserted when the
        backend must be restarted from `prefix` (maybe none), else None to go on."""
        if self.phase is Phase.OFF:
            return None
        event, reason = self._classify_output(now)
        action = self._on(event)
        if action is Action.GO_ON:
            return None
        if action is Action.ANSWER:
            return self._insert(TOTAL, now)  # a reason due as well is not spent by this
        if action not in (Action.CLOSE, Action.MARK, Action.NOTE) or reason is None:
            raise AssertionError(f"{action} is not done on {event}")  # a wrong row
        if reason in (FIRST_TOKENS, FIRST_MS):
            self._deadline_spent = True  # whether tags go in or not: the deadline has fired
        if action is Action.CLOSE:
            return self._insert(reason, now)
        if action is Action.MARK:
            self.shaper.expect_forced(reason, now)
        return None

    # -- the machine -----------------------------------------------------------------------------

    def _on(self, event: Event) -> Action:
        self.phase, action = TABLE[self.phase, event]
        return action

    def _spent(self) -> bool:
        shaper = self.shaper
        return shaper.finish_reason is not None or len(shaper.forced) >= MAX_FORCED_CLOSES

    def _classify_text(self, text: str) -> Event:
        cap = self.budget.max_total_tokens
        opener = self._fmt.think_open
        shaper = self.shaper
        if self._spent():
            return Event.SPENT
        if cap is None or opener is None:
            return Event.TEXT
        if not self._held and (shaper.open_kind == THINK or shaper.think_tokens_now() < cap):
            return Event.TEXT
        return Event.REOPEN if opener in self._held + text else Event.PAST_CAP

    def _classify_output(self, now: float) -> tuple[Event, str | None]:
        """The event, and the budget's reason when it fires."""
        shaper = self.shaper
        if self._spent():
            return Event.SPENT, None
        if shaper.open_kind == ANSWER or (
            self.phase is Phase.ENGINE_CLOSING and not shaper.awaits_forced_answer
        ):
            return Event.ANSWERING, None
        if not shaper.steerable():
            return Event.UNSTEERABLE, None
        view = BudgetView(
            open_kind=shaper.open_kind,
            open_think_tokens=shaper.open_think_tokens(),
            think_tokens=shaper.think_tokens_now(),
            answered=shaper.first_answer_at is not None,
            deadline_spent=self._deadline_spent,
            completion_tokens=shaper.completion_tokens,
            elapsed_ms=(now - self.t0) * 1000.0,
        )
        reason = close_reason(self.budget, view)
        if reason is None:
            return Event.CALM, None
        if not self._tags():
            return Event.DUE_UNTAGGED, reason
        return Event.DUE, reason

    # -- actions ---------------------------------------------------------------------------------

    def _tags(self) -> str:
        """The tags that end thinking and open an answer, from what choice 0 has open."""
        return forced_text(self.shaper.open_kind, self._fmt.think_close, self._fmt.answer_open)

    def _insert(self, reason: str, now: float) -> list[Op]:
        tags = self._tags()
        self.prefix += tags
        return self.shaper.force(tags, reason, now)

    def _hold(self, text: str, last: bool) -> str:
        """Pass what cannot be the start of the opening tag; keep back the longest tail that
        can (the parser never sees it unless more text shows it is not the tag)."""
        buffer = self._held + text
        self._held = ""
        if last:
            return buffer
        opener = self._fmt.think_open or ""
        keep = next(
            (
                n
                for n in range(min(len(opener) - 1, len(buffer)), 0, -1)
                if opener.startswith(buffer[-n:])
            ),
            0,
        )
        self._held = buffer[len(buffer) - keep :]
        return buffer[: len(buffer) - keep]

    def _cut(self, text: str) -> str:
        """The text before the opening tag; it and what follows are dropped (their tokens stay
        counted: the model did write them)."""
        buffer = self._held + text
        self._held = ""
        return buffer[: buffer.find(self._fmt.think_open or "")]
