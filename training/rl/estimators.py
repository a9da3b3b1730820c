"""The advantage estimators by name, as veRL chooses its algorithm (`algorithm.adv_estimator`).

This table is the one place that knows which estimators exist and what each one needs. The
config's validation, the trainer (whether a value head is built and checkpointed), the update
(whether a pre-update pass is needed for values) and the tests ask it; nothing else compares
estimator names.

    name                 needs values   advantages (the math is in `advantages`)
    gae                  yes            GAE over a learned value V(s_t), whitened (PPO)
    grpo                 no             the score minus its group's mean, over the group's std
    reinforce_plus_plus  no             the discounted return-to-go, whitened over the batch

Each estimator is a function (scores, mask, group_ids, values, gamma, lam) -> (advantages,
returns), registered with `@register` as veRL's `register_adv_est` does. Importing this module
does not import torch (the config validates names without it): the functions import the math
when they are called.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, get_args

if TYPE_CHECKING:
    from torch import Tensor

EstimatorFn = Callable[..., "tuple[Tensor, Tensor]"]


@dataclass(frozen=True)
class Estimator:
    name: str
    needs_values: bool  # a value head (critic) is built, trained and checkpointed
    summary: str
    fn: EstimatorFn


ESTIMATORS: dict[str, Estimator] = {}


def register(
    name: str, *, needs_values: bool, summary: str
) -> Callable[[EstimatorFn], EstimatorFn]:
    def add(fn: EstimatorFn) -> EstimatorFn:
        ESTIMATORS[name] = Estimator(name, needs_values, summary, fn)
        return fn

    return add


@register("gae", needs_values=True, summary="PPO: GAE over a learned value head, whitened")
def _gae(scores, mask, group_ids, values, gamma, lam):  # type: ignore[no-untyped-def]
    from training.rl import advantages as adv

    if values is None:
        raise ValueError("gae needs values (a value head)")
    return adv.gae(adv.token_rewards(scores, mask), values, mask, gamma, lam)


@register("grpo", needs_values=False, summary="group-normalized score, no critic")
def _grpo(scores, mask, group_ids, values, gamma, lam):  # type: ignore[no-untyped-def]
    from training.rl import advantages as adv

    return adv.grpo(scores, mask, group_ids)


@register(
    "reinforce_plus_plus",
    needs_values=False,
    summary="discounted return-to-go whitened over the batch, no critic",
)
def _reinforce_plus_plus(scores, mask, group_ids, values, gamma, lam):  # type: ignore[no-untyped-def]
    from training.rl import advantages as adv

    return adv.reinforce_plus_plus(adv.token_rewards(scores, mask), mask, gamma)


NAMES: tuple[str, ...] = tuple(ESTIMATORS)  # in registration order: gae, grpo, reinforce_plus_plus
EstimatorName = Literal["gae", "grpo", "reinforce_plus_plus"]  # what a config may name
assert get_args(EstimatorName) == NAMES, "EstimatorName must list the registered estimators"


def get(name: str) -> Estimator:
    if name not in ESTIMATORS:
        raise ValueError(f"unknown estimator {name!r}; known: {sorted(ESTIMATORS)}")
    return ESTIMATORS[name]


def needs_values(name: str) -> bool:
    """Whether the estimator needs a value head: the one place that decides it is built."""
    return get(name).needs_values


def compute(
    name: str,
    scores: Tensor,
    mask: Tensor,
    group_ids: Sequence[int],
    values: Tensor | None = None,
    gamma: float = 1.0,
    lam: float = 1.0,
) -> tuple[Tensor, Tensor]:
    """(advantages, returns) of the named estimator, each [batch, response_len]."""
    fn: Any = get(name).fn
    return fn(scores, mask, group_ids, values, gamma, lam)
