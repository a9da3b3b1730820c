"""Loaders for data a user already has on disk; nothing is downloaded.

- MuSiQue JSONL: `question`, `answer`, `answer_aliases`, `question_decomposition[].answer`
  (the intermediate truths), `paragraphs[]` (the context).
- Generic JSONL: `question`, `final_answer`, `intermediate_answers` (+ optional fields of
  `Example`), for any multi-step data a user wants to train or evaluate on.
- GPQA CSV ("Question", "Correct Answer", "Incorrect Answer 1..3"), MMLU CSV (rows
  question,A,B,C,D,answer) and MATH (JSON files or JSONL with "problem", "solution"; the final
  answer is the last \\boxed{...}): out-of-domain evaluation, no intermediate truths.
"""

from __future__ import annotations

import csv
import json
import random
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from tasks.example import Example, content_id

LETTERS = "ABCDEFGHIJ"


def _jsonl_records(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    with path.open(encoding="utf-8") as f:
        for line_no, line in enumerate(f, 1):
            if line.strip():
                yield line_no, json.loads(line)


def _substitute_refs(text: str, answers: list[str]) -> str:
    # MuSiQue sub-questions refer to earlier answers as #1, #2, ...; replace from the highest
    # index down so "#1" never eats the start of "#12".
    for k in range(len(answers), 0, -1):
        text = text.replace(f"#{k}", answers[k - 1])
    return text


def load_musique(
    path: str | Path, split: str = "validation", answerable_only: bool = True
) -> list[Example]:
    """MuSiQue (or MuSiQue-shaped) JSONL; unanswerable items are skipped unless asked for."""
    out: list[Example] = []
    for line_no, rec in _jsonl_records(Path(path)):
        if answerable_only and rec.get("answerable") is False:
            continue
        decomposition = rec.get("question_decomposition") or []
        answers = [str(d["answer"]) for d in decomposition]
        steps = []
        for i, d in enumerate(decomposition):
            sub = _substitute_refs(str(d.get("question", "")), answers[:i])
            steps.append(f"{sub} The answer is {answers[i]}.")
        context = [
            f"{p.get('title', '')}: {p.get('paragraph_text', '')}"
            for p in rec.get("paragraphs") or []
        ]
        out.append(
            Example(
                id=str(rec.get("id") or content_id("musique", rec["question"])),
                dataset="musique",
                question=rec["question"],
                final_answer=str(rec["answer"]),
                intermediate_answers=answers,
                reasoning_steps=steps,
                difficulty=len(decomposition),
                split=split,
                answer_type="text",
                context=context,
                meta={
                    "final_answer_aliases": [str(a) for a in rec.get("answer_aliases") or []],
                    "source": f"{path}:{line_no}",
                },
            )
        )
    return out


def load_generic_jsonl(
    path: str | Path, split: str = "test", dataset: str = "jsonl"
) -> list[Example]:
    """One object a line with `question`, `final_answer` and `intermediate_answers` (required);
    `id`, `reasoning_steps`, `difficulty`, `answer_type`, `context`, `meta`, `dataset` and
    `split` are taken when present."""
    out: list[Example] = []
    for line_no, rec in _jsonl_records(Path(path)):
        missing = [k for k in ("question", "final_answer") if k not in rec]
        if missing:
            raise ValueError(f"{path}:{line_no}: missing {missing}")
        ias = [str(a) for a in rec.get("intermediate_answers") or []]
        out.append(
            Example(
                id=str(rec.get("id") or content_id(dataset, rec["question"])),
                dataset=str(rec.get("dataset", dataset)),
                question=rec["question"],
                final_answer=str(rec["final_answer"]),
                intermediate_answers=ias,
                reasoning_steps=[str(s) for s in rec.get("reasoning_steps") or []],
                difficulty=int(rec.get("difficulty", len(ias))),
                split=str(rec.get("split", split)),
                answer_type=str(rec.get("answer_type", "text")),
                context=[str(c) for c in rec.get("context") or []],
                meta=dict(rec.get("meta") or {}),
            )
        )
    return out


def multiple_choice_question(question: str, options: list[str]) -> str:
    lines = [f"({LETTERS[i]}) {opt}" for i, opt in enumerate(options)]
    return question.strip() + "\n\n" + "\n".join(lines)


def _choice_example(
    dataset: str,
    ex_id: str,
    question: str,
    options: list[str],
    correct: int,
    split: str,
    meta: dict[str, Any],
) -> Example:
    return Example(
        id=ex_id,
        dataset=dataset,
        question=multiple_choice_question(question, options),
        final_answer=LETTERS[correct],
        split=split,
        answer_type="choice",
        meta={"choices": {LETTERS[i]: o for i, o in enumerate(options)}, **meta},
    )


def load_gpqa(path: str | Path, split: str = "test", seed: int = 0) -> list[Example]:
    """GPQA CSV. The file always lists the correct answer first, so options are shuffled,
    deterministically per question and seed."""
    out: list[Example] = []
    with Path(path).open(encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            question = row["Question"].strip()
            correct_text = row["Correct Answer"].strip()
            options = [correct_text] + [row[f"Incorrect Answer {i}"].strip() for i in (1, 2, 3)]
            random.Random(f"gpqa/{seed}/{question}").shuffle(options)
            out.append(
                _choice_example(
                    "gpqa",
                    row.get("Record ID") or content_id("gpqa", question),
                    question,
                    options,
                    options.index(correct_text),
                    split,
                    {
                        "domain": row.get("High-level domain", ""),
                        "subdomain": row.get("Subdomain", ""),
                    },
                )
            )
    return out


def load_mmlu(path: str | Path, split: str = "test") -> list[Example]:
    """MMLU CSV rows `question,A,B,C,D,answer` (no header, as released; a header row is
    skipped). `path` is one file or a folder of them; the subject comes from the file name."""
    path = Path(path)
    files = sorted(path.glob("*.csv")) if path.is_dir() else [path]
    out: list[Example] = []
    for file in files:
        subject = file.stem
        for suffix in ("_test", "_dev", "_val"):
            subject = subject.removesuffix(suffix)
        with file.open(encoding="utf-8", newline="") as f:
            for row_no, row in enumerate(csv.reader(f), 1):
                if not row or (row_no == 1 and row[-1].strip().lower() == "answer"):
                    continue
                if len(row) < 6:
                    raise ValueError(f"{file}:{row_no}: expected question,A,B,C,D,answer")
                question, options, answer = row[0], [o.strip() for o in row[1:-1]], row[-1]
                correct = LETTERS.index(answer.strip().upper())
                out.append(
                    _choice_example(
                        "mmlu",
                        content_id("mmlu", subject, question, *options),
                        question,
                        options,
                        correct,
                        split,
                        {"subject": subject},
                    )
                )
    return out


def last_boxed(text: str) -> str | None:
    """Contents of the last \\boxed{...} (or \\fbox{...}) in `text`, braces balanced."""
    start = max(text.rfind("\\boxed"), text.rfind("\\fbox"))
    if start < 0:
        return None
    brace = start + (6 if text.startswith("\\boxed", start) else 5)
    if not text.startswith("{", brace):
        # "\boxed 5" form: the argument runs to the next whitespace or "$".
        rest = text[start:].split(None, 1)
        return rest[1].split("$")[0].strip() if len(rest) > 1 else None
    depth = 0
    for i in range(brace, len(text)):
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            depth -= 1
            if depth == 0:
                return text[brace + 1 : i]
    return None


def _math_records(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    if path.is_dir():
        for file in sorted(path.rglob("*.json")):
            yield str(file.relative_to(path)), json.loads(file.read_text(encoding="utf-8"))
        for file in sorted(path.rglob("*.jsonl")):
            for line_no, rec in _jsonl_records(file):
                yield f"{file.relative_to(path)}:{line_no}", rec
    elif path.suffix == ".jsonl":
        for line_no, rec in _jsonl_records(path):
            yield f"{path.name}:{line_no}", rec
    else:
        data = json.loads(path.read_text(encoding="utf-8"))
        for i, rec in enumerate(data if isinstance(data, list) else [data]):
            yield f"{path.name}:{i}", rec


def load_math(path: str | Path, split: str = "test") -> list[Example]:
    """MATH: a folder of JSON files (as released), a JSONL file or a JSON file/list. The final
    answer is an explicit `answer` field when present, else the solution's last \\boxed{}."""
    out: list[Example] = []
    for source, rec in _math_records(Path(path)):
        answer = rec.get("answer")
        if answer is None:
            answer = last_boxed(str(rec.get("solution", "")))
        if answer is None:
            raise ValueError(f"{source}: no answer field and no \\boxed{{}} in the solution")
        level = str(rec.get("level", ""))
        digits = "".join(c for c in level if c.isdigit())
        out.append(
            Example(
                id=str(rec.get("unique_id") or content_id("math", rec["problem"])),
                dataset="math",
                question=rec["problem"],
                final_answer=str(answer).strip(),
                difficulty=int(digits) if digits else 0,
                split=split,
                answer_type="math",
                meta={"type": rec.get("type", rec.get("subject", "")), "source": source},
            )
        )
    return out


LOADERS: dict[str, Callable[..., list[Example]]] = {
    "musique": load_musique,
    "jsonl": load_generic_jsonl,
    "gpqa": load_gpqa,
    "mmlu": load_mmlu,
    "math": load_math,
}


def load(kind: str, path: str | Path, **options: Any) -> list[Example]:
    """Load local data of a known kind (see LOADERS)."""
    if kind not in LOADERS:
        raise ValueError(f"unknown loader {kind!r}; known: {sorted(LOADERS)}")
    return LOADERS[kind](path, **options)
