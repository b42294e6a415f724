"""Minimal shape-and-bounds descriptions of observations and actions."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp


@dataclasses.dataclass(frozen=True)
class Discrete:
    """Integer actions ``low .. low + num_values - 1`` for each of ``shape``'s entries."""

    num_values: int
    low: int
    shape: tuple[int, ...]
    dtype: jnp.dtype = jnp.int32

    @property
    def high(self) -> int:
        """The largest action value (inclusive)."""
        return self.low + self.num_values - 1

    def sample(self, key: jax.Array) -> jax.Array:
        """Uniform random int32 actions of ``shape``."""
        return jax.random.randint(key, self.shape, self.low, self.high + 1, dtype=jnp.int32)

    def contains(self, x: jax.Array) -> jax.Array:
        """Whether ``x`` has ``shape`` and every entry in range, as a bool array (traceable)."""
        return jnp.all((x >= self.low) & (x <= self.high)) & (jnp.shape(x) == self.shape)


@dataclasses.dataclass(frozen=True)
class Box:
    """Real-valued arrays of ``shape`` within ``[low, high]``."""

    low: float
    high: float
    shape: tuple[int, ...]
    dtype: jnp.dtype = jnp.float32

    def contains(self, x: jax.Array) -> jax.Array:
        """Whether ``x`` has ``shape`` and every entry in ``[low, high]``, as a bool array (traceable)."""
        return jnp.all((x >= self.low) & (x <= self.high)) & (jnp.shape(x) == self.shape)
