"""What counts as a correct answer: normalization, the K&K claim rules, the verdict on a
final answer and the exact matching of intermediate answers, pure functions over `Example`
records. Training's rewards (`training.rewards`) and evaluation (`benchmarks.accuracy`) both
judge with these, so they can never disagree on what "correct" means.

Policies decided here (the paper, Xie et al. 2025, arXiv 2505.19640, leaves them open):
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
from typing import Literal

from tasks.everyday import agrees
from tasks.example import Example
from tasks.loaders import last_boxed

FinalStatus = Literal["correct", "wrong", "unparseable", "no_format"]


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
    normalized = norm(final_answer)
    if not normalized:
        return "unparseable"
    golds = [ex.final_answer, *ex.meta.get("final_answer_aliases", [])]
    return "correct" if any(normalized == norm(g) for g in golds) else "wrong"


def judge_response(answers: Sequence[str], format_ok: bool, ex: Example) -> FinalStatus:
    """The one verdict on a response: "no_format" when the format is invalid, else the final
    answer's (the last answer) correct / wrong / unparseable; an everyday prompt, which has no
    right answer, is "correct" when its first answer agrees with the base model's. Training
    (`score`) and evaluation (`benchmarks.accuracy.judge`) both count a response correct
    exactly when this is "correct"."""
    if not format_ok:
        return "no_format"
    if ex.dataset == "everyday":  # no right answer: the first answer keeps the base model's
        return "correct" if agrees(answers, ex) else "wrong"
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
