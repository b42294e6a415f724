"""Who plays which echelon: the learner's kind or a heuristic from ``jaxbeer.policies``, per seat.

A team is one kind per echelon (retailer first): the learner's kind (``ppo``,
``iql``, ...) or the name of a heuristic in ``jaxbeer.policies.HEURISTICS``.
Learners pick action indices, which the env's action mode turns into orders;
heuristics order for themselves. ``Team.orders`` merges the two per echelon, so
a mixed team runs inside one jitted rollout, and ``team_policy`` wraps a
learned team as a ``jaxbeer.policies.Policy`` for ``jaxbeer.evaluate``.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import jax
import numpy as np

from algorithms.common.config import ConfigError
from jaxbeer import policies
from jaxbeer.env import BeerGame, EnvState
from jaxbeer.params import EnvParams

Act = Callable[[Any, jax.Array, jax.Array], jax.Array]
"""``act(policy_params, obs[A, F], key) -> int32[A]``: a learner's greedy action indices."""


def parse_agents(spec: str, num_agents: int, learner_kind: str) -> tuple[str, ...]:
    """``'ppo,sterman,sterman,sterman'`` -> one kind per echelon; empty: every echelon learns."""
    allowed = (learner_kind, *policies.HEURISTIC_NAMES)
    if not spec.strip():
        return (learner_kind,) * num_agents
    kinds = tuple(part.strip() for part in spec.split(","))
    unknown = [kind for kind in kinds if kind not in allowed]
    if unknown:
        raise ConfigError(f"--agents: unknown agent kind {unknown[0]!r}; allowed kinds: {list(allowed)}")
    if len(kinds) != num_agents:
        raise ConfigError(
            f"--agents must name exactly {num_agents} kinds (one per echelon, retailer first), "
            f"got {len(kinds)}: {spec!r}"
        )
    if learner_kind not in kinds:
        raise ConfigError(f"--agents must include at least one {learner_kind!r} echelon, got {spec!r}")
    return kinds


@dataclasses.dataclass(frozen=True)
class Team:
    """Static description of who plays each echelon; hashable, so jitted code can close over it."""

    kinds: tuple[str, ...]
    learner_kind: str
    base_stock_levels: tuple[int, ...]

    @property
    def num_agents(self) -> int:
        """Echelons in the chain."""
        return len(self.kinds)

    @property
    def learner_mask(self) -> np.ndarray:
        """bool[A]: True where the echelon learns."""
        return np.array([kind == self.learner_kind for kind in self.kinds])

    @property
    def learner_indices(self) -> np.ndarray:
        """Indices of the learning echelons."""
        return np.flatnonzero(self.learner_mask)

    @property
    def num_learners(self) -> int:
        """How many echelons learn."""
        return int(self.learner_mask.sum())

    def heuristics(self) -> policies.Policy:
        """The heuristic seats as a ``jaxbeer`` policy (learner seats order 0)."""
        seats = [None if kind == self.learner_kind else kind for kind in self.kinds]
        return policies.heuristic_team(seats, base_stock={"levels": list(self.base_stock_levels)})

    def orders(
        self, env: BeerGame, key: jax.Array, state: EnvState, action_index: jax.Array, params: EnvParams
    ) -> jax.Array:
        """Orders int32[A]: the learners' action indices (``int32[A]`` in ``[0, num_actions)``) through the
        env's action mode, the heuristics' own orders elsewhere."""
        others = None if self.num_learners == self.num_agents else self.heuristics()(key, state, params)
        return policies.orders_with_actions(env, state, params, action_index, self.learner_mask, others)

    def replace_learners(self, kind: str) -> Team:
        """The same co-players with every learner echelon played by ``kind`` (a heuristic)."""
        return dataclasses.replace(self, kinds=tuple(kind if k == self.learner_kind else k for k in self.kinds))


@dataclasses.dataclass(frozen=True)
class TeamOrders:
    """The ``apply`` of a learned team's policy: greedy actions, then ``Team.orders``.

    A frozen dataclass rather than a closure, so that two policies of the same
    learner compare equal and share one compiled evaluation.
    """

    env: BeerGame
    team: Team
    act: Act

    def __call__(self, policy_params: Any, key: jax.Array, state: EnvState, env_params: EnvParams) -> jax.Array:
        """Orders int32[A] of one game."""
        act_key, order_key = jax.random.split(key)
        action_index = self.act(policy_params, self.env.get_obs(state, env_params), act_key)
        return self.team.orders(self.env, order_key, state, action_index, env_params)


def team_policy(env: BeerGame, team: Team, act: Act, policy_params: Any) -> policies.Policy:
    """The learned team, heuristic seats included, as a ``jaxbeer`` policy with ``policy_params`` as data."""
    return policies.Policy(params=policy_params, apply=TeamOrders(env, team, act))
