"""The team step over the env's own auto-reset."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np

from algorithms.common import vector_env
from algorithms.common.config import CommonConfig
from algorithms.common.game import make_env
from algorithms.common.team import Team


@dataclasses.dataclass
class _Config(CommonConfig):
    learner_kind: ClassVar[str] = "ppo"


def test_step_keeps_the_pre_reset_observation_and_state_at_truncation():
    env, params = make_env(_Config(horizon=3))
    team = Team(kinds=("ppo",) * 4, learner_kind="ppo", base_stock_levels=(0, 0, 0, 0))
    obs, state = env.reset(jax.random.PRNGKey(0), params)
    action = jnp.full((4,), 4, jnp.int32)  # x = +2
    for t in range(3):
        step = vector_env.step(env, team, jax.random.PRNGKey(t), state, action, params)
        assert bool(step.truncated) == (t == 2)
        state = step.state
    assert int(step.final_state.period) == 3 and int(step.state.period) == 0
    np.testing.assert_allclose(step.final_obs, env.get_obs(step.final_state, params))
    np.testing.assert_allclose(step.obs[:, -1], 0.0)  # the new episode's clock
    assert float(step.final_obs[0, -1]) == 1.0
    assert not bool(step.terminated)


def test_team_step_is_the_env_step_after_merging_orders():
    """No second reset: the team step's next state is exactly env.step_orders' on the same key."""
    env, params = make_env(_Config(horizon=2))
    team = Team(kinds=("ppo",) * 4, learner_kind="ppo", base_stock_levels=(0, 0, 0, 0))
    _, state = env.reset(jax.random.PRNGKey(0), params)
    action = jnp.full((4,), 3, jnp.int32)
    for t in range(3):  # crosses the reset after period 2
        key = jax.random.PRNGKey(10 + t)
        step = vector_env.step(env, team, key, state, action, params)
        orders = team.orders(env, jax.random.split(key)[0], state, action, params)
        obs, expected, *_ = env.step_orders(jax.random.split(key)[1], state, orders, params)
        for a, b in zip(jax.tree.leaves((step.obs, step.state)), jax.tree.leaves((obs, expected))):
            np.testing.assert_array_equal(a, b)
        state = step.state
