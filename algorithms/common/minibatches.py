"""Shuffled minibatches of whole games from a time-major rollout, for the PPO epochs."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp


def minibatches_over_games(key: jax.Array, rollout: Any, num_minibatches: int) -> Any:
    """Every leaf ``[T, E, ...]`` -> ``[num_minibatches, T, E // num_minibatches, ...]``.

    The games (axis 1) are shuffled and dealt out whole, so each minibatch keeps its games'
    periods in order. Raises ``ValueError`` (at trace time) unless ``num_minibatches`` divides ``E``.
    """
    num_games = jax.tree.leaves(rollout)[0].shape[1]
    if num_minibatches < 1 or num_games % num_minibatches:
        raise ValueError(
            f"num_minibatches must be a divisor of the number of games ({num_games}), got {num_minibatches}"
        )
    order = jax.random.permutation(key, num_games)

    def split(x):
        x = jnp.take(x, order, axis=1)
        x = x.reshape((x.shape[0], num_minibatches, num_games // num_minibatches) + x.shape[2:])
        return jnp.swapaxes(x, 0, 1)

    return jax.tree.map(split, rollout)
