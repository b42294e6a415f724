"""Who plays which seat: --agents parsing, mixed orders, the learned team as a policy."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from algorithms.common import team as team_lib
from algorithms.common.config import CommonConfig, ConfigError
from algorithms.common.game import make_env
from jaxbeer import policies


@dataclasses.dataclass
class _Config(CommonConfig):
    learner_kind: ClassVar[str] = "ppo"


def test_parse_agents():
    assert team_lib.parse_agents("", 4, "ppo") == ("ppo",) * 4
    assert team_lib.parse_agents("ppo, sterman,base_stock,pass_through", 4, "ppo") == (
        "ppo",
        "sterman",
        "base_stock",
        "pass_through",
    )
    with pytest.raises(ConfigError, match="unknown agent kind 'dqn'.*allowed kinds"):
        team_lib.parse_agents("dqn,sterman,sterman,sterman", 4, "ppo")
    with pytest.raises(ConfigError, match="exactly 4 kinds"):
        team_lib.parse_agents("ppo,sterman", 4, "ppo")
    with pytest.raises(ConfigError, match="at least one 'iql'"):
        team_lib.parse_agents("sterman,sterman,sterman,sterman", 4, "iql")


def test_mixed_team_orders_merge_learner_actions_with_heuristics():
    env, params = make_env(_Config(scenario="classic"))
    team = team_lib.Team(
        kinds=("ppo", "sterman", "pass_through", "base_stock"), learner_kind="ppo", base_stock_levels=(32, 30, 28, 26)
    )
    _, state = env.reset(jax.random.PRNGKey(0), params)
    for _ in range(6):  # move away from the steady start so the heuristics differ
        _, state, *_ = env.step_orders(jax.random.PRNGKey(1), state, jnp.array([9, 2, 7, 12]), params)
    action_index = jnp.array([11, 0, 0, 0], jnp.int32)
    orders = team.orders(env, jax.random.PRNGKey(2), state, action_index, params)
    learned = env.action_to_orders(state, action_index + env.config.action_low, params)
    key = jax.random.PRNGKey(3)
    assert int(orders[0]) == int(learned[0])
    assert int(orders[1]) == int(policies.sterman()(key, state, params)[1])
    assert int(orders[2]) == int(policies.pass_through()(key, state, params)[2])
    assert int(orders[3]) == int(policies.base_stock([32, 30, 28, 26])(key, state, params)[3])
    assert team.replace_learners("base_stock").kinds == ("base_stock", "sterman", "pass_through", "base_stock")


def test_learned_team_policy_is_data_and_evaluates_like_the_rollout_step():
    """team_policy wraps greedy actions plus heuristic seats as a jaxbeer policy; two policies of the
    same learner compare equal in structure, so new parameters reuse the compiled evaluation."""
    import jaxbeer

    env, params = make_env(_Config(scenario="classic", action_mode="order_up_to"))
    team = team_lib.Team(
        kinds=("ppo", "sterman", "sterman", "sterman"), learner_kind="ppo", base_stock_levels=(32, 32, 32, 24)
    )

    def act(target, obs, key):  # a "learner" whose parameter is its order-up-to target
        return jnp.broadcast_to(target, (obs.shape[0],)).astype(jnp.int32)

    low, high = team_lib.team_policy(env, team, act, jnp.int32(20)), team_lib.team_policy(env, team, act, jnp.int32(40))
    assert jax.tree.structure(low) == jax.tree.structure(high)
    _, state = env.reset(jax.random.PRNGKey(0), params)
    orders = low(jax.random.PRNGKey(1), state, params)
    # Inventory position 24 at the start: target 20 orders 0, and the Sterman seats order what arrived.
    np.testing.assert_array_equal(orders, [0, 4, 4, 4])
    key = jax.random.PRNGKey(2)
    cost_low = jaxbeer.evaluate(env, params, low, key, 8)["team_cost_mean"]
    cost_high = jaxbeer.evaluate(env, params, high, key, 8)["team_cost_mean"]
    assert cost_low != cost_high
    heuristic_only = team.replace_learners("sterman").heuristics()
    all_sterman = jaxbeer.evaluate(env, params, heuristic_only, key, 8)["team_cost_mean"]
    assert all_sterman == jaxbeer.evaluate(env, params, policies.sterman(), key, 8)["team_cost_mean"]


def test_heuristic_seats_of_a_team_follow_the_registry():
    team = team_lib.Team(
        kinds=("ppo", "base_stock", "pass_through", "ppo"), learner_kind="ppo", base_stock_levels=(1, 2, 3, 4)
    )
    seats = team.heuristics().params.seat.tolist()
    assert seats == [
        -1,
        policies.HEURISTIC_NAMES.index("base_stock"),
        policies.HEURISTIC_NAMES.index("pass_through"),
        -1,
    ]
