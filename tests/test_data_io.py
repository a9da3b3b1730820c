"""The Example record, JSONL round trips, split assignment and the `python -m training.data` CLI."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from tasks import GENERATORS, Example, dedupe, generate, read_jsonl, split_of, write_jsonl
from tasks.__main__ import main
from tasks.splits import assert_disjoint, overlap

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("dataset", sorted(GENERATORS))
def test_jsonl_round_trip(dataset: str, tmp_path: Path) -> None:
    exs = generate(dataset, 12, "validation", seed=3)
    path = tmp_path / "sub" / f"{dataset}.jsonl"
    assert write_jsonl(exs, path) == 12
    assert read_jsonl(path) == exs
    assert all(e.split == "validation" and e.dataset == dataset for e in exs)


def test_example_validation() -> None:
    with pytest.raises(ValueError, match="answer_type"):
        Example(id="x", dataset="d", question="q", final_answer="a", answer_type="free")
    with pytest.raises(ValueError, match="reasoning steps"):
        Example(id="x", dataset="d", question="q", final_answer="a",
                intermediate_answers=["a", "b"], reasoning_steps=["only one"])  # fmt: skip
    with pytest.raises(ValueError, match="unknown Example fields"):
        Example.from_dict({"id": "x", "dataset": "d", "question": "q", "final_answer": "a",
                           "extra": 1})  # fmt: skip


def test_read_jsonl_reports_the_bad_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(
        '{"id": "x", "dataset": "d", "question": "q", "final_answer": "a"}\n\n{"id": 1}\n'
    )
    with pytest.raises(ValueError, match=r"bad.jsonl:3"):
        read_jsonl(path)


def test_split_of_is_stable_and_roughly_80_10_10() -> None:
    counts = Counter(split_of(f"key {i}") for i in range(20_000))
    assert abs(counts["train"] / 20_000 - 0.8) < 0.02
    assert abs(counts["validation"] / 20_000 - 0.1) < 0.02
    assert split_of("fixed key") == split_of("fixed key")


def test_dedupe_and_overlap() -> None:
    a = Example(id="1", dataset="d", question="Same  Question", final_answer="x")
    b = Example(id="2", dataset="d", question="same question", final_answer="y")
    c = Example(id="3", dataset="d", question="other", final_answer="z")
    assert dedupe([a, b, c]) == [a, c]
    assert overlap([a], [b, c]) == {"same question"}
    with pytest.raises(AssertionError, match="1 items in both splits"):
        assert_disjoint([a], [b])


def test_unknown_dataset_and_split() -> None:
    with pytest.raises(ValueError, match="unknown dataset"):
        generate("nope", 1)
    with pytest.raises(ValueError, match="split"):
        generate("kk", 1, split="dev")


def test_an_option_the_generator_does_not_take_names_the_ones_it_does() -> None:
    with pytest.raises(ValueError, match="kk takes no option hops; it takes people, phrasing"):
        generate("kk", 1, hops=(2,))
    with pytest.raises(ValueError, match="everyday takes no option people; it takes none"):
        generate("everyday", 1, people=(2,))


def test_cli_generate(tmp_path: Path) -> None:
    out = tmp_path / "kk.jsonl"
    assert main(["generate", "--dataset", "kk", "--n", "6", "--split", "test", "--seed", "2",
                 "--people", "3,4", "--out", str(out)]) == 0  # fmt: skip
    exs = read_jsonl(out)
    assert [e.difficulty for e in exs] == [3, 4, 3, 4, 3, 4]
    assert exs == generate("kk", 6, "test", seed=2, people=(3, 4))


@pytest.mark.parametrize("module", ["training.data", "tasks"])  # the documented name, the package
def test_cli_as_module(tmp_path: Path, module: str) -> None:
    out = tmp_path / "arith.jsonl"
    done = subprocess.run(
        [sys.executable, "-m", module, "generate", "--dataset", "arithmetic",
         "--n", "5", "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert "wrote 5 examples" in done.stderr
    assert len(read_jsonl(out)) == 5


def test_cli_convert(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text('{"question": "q", "intermediate_answers": ["1"], "final_answer": "1"}\n')
    out = tmp_path / "out.jsonl"
    assert main(["convert", "--kind", "jsonl", "--path", str(src), "--out", str(out)]) == 0
    [ex] = read_jsonl(out)
    assert ex.final_answer == "1" and ex.split == "test"
