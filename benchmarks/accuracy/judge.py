"""One response, judged: from what the server returned plus the example, to the metrics."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from parsing import parse
from tasks.everyday_facts import states_fact
from tasks.example import Example
from tasks.judging import intermediate_equal, judge_response, match_steps

ANSWER_OPEN = "<answer>"


@dataclass
class Judged:
    id: str
    dataset: str
    difficulty: int
    ok: bool  # the request succeeded
    correct: bool = False  # format valid and final answer correct, as training scores it
    format_ok: bool = False
    final_answer: str | None = None
    intermediate_matched: int = 0
    intermediate_total: int = 0
    normalized_ttft: float | None = None
    ttft_basis: str | None = None  # "tokens" (our server) or "chars" (raw tagged text)
    # Time from the request to the first answer's text, as our server times it (None from
    # servers that do not split answers).
    ttfa_ms: float | None = None
    completion_tokens: int | None = None
    latency_s: float | None = None
    error: str | None = None
    final_status: str | None = None  # tasks.judging.judge_response's verdict
    cut: bool = False  # generation stopped at max_tokens (finish_reason "length")
    # Answers before the final one, and how many of them equal some intermediate ground truth
    # (the precision of what the user is shown early, beside `intermediate_matched`'s recall).
    intermediate_given: int = 0
    intermediate_given_correct: int = 0
    # Every answer the response gave, in order, so a result can be judged again later (the
    # everyday set's verdict reads the first answer, which `final_answer` alone loses).
    answers: list[str] = field(default_factory=list)
    # An everyday prompt with one checkable fact: whether the first answer states it
    # (`tasks.everyday_facts`); None for every other item.
    fact_right: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def response_view(body: dict[str, Any]) -> dict[str, Any]:
    """What judging needs from a chat.completion: answers, format verdict, TTFT position.

    Our server returns the answers already split (`message.answers`, `choices[].format_ok`);
    other servers return the raw text, which `parsing.parse` splits the same way.
    """
    choice = body["choices"][0]
    message = choice.get("message") or {}
    usage = body.get("usage") or {}
    completion_tokens = usage.get("completion_tokens")
    cut = choice.get("finish_reason") == "length"
    if "format_ok" in choice and isinstance(message.get("answers"), list):
        answers = [str(a.get("text", "")) for a in message["answers"]]
        ttft = None
        if message["answers"] and completion_tokens:
            first = message["answers"][0]
            # Servers of this project before `first_token_offset` reported only the end.
            start = first.get("first_token_offset", first.get("token_offset", 0))
            ttft = min(1.0, start / completion_tokens)
        timings = choice.get("timings") or {}
        return {
            "answers": answers,
            "format_ok": bool(choice["format_ok"]),
            "normalized_ttft": ttft,
            "ttfa_ms": timings.get("time_to_first_answer_ms"),
            "ttft_basis": "tokens",
            "completion_tokens": completion_tokens,
            "cut": cut,
        }
    text = message.get("content") or ""
    reasoning = message.get("reasoning") or message.get("reasoning_content")
    if reasoning and "<think>" not in text:
        # A reasoning parser split the thinking off: put it back where it stood.
        text = f"<think>{reasoning}</think><answer>{text}</answer>"
    transcript = parse(text)
    ttft = _first_answer_position(text)
    if ttft is None and transcript.answers and text:
        ttft = 0.0  # untagged text is an answer from its first character, as our server says
    return {
        "answers": list(transcript.answers),
        "format_ok": transcript.format_ok,
        "normalized_ttft": ttft,
        "ttft_basis": "chars",
        "completion_tokens": completion_tokens,
        "cut": cut,
    }


def _first_answer_position(text: str) -> float | None:
    """Characters before the first answer's text / all characters; None without an answer."""
    start = text.find(ANSWER_OPEN)
    if start < 0:
        return None
    start += len(ANSWER_OPEN)
    start += len(text[start:]) - len(text[start:].lstrip())  # its first non-blank character
    return min(1.0, start / len(text))


def judge(ex: Example, view: dict[str, Any], latency_s: float | None = None) -> Judged:
    """Correct is `tasks.judging.judge_response`'s verdict on the view's answers and format
    (the same one `training.rewards.score` gives), so an invalid format is never correct."""
    answers = view["answers"]
    final = answers[-1] if answers else None
    status = judge_response(answers, view["format_ok"], ex)
    steps = match_steps(answers, ex.intermediate_answers, ex)
    early = answers[:-1]
    early_correct = sum(
        any(intermediate_equal(a, t, ex) for t in ex.intermediate_answers) for a in early
    )
    return Judged(
        id=ex.id,
        dataset=ex.dataset,
        difficulty=ex.difficulty,
        ok=True,
        correct=status == "correct",
        format_ok=view["format_ok"],
        final_answer=final,
        intermediate_matched=sum(k is not None for k in steps),
        intermediate_total=len(steps),
        normalized_ttft=view["normalized_ttft"] if answers else None,
        ttft_basis=view["ttft_basis"],
        ttfa_ms=view.get("ttfa_ms") if answers else None,
        completion_tokens=view["completion_tokens"],
        latency_s=latency_s,
        final_status=status,
        cut=bool(view.get("cut", False)),
        intermediate_given=len(early),
        intermediate_given_correct=early_correct,
        answers=list(answers),
        fact_right=states_fact(answers, ex.question) if ex.dataset == "everyday" else None,
    )


def failed(ex: Example, error: str) -> Judged:
    return Judged(
        id=ex.id, dataset=ex.dataset, difficulty=ex.difficulty, ok=False, error=error[:500]
    )
