"""`python -m training`: overrides from the command line, and a SIGTERM that takes the rollout
engine's worker processes down with the trainer."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from training import __main__ as cli
from training.config import Config

REPO = Path(__file__).resolve().parent.parent


def test_repeated_set_flags_all_apply(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """`--set a=1 --set b=2` used to keep only the last flag, silently training the config's
    estimator instead of the one asked for."""
    seen: list[Config] = []

    def fake_train(cfg: Config, resume: bool = False) -> Path:
        seen.append(cfg)
        return tmp_path

    from training.rl import trainer

    monkeypatch.setattr(trainer, "train", fake_train)
    previous = signal.getsignal(signal.SIGTERM)
    try:
        code = cli.main(
            [
                "rl",
                "--config",
                str(REPO / "training/configs/rl-interleaved-ir.yaml"),
                "--set",
                "estimator=gae",
                "--set",
                f"out_dir={tmp_path}",
                "max_steps=3",
            ]
        )
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert code == 0
    (cfg,) = seen
    assert (cfg.estimator, cfg.out_dir, cfg.max_steps) == ("gae", str(tmp_path), 3)


def _descendants(pid: int) -> set[int]:
    """Every live process below `pid`, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.engine
@pytest.mark.timeout(600)
def test_sigterm_stops_the_vllm_workers_too(tmp_path: Path) -> None:
    out = tmp_path / "run"
    cfg = Config(
        mode="rl",
        out_dir=str(out),
        rollout="vllm",
        vllm_kv_cache_bytes=1 << 29,
        vllm_max_model_len=1024,
        num_threads=1,
        progress=False,
        data=[{"dataset": "multihop", "n": 4, "hops": [2]}],
        batch_size=1,
        n_samples=2,
        max_new_tokens=8,
        mini_batch_size=2,
        micro_batch_size=2,
        kl_coef=0.0,
        max_steps=1000,
        save_every=1,
    )
    config_file = tmp_path / "rl.yaml"
    config_file.write_text(yaml.safe_dump(cfg.to_dict()))
    # Output to a file, not a pipe: orphaned workers would hold a pipe open and hang a read.
    output = tmp_path / "output.log"
    with output.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "training", "rl", "--config", str(config_file)],
            cwd=REPO,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    workers: set[int] = set()
    try:
        deadline = time.monotonic() + 420
        log = out / "log.jsonl"
        # A logged step means the engine is up and its workers are running.
        while not (log.is_file() and log.read_text().strip()):
            assert process.poll() is None, output.read_text(errors="replace")[-3000:]
            assert time.monotonic() < deadline, "no training step within 420 s"
            time.sleep(1)
        workers = _descendants(process.pid)
        assert workers, "the vLLM engine should run in child processes"
        process.send_signal(signal.SIGTERM)
        code = process.wait(120)
        assert code == 128 + signal.SIGTERM, output.read_text(errors="replace")[-3000:]
        give_up = time.monotonic() + 30
        while any(_alive(p) for p in workers) and time.monotonic() < give_up:
            time.sleep(0.5)
        left = sorted(p for p in workers if _alive(p))
        assert not left, f"processes outlived the trainer: {left}"
    finally:
        if process.poll() is None:
            process.kill()
        for pid in workers | _descendants(process.pid):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
