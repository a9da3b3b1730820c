"""`python -m benchmarks.ttft --budget-sweep`: the sweep's mechanics at tiny scale, against a
scripted server (no engine) whose accuracy and time to first answer depend on the budget."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from benchmarks.ttft import __main__ as cli
from benchmarks.ttft import budget_sweep
from benchmarks.ttft.budget_sweep import Setting, parse_sweep
from tasks import generate


def test_parse_sweep_settings() -> None:
    settings = parse_sweep(["first_answer_tokens=32,64,none", "max_segment_tokens=16,none"])
    assert [s.label for s in settings] == [
        "first_answer_tokens=32",
        "first_answer_tokens=64",
        "none",
        "max_segment_tokens=16",
    ]
    assert settings[2] == Setting(None, {})
    assert parse_sweep(["first_answer_ms=250.5"])[0].budget == {"first_answer_ms": 250.5}
    for bad in ("first_answer_tokens", "bogus=1", "first_answer_tokens=x", "max_total_tokens=-1"):
        with pytest.raises(ValueError):
            parse_sweep([bad])


def scripted_server(examples: list[Any]) -> tuple[httpx.MockTransport, list[dict[str, Any]]]:
    """Answers right only without a deadline under 64 tokens; the first answer comes at
    10 ms per deadline token (1000 ms without one); the first intermediate answer is right."""
    by_question = {ex.question: ex for ex in examples}
    seen: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        seen.append(body)
        user = body["messages"][-1]["content"]
        ex = next(e for q, e in by_question.items() if q in user)
        deadline = body.get("reasoning_budget", {}).get("first_answer_tokens")
        right = deadline is None or deadline >= 64
        final = ex.final_answer if right else "I do not know"
        answers = [{"text": ex.intermediate_answers[0]}, {"text": final}]
        forced = [{"reason": "first_answer_tokens", "resume_ms": 7.0}] if deadline else []
        return httpx.Response(
            200,
            json={
                "choices": [
                    {
                        "message": {"content": "", "answers": answers},
                        "format_ok": True,
                        "finish_reason": "stop",
                        "timings": {
                            "time_to_first_answer_ms": 10.0 * deadline if deadline else 1000.0,
                            "forced_closes": len(forced),
                            "forced": forced,
                        },
                    }
                ],
                "usage": {"completion_tokens": 50},
            },
        )

    return httpx.MockTransport(handler), seen


def test_budget_sweep_cli_writes_the_table_json_and_plot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    examples = budget_sweep.load_examples(["kk", "multihop"], 3, 0)
    assert {ex.dataset for ex in examples} == {"kk", "multihop"}
    assert all(ex.intermediate_answers for ex in examples)
    assert [ex.id for ex in examples[:3]] == [ex.id for ex in generate("kk", 3, split="test")]
    transport, seen = scripted_server(examples)
    monkeypatch.setattr(
        budget_sweep, "run", functools.partial(budget_sweep.run, transport=transport)
    )
    output = tmp_path / "sweep.json"
    code = cli.main(
        [
            "--target",
            "ours=http://scripted:1,model=m",
            "--dataset",
            "kk,multihop",
            "--num-prompts",
            "3",
            "--budget-sweep",
            "first_answer_tokens=32,64,none",
            "--extra-body",
            '{"reasoning_budget": {"max_segment_tokens": 40}}',
            "--output",
            str(output),
            "--no-progress",
            "--save-detailed",
        ]
    )
    assert code == 0
    assert len(seen) == 2 * 3 + 3 * 2 * 3  # one warm-up each, then settings x datasets x prompts
    assert [b["max_tokens"] for b in seen[:6]] == [1] * 6
    budgets = [b.get("reasoning_budget") for b in seen]
    assert {"max_segment_tokens": 40, "first_answer_tokens": 32} in budgets
    assert {"max_segment_tokens": 40} in budgets  # the unbudgeted setting keeps extra_body's
    result = json.loads(output.read_text())
    rows = {(r["dataset"], r["setting"]): r for r in result["summaries"]}
    assert len(rows) == 6
    for dataset in ("kk", "multihop"):
        assert rows[dataset, "first_answer_tokens=32"]["pass_at_1"] == 0.0
        assert rows[dataset, "first_answer_tokens=64"]["pass_at_1"] == 1.0
        assert rows[dataset, "none"]["pass_at_1"] == 1.0
        assert rows[dataset, "first_answer_tokens=32"]["median_ttfa_ms"] == 320.0
        assert rows[dataset, "none"]["median_ttfa_ms"] == 1000.0
        assert rows[dataset, "none"]["intermediate_correct_share"] == 1.0
        assert rows[dataset, "first_answer_tokens=64"]["mean_forced_closes"] == 1.0
        assert rows[dataset, "first_answer_tokens=64"]["median_resume_ms"] == 7.0
        assert rows[dataset, "none"]["median_resume_ms"] is None
    detailed = result["requests"]["first_answer_tokens=32"]
    assert len(detailed) == 6 and detailed[0]["answers"][-1] == "I do not know"
    assert detailed[0]["timings"]["forced_closes"] == 1
    assert output.with_suffix(".png").stat().st_size > 1000
    table = capsys.readouterr().out
    assert "| kk | first_answer_tokens=32 | 0.000 |" in table


def test_budget_sweep_rejects_what_it_cannot_measure(tmp_path: Path) -> None:
    base = ["--target", "ours=http://x:1,model=m", "--output", str(tmp_path / "o.json")]
    for extra in (
        ["--budget-sweep", "first_answer_tokens=8", "--dataset", "builtin"],
        ["--budget-sweep", "nope=1", "--dataset", "kk"],
    ):
        with pytest.raises(SystemExit) as caught:
            cli.main([*base, *extra])
        assert caught.value.code == 2


def test_forced_close_harness_reads_decode_steps_and_resume_times() -> None:
    from benchmarks.forced_close import measure
    from benchmarks.ttft.prompts import load_prompts

    def handler(request: httpx.Request) -> httpx.Response:
        budgeted = "reasoning_budget" in json.loads(request.content)
        forced = [{"resume_ms": 120.0}, {"resume_ms": None}] if budgeted else []
        timings = {"time_to_first_token_ms": 0.0, "forced": forced, "forced_closes": len(forced)}
        return httpx.Response(
            200,
            json={"choices": [{"timings": timings}], "usage": {"completion_tokens": 11}},
        )

    prompts = load_prompts("builtin", 2)
    with httpx.Client(transport=httpx.MockTransport(handler)) as client:
        figures = measure(client, "http://x/v1/chat/completions", prompts, 16, 8)
    assert len(figures["decode_ms_per_token"]) == 2
    assert all(d >= 0 for d in figures["decode_ms_per_token"])
    runs = figures["budgeted"]
    assert [r["forced_closes"] for r in runs] == [2, 2]
    # A close that ended the response has no resume time.
    assert [r["resume_ms"] for r in runs] == [[120.0], [120.0]]
    assert all(r["completion_tokens"] == 11 for r in runs)


def test_a_close_costs_the_time_beyond_decoding_the_models_own_tokens() -> None:
    from benchmarks.forced_close import close_cost_ms

    # 50 ms a token. Continue: 21 model tokens in 1000 + 2 x 150 ms (two resumes).
    resumed = {
        "decode_ms_per_token": [50.0, 50.0],
        "budgeted": [
            {"after_first_token_ms": 1300.0, "completion_tokens": 21, "forced_closes": 2,
             "resume_ms": [150.0, 150.0]},
            {"after_first_token_ms": 999.0, "completion_tokens": 21, "forced_closes": 0,
             "resume_ms": []},
        ],
    }  # fmt: skip
    assert close_cost_ms(resumed, tag_tokens=5) == [150.0]
    # Logits: the same 21 model tokens plus 2 x 5 forced tag tokens, decoded at 50 ms each.
    in_engine = {
        "decode_ms_per_token": [50.0],
        "budgeted": [
            {"after_first_token_ms": 1500.0, "completion_tokens": 31, "forced_closes": 2,
             "resume_ms": []},
        ],
    }  # fmt: skip
    assert close_cost_ms(in_engine, tag_tokens=5) == [250.0]
