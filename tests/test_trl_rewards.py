"""The TRL reward function: our rewards, the exact per-step gate, and the gate's accuracy summed
over processes with torch.distributed (two real gloo processes)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch.distributed as dist
import torch.multiprocessing as mp

from benchmarks.launch import free_port
from tasks import generate
from tasks.prompts import interleaved_target
from training.rewards import RewardConfig, score, score_batch
from training.trl.rewards import InterleavedReward
from training.verl.export import ground_truth

KK = generate("kk", 4, people=(3,), seed=7)
BAD = "<think> no idea </think> <answer> Paris </answer>"


def good(i: int) -> list[dict[str, str]]:
    return [{"role": "assistant", "content": interleaved_target(KK[i])}]


def call(reward: InterleavedReward, completions: list, idx: list[int], split: str = "train"):
    return reward(
        prompts=[None] * len(idx),
        completions=completions,
        ground_truth=[ground_truth(KK[i]) for i in idx],
        split=[split] * len(idx),
    )


def test_single_process_matches_score_batch_step_by_step(tmp_path: Path) -> None:
    reward = InterleavedReward()
    steps = [[good(0), good(1)], [good(0), BAD], [good(0), BAD]]
    prev = None
    for completions in steps:
        texts = [c if isinstance(c, str) else c[0]["content"] for c in completions]
        expected, prev = score_batch(texts, [KK[0], KK[1]], prev, RewardConfig())
        assert call(reward, completions, [0, 1]) == [b.total for b in expected]
    assert reward.accuracies == [1.0, 0.5, 0.5]
    # Validation is paid with the gate open and leaves the gate alone.
    assert call(reward, [BAD], [0], "validation") == [score(BAD, KK[0]).total]
    assert reward.accuracies == [1.0, 0.5, 0.5]
    reward.save(tmp_path)
    restored = InterleavedReward()
    assert restored.load(tmp_path) and restored.accuracies == reward.accuracies
    assert not InterleavedReward().load(tmp_path / "none")


def _worker(rank: int, port: int, results: dict) -> None:
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    try:
        reward = InterleavedReward()
        # Step 1: both ranks right (accuracy 1.0). Step 2: rank 0 right, rank 1 wrong: the
        # step's accuracy is 0.5 overall, so rank 0's correct answer loses its intermediate
        # reward too, though rank 0 alone was at 1.0.
        first = call(reward, [good(rank)], [rank])
        second = call(reward, [good(0)] if rank == 0 else [BAD], [0 if rank == 0 else 1])
        results[rank] = (first, second, list(reward.accuracies))
    finally:
        dist.destroy_process_group()


@pytest.mark.timeout(120)
def test_gate_uses_the_accuracy_of_all_processes() -> None:
    results = mp.Manager().dict()
    mp.spawn(_worker, args=(free_port(), results), nprocs=2, join=True)
    full = score(interleaved_target(KK[0]), KK[0]).total
    gated = full - score(interleaved_target(KK[0]), KK[0]).intermediate
    for rank in (0, 1):
        assert results[rank][2] == [1.0, 0.5]
    assert results[0][0] == [full] and results[0][1] == [pytest.approx(gated)]
    assert results[1][1] == [score(BAD, KK[1]).total]
