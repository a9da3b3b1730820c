"""Advantage estimators and loss terms on hand-computed tensors."""

from __future__ import annotations

import math
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from training.config import ESTIMATORS, Config
from training.rl import advantages as adv
from training.rl import estimators
from training.rl.losses import (
    entropy_from_logits,
    kl_k3,
    make_batch,
    policy_loss,
    token_logprobs,
    value_loss,
)

T = torch.tensor


def close(a: torch.Tensor, b: list, tol: float = 1e-5) -> bool:
    return torch.allclose(a.float(), T(b, dtype=torch.float32), atol=tol)


def test_token_rewards_put_the_score_on_the_last_real_token() -> None:
    mask = T([[1, 1, 1, 0], [1, 0, 0, 0]])
    rewards = adv.token_rewards(T([2.0, -1.0]), mask)
    assert close(rewards, [[0, 0, 2, 0], [-1, 0, 0, 0]])


def test_masked_whiten_uses_unbiased_variance_over_real_tokens() -> None:
    x = T([[1.0, 2.0, 3.0, 99.0]])
    mask = T([[1, 1, 1, 0]])
    # mean 2, unbiased var 1 -> (x - 2) / 1 on the real tokens; padding is ignored.
    assert close(adv.masked_whiten(x, mask)[:, :3], [[-1.0, 0.0, 1.0]], tol=1e-4)


def test_gae_by_hand() -> None:
    # One response of 3 tokens, reward 1 at the end, values 0.5, 0.25, 0.0, gamma .9, lam .8.
    rewards = T([[0.0, 0.0, 1.0]])
    values = T([[0.5, 0.25, 0.0]])
    mask = T([[1, 1, 1]])
    g, lam = 0.9, 0.8
    d2 = 1.0 - 0.0
    d1 = 0.0 + g * 0.0 - 0.25
    d0 = 0.0 + g * 0.25 - 0.5
    a2 = d2
    a1 = d1 + g * lam * a2
    a0 = d0 + g * lam * a1
    raw = T([[a0, a1, a2]])
    whitened, returns = adv.gae(rewards, values, mask, gamma=g, lam=lam)
    assert close(returns, [[a0 + 0.5, a1 + 0.25, a2 + 0.0]])
    assert close(whitened, adv.masked_whiten(raw, mask).tolist())


def test_gae_ignores_padding_after_the_response() -> None:
    rewards = T([[0.0, 1.0, 0.0, 0.0]])
    values = T([[0.2, 0.4, 7.0, 7.0]])  # garbage values on padding must not leak in
    mask = T([[1, 1, 0, 0]])
    _, returns = adv.gae(rewards, values, mask, gamma=1.0, lam=1.0)
    # gamma = lam = 1: the return of every real token is the final reward.
    assert close(returns, [[1.0, 1.0, 0.0, 0.0]])


def test_grpo_normalizes_within_each_group() -> None:
    scores = T([1.0, 3.0, 0.0, 0.0, 5.0])
    mask = T([[1, 1], [1, 0], [1, 1], [1, 1], [1, 0]])
    advantages, _ = adv.grpo(scores, mask, [0, 0, 1, 1, 2])
    std = math.sqrt(2.0)  # unbiased std of (1, 3)
    expected = [(1 - 2) / std, (3 - 2) / std, 0.0, 0.0, 5.0]  # equal scores -> 0; lone -> raw
    for row, value in enumerate(expected):
        assert advantages[row, 0].item() == pytest.approx(value, abs=1e-4)
    assert advantages[1, 1].item() == 0.0  # padding stays zero


def test_reinforce_plus_plus_discounted_returns_then_batch_whitening() -> None:
    rewards = T([[0.0, 0.0, 2.0], [0.0, -1.0, 0.0]])
    mask = T([[1, 1, 1], [1, 1, 0]])
    whitened, returns = adv.reinforce_plus_plus(rewards, mask, gamma=0.5)
    assert close(returns, [[0.5, 1.0, 2.0], [-0.5, -1.0, 0.0]])
    real = T([0.5, 1.0, 2.0, -0.5, -1.0])
    expected = (real - real.mean()) / real.std()
    got = whitened[mask.bool()]
    assert torch.allclose(got, expected, atol=1e-4)
    assert whitened[1, 2].item() == 0.0


def test_compute_dispatches_by_verl_name() -> None:
    scores, mask = T([1.0, 0.0]), T([[1, 1], [1, 1]])
    assert estimators.NAMES == ("gae", "grpo", "reinforce_plus_plus")  # veRL's names
    a, _ = estimators.compute("grpo", scores, mask, [0, 0])
    assert a[0, 0] > 0 > a[1, 0]
    with pytest.raises(ValueError, match="values"):
        estimators.compute("gae", scores, mask, [0, 0])
    with pytest.raises(ValueError, match="unknown estimator"):
        estimators.compute("ppo", scores, mask, [0, 0])


def test_the_registry_decides_what_each_estimator_needs() -> None:
    """One table: only gae needs a value head; the config accepts exactly its names."""
    assert {name for name in estimators.NAMES if estimators.needs_values(name)} == {"gae"}
    assert ESTIMATORS == estimators.NAMES
    known = "known: ['gae', 'grpo', 'reinforce_plus_plus']"
    with pytest.raises(ValueError, match=re.escape(f"unknown estimator 'ppo'; {known}")):
        estimators.needs_values("ppo")
    with pytest.raises(ValueError, match="'gae', 'grpo' or 'reinforce_plus_plus'"):
        Config(estimator="ppo")
    for name in estimators.NAMES:
        assert Config(estimator=name).estimator == name
    # Every registered estimator returns per-token tensors the shape of the mask.
    scores, mask = T([1.0, 0.0, 2.0]), T([[1, 1, 0], [1, 1, 1], [1, 0, 0]])
    values = torch.zeros(3, 3)
    for name in estimators.NAMES:
        advantages, returns = estimators.compute(name, scores, mask, [0, 0, 1], values)
        assert advantages.shape == returns.shape == mask.shape
        assert advantages[mask == 0].abs().sum() == 0


def test_the_registry_imports_without_torch() -> None:
    """The config validates estimator names; importing it must not import torch."""
    code = "import sys, training.config; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parent.parent)


def test_clipped_objective_by_hand() -> None:
    old = torch.zeros(1, 4)
    # ratios 1.5, 0.5, 1.1, 1.5 with advantages +1, +1, -1, -1, eps 0.2
    new = torch.log(T([[1.5, 0.5, 1.1, 1.5]]))
    advantages = T([[1.0, 1.0, -1.0, -1.0]])
    mask = T([[1, 1, 1, 1]])
    loss, clipfrac = policy_loss(new, old, advantages, mask, clip_eps=0.2)
    # per token max(-A r, -A clip(r)): -1.2 (clipped), -0.5, 1.1, 1.5
    assert loss.item() == pytest.approx((-1.2 - 0.5 + 1.1 + 1.5) / 4, abs=1e-5)
    assert clipfrac.item() == pytest.approx(0.25)
    # Gradient flows only through unclipped tokens.
    new.requires_grad_(True)
    policy_loss(new, old, advantages, mask, 0.2)[0].backward()
    assert new.grad is not None
    assert new.grad[0, 0].item() == 0.0 and new.grad[0, 1].item() != 0.0


def test_kl_k3_matches_the_formula_and_is_zero_on_equal_policies() -> None:
    lp = torch.log(T([0.5, 0.2]))
    ref = torch.log(T([0.25, 0.4]))
    r = torch.exp(ref - lp)
    expected = r - torch.log(r) - 1
    assert torch.allclose(kl_k3(lp, ref), expected, atol=1e-6)
    assert kl_k3(lp, lp).abs().max().item() == 0.0
    assert (kl_k3(lp, ref) >= 0).all()


def test_k3_is_an_unbiased_kl_estimate() -> None:
    torch.manual_seed(0)
    p = torch.softmax(torch.randn(6), -1)
    q = torch.softmax(torch.randn(6), -1)
    samples = torch.multinomial(p, 200_000, replacement=True)
    estimate = kl_k3(torch.log(p[samples]), torch.log(q[samples])).mean()
    exact = (p * (p.log() - q.log())).sum()
    assert estimate.item() == pytest.approx(exact.item(), rel=0.03)


def test_value_loss_clips_around_old_values() -> None:
    values, old, returns = T([[2.0, 0.1]]), T([[0.0, 0.0]]), T([[1.0, 1.0]])
    mask = T([[1, 1]])
    # token 0: max((2-1)^2, (0.5-1)^2) = 1; token 1: max(0.81, 0.81) = 0.81
    assert value_loss(values, old, returns, mask, clip=0.5).item() == pytest.approx(
        0.5 * (1.0 + 0.81) / 2
    )


def test_entropy_and_logprobs_from_logits() -> None:
    logits = torch.log(T([[[0.5, 0.25, 0.25]]]))
    assert entropy_from_logits(logits).item() == pytest.approx(
        -(0.5 * math.log(0.5) + 2 * 0.25 * math.log(0.25)), abs=1e-6
    )
    assert token_logprobs(logits, T([[1]])).item() == pytest.approx(math.log(0.25), abs=1e-6)


def test_make_batch_left_pads_prompts_and_right_pads_responses() -> None:
    batch = make_batch([[5, 6], [7]], [[8], [9, 10, 11]], pad_id=0)
    assert batch.input_ids.tolist() == [[5, 6, 8, 0, 0], [0, 7, 9, 10, 11]]
    assert batch.attention_mask.tolist() == [[1, 1, 1, 0, 0], [0, 1, 1, 1, 1]]
    assert batch.response_mask.tolist() == [[1, 0, 0], [1, 1, 1]]
    assert batch.responses.tolist() == [[8, 0, 0], [9, 10, 11]]
