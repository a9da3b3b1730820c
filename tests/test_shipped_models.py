"""The trained adapters that ship with the source, and the server's default being the
arithmetic-stage model: what a user gets from `scripts/serve.sh` without flags."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import httpx

from modelprep import (
    DEFAULT_ADAPTER_NAME,
    DEFAULT_TWIN_ADAPTER_NAME,
    THINK_ANSWER_ADAPTER_NAME,
    adapter_style,
    shipped_adapter_dir,
)
from tasks import generate
from tasks.judging import judge_final
from tasks.prompts import build_messages

MAX_ADAPTER_BYTES = 50 * 1024 * 1024

# The default model's bar on held-out K&K puzzles (2-3 people, greedy, 768 tokens), set from
# its measured distribution: see the docstring of the test below.
KK_PUZZLES = 16
MIN_WELL_FORMED = 11
MIN_CORRECT = 3


def _card_checks(folder, summary: dict) -> None:  # type: ignore[no-untyped-def]
    evaluation = summary["evaluation"]
    assert evaluation is not None, "the card must carry the held-out evaluation"
    assert {"kk", "multihop", "arithmetic"} <= set(evaluation["by_dataset"])
    card = (folder / "README.md").read_text()
    assert "## Evaluation" in card and "## Config" in card


def _bf16_adapter(folder) -> None:  # type: ignore[no-untyped-def]
    from safetensors import safe_open

    weights = folder / "adapter_model.safetensors"
    assert weights.stat().st_size < MAX_ADAPTER_BYTES
    with safe_open(weights, "pt") as f:
        dtypes = {str(f.get_tensor(k).dtype) for k in f.keys()}  # noqa: SIM118 (not a dict)
    assert dtypes == {"torch.bfloat16"}


def test_the_default_adapter_ships_in_bf16_with_its_card() -> None:
    """The default is a LoRA adapter: an arithmetic stage with replay, trained on from one round
    of rejection-sampling fine-tuning, itself from stage 5 (early answers, chained arithmetic,
    everyday prompts) and the truth-table model; its card follows the warm-start chain down to
    the extracted stage 3 and states both evaluations."""
    folder = shipped_adapter_dir(DEFAULT_ADAPTER_NAME)
    assert folder is not None, f"modelprep/adapters/{DEFAULT_ADAPTER_NAME} is missing"
    _bf16_adapter(folder)
    assert adapter_style(folder) == "interleaved"
    summary = json.loads((folder / "training_summary.json").read_text())
    assert summary["config"]["mode"] == "sft" and summary["config"]["lora"]
    # The arithmetic stage started from the shipped RFT model (kept for that reason).
    assert summary["config"]["init_adapter"].endswith("smollm2-135m-interleaved-rft")
    rft = summary["warm_start"]
    assert rft["config"]["mode"] == "rft" and rft["config"]["out_dir"] == "runs/rft-early"
    assert rft["warm_start"]["config"]["out_dir"] == "runs/sft-early"
    assert rft["warm_start"]["warm_start"]["config"]["out_dir"] == "runs/sft-kk-tables-3"
    assert {"kk", "multihop", "arithmetic", "chains", "everyday"} <= set(
        summary["evaluation"]["by_dataset"]
    )
    _card_checks(folder, summary)
    assert summary["evaluation_unseen"] is not None  # the held-out phrasing, measured too


def test_the_twin_ships_with_the_same_chain_as_the_default() -> None:
    """The think-answer twin was made by the same stages from the same configs and seeds
    (scripts/train_twin.sh) as the default: the two cards' warm-start chains mirror each other,
    stage for stage (the arithmetic stage, the RFT round, stage 5)."""
    folder = shipped_adapter_dir(DEFAULT_TWIN_ADAPTER_NAME)
    assert folder is not None, f"modelprep/adapters/{DEFAULT_TWIN_ADAPTER_NAME} is missing"
    _bf16_adapter(folder)
    assert adapter_style(folder) == "think_answer"
    twin = json.loads((folder / "training_summary.json").read_text())
    pair_folder = shipped_adapter_dir(DEFAULT_ADAPTER_NAME)
    assert pair_folder is not None
    pair = json.loads((pair_folder / "training_summary.json").read_text())
    assert twin["config"]["init_adapter"].endswith("smollm2-135m-think-answer-rft")
    assert twin["warm_start"]["config"]["out_dir"] == "runs/twin-rft"
    assert twin["warm_start"]["warm_start"]["config"]["out_dir"] == "runs/twin-early"
    # Compared: every setting both runs recorded (a field added to the config since is only
    # in the newer one), except where each run wrote and read, and the style.
    ignored = {"out_dir", "init_adapter", "model", "style"}
    a, b = twin, pair
    for _stage in range(3):
        shared = (a["config"].keys() & b["config"].keys()) - ignored
        assert len(shared) > 40
        assert {k: a["config"][k] for k in shared} == {k: b["config"][k] for k in shared}
        assert a["config"]["style"] == "think_answer" and b["config"]["style"] == "interleaved"
        a, b = a["warm_start"], b["warm_start"]
    _card_checks(folder, twin)
    assert twin["evaluation_unseen"] is not None


def test_the_think_answer_twin_ships_in_bf16_with_its_card() -> None:
    folder = shipped_adapter_dir(THINK_ANSWER_ADAPTER_NAME)
    assert folder is not None
    _bf16_adapter(folder)
    assert adapter_style(folder) == "think_answer"
    summary = json.loads((folder / "training_summary.json").read_text())
    assert summary["config"]["mode"] == "rl" and summary["steps"] == summary["config"]["max_steps"]
    assert summary["warm_start"]["config"]["mode"] == "sft"
    _card_checks(folder, summary)


def test_the_default_model_is_the_shipped_adapter(server) -> None:
    assert server.model == DEFAULT_ADAPTER_NAME


def test_the_default_model_solves_held_out_puzzles_on_its_own(server) -> None:
    """No `enforce_format`: the trained model itself writes think/answer pairs, the server
    streams its intermediate answers, and the final answers are right.

    On the evaluation split (20 puzzles per size, 1024 tokens) the default measured Pass@1 0.60
    (2 people) and 0.35 (3 people); on these 16 puzzles (seed 7, the widened templates) it was
    14/16 well-formed and 7/16 correct three times in a row, its truth-table predecessor 15/16
    and 5/16. The bars (11 and 3) leave margin for both, since greedy output moves with batch
    composition. The base model writes no `<think>` tag at all (0 of 48 samples),
    so it fails both bars."""
    examples = generate("kk", KK_PUZZLES, split="test", people=(2, 3), seed=7)
    with server.openai_client(timeout=600) as client:

        def ask(ex):  # type: ignore[no-untyped-def]
            response = client.chat.completions.create(
                model=server.model, messages=build_messages(ex, "interleaved"),
                max_tokens=768, temperature=0,
            )  # fmt: skip
            choice = response.choices[0].model_dump()
            return ex, choice["message"], choice

        # Concurrent, as users are: 16 sequential 500-token answers would take minutes on CPU.
        with ThreadPoolExecutor(max_workers=KK_PUZZLES) as pool:
            results = list(pool.map(ask, examples))
    well_formed = [(ex, m) for ex, m, c in results if c.get("format_ok")]
    texts = [m["content"] for _, m, _ in results]
    assert len(well_formed) >= MIN_WELL_FORMED, texts
    finals = [(ex, m["answers"][-1]["text"]) for ex, m in well_formed]
    correct = [ex for ex, final in finals if judge_final(final, ex) == "correct"]
    assert len(correct) >= MIN_CORRECT, texts
    for _, message in well_formed:
        assert len(message["answers"]) >= 2  # an intermediate answer before the final one
        assert message["reasoning"]


def test_the_think_answer_twin_serves_under_its_own_instruction(tmp_path_factory) -> None:
    from tests.conftest import SESSION_FLAGS, start_server

    folder = shipped_adapter_dir(THINK_ANSWER_ADAPTER_NAME)
    assert folder is not None
    proc = start_server(
        *SESSION_FLAGS, "--adapter", str(folder),
        log_dir=tmp_path_factory.mktemp("twin-logs"), name="think-answer-server",
    )  # fmt: skip
    try:
        # Multi-hop questions: the twin's most reliable set (format rate 0.93 measured).
        choices = []
        for ex in generate("multihop", 3, split="test", hops=(2,), seed=7):
            question = [m for m in build_messages(ex, "think_answer") if m["role"] == "user"]
            response = httpx.post(
                f"{proc.base_url}/v1/chat/completions", timeout=300,
                json={"messages": question, "max_tokens": 384, "temperature": 0},
            )  # fmt: skip
            assert response.status_code == 200, response.text
            choices.append(response.json()["choices"][0])
        well_formed = [c for c in choices if c["format_ok"]]
        assert len(well_formed) >= 2, choices
        for choice in well_formed:  # one answer, after all the thinking
            assert len(choice["message"]["answers"]) == 1 and choice["message"]["reasoning"]
    finally:
        proc.stop()


def _greedy_answers(server, question: str) -> list[str]:  # type: ignore[no-untyped-def]
    with server.openai_client(timeout=300) as client:
        response = client.chat.completions.create(
            model=server.model,
            messages=[{"role": "user", "content": question}],
            max_tokens=200,
            temperature=0,
        )
    return [a["text"] for a in response.choices[0].model_dump()["message"]["answers"]]


def test_the_readme_example_comes_out_right(server) -> None:
    """The front page's first example, greedy, as it prints it: each running total answered
    as soon as it is computed, the final answer right."""
    assert _greedy_answers(server, "What is 2+3? Then multiply by 4.") == ["5", "20"]


def test_an_everyday_question_gets_a_plain_first_answer(server) -> None:
    """A question outside the trained tasks keeps the base model's plain answer (the model
    before it answered "France" first)."""
    answers = _greedy_answers(server, "What is the capital of France?")
    assert answers and "Paris" in answers[0], answers
