"""The harness' command line: target syntax, prompt sources, launching and stopping servers."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import httpx
import pytest

from benchmarks.launch import Launcher, LaunchError, free_port, parse_launch
from benchmarks.replay import DONE, chunk
from benchmarks.ttft.__main__ import main
from benchmarks.ttft.client import request_body
from benchmarks.ttft.prompts import PromptError, load_prompts
from benchmarks.ttft.targets import parse_extra_body, parse_target
from parsing import INTERLEAVED_INSTRUCTION, THINK_ANSWER_INSTRUCTION
from tasks import generate


def test_target_syntax() -> None:
    t = parse_target("ours=http://127.0.0.1:8101/v1/,model=m,format=r1,classify=fields", "k")
    assert (t.name, t.base_url, t.model, t.format, t.classify, t.api_key) == (
        "ours",
        "http://127.0.0.1:8101",
        "m",
        "r1",
        "fields",
        "k",
    )
    assert t.chat_url == "http://127.0.0.1:8101/v1/chat/completions"
    bare = parse_target("http://h:1")
    assert (bare.name, bare.base_url, bare.model, bare.classify) == (
        "target",
        "http://h:1",
        None,
        "auto",
    )
    assert parse_target("vllm").base_url == ""  # URL to come from --launch
    assert parse_target("x=http://h:1,api_key=s").api_key == "s"
    for bad in (
        "x=http://h,colour=red",
        "x=http://h,format=yaml",
        "x=http://h,classify=magic",
        "x=http://h,style=poem",
        "x=ftp://h",
        "=http://h",
    ):
        with pytest.raises(ValueError):
            parse_target(bad)


def test_per_target_style_swaps_the_system_instruction() -> None:
    question = {"role": "user", "content": "Who is a knight?"}
    prompt = [{"role": "system", "content": INTERLEAVED_INSTRUCTION}, question]
    twin = parse_target("ta=http://h:1,style=think_answer")
    body = request_body(twin, prompt, 64, 0.0)
    assert body["messages"] == [{"role": "system", "content": THINK_ANSWER_INSTRUCTION}, question]
    assert request_body(twin, [question], 64, 0.0)["messages"] == body["messages"]
    plain = parse_target("ours=http://h:1")
    assert plain.system is None and request_body(plain, prompt, 64, 0.0)["messages"] == prompt


def test_extra_body_common_and_per_target() -> None:
    common, per = parse_extra_body(['{"enforce_format": true}', 'ours={"top_p": 0.5}'])
    assert common == {"enforce_format": True} and per == {"ours": {"top_p": 0.5}}
    for bad in ("{nope", "[1]", "x=3"):
        with pytest.raises(ValueError):
            parse_extra_body([bad])


def test_launch_syntax() -> None:
    spec = parse_launch(
        "vllm=VLLM_CPU_KVCACHE_SPACE=2 A=b python -m vllm.entrypoints.openai.api_server "
        '--model "/m dir" --host 0.0.0.0 --port=8102'
    )
    assert spec.name == "vllm" and spec.env == {"VLLM_CPU_KVCACHE_SPACE": "2", "A": "b"}
    assert spec.argv[0] == sys.executable and spec.argv[4] == "/m dir"
    assert spec.base_url == "http://127.0.0.1:8102"
    assert parse_launch("s=./serve --host 10.0.0.2 --port 9").base_url == "http://10.0.0.2:9"
    assert parse_launch("s=./serve").base_url is None
    for bad in ("noequals", "x=", "x=A=1"):
        with pytest.raises(ValueError):
            parse_launch(bad)


def test_prompt_sources(tmp_path: Path) -> None:
    built = load_prompts("builtin", 10, style="think_answer")
    assert len(built) == 10 and built[0].messages[0]["content"] == THINK_ANSWER_INSTRUCTION
    assert built[8].messages == built[0].messages  # cycled
    assert load_prompts("builtin", 1)[0].messages[0]["content"] == INTERLEAVED_INSTRUCTION
    path = tmp_path / "p.jsonl"
    path.write_text(
        '{"messages": [{"role": "user", "content": "hi"}], "max_tokens": 7}\n\n'
        '{"id": "two", "messages": [{"role": "user", "content": "yo"}]}\n'
    )
    prompts = load_prompts(f"jsonl:{path}", 3)
    assert [(p.id, p.max_tokens) for p in prompts] == [("line-1", 7), ("two", None), ("line-1", 7)]
    for text in (
        "{bad",
        '{"messages": []}',
        '{"messages": [{"role": "user"}]}',
        '{"messages": [{"role": "user", "content": "x"}], "max_tokens": 0}',
        "",
    ):
        path.write_text(text)
        with pytest.raises(PromptError):
            load_prompts(f"jsonl:{path}", 1)
    for dataset in ("jsonl:/nonexistent.jsonl", "gsm8k"):
        with pytest.raises(PromptError):
            load_prompts(dataset, 1)


def test_generated_prompts_come_from_the_held_out_split() -> None:
    prompts = load_prompts("kk", 3, seed=5)
    assert len({p.id for p in prompts}) == 3
    assert prompts == load_prompts("kk", 3, seed=5)
    assert prompts[0].messages[0]["role"] == "system"
    assert "knight" in prompts[0].messages[-1]["content"].lower()


def test_generated_prompts_take_the_generators_options() -> None:
    small = load_prompts("kk:people=2", 4, seed=5)
    puzzles = generate("kk", 4, split="test", seed=5, people=(2,))
    assert [p.id for p in small] == [ex.id for ex in puzzles]
    assert all(len(ex.meta["people"]) == 2 for ex in puzzles)
    assert small != load_prompts("kk", 4, seed=5)
    unseen = load_prompts("multihop:hops=2:phrasing=unseen", 2)
    assert unseen != load_prompts("multihop:hops=2", 2)
    for bad in ("kk:people", "kk:colour=red", "kk:people=2,x"):
        with pytest.raises(PromptError, match="--dataset"):
            load_prompts(bad, 1)


@pytest.fixture
def scripts_file(tmp_path: Path) -> Path:
    path = tmp_path / "scripts.json"
    events = [
        [0.0, chunk({"role": "assistant"})],
        [0.02, chunk({"reasoning": "hm"})],
        [0.02, chunk({"content": "<answer>4</answer>"})],
        [0.0, DONE],
    ]
    path.write_text(json.dumps({"*": {"events": events}}))
    return path


def test_cli_launches_the_server_and_stops_it(scripts_file: Path, tmp_path: Path) -> None:
    port = free_port()
    out = tmp_path / "r.json"
    code = main(
        [
            "--launch",
            f"rp=python -m benchmarks.replay --scripts {scripts_file} --port {port}",
            "--num-prompts",
            "2",
            "--warmups",
            "1",
            "--output",
            str(out),
            "--no-plots",
            "--no-progress",
        ]
    )
    assert code == 0
    result = json.loads(out.read_text())
    assert result["model_id"] == "replay"  # from /v1/models
    assert result["completed"] == 2 and result["launched"]["rp"].endswith(f"--port {port}")
    assert result["mean_normalized_ttft"] == 0.5  # think token, then the answer token
    assert (tmp_path / "r-logs" / "rp.log").exists()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/health")


def test_launch_failure_quotes_the_log(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    code = main(
        [
            "--launch",
            "bad=python -c \"import sys; print('boom: no model'); sys.exit(3)\" --port 9",
            "--output",
            str(tmp_path / "r.json"),
            "--no-progress",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and "exited with code 3" in err and "boom: no model" in err
    assert not (tmp_path / "r.json").exists()


def test_health_timeout_stops_the_server(tmp_path: Path) -> None:
    sleeper = parse_launch("s=python -c \"import time; print('loading'); time.sleep(60)\"")
    with (
        Launcher(tmp_path, timeout=0.5, grace=5) as launcher,
        pytest.raises(LaunchError, match="did not answer 200") as error,
    ):
        launcher.start(sleeper, f"http://127.0.0.1:{free_port()}")
    assert error.value.launched is not None
    assert "loading" in str(error.value)
    assert error.value.launched.process.poll() is not None  # stopped on the way out


def test_interrupt_stops_a_healthy_server(scripts_file: Path, tmp_path: Path) -> None:
    port = free_port()
    spec = parse_launch(f"r=python -m benchmarks.replay --scripts {scripts_file} --port {port}")
    with pytest.raises(KeyboardInterrupt), Launcher(tmp_path, timeout=30, grace=5) as launcher:
        process = launcher.start(spec, spec.base_url or "").process
        assert httpx.get(f"http://127.0.0.1:{port}/health").status_code == 200
        raise KeyboardInterrupt
    assert process.poll() is not None


def test_bad_arguments_exit_with_a_message(capsys: pytest.CaptureFixture) -> None:
    for argv in (
        [],
        ["--target", "x"],
        ["--target", "http://h:1", "--slo", "itl:3"],
        ["--target", "http://h:1", "--request-rate", "0"],
        ["--target", "http://h:1", "--dataset", "nope"],
        ["--target", "http://h:1", "--percentiles", "50,101"],
        ["--target", "http://h:1", "--percentiles", "p99"],
        ["--target", "a=http://h:1", "--extra-body", 'b={"x": 1}'],
    ):
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        assert exit_info.value.code == 2
    assert "error:" in capsys.readouterr().err
