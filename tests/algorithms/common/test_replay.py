"""The on-device circular replay buffer: wrap-around, only filled slots, windows, jit and vmap."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from algorithms.common import replay


def _step(t, num_lanes=2):
    """Step ``t`` of ``num_lanes`` lanes: values encode (time, lane) so samples can be traced back."""
    lanes = jnp.arange(num_lanes)
    return {
        "time": jnp.full((num_lanes,), t, jnp.int32),
        "code": (100 * t + lanes).astype(jnp.float32),
        "obs": jnp.stack([jnp.full((3,), 100 * t + lane, jnp.float32) for lane in range(num_lanes)]),
    }


def _filled(num_steps, capacity, num_lanes=2):
    buffer = replay.init(_step(0, num_lanes), capacity)
    add = jax.jit(replay.add)
    for t in range(num_steps):
        buffer = add(buffer, _step(t, num_lanes))
    return buffer


def test_init_shapes_and_empty():
    buffer = replay.init(_step(0), capacity=5)
    assert buffer.capacity == 5 and buffer.num_lanes == 2
    assert buffer.data["obs"].shape == (5, 2, 3) and buffer.data["time"].dtype == jnp.int32
    assert int(buffer.size) == 0 and int(buffer.position) == 0
    assert not bool(replay.can_sample(buffer))


def test_wrap_around_overwrites_the_oldest():
    buffer = _filled(num_steps=7, capacity=5)
    assert int(buffer.size) == 5
    assert int(buffer.position) == 2  # 7 mod 5
    # Slots 0 and 1 now hold steps 5 and 6; slots 2..4 still hold 2..4.
    np.testing.assert_array_equal(np.asarray(buffer.data["time"][:, 0]), [5, 6, 2, 3, 4])
    np.testing.assert_array_equal(np.asarray(buffer.data["code"][1]), [600.0, 601.0])  # step 6, lanes 0 and 1


def test_samples_only_filled_slots():
    buffer = _filled(num_steps=3, capacity=10)
    batch = jax.jit(replay.sample, static_argnums=(2, 3))(buffer, jax.random.key(0), 4096, 1)
    times = np.asarray(batch["time"][:, 0])
    assert set(times.tolist()) == {0, 1, 2}  # never the 7 empty slots, and every filled one is reachable
    codes = np.asarray(batch["code"][:, 0])
    lanes = codes - 100 * times
    assert set(lanes.tolist()) == {0.0, 1.0}
    # Each field of one sample comes from the same (time, lane) slot.
    np.testing.assert_array_equal(np.asarray(batch["obs"][:, 0, 0]), codes)


def test_windows_are_chronological_and_never_cross_the_write_position():
    buffer = _filled(num_steps=13, capacity=5)  # holds steps 8..12; position 3 sits between 12 and 8
    batch = replay.sample(buffer, jax.random.key(1), 2048, sequence_length=3)
    times = np.asarray(batch["time"])  # [B, 3]
    assert times.shape == (2048, 3)
    np.testing.assert_array_equal(np.diff(times, axis=1), 1)  # consecutive steps, across the array end too
    assert set(times[:, 0].tolist()) == {8, 9, 10}
    lanes = np.asarray(batch["code"]) - 100 * times
    assert np.all(lanes == lanes[:, :1])  # one lane per window


def test_sample_is_uniform_over_filled_starts():
    buffer = _filled(num_steps=4, capacity=8, num_lanes=1)
    batch = replay.sample(buffer, jax.random.key(2), 20_000, 1)
    counts = np.bincount(np.asarray(batch["time"][:, 0]), minlength=4)
    # 5000 expected per slot; 5 standard deviations is about +-306.
    assert np.all(np.abs(counts - 5000) < 320), counts


def test_add_and_sample_inside_one_jit_scan():
    def fill_then_sample(key):
        buffer = replay.init(_step(0), 6)

        def body(buffer, t):
            return replay.add(buffer, _step(t)), None

        buffer, _ = jax.lax.scan(body, buffer, jnp.arange(9))
        return buffer, replay.sample(buffer, key, 64, 2)

    buffer, batch = jax.jit(fill_then_sample)(jax.random.key(3))
    assert int(buffer.size) == 6 and int(buffer.position) == 3
    times = np.asarray(batch["time"])
    assert times.min() >= 3 and times.max() <= 8
    np.testing.assert_array_equal(np.diff(times, axis=1), 1)


def test_vmap_over_independent_buffers():
    """One buffer per seed: each keeps its own position, size and data."""

    def fill(offset, num_steps):
        buffer = replay.init(_step(0), 4)

        def body(buffer, t):
            step = jax.tree.map(lambda x: x + offset.astype(x.dtype), _step(t))
            valid = t < num_steps
            added = replay.add(buffer, step)
            return jax.tree.map(lambda a, b: jnp.where(valid, a, b), added, buffer), None

        buffer, _ = jax.lax.scan(body, buffer, jnp.arange(6))
        return buffer

    buffers = jax.jit(jax.vmap(fill))(jnp.array([0, 1000]), jnp.array([2, 6]))
    np.testing.assert_array_equal(np.asarray(buffers.size), [2, 4])
    np.testing.assert_array_equal(np.asarray(buffers.position), [2, 2])
    batches = jax.vmap(replay.sample, in_axes=(0, 0, None, None))(
        buffers, jax.random.split(jax.random.key(4), 2), 256, 1
    )
    first, second = np.asarray(batches["time"][0]), np.asarray(batches["time"][1])
    assert set(first.ravel().tolist()) == {0, 1}
    assert set(second.ravel().tolist()) == {1002, 1003, 1004, 1005}


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="capacity"):
        replay.init(_step(0), 0)
    with pytest.raises(ValueError, match="num_lanes"):
        replay.init({"a": jnp.zeros((2,)), "b": jnp.zeros((3,))}, 4)
    buffer = replay.init(_step(0), 4)
    with pytest.raises(ValueError, match="batch_size"):
        replay.sample(buffer, jax.random.key(0), 0)
    with pytest.raises(ValueError, match="sequence_length"):
        replay.sample(buffer, jax.random.key(0), 8, sequence_length=5)


def test_a_buffer_sized_from_eval_shape_equals_one_sized_from_arrays():
    step = {"obs": jnp.ones((3, 2), jnp.float32), "action": jnp.ones((3,), jnp.int32)}
    from_arrays = replay.init(step, capacity=5)
    from_shapes = replay.init(jax.eval_shape(lambda: step), capacity=5)
    assert jax.tree.map(lambda a: (a.shape, a.dtype), from_arrays) == jax.tree.map(
        lambda a: (a.shape, a.dtype), from_shapes
    )
    assert all(not np.any(np.asarray(leaf)) for leaf in jax.tree.leaves(from_shapes.data))
