"""Rollouts, evaluation metrics and the base-stock optimiser: the one path on which policies are played.

Every function here plays whole episodes as one ``vmap`` of a ``lax.scan``
over the horizon, with ``step_orders(..., auto_reset=False)`` so one scan is
exactly one episode, and ``play_period`` as the body. Statistics accumulate in
the scan carry, so scoring thousands of candidate policies never stores whole
trajectories. A policy is a ``jaxbeer.policies.Policy``, an ordinary argument
of the compiled functions: other parameters (base-stock levels, learned
weights) reuse the program, and a batch of parameters is one ``vmap``.
"""

from __future__ import annotations

import functools
import itertools
import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxbeer.env import FINAL_OBS, FINAL_STATE, BeerGame, EnvState
from jaxbeer.params import EnvParams
from jaxbeer.policies import Policy, base_stock
from jaxbeer.validation import check_int


def play_period(
    env: BeerGame, params: EnvParams, policy: Policy, state: EnvState, period_key: jax.Array
) -> tuple[EnvState, jax.Array, dict[str, Any]]:
    """One period of one game: the policy orders, the env steps (no reset). ``(state, reward, info)``."""
    policy_key, env_key = jax.random.split(period_key)
    orders = policy(policy_key, state, params)
    _, state, reward, _, _, info = env.step_orders(env_key, state, orders, params, auto_reset=False)
    return state, reward, info


def episode_keys(episode_key: jax.Array, horizon: int) -> tuple[jax.Array, jax.Array]:
    """``(reset_key, period_keys[horizon])`` of one episode: how every rollout here, and the
    adapters' ``reset(seed=...)``, turn an episode's key into its draws."""
    reset_key, steps_key = jax.random.split(episode_key)
    return reset_key, jax.random.split(steps_key, horizon)


def _episode(env: BeerGame, params: EnvParams, policy: Policy, episode_key: jax.Array, record, carry):
    """Scan one episode from its key; ``record(carry, reward, info) -> (carry, output)`` per period."""
    reset_key, period_keys = episode_keys(episode_key, env.config.horizon)
    _, state = env.reset(reset_key, params)

    def period(scan_carry, period_key):
        state, carry = scan_carry
        state, reward, info = play_period(env, params, policy, state, period_key)
        carry, output = record(carry, reward, info)
        return (state, carry), output

    (_, carry), outputs = jax.lax.scan(period, (state, carry), period_keys)
    return carry, outputs


def rollout(env: BeerGame, params: EnvParams, policy: Policy, key: jax.Array, num_episodes: int = 1) -> dict:
    """Whole trajectories: ``info`` arrays (and ``reward``) of shape ``[num_episodes, horizon, ...]``.

    Meant for plots and tests; use ``evaluate`` for statistics over many episodes.
    """
    check_int("num_episodes", num_episodes, 1)
    return _rollout_jit(env, params, policy, key, num_episodes)


@functools.partial(jax.jit, static_argnames=("env", "num_episodes"))
def _rollout_jit(env, params, policy, key, num_episodes):
    def record(carry, reward, info):
        kept = {k: v for k, v in info.items() if k not in (FINAL_OBS, FINAL_STATE)}
        return carry, {**kept, "reward": reward}

    return jax.vmap(lambda k: _episode(env, params, policy, k, record, ())[1])(jax.random.split(key, num_episodes))


def episode_sums(env: BeerGame, params: EnvParams, policy: Policy, episode_key: jax.Array) -> dict[str, jax.Array]:
    """Per-episode sums of one episode: costs, orders, squared orders, fills, arriving orders, demand."""
    zeros = jnp.zeros((env.num_agents,), jnp.float32)
    sums = {
        "cost": zeros,
        "orders": zeros,
        "orders_sq": zeros,
        "filled": zeros,
        "arriving_order": zeros,
        "demand": jnp.float32(0),
        "demand_sq": jnp.float32(0),
    }

    def record(sums, reward, info):
        orders = info["orders"].astype(jnp.float32)
        demand = info["demand"].astype(jnp.float32)
        return {
            "cost": sums["cost"] + info["cost"],
            "orders": sums["orders"] + orders,
            "orders_sq": sums["orders_sq"] + orders * orders,
            "filled": sums["filled"] + info["filled"].astype(jnp.float32),
            "arriving_order": sums["arriving_order"] + info["arriving_order"].astype(jnp.float32),
            "demand": sums["demand"] + demand,
            "demand_sq": sums["demand_sq"] + demand * demand,
        }, None

    return _episode(env, params, policy, episode_key, record, sums)[0]


def _sums_over_episodes(env, params, policy, key, num_episodes):
    return jax.vmap(lambda k: episode_sums(env, params, policy, k))(jax.random.split(key, num_episodes))


_sums_jit = jax.jit(_sums_over_episodes, static_argnames=("env", "num_episodes"))
_batch_sums_jit = jax.jit(
    lambda env, params, policies, key, num_episodes: jax.vmap(
        lambda policy: _sums_over_episodes(env, params, policy, key, num_episodes)
    )(policies),
    static_argnames=("env", "num_episodes"),
)


def evaluate(
    env: BeerGame, params: EnvParams, policy: Policy, key: jax.Array, num_episodes: int = 1000
) -> dict[str, Any]:
    """Cost, bullwhip and fill rate of ``policy`` over ``num_episodes`` episodes (see ``summarise``)."""
    check_int("num_episodes", num_episodes, 1)
    return summarise(_sums_jit(env, params, policy, key, num_episodes), env.config.horizon)


def evaluate_batch(
    env: BeerGame, params: EnvParams, policies: Policy, key: jax.Array, num_episodes: int = 1000
) -> list[dict[str, Any]]:
    """``evaluate`` for each policy of a batch (every leaf of ``policies.params`` has a leading axis),
    all on the same episodes, in one compiled call."""
    check_int("num_episodes", num_episodes, 1)
    sums = jax.device_get(_batch_sums_jit(env, params, policies, key, num_episodes))
    size = jax.tree.leaves(sums)[0].shape[0]
    return [summarise(jax.tree.map(lambda x, i=i: x[i], sums), env.config.horizon) for i in range(size)]


def team_costs(env: BeerGame, params: EnvParams, policies: Policy, key: jax.Array, num_episodes: int) -> jax.Array:
    """Mean team cost per episode of each policy of a batch (leading axis of ``policies.params``),
    all on the same ``num_episodes`` episodes (common random numbers). float32[C]."""
    check_int("num_episodes", num_episodes, 1)
    return _team_costs_jit(env, params, policies, key, num_episodes)


def episode_costs(env: Any, params: Any, policy: Policy, key: jax.Array, num_episodes: int) -> jax.Array:
    """float32[num_episodes, A]: each episode's cost per echelon (traceable; ``num_episodes`` static).

    Only ``info["cost"]`` is read, so any env of this API fits (``jaxbeer.supply`` too)."""

    def one(episode_key):
        zeros = jnp.zeros((env.num_agents,), jnp.float32)
        return _episode(env, params, policy, episode_key, lambda total, _, info: (total + info["cost"], None), zeros)[0]

    return jax.vmap(one)(jax.random.split(key, num_episodes))


@functools.partial(jax.jit, static_argnames=("env", "num_episodes"))
def _team_costs_jit(env, params, policies, key, num_episodes):
    def mean_team_cost(policy):
        return episode_costs(env, params, policy, key, num_episodes).sum(axis=-1).mean()

    return jax.vmap(mean_team_cost)(policies)


def summarise(sums: dict[str, jax.Array], horizon: int) -> dict[str, Any]:
    """Plain Python/NumPy statistics from ``episode_sums`` of many episodes (leaves ``[episodes, ...]``).

    ``team_cost_mean``/``team_cost_se`` (standard error over episodes),
    ``agent_cost_mean``/``agent_cost_se`` (per echelon), ``bullwhip`` (per
    echelon: mean over episodes of the variance of its orders over the mean
    variance of customer demand; ``nan`` when demand never varies) and
    ``fill_rate`` (per echelon: units of arriving orders shipped in the period
    they arrived over units ordered of it; the retailer's is the customer fill
    rate).
    """
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


# ------------------------------------------------------------- optimizer
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
    check_int("num_episodes", num_episodes, 1)
    if max_level is None:
        mean = float(params.demand_mean)
        longest = int(np.max(params.shipment_lead_max)) + int(np.max(params.order_lead_max, initial=0)) + 1
        max_level = int(math.ceil(2 * (mean + 3 * math.sqrt(mean + 1)) * longest))

    def score(candidates: np.ndarray) -> np.ndarray:
        return np.asarray(_team_costs_jit(env, params, base_stock(candidates), key, num_episodes))

    return search_levels(
        score,
        env.num_agents,
        max_level,
        grid_points=grid_points,
        batch_size=batch_size,
        max_grid=None,
        max_neighbours=None,
    )


def search_levels(
    score: Any,
    size: int,
    max_level: Any,
    *,
    min_level: Any = 0,
    grid_points: int = 8,
    batch_size: int = 512,
    start: Any = None,
    max_grid: int | None = 4096,
    max_neighbours: int | None = 6561,
) -> tuple[np.ndarray, float]:
    """The integer vector (``size`` entries, each in ``min_level..max_level``, scalars or one bound per
    entry) with the lowest ``score``, and its score.

    ``score(int32[batch_size, size]) -> float[batch_size]`` rates a padded
    batch of candidates (every call has the same shape, so a jitted scorer
    compiles once). Search: from ``start``, or else the best point of a coarse
    grid (``grid_points ** size`` candidates, refused above ``max_grid``;
    ``None``: no cap); then coordinate descent (each entry's whole range in one
    batch), then the ±1 neighbourhood of every entry at once (``3 ** size``
    candidates, skipped above ``max_neighbours``; ``None``: never skipped),
    repeated until nothing improves. Ties go to the lexicographically smaller vector.
    """
    low = np.broadcast_to(np.asarray(min_level), (size,)).astype(np.int64)
    high = np.broadcast_to(np.asarray(max_level), (size,)).astype(np.int64)
    for name, bounds in (("min_level", low), ("max_level", high)):
        for value in bounds.tolist():
            check_int(name, value)
    if np.any(low > high):
        raise ValueError(f"min_level must be <= max_level, got {low.tolist()} and {high.tolist()}")
    check_int("grid_points", grid_points, 2)
    check_int("batch_size", batch_size, 1)
    cache: dict[tuple[int, ...], float] = {}

    def score_all(candidates: list[tuple[int, ...]]) -> None:
        fresh = [c for c in dict.fromkeys(candidates) if c not in cache]
        for begin in range(0, len(fresh), batch_size):
            chunk = fresh[begin : begin + batch_size]
            padded = np.zeros((batch_size, size), np.int32)
            padded[: len(chunk)] = chunk
            cache.update(zip(chunk, np.asarray(score(padded))[: len(chunk)].tolist()))

    def best_of(candidates):
        score_all(candidates)
        return min(candidates, key=lambda c: (cache[c], c))

    if start is None:
        grids = [np.unique(np.round(np.linspace(a, b, grid_points)).astype(int)).tolist() for a, b in zip(low, high)]
        count = math.prod(len(grid) for grid in grids)
        if max_grid is not None and count > max_grid:
            raise ValueError(f"a grid of {count} candidates is above max_grid={max_grid}; give a start point")
        best = best_of(list(itertools.product(*grids)))
    else:
        start = np.asarray(start).reshape(-1)
        if start.shape != (size,):
            raise ValueError(f"start must have {size} entries, got {start.shape}")
        best = best_of([tuple(int(v) for v in np.clip(start, low, high))])
    for _ in range(100):
        previous = best
        for entry in range(size):
            line = [best[:entry] + (level,) + best[entry + 1 :] for level in range(low[entry], high[entry] + 1)]
            best = best_of(line)
        if max_neighbours is None or 3**size <= max_neighbours:
            steps = itertools.product((-1, 0, 1), repeat=size)
            neighbours = [
                tuple(int(np.clip(b + s, a, c)) for b, s, a, c in zip(best, step, low, high)) for step in steps
            ]
            best = best_of(neighbours)
        if best == previous:
            break
    return np.asarray(best, np.int32), float(cache[best])
