"""Episode statistics inside the compiled loop, and their reduction on the host.

Only finished episodes count: a running cost per game is carried across
updates and folded into the statistics when the game's episode ends, so a
chunk never averages partial episodes.

Every learner's ``update`` returns a flat dict of metrics. Keys starting with
``episode_`` are *sums over finished episodes* (reduced by dividing by the
``episodes`` count); every other key is a per-update scalar (reduced by its
mean over the chunk's updates).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

EPISODES = "episodes"
AGENT_COST_SUM = "episode_agent_cost_sum"


def initial_running_cost(period: jax.Array, num_agents: int) -> jax.Array:
    """Running cost float32[E, A] at the start of training: 0 for games starting an episode,
    NaN for games started mid-episode (``team.reset(stagger=True)``), whose first episode is
    partial and must not count. NaN propagates through the sum until that episode ends."""
    partial = (period > 0)[:, None]
    return jnp.where(partial, jnp.nan, jnp.zeros((period.shape[0], num_agents), jnp.float32))


def track_episodes(running_cost: jax.Array, cost: jax.Array, done: jax.Array) -> tuple[jax.Array, dict]:
    """Add one period's ``cost[E, A]``; where ``done[E]`` close the episode.

    Returns the new running cost and ``{episodes: int32[], episode_agent_cost_sum: float32[A]}``
    for this period (sum the per-period dicts over a rollout).
    """
    total = running_cost + cost
    counted = jnp.logical_and(done, jnp.all(jnp.isfinite(total), axis=-1))  # not a partial first episode
    stats = {
        EPISODES: jnp.sum(counted.astype(jnp.int32)),
        AGENT_COST_SUM: jnp.sum(jnp.where(counted[:, None], total, 0.0), axis=0),
    }
    return jnp.where(done[:, None], 0.0, total), stats


def sum_over_time(stats: dict) -> dict:
    """Sum stacked per-period statistics ``[T, ...]`` from a rollout scan."""
    return jax.tree.map(lambda x: jnp.sum(x, axis=0), stats)


def reduce_chunk(metrics: dict[str, Any]) -> dict[str, Any]:
    """Host-side: metrics of one chunk, leaves ``[S, U, ...]`` (seeds, updates) -> JSON-ready values.

    Means over seeds are reported as scalars; the team cost is also given per seed.
    """
    metrics = {k: np.asarray(v, np.float64) for k, v in metrics.items()}
    out: dict[str, Any] = {}
    episodes = metrics.get(EPISODES)
    if episodes is not None:
        per_seed_episodes = episodes.sum(axis=1)  # [S]
        out["episodes"] = int(per_seed_episodes.sum())
        for key, value in metrics.items():
            if not key.startswith("episode_"):
                continue
            name = key[: -len("_sum")] if key.endswith("_sum") else key
            per_seed = value.sum(axis=1)  # [S, ...]
            denominator = per_seed_episodes.reshape((-1,) + (1,) * (per_seed.ndim - 1))
            with np.errstate(invalid="ignore", divide="ignore"):
                mean = np.where(denominator > 0, per_seed / np.maximum(denominator, 1), np.nan)
            if name == "episode_agent_cost":
                team = mean.sum(axis=-1)
                out["episode_team_cost"] = _json(np.nanmean(team)) if np.isfinite(team).any() else None
                out["episode_team_cost_per_seed"] = [_json(v) for v in team]
            out[name] = _json(np.nanmean(mean, axis=0)) if np.isfinite(mean).any() else None
    for key, value in metrics.items():
        if key == EPISODES or key.startswith("episode_"):
            continue
        out[key] = _json(value.mean(axis=(0, 1)))
    return out


def all_finite(metrics: dict[str, Any]) -> bool:
    """False when any loss-like metric of the chunk is NaN or infinite."""
    return all(
        bool(np.all(np.isfinite(np.asarray(v))))
        for k, v in metrics.items()
        if k != EPISODES and not k.startswith("episode_")
    )


def _json(value: Any) -> Any:
    array = np.asarray(value, np.float64)
    if array.ndim == 0:
        return float(array) if np.isfinite(array) else None
    return [float(v) if np.isfinite(v) else None for v in array.ravel()]
