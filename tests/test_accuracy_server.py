"""benchmarks.accuracy end to end against the real session server (our extensions on)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.accuracy.__main__ import main


@pytest.mark.engine
@pytest.mark.timeout(600)
def test_accuracy_against_the_session_server(
    server, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "accuracy.json"
    code = main(
        [
            "--base-url",
            server.base_url,
            "--api-key",
            server.api_key,
            "--model",
            server.model,
            "--dataset",
            "kk:4:people=3",
            "--dataset",
            "multihop:4:hops=2",
            "--max-tokens",
            "200",
            "--extra-body",
            '{"enforce_format": true}',
            "--concurrency",
            "8",
            "--output",
            str(out),
        ]
    )
    assert code == 0
    result = json.loads(out.read_text())
    assert result["overall"]["errors"] == 0 and result["overall"]["n"] == 8
    assert set(result["by_dataset"]) == {"kk", "multihop"}
    assert set(result["by_difficulty"]) == {"kk/3", "multihop/2"}
    for row in result["responses"]:
        # Our server answered with its split answers and token offsets.
        assert row["ttft_basis"] == "tokens"
        assert 0 < row["completion_tokens"] <= 200
        if row["final_answer"] is not None:
            assert 0.0 < row["normalized_ttft"] <= 1.0
    # The format is enforced, so (nearly) every response has an answer to judge.
    assert result["overall"]["format_rate"] is not None
    assert sum(r["final_answer"] is not None for r in result["responses"]) >= 6
    assert out.with_suffix(".png").is_file()
    assert "overall" in capsys.readouterr().out
