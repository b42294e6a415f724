"""A batch of games played by a team: the staggered reset and one vectorised step.

``step`` merges the team's orders and calls ``env.step_orders``, whose
auto-reset is the only one: the pre-reset observation and state come back in
``info[FINAL_OBS]`` and ``info[FINAL_STATE]``, and ``Step`` names them.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from algorithms.common.team import Team
from jaxbeer.env import FINAL_OBS, FINAL_STATE, BeerGame, EnvState
from jaxbeer.params import EnvParams


class Step(NamedTuple):
    """One period of one game. Under ``vmap`` every field gains a leading game axis."""

    obs: jax.Array  # float32[A, F], the next observation (of a new episode after truncation)
    state: EnvState  # the next state (reset after truncation)
    reward: jax.Array  # float32[A]
    terminated: jax.Array  # bool[], always False in the beer game
    truncated: jax.Array  # bool[], True at the horizon
    final_obs: jax.Array  # float32[A, F], the observation after this period, before any reset
    final_state: EnvState  # the state after this period, before any reset (for global-state critics)
    cost: jax.Array  # float32[A], unscaled cost of this period
    orders: jax.Array  # int32[A], the orders placed


def step(
    env: BeerGame, team: Team, key: jax.Array, state: EnvState, action_index: jax.Array, params: EnvParams
) -> Step:
    """One period of one game with the team's merged orders (the env auto-resets at truncation)."""
    policy_key, step_key = jax.random.split(key)
    orders = team.orders(env, policy_key, state, action_index, params)
    obs, state, reward, terminated, truncated, info = env.step_orders(step_key, state, orders, params)
    return Step(
        obs=obs,
        state=state,
        reward=reward,
        terminated=terminated,
        truncated=truncated,
        final_obs=info[FINAL_OBS],
        final_state=info[FINAL_STATE],
        cost=info["cost"],
        orders=info["orders"],
    )


def vector_step(
    env: BeerGame, team: Team, key: jax.Array, state: EnvState, action_index: jax.Array, params: EnvParams
) -> Step:
    """``step`` over a batch of games: ``state`` batched ``[E]``, ``action_index`` int32[E, A]."""
    keys = jax.random.split(key, action_index.shape[0])
    return jax.vmap(step, in_axes=(None, None, 0, 0, 0, None))(env, team, keys, state, action_index, params)


def reset(
    env: BeerGame, key: jax.Array, params: EnvParams, num_envs: int, stagger: bool = False
) -> tuple[jax.Array, EnvState]:
    """obs float32[E, A, F] and a batched state for ``num_envs`` games.

    Every episode has the same horizon, so games reset together forever after
    and each update would see one narrow window of the episode (periods 0-7,
    then 8-15, ...), a batch that swings the policy back and forth. ``stagger``
    starts game ``i`` at a uniform random period, so its first episode is
    shorter and later ones are spread over the horizon. Exclude those first,
    partial episodes from statistics (``metrics.initial_running_cost``).
    """
    reset_key, period_key = jax.random.split(key)
    obs, state = jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(reset_key, num_envs), params)
    if stagger:
        periods = jax.random.randint(period_key, (num_envs,), 0, env.config.horizon, jnp.int32)
        state = state.replace(period=periods)
        obs = jax.vmap(env.get_obs, in_axes=(0, None))(state, params)
    return obs, state
