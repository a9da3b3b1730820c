"""The paper's rule-based rewards (Xie et al. 2025, arXiv 2505.19640), pure functions over
`parsing.parse`.

    total = format + final + intermediate

- format: +1 if the parser says `format_ok`, else -1. The format reward *is* the parser's
  verdict; no tag handling here.
- final (only when the format is valid; 0 otherwise): +2 correct, -1.5 wrong, -2 unparseable.
- intermediate (R_base = 0.5), exact match only — the paper found substring matching gamed by
  listing candidates — in one of three variants:
    all_or_none      R_base if every ground truth is matched, else 0
    partial          R_base * matched / N
    time_discounted  R_base * sum over matched truths of 1/k / H_N, where k is the 1-based
                     answer step that first matched the truth and H_N = 1 + 1/2 + ... + 1/N.
                     Answering truth j at step j (an ideal interleaved response) earns exactly
                     R_base; any other placement earns less, so the total never exceeds R_base
                     (each step can match one truth, so the k's are distinct).
- gate: `conditional` (the paper's) pays the intermediate reward only when the format is valid,
  the final answer is correct, and the batch accuracy is at least the previous batch's minus
  epsilon (0.05; the first batch has nothing to compare with and passes). `direct` (the
  ablation) pays it whenever the format is valid.

Policies decided here (the paper leaves them open):
- Answer steps are all answer segments in order, the final one included (step m). A truth
  stated only in the final answer still counts: for multi-hop and arithmetic the last hop's
  truth *is* the final answer, and excluding it would make all-or-none need a duplicated
  answer. Each step matches at most one truth (first unmatched equal truth), so a segment
  listing several conclusions earns at most one — and for K&K none, see below.
- Matching is exact after normalization: lowercase, Unicode NFKC, digit-group commas dropped
  ("1,000" = "1000"), number words to digits ("five" = "5", "twenty-one" = "21"), numbers
  canonical ("5.0" = "5"), punctuation dropped, articles a/an/the dropped, whitespace
  collapsed. Substrings never match ("Paris, France" does not match "Paris").
- K&K: a segment's claims are its firm statements "Name is a knight", "Name is a knave" (also
  "Name is knight", "Name: knight", "Name = knave", "Name - knight") about the puzzle's people.
  An intermediate answer matches a truth when its claims are exactly that one claim; the final
  answer is compared as a per-person assignment in any order.
- K&K hedges are not claims (so they cannot be gamed by copying the answer-form hint our prompt
  quotes, "(1) Name is a knight/knave (2) ..."):
    both roles offered    "Zoey is a knight/knave", "Zoey is a knight or (a) knave",
                          "Zoey: knight or knave", "Zoey is a knight and a knave": a role
                          followed by "or" or "nor", or by "/", "|", "&", "+" or "and" and a
                          role, is no claim; nor is a statement right after "or", "either",
                          "neither" or "nor" ("Zoey is a knight or Zoey is a knave" claims
                          nothing, "Either Zoey is a knight or Oliver is a knave" claims
                          nothing about either of them)
    a question            "Zoey is a knight?"
    a conditional         right after "if", "whether", "suppose", "assume", "assuming",
                          "unless" ("If Zoey is a knight, ..." claims nothing about Zoey)
    anything between      only "is", "is a", "is an", ":", "=" or a dash may stand between the
    name and the role     name and the role, so "Zoey is not a knight" (negation is no claim,
                          not even of "knave"), "Zoey is either a knight or a knave", "Zoey is
                          probably a knight", "Zoey could / may / might be a knight" are no
                          claims
  A person whose only statements are hedges is unassigned, which makes a final answer
  unparseable.
- Unparseable final answer: K&K — not every person assigned (a partial list, or hedges only),
  or someone firmly given both roles (a contradiction); multiple choice — neither an option
  letter nor an option's text; everything else — empty after normalization.
- Correct means format valid and final answer correct: `judge_response` is that one verdict,
  used by `score` (training) and by `benchmarks.accuracy.judge` (evaluation), so a response
  with an invalid format is never counted correct, whatever its final answer says.
- MuSiQue answer aliases (`meta["final_answer_aliases"]`) count as correct final answers.
- MATH answers are compared after stripping \\boxed{}, $, \\left/\\right, \\text{} and spacing,
  with equal numbers equal ("0.50" = "0.5"); no symbolic equivalence.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any, Literal

from parsing import parse
from training.data.example import Example
from training.data.loaders import last_boxed

FORMAT_OK, FORMAT_BAD = 1.0, -1.0
FINAL_CORRECT, FINAL_WRONG, FINAL_UNPARSEABLE = 2.0, -1.5, -2.0
R_BASE = 0.5
EPSILON = 0.05

Variant = Literal["none", "all_or_none", "partial", "time_discounted"]
Gate = Literal["conditional", "direct"]
FinalStatus = Literal["correct", "wrong", "unparseable", "no_format"]
VARIANTS: tuple[str, ...] = ("none", "all_or_none", "partial", "time_discounted")
GATES: tuple[str, ...] = ("conditional", "direct")


@dataclass(frozen=True)
class RewardConfig:
    """Which intermediate reward, which gate. `intermediate="none"` gives the baselines
    (think-answer, or interleaved without intermediate reward)."""

    intermediate: Variant = "time_discounted"
    gate: Gate = "conditional"
    epsilon: float = EPSILON
    r_base: float = R_BASE
    parse_format: str = "interleaved"  # a parsing preset; "interleaved" accepts both styles

    def __post_init__(self) -> None:
        if self.intermediate not in VARIANTS:
            raise ValueError(f"intermediate must be one of {VARIANTS}, got {self.intermediate!r}")
        if self.gate not in GATES:
            raise ValueError(f"gate must be one of {GATES}, got {self.gate!r}")


@dataclass(frozen=True)
class RewardBreakdown:
    """Every component of one response's reward, plus what the logs and the gate need."""

    format: float
    final: float
    intermediate: float  # what was paid, after the gate
    total: float
    format_ok: bool
    correct: bool  # format valid and final answer correct (the batch accuracy counts these)
    final_status: FinalStatus
    intermediate_raw: float  # the variant's value before the gate
    intermediate_matched: int
    intermediate_total: int
    match_steps: tuple[int | None, ...]  # per ground truth: 1-based answer step, or None
    gated: bool  # True when the gate withheld `intermediate_raw`

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# ---------------------------------------------------------------------------------------------
# Normalization

# fmt: off
_UNITS = {w: i for i, w in enumerate((
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
    "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
    "nineteen",
))}
# fmt: on
_TENS = {
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
    "sixty": 60,
    "seventy": 70,
    "eighty": 80,
    "ninety": 90,
}
_SCALES = {"thousand": 1_000, "million": 1_000_000, "billion": 1_000_000_000}
_NUMBER_WORDS = set(_UNITS) | set(_TENS) | {"hundred"} | set(_SCALES)
_ARTICLES = {"a", "an", "the"}
_NUMBER = r"-?\d+(?:\.\d+)?"
_TOKEN = re.compile(rf"{_NUMBER}|\w+")
_IS_NUMBER = re.compile(_NUMBER)
_DIGIT_GROUP = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")


def _canonical_number(token: str) -> str:
    value = float(token)
    if value.is_integer():
        return str(int(value))
    return repr(value)


def _words_value(words: list[str]) -> int:
    total, current = 0, 0
    for w in words:
        if w in _UNITS:
            current += _UNITS[w]
        elif w in _TENS:
            current += _TENS[w]
        elif w == "hundred":
            current = max(current, 1) * 100
        else:
            total += max(current, 1) * _SCALES[w]
            current = 0
    return total + current


def normalize_answer(text: str) -> str:
    """Canonical form for exact matching (see the module docstring for the rules)."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = _DIGIT_GROUP.sub("", text)
    out: list[str] = []
    run: list[str] = []
    for token in [*_TOKEN.findall(text), ""]:  # "" flushes the last run of number words
        if token in _NUMBER_WORDS:
            run.append(token)
            continue
        if run:
            out.append(str(_words_value(run)))
            run = []
        if not token or token in _ARTICLES:
            continue
        out.append(_canonical_number(token) if _IS_NUMBER.fullmatch(token) else token)
    return " ".join(out)


_LATEX_DROP = re.compile(r"\\left|\\right|\\!|\\,|\\;|\\:|\\ |\$|\^\{?\\circ\}?|\\%|%")
_LATEX_WRAP = re.compile(r"\\(?:text|textbf|mathrm|mathbf|operatorname)\{([^{}]*)\}")
_SIMPLE_FRAC = re.compile(r"\\frac\{([^{}]+)\}\{([^{}]+)\}|\\frac(\d)(\d)")


def normalize_math(text: str) -> str:
    """Light canonical form for MATH answers: wrappers and spacing stripped, simple fractions
    as a/b, numbers canonical. Not a CAS: "x+1" and "1+x" stay different."""
    boxed = last_boxed(text)
    if boxed is not None:
        text = boxed
    text = text.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac")
    text = _LATEX_WRAP.sub(r"\1", text)
    text = _LATEX_DROP.sub("", text)
    text = _SIMPLE_FRAC.sub(lambda m: f"{m[1] or m[3]}/{m[2] or m[4]}", text)
    text = "".join(text.split()).rstrip(".").lower()
    text = _DIGIT_GROUP.sub("", text)
    try:
        return _canonical_number(text)
    except ValueError:
        return text


# ---------------------------------------------------------------------------------------------
# Knights and knaves

_CLAIM = re.compile(
    r"\b([A-Za-z][\w'-]*)\s*(?:\bis\s+(?:an?\s+)?|[:=–-]\s*(?:an?\s+)?)(knight|knave)s?\b",
    re.IGNORECASE,
)
# After a claim's role: the other role offered too, or a question (see the module docstring).
_HEDGE_AFTER = re.compile(
    r"\s*(?:\?|\(?\s*,?\s*\b(?:or|nor)\b"
    r"|\(?\s*(?:[/|\\&+]|,?\s*\band\b)\s*(?:an?\s+)?(?:knight|knave)s?\b)",
    re.IGNORECASE,
)
# Right before a claim's name: an alternative or a condition.
_HEDGE_BEFORE = re.compile(
    r"\b(?:or|either|neither|nor|if|whether|suppose|assume|assuming|unless)\s*[,(]?\s*$",
    re.IGNORECASE,
)


def _firm_claims(text: str) -> list[tuple[str, str]]:
    """(name, role) of every "Name is a role" statement in `text` that is not a hedge."""
    return [
        (m[1], m[2].lower())
        for m in _CLAIM.finditer(text)
        if not _HEDGE_AFTER.match(text, m.end())
        and not _HEDGE_BEFORE.search(text, max(0, m.start() - 40), m.start())
    ]


def kk_people(ex: Example) -> list[str]:
    people = ex.meta.get("people")
    if people:
        return [str(p) for p in people]
    return list(dict.fromkeys(name for name, _ in _firm_claims(ex.final_answer)))


def kk_claims(text: str, people: Sequence[str]) -> set[tuple[str, str]]:
    """(person, role) pairs firmly stated in `text` (hedges are not claims, see the module
    docstring), for the puzzle's people only (case-insensitive)."""
    by_lower = {p.lower(): p for p in people}
    return {
        (by_lower[name.lower()], role)
        for name, role in _firm_claims(text)
        if name.lower() in by_lower
    }


def kk_assignment(text: str, people: Sequence[str]) -> dict[str, str] | None:
    """Everyone's role as stated in `text`, or None when someone is missing or has both."""
    claims = kk_claims(text, people)
    assignment: dict[str, str] = {}
    for person, role in claims:
        if person in assignment:
            return None  # both roles stated: candidates, not an answer
        assignment[person] = role
    return assignment if len(assignment) == len(people) else None


# ---------------------------------------------------------------------------------------------
# Final answer

_LETTER = re.compile(r"^\s*(?:\(([A-Za-z])\)|([A-Za-z])(?=$|[\s.:)]))")


def _choice_letter(text: str, ex: Example) -> str | None:
    choices: dict[str, str] = ex.meta.get("choices") or {}
    norm = normalize_answer(text)
    for letter, option in choices.items():
        if norm and norm == normalize_answer(option):
            return letter.upper()
    m = _LETTER.match(text)
    if m:
        letter = (m[1] or m[2]).upper()
        if not choices or letter in choices:
            return letter
    return None


def judge_final(final_answer: str | None, ex: Example) -> FinalStatus:
    """correct / wrong / unparseable for a final answer text (format assumed valid)."""
    if final_answer is None:
        return "unparseable"
    if ex.answer_type == "kk":
        people = kk_people(ex)
        predicted = kk_assignment(final_answer, people)
        if predicted is None:
            return "unparseable"
        return "correct" if predicted == kk_assignment(ex.final_answer, people) else "wrong"
    if ex.answer_type == "choice":
        letter = _choice_letter(final_answer, ex)
        if letter is None:
            return "unparseable"
        return "correct" if letter == ex.final_answer.strip().upper() else "wrong"
    norm = normalize_math if ex.answer_type == "math" else normalize_answer
    predicted = norm(final_answer)
    if not predicted:
        return "unparseable"
    golds = [ex.final_answer, *ex.meta.get("final_answer_aliases", [])]
    return "correct" if any(predicted == norm(g) for g in golds) else "wrong"


def judge_response(answers: Sequence[str], format_ok: bool, ex: Example) -> FinalStatus:
    """The one verdict on a response: "no_format" when the format is invalid, else the final
    answer's (the last answer) correct / wrong / unparseable. Training (`score`) and evaluation
    (`benchmarks.accuracy.judge`) both count a response correct exactly when this is
    "correct"."""
    if not format_ok:
        return "no_format"
    return judge_final(answers[-1] if answers else None, ex)


# ---------------------------------------------------------------------------------------------
# Intermediate answers


def intermediate_equal(answer: str, truth: str, ex: Example) -> bool:
    """Exact match of one answer segment with one ground truth."""
    if ex.answer_type == "kk":
        people = kk_people(ex)
        expected = kk_claims(truth, people)
        return len(expected) == 1 and kk_claims(answer, people) == expected
    norm = normalize_math if ex.answer_type == "math" else normalize_answer
    a = norm(answer)
    return bool(a) and a == norm(truth)


def match_steps(answers: Sequence[str], truths: Sequence[str], ex: Example) -> list[int | None]:
    """For each truth, the 1-based step of the first answer that matched it (or None).

    Answers are taken in order; each answer is assigned to the first still-unmatched truth it
    equals, so one answer never pays twice (repeated truths need repeated answers).
    """
    steps: list[int | None] = [None] * len(truths)
    for k, answer in enumerate(answers, 1):
        for j, truth in enumerate(truths):
            if steps[j] is None and intermediate_equal(answer, truth, ex):
                steps[j] = k
                break
    return steps


def intermediate_reward(steps: Sequence[int | None], variant: str, r_base: float = R_BASE) -> float:
    """The variant's value for given match steps (before any gate)."""
    n = len(steps)
    if variant == "none" or n == 0:
        return 0.0
    matched = [k for k in steps if k is not None]
    if variant == "all_or_none":
        return r_base if len(matched) == n else 0.0
    if variant == "partial":
        return r_base * len(matched) / n
    if variant == "time_discounted":
        harmonic = sum(1.0 / j for j in range(1, n + 1))
        return r_base * sum(1.0 / k for k in matched) / harmonic
    raise ValueError(f"unknown intermediate variant {variant!r}")


# ---------------------------------------------------------------------------------------------
# Scoring


def score(
    response: str, ex: Example, config: RewardConfig | None = None, batch_gate_open: bool = True
) -> RewardBreakdown:
    """Reward of one response. `batch_gate_open` is the batch-accuracy part of the conditional
    gate; `score_batch` computes it, single calls default to open."""
    config = config or RewardConfig()
    transcript = parse(response, config.parse_format)
    format_ok = transcript.format_ok
    status = judge_response(transcript.answers, format_ok, ex)
    final = {
        "correct": FINAL_CORRECT,
        "wrong": FINAL_WRONG,
        "unparseable": FINAL_UNPARSEABLE,
        "no_format": 0.0,
    }[status]
    correct = status == "correct"

    steps = match_steps(transcript.answers, ex.intermediate_answers, ex)
    raw = intermediate_reward(steps, config.intermediate, config.r_base)
    # The conditional gate pays only correct answers in a batch that did not get worse; the
    # direct ablation pays any well-formed response for its intermediate answers.
    pay = format_ok if config.gate == "direct" else format_ok and correct and batch_gate_open
    intermediate = raw if pay else 0.0
    fmt = FORMAT_OK if format_ok else FORMAT_BAD
    return RewardBreakdown(
        format=fmt,
        final=final,
        intermediate=intermediate,
        total=fmt + final + intermediate,
        format_ok=format_ok,
        correct=correct,
        final_status=status,
        intermediate_raw=raw,
        intermediate_matched=sum(k is not None for k in steps),
        intermediate_total=len(steps),
        match_steps=tuple(steps),
        gated=raw != 0.0 and not pay,
    )


def batch_gate_open(batch_accuracy: float, prev_accuracy: float | None, epsilon: float) -> bool:
    """The batch part of the conditional gate: accuracy did not drop by more than epsilon.

    A tiny tolerance keeps the boundary where arithmetic puts it (0.55 - 0.05 is
    0.5000000000000001 in floating point, and an accuracy of exactly 0.5 must pass)."""
    return prev_accuracy is None or batch_accuracy >= prev_accuracy - epsilon - 1e-9


def score_batch(
    responses: Sequence[str],
    examples: Sequence[Example],
    prev_accuracy: float | None = None,
    config: RewardConfig | None = None,
) -> tuple[list[RewardBreakdown], float]:
    """Rewards of a batch and its accuracy (share of `correct`); pass that accuracy back as
    `prev_accuracy` on the next call."""
    if len(responses) != len(examples):
        raise ValueError(f"{len(responses)} responses for {len(examples)} examples")
    config = config or RewardConfig()
    scored = [score(r, ex, config) for r, ex in zip(responses, examples, strict=True)]
    accuracy = sum(b.correct for b in scored) / len(scored) if scored else 0.0
    if config.gate == "conditional" and not batch_gate_open(
        accuracy, prev_accuracy, config.epsilon
    ):
        scored = [
            replace(b, intermediate=0.0, total=b.format + b.final, gated=True)
            if b.intermediate
            else b
            for b in scored
        ]
    return scored, accuracy


def summarize(breakdowns: Sequence[RewardBreakdown]) -> dict[str, float]:
    """Batch means for logging: each component, format rate, accuracy, intermediate accuracy
    (matched truths / all truths)."""
    n = len(breakdowns)
    if n == 0:
        return {}
    truths = sum(b.intermediate_total for b in breakdowns)
    return {
        "reward/total": sum(b.total for b in breakdowns) / n,
        "reward/format": sum(b.format for b in breakdowns) / n,
        "reward/final": sum(b.final for b in breakdowns) / n,
        "reward/intermediate": sum(b.intermediate for b in breakdowns) / n,
        "format_rate": sum(b.format_ok for b in breakdowns) / n,
        "accuracy": sum(b.correct for b in breakdowns) / n,
        "intermediate_accuracy": (
            sum(b.intermediate_matched for b in breakdowns) / truths if truths else 0.0
        ),
        "gated_rate": sum(b.gated for b in breakdowns) / n,
    }
