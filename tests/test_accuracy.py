"""benchmarks.accuracy's judging and reporting on recorded responses (no server)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.accuracy import report
from benchmarks.accuracy.__main__ import _dataset_spec, load_examples, main
from benchmarks.accuracy.client import request_body
from benchmarks.accuracy.judge import failed, judge, response_view
from tasks import generate
from tasks.prompts import interleaved_target
from training.rewards import score

KK = generate("kk", 2, split="test", people=(3,), seed=2)[0]
HOP = generate("multihop", 2, split="test", hops=(2,), seed=2)[0]


def ours(answers: list[tuple[str, int, int]], format_ok: bool, tokens: int) -> dict:
    """A non-streaming response of our server: answers split out, with the token offsets of
    their first text token and their end."""
    return {
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "format_ok": format_ok,
                "message": {
                    "role": "assistant",
                    "content": "\n\n".join(a for a, _, _ in answers),
                    "reasoning": "...",
                    "answers": [
                        {
                            "index": i,
                            "text": a,
                            "elapsed_ms": 1.0,
                            "first_token_offset": start,
                            "token_offset": end,
                            "complete": True,
                        }
                        for i, (a, start, end) in enumerate(answers)
                    ],
                },
            }
        ],
        "usage": {"prompt_tokens": 10, "completion_tokens": tokens, "total_tokens": tokens + 10},
    }


def raw(text: str) -> dict:
    """A response of a server that returns the model's text as is (tags included)."""
    return {
        "choices": [
            {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}
        ],
        "usage": {"completion_tokens": 50},
    }


def test_our_server_response_is_judged_from_its_answers() -> None:
    truths = HOP.intermediate_answers  # 2 hops: the second is the final answer
    body = ours([(truths[0], 15, 20), (truths[1], 70, 80)], format_ok=True, tokens=100)
    judged = judge(HOP, response_view(body))
    assert judged.correct and judged.format_ok
    assert (judged.intermediate_matched, judged.intermediate_total) == (2, 2)
    # The paper's TTFT: where the first answer *starts* (token 15 of 100), not where it ends.
    assert judged.normalized_ttft == pytest.approx(0.15) and judged.ttft_basis == "tokens"
    assert judged.completion_tokens == 100
    # An older server of ours reported only where each answer ended.
    del body["choices"][0]["message"]["answers"][0]["first_token_offset"]
    assert judge(HOP, response_view(body)).normalized_ttft == pytest.approx(0.2)


def test_wrong_final_answer_and_bad_format() -> None:
    body = ours([("somewhere else", 90, 95)], format_ok=False, tokens=100)
    judged = judge(HOP, response_view(body))
    assert not judged.correct and not judged.format_ok
    assert judged.intermediate_matched == 0 and judged.normalized_ttft == pytest.approx(0.9)
    nothing = judge(HOP, response_view(ours([], format_ok=False, tokens=30)))
    assert nothing.final_answer is None and nothing.normalized_ttft is None


def test_invalid_format_with_the_right_final_answer_is_not_correct() -> None:
    # Our server: the answers are right, but it says the format is invalid.
    truths = HOP.intermediate_answers
    body = ours([(truths[0], 15, 20), (truths[1], 70, 80)], format_ok=False, tokens=100)
    judged = judge(HOP, response_view(body))
    assert judged.final_answer == HOP.final_answer
    assert not judged.correct and not judged.format_ok and judged.final_status == "no_format"
    # Raw text: the same verdict as training's reward, for bad and good formats alike.
    good = f"<think> x </think> <answer> {KK.final_answer} </answer>"
    for text in ("I think " + good, good + " <think> more </think>", good):
        judged, reward = judge(KK, response_view(raw(text))), score(text, KK)
        assert judged.final_answer.strip() == KK.final_answer
        assert (judged.correct, judged.final_status) == (reward.correct, reward.final_status)
        assert judged.correct == (text == good)


def test_raw_tagged_text_is_parsed() -> None:
    text = interleaved_target(KK)  # interleaved: each person answered in turn, then the list
    judged = judge(KK, response_view(raw(text)))
    assert judged.correct and judged.format_ok
    assert judged.intermediate_matched == judged.intermediate_total == 3
    first_start = text.index("<answer>") + len("<answer>")
    first_start += len(text[first_start:]) - len(text[first_start:].lstrip())
    assert judged.normalized_ttft == pytest.approx(first_start / len(text))
    assert judged.ttft_basis == "chars"
    # Think-then-answer puts the only answer at the very end: its first character.
    late_text = f"<think> x </think> <answer> {KK.final_answer} </answer>"
    late = judge(KK, response_view(raw(late_text)))
    start = late_text.index(KK.final_answer)
    assert late.correct and late.normalized_ttft == pytest.approx(start / len(late_text))
    # Untagged text is one answer from its first character (our server reports the same).
    plain = judge(KK, response_view(raw(KK.final_answer)))
    assert plain.final_answer == KK.final_answer and plain.normalized_ttft == 0.0
    # A server with a reasoning parser returns the thinking apart: it is put back in front.
    split = raw(KK.final_answer)
    split["choices"][0]["message"]["reasoning_content"] = "thinking"
    assert judge(KK, response_view(split)).format_ok


def test_aggregate_by_dataset_and_difficulty_table_json_and_plot(tmp_path: Path) -> None:
    kk4 = generate("kk", 1, split="test", people=(4,), seed=2)[0]
    rows = [
        judge(KK, response_view(raw(interleaved_target(KK)))),
        judge(kk4, response_view(raw("<answer> nobody </answer>"))),
        judge(HOP, response_view(ours([(HOP.final_answer, 35, 40)], True, 50))),
        failed(HOP, "HTTP 500: boom"),
    ]
    summary = report.summarize(rows)
    overall = summary["overall"]
    assert (overall["n"], overall["errors"]) == (3, 1)
    assert overall["pass_at_1"] == pytest.approx(2 / 3)
    assert summary["by_dataset"]["kk"]["pass_at_1"] == 0.5
    assert summary["by_dataset"]["multihop"]["intermediate_accuracy"] == 0.5
    assert list(summary["by_difficulty"]) == ["kk/3", "kk/4", "multihop/2"]
    assert summary["by_difficulty"]["kk/4"]["pass_at_1"] == 0.0
    text = report.table(summary)
    assert text.splitlines()[0].split()[:3] == ["group", "n", "errors"]
    assert "  kk/3" in text
    out = report.write_json(tmp_path / "r.json", {"x": 1}, summary, rows)
    data = json.loads(out.read_text())
    assert data["settings"] == {"x": 1} and len(data["responses"]) == 4
    assert data["responses"][3]["error"] == "HTTP 500: boom"
    png = report.plot(tmp_path / "r.png", summary)
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_request_uses_the_training_prompt_and_extra_body() -> None:
    body = request_body(KK, "interleaved", None, 200, 0.0, {"enforce_format": True})
    assert body["messages"][0]["role"] == "system" and KK.question in body["messages"][1]["content"]
    assert body["enforce_format"] is True and "model" not in body


def test_dataset_specs_use_the_held_out_test_split() -> None:
    spec = _dataset_spec("kk:3:people=3,4")
    assert spec == ("kk", 3, {"people": (3, 4)})
    examples = load_examples([spec], [], seed=0)
    assert [e.split for e in examples] == ["test"] * 3
    assert [e.difficulty for e in examples] == [3, 4, 3]


def test_an_option_the_generator_does_not_take_is_a_usage_error_before_any_server(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--base-url", "http://127.0.0.1:9", "--dataset", "kk:3:hops=2"])
    assert exit_info.value.code == 2
    assert "kk takes no option hops" in capsys.readouterr().err


def _result(kk: float, ttft: float, by_people: dict[int, float]) -> dict:
    cell = {"n": 10, "pass_at_1": kk, "normalized_ttft": ttft, "format_rate": 1.0}
    return {
        "by_dataset": {"kk": cell, "arithmetic": {**cell, "pass_at_1": 0.5}},
        "by_difficulty": {f"kk/{p}": {"n": 5, "pass_at_1": v} for p, v in by_people.items()},
    }


def test_compare_lays_results_out_like_table_2(tmp_path: Path) -> None:
    from benchmarks.accuracy import compare, paper

    files = {}
    for name, result in {
        "think-answer": _result(0.2, 0.9, {2: 0.4, 3: 0.0}),
        "interleaved+IR": _result(0.4, 0.1, {2: 0.6, 3: 0.2}),
    }.items():
        files[name] = tmp_path / f"{name}.json"
        files[name].write_text(json.dumps(result))
    out = tmp_path / "table2.md"
    assert (
        compare.main(
            [f"{k}={v}" for k, v in files.items()]
            + ["--output", str(out), "--plot", str(tmp_path / "kk.png")]
        )
        == 0
    )
    text = out.read_text()
    assert "| model | kk Pass@1 / TTFT | arithmetic Pass@1 / TTFT | Avg. Pass@1 / TTFT |" in text
    # Avg. is the unweighted mean over datasets, as in the paper: (0.4 + 0.5) / 2.
    assert "| interleaved+IR | 0.400 / 0.100 | 0.500 / 0.100 | 0.450 / 0.100 | 1.000 |" in text
    assert "| think-answer | 0.400 | 0.000 |" in text  # by people: 2, 3
    assert "| Interleave + IR | PPO | 0.533 / 0.132 |" in text and paper.SOURCE in text
    saved = json.loads(out.with_suffix(".json").read_text())
    assert saved["kk_by_people"]["interleaved+IR"]["3"]["pass_at_1"] == 0.2
    assert (tmp_path / "kk.png").stat().st_size > 0
    with pytest.raises(SystemExit):
        compare.main(["no-equals-sign"])


def test_compare_writes_only_where_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without --output it prints and writes nothing (a quick look never overwrites a committed
    result); with it, the plot defaults to the markdown's name with .png."""
    from benchmarks.accuracy import compare

    result = tmp_path / "inputs" / "a.json"
    result.parent.mkdir()
    result.write_text(json.dumps(_result(0.2, 0.9, {2: 0.4, 3: 0.0})))
    monkeypatch.chdir(tmp_path)
    assert compare.main([f"a={result}"]) == 0
    assert "| a |" in capsys.readouterr().out
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["a.json", "inputs"]
    assert compare.main([f"a={result}", "--output", "out/t.md"]) == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["t.json", "t.md", "t.png"]
    with pytest.raises(SystemExit):
        compare.main([f"a={result}", "--plot", "k.png"])


def test_cut_responses_and_the_precision_of_early_answers() -> None:
    """`cut_rate`: share stopped at max_tokens; `intermediate_precision`: of the answers shown
    before the final one, the share equal to some intermediate truth."""
    right, wrong = KK.intermediate_answers[0], "Nobody is a knight"
    body = ours([(right, 1, 5), (wrong, 6, 9), (KK.final_answer, 10, 20)], True, 30)
    whole = judge(KK, response_view(body))
    assert (whole.intermediate_given, whole.intermediate_given_correct) == (2, 1)
    assert whole.to_dict()["answers"] == [right, wrong, KK.final_answer]
    assert not whole.cut
    body = ours([(right, 1, 5)], False, 768)
    body["choices"][0]["finish_reason"] = "length"
    cut = judge(KK, response_view(body))
    assert cut.cut and cut.intermediate_given == 0
    summary = report.aggregate([whole, cut])
    assert summary["cut_rate"] == 0.5
    assert summary["intermediate_precision"] == 0.5


def test_everyday_answers_are_checked_for_their_fact_where_one_exists() -> None:
    """`facts_right`: of the everyday prompts with one checkable fact, the share whose first
    answer states it; other items and prompts leave it out."""
    capital, haiku = (
        next(e for e in generate("everyday", 59, split="test") if e.meta["category"] == c)
        for c in ("capital", "poem")
    )
    country = capital.question.rstrip("?.").rsplit(" of ", 1)[1]
    wrong = judge(capital, response_view(ours([(f"{country} is its own capital", 1, 5)], True, 9)))
    poem = judge(haiku, response_view(ours([("Waves on the shore", 1, 5)], True, 9)))
    assert wrong.fact_right is False and poem.fact_right is None
    assert judge(KK, response_view(ours([(KK.final_answer, 1, 5)], True, 9))).fact_right is None
    summary = report.summarize([wrong, poem])
    assert summary["by_dataset"]["everyday"]["facts_right"] == 0.0
    assert summary["by_dataset"]["everyday"]["n"] == 2
