"""A fixed-size circular replay buffer kept on device, as a pytree.

The buffer stores whole time steps of ``num_lanes`` parallel environments: every
leaf has shape ``[capacity, num_lanes, ...]``. ``add`` writes one step (leaves
``[num_lanes, ...]``) at the write position and overwrites the oldest step once
the buffer is full. ``sample`` draws ``batch_size`` windows of
``sequence_length`` consecutive steps of one lane each, so n-step returns can be
formed at sample time; a window never crosses the write position, so it is
always chronological and never mixes old and new data.

Everything is a pure function of arrays, so it runs inside ``jit``, ``scan``
and ``vmap`` (one buffer per seed). Capacity, lane count, batch size and
sequence length are shapes, hence static.

    buffer = replay.init(example_step, capacity=1000)      # example leaves [num_lanes, ...]
    buffer = replay.add(buffer, step)                      # jittable
    windows = replay.sample(buffer, key, batch_size=32, sequence_length=3)   # leaves [32, 3, ...]
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct


@struct.dataclass
class ReplayBuffer:
    """The stored steps and the write cursor; a pytree, so it lives inside ``jit``, ``scan`` and ``vmap``."""

    data: Any  # pytree, leaves [capacity, num_lanes, ...]
    position: jax.Array  # int32[], the slot the next ``add`` writes
    size: jax.Array  # int32[], filled slots, at most capacity

    @property
    def capacity(self) -> int:
        """Steps held per lane, read off the data's shape, so it is static under ``jit``."""
        return jax.tree.leaves(self.data)[0].shape[0]

    @property
    def num_lanes(self) -> int:
        """Parallel environments each slot holds one step of, read off the data's shape."""
        return jax.tree.leaves(self.data)[0].shape[1]


def _check_positive(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")


def init(example_step: Any, capacity: int) -> ReplayBuffer:
    """An empty buffer for steps shaped like ``example_step`` (leaves ``[num_lanes, ...]``: arrays, or the
    ``jax.ShapeDtypeStruct``s of ``jax.eval_shape``, so a learner need not build a step to size it)."""
    _check_positive("capacity", capacity)
    leaves = jax.tree.leaves(example_step)
    if not leaves:
        raise ValueError("example_step must hold at least one array")
    lanes = {jnp.shape(leaf)[0] if jnp.ndim(leaf) else None for leaf in leaves}
    if len(lanes) != 1 or None in lanes:
        raise ValueError(
            "every leaf of example_step needs the same leading num_lanes axis, "
            f"got leading sizes {sorted(map(str, lanes))}"
        )
    data = jax.tree.map(lambda leaf: jnp.zeros((capacity,) + jnp.shape(leaf), _dtype(leaf)), example_step)
    return ReplayBuffer(data=data, position=jnp.int32(0), size=jnp.int32(0))


def _dtype(leaf: Any) -> np.dtype:
    return leaf.dtype if isinstance(leaf, jax.ShapeDtypeStruct) else jnp.asarray(leaf).dtype


def add(buffer: ReplayBuffer, step: Any) -> ReplayBuffer:
    """Write one step (leaves ``[num_lanes, ...]``) over the oldest slot."""
    data = jax.tree.map(lambda stored, new: stored.at[buffer.position].set(new.astype(stored.dtype)), buffer.data, step)
    capacity = buffer.capacity
    return ReplayBuffer(
        data=data,
        position=(buffer.position + 1) % capacity,
        size=jnp.minimum(buffer.size + 1, capacity),
    )


def can_sample(buffer: ReplayBuffer, sequence_length: int = 1) -> jax.Array:
    """bool[]: at least one whole window of ``sequence_length`` steps is stored."""
    return buffer.size >= sequence_length


def sample(buffer: ReplayBuffer, key: jax.Array, batch_size: int, sequence_length: int = 1) -> Any:
    """``batch_size`` windows of ``sequence_length`` consecutive filled steps, leaves ``[batch, seq, ...]``.

    Windows start uniformly among the ``size - sequence_length + 1`` chronological
    starts of a uniformly drawn lane. Call it only when ``can_sample`` holds:
    inside ``jit`` nothing can raise, so an under-filled buffer yields windows of
    empty (zero) slots.
    """
    _check_positive("batch_size", batch_size)
    _check_positive("sequence_length", sequence_length)
    if sequence_length > buffer.capacity:
        raise ValueError(f"sequence_length must be <= capacity={buffer.capacity}, got {sequence_length}")
    capacity = buffer.capacity
    start_key, lane_key = jax.random.split(key)
    num_starts = jnp.maximum(buffer.size - sequence_length + 1, 1)
    offsets = jax.random.randint(start_key, (batch_size,), 0, num_starts)
    oldest = (buffer.position - buffer.size) % capacity
    times = (oldest + offsets[:, None] + jnp.arange(sequence_length)[None, :]) % capacity
    lanes = jax.random.randint(lane_key, (batch_size,), 0, buffer.num_lanes)
    return jax.tree.map(lambda stored: stored[times, lanes[:, None]], buffer.data)
