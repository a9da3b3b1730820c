"""Loaders for local files: MuSiQue, generic JSONL, GPQA, MMLU, MATH (files written here)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from tasks import load
from tasks.loaders import last_boxed, load_gpqa, load_math, load_mmlu, load_musique


def _write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


MUSIQUE = {
    "id": "2hop__1_2",
    "paragraphs": [
        {"idx": 0, "title": "Green", "paragraph_text": "Green is a song by Steve Hillage.",
         "is_supporting": True},
        {"idx": 1, "title": "Steve Hillage", "paragraph_text": "Hillage was born in Chingford.",
         "is_supporting": True},
    ],
    "question": "Where was the performer of Green born?",
    "question_decomposition": [
        {"id": 1, "question": "Green >> performer", "answer": "Steve Hillage",
         "paragraph_support_idx": 0},
        {"id": 2, "question": "Where was #1 born?", "answer": "Chingford",
         "paragraph_support_idx": 1},
    ],
    "answer": "Chingford",
    "answer_aliases": ["Chingford, London"],
    "answerable": True,
}  # fmt: skip


def test_musique(tmp_path: Path) -> None:
    unanswerable = {**MUSIQUE, "id": "x", "answerable": False}
    path = _write_jsonl(tmp_path / "musique.jsonl", [MUSIQUE, unanswerable])
    [ex] = load_musique(path)
    assert ex.id == "2hop__1_2" and ex.dataset == "musique" and ex.split == "validation"
    assert ex.final_answer == "Chingford"
    assert ex.intermediate_answers == ["Steve Hillage", "Chingford"]
    assert ex.reasoning_steps[1] == "Where was Steve Hillage born? The answer is Chingford."
    assert ex.context == [
        "Green: Green is a song by Steve Hillage.",
        "Steve Hillage: Hillage was born in Chingford.",
    ]
    assert ex.difficulty == 2
    assert ex.meta["final_answer_aliases"] == ["Chingford, London"]
    assert len(load_musique(path, answerable_only=False)) == 2


def test_generic_jsonl(tmp_path: Path) -> None:
    records = [
        {"question": "q1", "intermediate_answers": ["a", "b"], "final_answer": "b"},
        {"id": "custom", "question": "q2", "intermediate_answers": [], "final_answer": "7",
         "answer_type": "number", "reasoning_steps": [], "context": ["c"], "meta": {"k": 1}},
    ]  # fmt: skip
    path = _write_jsonl(tmp_path / "data.jsonl", records)
    a, b = load("jsonl", path)
    assert (a.question, a.intermediate_answers, a.final_answer) == ("q1", ["a", "b"], "b")
    assert a.difficulty == 2 and a.dataset == "jsonl" and a.id.startswith("jsonl-")
    assert (b.id, b.answer_type, b.context, b.meta) == ("custom", "number", ["c"], {"k": 1})
    bad = _write_jsonl(tmp_path / "bad.jsonl", [{"question": "q"}])
    with pytest.raises(ValueError, match="final_answer"):
        load("jsonl", bad)


def test_gpqa_shuffles_options_deterministically(tmp_path: Path) -> None:
    path = tmp_path / "gpqa_diamond.csv"
    header = ["Record ID", "Question", "Correct Answer", "Incorrect Answer 1",
              "Incorrect Answer 2", "Incorrect Answer 3", "High-level domain"]  # fmt: skip
    rows = [[f"rec{i}", f"Question {i}?", f"right {i}", "w1", "w2", "w3", "Physics"]
            for i in range(8)]  # fmt: skip
    with path.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([header, *rows])
    exs = load_gpqa(path)
    assert [e.id for e in exs] == [f"rec{i}" for i in range(8)]
    for i, ex in enumerate(exs):
        assert ex.answer_type == "choice" and ex.dataset == "gpqa"
        assert ex.meta["choices"][ex.final_answer] == f"right {i}"
        assert f"({ex.final_answer}) right {i}" in ex.question
        assert ex.question.startswith(f"Question {i}?\n\n(A) ")
    # The correct answer is not always "A" (the CSV always lists it first).
    assert len({e.final_answer for e in exs}) > 1
    assert [e.to_dict() for e in load_gpqa(path)] == [e.to_dict() for e in exs]


def test_mmlu_file_and_folder(tmp_path: Path) -> None:
    folder = tmp_path / "mmlu"
    folder.mkdir()
    with (folder / "abstract_algebra_test.csv").open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([["What is 2+2?", "3", "4", "5", "6", "B"],
                                 ["Pick D", "a", "b", "c", "d", "D"]])  # fmt: skip
    with (folder / "virology_test.csv").open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([["question", "A", "B", "C", "D", "answer"],
                                 ["Q?", "w", "x", "y", "z", "a"]])  # fmt: skip
    exs = load_mmlu(folder)
    assert [(e.final_answer, e.meta["subject"]) for e in exs] == [
        ("B", "abstract_algebra"), ("D", "abstract_algebra"), ("A", "virology"),
    ]  # fmt: skip
    assert exs[0].question == "What is 2+2?\n\n(A) 3\n(B) 4\n(C) 5\n(D) 6"
    assert exs[0].meta["choices"]["B"] == "4"
    assert len(load("mmlu", folder / "virology_test.csv")) == 1


def test_math_folder_and_jsonl(tmp_path: Path) -> None:
    folder = tmp_path / "MATH" / "test" / "algebra"
    folder.mkdir(parents=True)
    (folder / "1.json").write_text(json.dumps({
        "problem": "Solve for x: 2x = 1.", "level": "Level 2", "type": "Algebra",
        "solution": "First $\\boxed{\\frac{1}{2}}$, then corrected: $\\boxed{3}$.",
    }))  # fmt: skip
    (folder / "2.json").write_text(json.dumps({
        "problem": "Compute 3+4.", "level": "Level 1", "type": "Algebra",
        "solution": "It is $\\boxed{7}$.",
    }))  # fmt: skip
    exs = load_math(tmp_path / "MATH")
    assert [e.final_answer for e in exs] == ["3", "7"]
    assert [e.difficulty for e in exs] == [2, 1]
    assert exs[0].answer_type == "math" and exs[0].meta["type"] == "Algebra"
    jsonl = _write_jsonl(tmp_path / "math500.jsonl", [
        {"problem": "p", "solution": "\\boxed{9}", "answer": "10", "level": 3},
    ])  # fmt: skip
    [ex] = load("math", jsonl)
    assert ex.final_answer == "10" and ex.difficulty == 3  # an explicit answer field wins
    missing = _write_jsonl(tmp_path / "none.jsonl", [{"problem": "p", "solution": "no box"}])
    with pytest.raises(ValueError, match="boxed"):
        load_math(missing)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("\\boxed{5}", "5"),
        ("a \\boxed{1} b \\boxed{\\frac{a}{b}}", "\\frac{a}{b}"),
        ("\\boxed{\\{1, 2\\}}", "\\{1, 2\\}"),
        ("$\\fbox{x+1}$", "x+1"),
        ("\\boxed 7$", "7"),
        ("no box", None),
        ("\\boxed{unclosed", None),
    ],
)
def test_last_boxed(text: str, expected: str | None) -> None:
    assert last_boxed(text) == expected


def test_unknown_loader() -> None:
    with pytest.raises(ValueError, match="unknown loader"):
        load("nope", "x")
