"""Training across devices and hosts with JAX's own machinery: a ``Mesh``, ``NamedSharding`` annotations, and
``jax.distributed``.

The mesh has two axes:

* ``members``: the vmapped seeds (and a sweep's configurations), which never talk to each other;
* ``data``: the games of each member, and with them every array that has a games axis (the env state, the
  observations, the replay buffers' lanes, the PPO minibatches).

The learners are written for one device. The host loop compiles their chunk with the train state's
shardings as inputs and outputs (``state_shardings``), and the learners pin the minibatches with
``constrain_games``; XLA's SPMD partitioner then splits the work and inserts the collectives itself,
among them the all-reduce that averages the gradients over the games of every device. The result is the
one-device program's, up to the order of float reductions, whatever the device count.

Multi-host: ``initialize`` calls ``jax.distributed.initialize`` (from a scheduler's variables, or explicit
flags) before anything touches a device; ``jax.devices()`` is then every host's, the mesh spans them, and
only process 0 writes (``is_writer``).
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from algorithms.common.config import ConfigError

MEMBERS, DATA = "members", "data"


class DeviceError(ConfigError):
    """A device setting that cannot work here; the CLI turns it into exit status 2."""


def initialize(coordinator_address: str = "", num_processes: int = 0, process_id: int = -1) -> None:
    """``jax.distributed.initialize``: with a coordinator address, from the explicit values; without one,
    from the environment (Slurm, Open MPI, TPU pods and the other clusters JAX detects)."""
    if coordinator_address:
        if num_processes < 1 or process_id < 0 or process_id >= num_processes:
            raise DeviceError(
                f"--coordinator-address needs --num-processes >= 1 and 0 <= --process-id < --num-processes, "
                f"got --num-processes {num_processes} --process-id {process_id}"
            )
        jax.distributed.initialize(coordinator_address, num_processes=num_processes, process_id=process_id)
    else:
        jax.distributed.initialize()


def is_writer() -> bool:
    """Whether this process logs, checkpoints and plots: process 0 only."""
    return jax.process_index() == 0


def resolve(num_devices: int | None, seed_devices: int, num_members: int, num_envs: int) -> tuple[int, int]:
    """(devices, devices on the members axis), checked against what is here and what the run splits.

    ``num_devices`` None takes every device; ``seed_devices`` 0 takes the largest count that divides both
    the devices and the members, so a sweep spreads over the devices before its games do. Raises
    ``DeviceError`` naming the flag and its allowed values.
    """
    available = len(jax.devices())
    if num_devices is None:
        num_devices = available
    if isinstance(num_devices, bool) or not isinstance(num_devices, int) or not 1 <= num_devices <= available:
        raise DeviceError(
            f"--num-devices must be an integer in [1, {available}] (the devices here), got {num_devices!r}"
        )
    if seed_devices == 0:
        seed_devices = max(d for d in range(1, num_devices + 1) if num_devices % d == 0 and num_members % d == 0)
    if isinstance(seed_devices, bool) or not isinstance(seed_devices, int) or seed_devices < 0:
        raise DeviceError(f"--seed-devices must be an integer >= 0 (0: automatic), got {seed_devices!r}")
    if num_devices % seed_devices or num_members % seed_devices:
        raise DeviceError(
            f"--seed-devices ({seed_devices}) must divide --num-devices ({num_devices}) and the trained members "
            f"(seeds x configurations = {num_members})"
        )
    data_devices = num_devices // seed_devices
    if num_envs % data_devices:
        raise DeviceError(
            f"--num-devices: the games (--num-envs {num_envs}) must split evenly over the {data_devices} device(s) "
            f"of the data axis (--num-devices {num_devices} / --seed-devices {seed_devices})"
        )
    return num_devices, seed_devices


def make_mesh(num_devices: int, seed_devices: int) -> Mesh:
    """The first ``num_devices`` devices as a ``(members, data)`` mesh."""
    devices = np.asarray(jax.devices()[:num_devices]).reshape(seed_devices, num_devices // seed_devices)
    return Mesh(devices, (MEMBERS, DATA))


def state_shardings(mesh: Mesh, state_shape: Any, games_axes: dict[str, int]) -> Any:
    """A ``NamedSharding`` for every leaf of a train state with a leading members axis.

    ``games_axes`` maps a path prefix of the unbatched state (``jax.tree_util.keystr``, e.g. ``".env_state"``
    or ``".buffer.data"``) to the axis of its games; those leaves are split along ``data`` too. The rest
    (parameters, optimiser state, keys, counters) is replicated over ``data``.
    """

    def spec(path, leaf):
        axes: list[str | None] = [MEMBERS] + [None] * (len(leaf.shape) - 1)
        name = jax.tree_util.keystr(path)
        for prefix, axis in games_axes.items():
            if name.startswith(prefix) and len(leaf.shape) > axis + 1:
                axes[axis + 1] = DATA
        return NamedSharding(mesh, PartitionSpec(*axes))

    return jax.tree_util.tree_map_with_path(spec, state_shape)


def constrain_games(tree: Any, axis: int) -> Any:
    """Split axis ``axis`` of every leaf over the ambient mesh's ``data`` axis; the identity without a mesh.

    Inside the compiled chunk (``jax.set_mesh``) this tells XLA to keep, say, a minibatch's games where they
    are instead of gathering them onto one device.
    """
    mesh = jax.sharding.get_abstract_mesh()
    if mesh.empty or DATA not in mesh.axis_names or mesh.shape[DATA] == 1:
        return tree

    def constrain(x):
        axes = [None] * x.ndim
        axes[axis] = DATA
        return jax.lax.with_sharding_constraint(x, PartitionSpec(*axes))

    return jax.tree.map(constrain, tree)


def agree(ok: bool, what: str) -> None:
    """Multi-host: every process learns whether process 0's check ``what`` passed, and the others stop with
    one line when it did not (process 0 raises its own error), instead of waiting in a collective for a
    process that has left. One process: nothing to agree on."""
    if jax.process_count() == 1:
        return
    passed = bool(multihost_utils.broadcast_one_to_all(np.int32(ok)))
    if not passed and not is_writer():
        raise DeviceError(f"process 0 stopped at {what}; its output says why")


def barrier(name: str) -> None:
    """Multi-host: wait until every process has come here (after process 0 has written what others read)."""
    if jax.process_count() > 1:
        multihost_utils.sync_global_devices(name)


def to_host(tree: Any) -> Any:
    """NumPy copies of a pytree of (possibly sharded, possibly multi-host) arrays, whole on every process."""
    if jax.process_count() > 1:
        return multihost_utils.process_allgather(tree, tiled=True)
    return jax.device_get(tree)
