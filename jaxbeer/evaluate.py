"""Rollouts, evaluation metrics and the base-stock optimiser.

All episodes run as one ``vmap`` of a ``lax.scan`` over the horizon, with
``step_orders(..., auto_reset=False)`` so one scan is exactly one episode.
Statistics are accumulated in the scan carry, so evaluating thousands of
candidate policies never stores whole trajectories.
"""

from __future__ import annotations

import functools
import itertools
import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxbeer.env import BeerGame
from jaxbeer.params import EnvParams
from jaxbeer.policies import Policy, base_stock


def _check_episodes(num_episodes: int) -> None:
    if isinstance(num_episodes, bool) or not isinstance(num_episodes, (int, np.integer)) or num_episodes < 1:
        raise ValueError(f"num_episodes must be an integer >= 1, got {num_episodes!r}")


def rollout(env: BeerGame, params: EnvParams, policy: Policy, key: jax.Array, num_episodes: int = 1):
    """Whole trajectories: ``info`` arrays of shape ``[num_episodes, horizon, ...]``.

    Meant for plots and tests; use ``evaluate`` for statistics over many episodes.
    """
    _check_episodes(num_episodes)
    return _rollout_jit(env, policy, params, key, num_episodes)


@functools.partial(jax.jit, static_argnums=(0, 1, 4))
def _rollout_jit(env, policy, params, key, num_episodes):
    def episode(episode_key):
        reset_key, steps_key = jax.random.split(episode_key)
        _, state = env.reset(reset_key, params)

        def period(state, period_key):
            policy_key, env_key = jax.random.split(period_key)
            orders = policy(policy_key, state, params)
            _, state, reward, _, _, info = env.step_orders(env_key, state, orders, params, auto_reset=False)
            info = {k: v for k, v in info.items() if k != "final_obs"}
            return state, {**info, "reward": reward}

        _, infos = jax.lax.scan(period, state, jax.random.split(steps_key, env.config.horizon))
        return infos

    return jax.vmap(episode)(jax.random.split(key, num_episodes))


def episode_sums(env: BeerGame, params: EnvParams, policy: Policy, episode_key: jax.Array) -> dict[str, jax.Array]:
    """Per-episode sums (costs, orders, squared orders, demand, fills) of one episode."""
    reset_key, steps_key = jax.random.split(episode_key)
    _, state = env.reset(reset_key, params)
    num_agents = env.num_agents
    zeros_f = jnp.zeros((num_agents,), jnp.float32)
    sums = {
        "cost": zeros_f,
        "orders": zeros_f,
        "orders_sq": zeros_f,
        "filled": zeros_f,
        "arriving_order": zeros_f,
        "demand": jnp.float32(0),
        "demand_sq": jnp.float32(0),
    }

    def period(carry, period_key):
        state, sums = carry
        policy_key, env_key = jax.random.split(period_key)
        orders = policy(policy_key, state, params)
        _, state, _, _, _, info = env.step_orders(env_key, state, orders, params, auto_reset=False)
        orders_f = info["orders"].astype(jnp.float32)
        demand_f = info["demand"].astype(jnp.float32)
        sums = {
            "cost": sums["cost"] + info["cost"],
            "orders": sums["orders"] + orders_f,
            "orders_sq": sums["orders_sq"] + orders_f * orders_f,
            "filled": sums["filled"] + info["filled"].astype(jnp.float32),
            "arriving_order": sums["arriving_order"] + info["arriving_order"].astype(jnp.float32),
            "demand": sums["demand"] + demand_f,
            "demand_sq": sums["demand_sq"] + demand_f * demand_f,
        }
        return (state, sums), None

    (_, sums), _ = jax.lax.scan(period, (state, sums), jax.random.split(steps_key, env.config.horizon))
    return sums


def evaluate(
    env: BeerGame, params: EnvParams, policy: Policy, key: jax.Array, num_episodes: int = 1000
) -> dict[str, Any]:
    """Cost, bullwhip and fill rate of ``policy`` over ``num_episodes`` episodes.

    Returns plain Python/NumPy values:
    ``team_cost_mean``/``team_cost_se`` (standard error over episodes),
    ``agent_cost_mean``/``agent_cost_se`` (per echelon), ``bullwhip``
    (per echelon: mean over episodes of the variance of its orders over the
    mean variance of customer demand; ``nan`` when demand never varies) and
    ``fill_rate`` (per echelon: units of arriving orders shipped in the period
    they arrived over units ordered of it; the retailer's is the customer
    fill rate).
    """
    _check_episodes(num_episodes)
    sums = _evaluate_jit(env, policy, params, key, num_episodes)
    return summarise(sums, env.config.horizon)


@functools.partial(jax.jit, static_argnums=(0, 1, 4))
def _evaluate_jit(env, policy, params, key, num_episodes):
    return jax.vmap(lambda k: episode_sums(env, params, policy, k))(jax.random.split(key, num_episodes))


def summarise(sums: dict[str, jax.Array], horizon: int) -> dict[str, Any]:
    sums = jax.tree.map(lambda x: np.asarray(x, np.float64), sums)
    episodes = sums["cost"].shape[0]
    team = sums["cost"].sum(axis=1)

    def standard_error(values):
        return values.std(axis=0, ddof=1) / math.sqrt(episodes) if episodes > 1 else np.zeros_like(values[0])

    order_var = sums["orders_sq"] / horizon - (sums["orders"] / horizon) ** 2
    demand_var = sums["demand_sq"] / horizon - (sums["demand"] / horizon) ** 2
    mean_demand_var = demand_var.mean()
    with np.errstate(invalid="ignore", divide="ignore"):
        bullwhip = np.where(mean_demand_var > 1e-12, order_var.mean(axis=0) / mean_demand_var, np.nan)
        fill_rate = np.where(
            sums["arriving_order"].sum(axis=0) > 0, sums["filled"].sum(axis=0) / sums["arriving_order"].sum(axis=0), 1.0
        )
    return {
        "num_episodes": int(episodes),
        "team_cost_mean": float(team.mean()),
        "team_cost_se": float(standard_error(team)),
        "agent_cost_mean": sums["cost"].mean(axis=0),
        "agent_cost_se": standard_error(sums["cost"]),
        "bullwhip": bullwhip,
        "fill_rate": fill_rate,
    }


# ------------------------------------------------------------- optimiser
def base_stock_team_costs(
    env: BeerGame, params: EnvParams, levels: jax.Array, key: jax.Array, num_episodes: int
) -> jax.Array:
    """Mean team cost of each candidate in ``levels`` (int32[C, A]) on the same episodes."""
    episode_keys = jax.random.split(key, num_episodes)

    def candidate_cost(candidate):
        policy = base_stock(candidate)
        costs = jax.vmap(lambda k: episode_sums(env, params, policy, k)["cost"].sum())(episode_keys)
        return costs.mean()

    return jax.vmap(candidate_cost)(levels)


_team_costs_jit = jax.jit(base_stock_team_costs, static_argnums=(0, 4))


def optimize_base_stock(
    env: BeerGame,
    params: EnvParams,
    key: jax.Array,
    num_episodes: int = 100,
    max_level: int | None = None,
    grid_points: int = 8,
    batch_size: int = 512,
) -> tuple[np.ndarray, float]:
    """Integer base-stock levels with the lowest mean team cost on ``num_episodes`` episodes.

    Every candidate is scored on the same episodes (common random numbers).
    Search: a coarse grid over all echelons (``grid_points ** A`` candidates),
    then coordinate descent (each echelon's whole range ``0..max_level`` in one
    batch), then a ±1 neighbourhood search over all echelons at once, repeated
    until nothing improves. Candidates are evaluated in padded batches of
    ``batch_size`` so the whole search compiles once. Returns the levels and
    their mean team cost on those episodes.
    """
    _check_episodes(num_episodes)
    num_agents = env.num_agents
    if max_level is None:
        mean = float(params.demand_mean)
        longest = int(np.max(params.shipment_lead_max)) + int(np.max(params.order_lead_max, initial=0)) + 1
        max_level = int(math.ceil(2 * (mean + 3 * math.sqrt(mean + 1)) * longest))
    if max_level < 0:
        raise ValueError(f"max_level must be >= 0, got {max_level}")
    if grid_points < 2:
        raise ValueError(f"grid_points must be >= 2, got {grid_points}")

    cache: dict[tuple[int, ...], float] = {}

    def score(candidates: list[tuple[int, ...]]) -> None:
        fresh = [c for c in dict.fromkeys(candidates) if c not in cache]
        for start in range(0, len(fresh), batch_size):
            chunk = fresh[start : start + batch_size]
            padded = np.zeros((batch_size, num_agents), np.int32)
            padded[: len(chunk)] = chunk
            costs = np.asarray(_team_costs_jit(env, params, jnp.asarray(padded), key, num_episodes))
            cache.update(zip(chunk, costs[: len(chunk)].tolist()))

    def best_of(candidates):
        score(candidates)
        return min(candidates, key=lambda c: (cache[c], c))

    grid = np.unique(np.round(np.linspace(0, max_level, grid_points)).astype(int)).tolist()
    best = best_of(list(itertools.product(grid, repeat=num_agents)))
    for _ in range(100):
        previous = best
        for echelon in range(num_agents):
            line = [best[:echelon] + (level,) + best[echelon + 1 :] for level in range(max_level + 1)]
            best = best_of(line)
        steps = itertools.product((-1, 0, 1), repeat=num_agents)
        neighbours = [tuple(int(np.clip(b + s, 0, max_level)) for b, s in zip(best, step)) for step in steps]
        best = best_of(neighbours)
        if best == previous:
            break
    return np.asarray(best, np.int32), float(cache[best])
