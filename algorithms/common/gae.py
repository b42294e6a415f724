"""Generalised advantage estimation that keeps truncation and termination apart.

At step ``t`` the transition ends in one of three ways:

* it continues: bootstrap from the value of the next observation;
* it is truncated (the beer game's horizon): the episode is cut, not over, so
  bootstrap from the value of ``info["final_obs"]`` (``final_values``), and do
  not carry the next episode's advantage back across the boundary;
* it terminates: the future is worth zero and nothing is carried back.

Arrays are time-major: ``[T, ...]`` with any trailing batch/agent axes.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def bootstrap_values(
    values: jax.Array, last_value: jax.Array, final_values: jax.Array, truncated: jax.Array
) -> jax.Array:
    """Value of what follows each step: ``V(obs[t+1])``, or ``V(final_obs[t])`` where truncated.

    ``values[t] = V(obs[t])``; ``last_value = V(obs[T])`` (after the last step);
    ``final_values[t] = V(final_obs[t])`` (only used where ``truncated[t]``).
    """
    following = jnp.concatenate([values[1:], last_value[None]], axis=0)
    return jnp.where(_expand_like(truncated, values), final_values, following)


def max_truncations(num_steps: int, horizon: int) -> int:
    """At most this many truncations of one game fall in ``num_steps`` consecutive periods: ceil(T / H)."""
    return -(-num_steps // horizon)


def keep_at_truncation(slots: jax.Array, count: jax.Array, truncated: jax.Array, x: jax.Array) -> jax.Array:
    """Store ``x[E, ...]`` of each truncated game in its slot number ``count[E]`` of ``slots[K, E, ...]``.

    A rollout needs the final observation only where a game is truncated, so it keeps K slots per game
    instead of a second copy of every step; ``count`` is the number of the game's truncations so far.
    """
    hit = (jnp.arange(slots.shape[0])[:, None] == count[None]) & truncated[None]  # [K, E]
    return jnp.where(hit.reshape(hit.shape + (1,) * (x.ndim - 1)), x[None], slots)


def values_at_truncations(slot_values: jax.Array, truncated: jax.Array) -> jax.Array:
    """``final_values[T, E, ...]`` for ``bootstrap_values`` from the values of the K slots ``[K, E, ...]``
    that ``keep_at_truncation`` filled; only the entries where ``truncated[T, E]`` are meaningful."""
    slot = jnp.clip(jnp.cumsum(truncated.astype(jnp.int32), axis=0) - 1, 0, slot_values.shape[0] - 1)  # [T, E]
    index = slot.reshape(slot.shape + (1,) * (slot_values.ndim - 2))
    return jnp.take_along_axis(slot_values, index, axis=0)


def gae(
    rewards: jax.Array,
    values: jax.Array,
    next_values: jax.Array,
    terminated: jax.Array,
    truncated: jax.Array,
    gamma: float,
    gae_lambda: float,
) -> tuple[jax.Array, jax.Array]:
    """Advantages and value targets (``advantages + values``).

    ``next_values[t]`` is the value of the state after step ``t`` within the
    same episode (see ``bootstrap_values``); it is ignored where terminated.
    """
    terminated = _expand_like(terminated, rewards)
    truncated = _expand_like(truncated, rewards)
    not_terminal = 1.0 - terminated.astype(jnp.float32)
    continues = not_terminal * (1.0 - truncated.astype(jnp.float32))
    deltas = rewards + gamma * not_terminal * next_values - values

    def backward(carry, step):
        delta, cont = step
        advantage = delta + gamma * gae_lambda * cont * carry
        return advantage, advantage

    _, advantages = jax.lax.scan(backward, jnp.zeros_like(deltas[0]), (deltas, continues), reverse=True)
    return advantages, advantages + values


def _expand_like(flags: jax.Array, target: jax.Array) -> jax.Array:
    """Per-game flags ``[T, E]`` broadcast over trailing agent axes of ``target``."""
    return flags.reshape(flags.shape + (1,) * (target.ndim - flags.ndim))
