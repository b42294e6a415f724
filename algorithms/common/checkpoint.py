"""Checkpoints of the whole training state with flax's msgpack serialisation (no pickle).

The state's leaves (params, optimiser state, env states, running statistics,
PRNG keys as raw uint32 data) are stored in tree order beside the host loop's
counters. Restoring needs a template with the same structure (from
``jax.eval_shape`` of the learner's init), and checks every shape and dtype.
Writes go to a temporary file first and are renamed, so a crash mid-write
keeps the previous checkpoint.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import jax
import numpy as np
from flax import serialization

FILENAME = "checkpoint.msgpack"
BEST_POLICY = "best_policy.msgpack"


def save(run_dir: str | os.PathLike, train_state: Any, host: dict[str, Any], filename: str = FILENAME) -> Path:
    """Write ``train_state`` and the JSON-able ``host`` counters atomically."""
    leaves = jax.tree.leaves(jax.device_get(train_state))
    payload = {
        "host": dict(host),
        "leaves": {str(i): np.asarray(leaf) for i, leaf in enumerate(leaves)},
        "num_leaves": len(leaves),
    }
    path = Path(run_dir) / filename
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(serialization.msgpack_serialize(payload))
    os.replace(tmp, path)
    return path


def load(run_dir: str | os.PathLike, template: Any, filename: str = FILENAME) -> tuple[Any, dict[str, Any]]:
    """Restore into the structure of ``template`` (arrays or ``ShapeDtypeStruct``s)."""
    path = Path(run_dir) / filename
    payload = serialization.msgpack_restore(path.read_bytes())
    template_leaves, treedef = jax.tree.flatten(template)
    if payload["num_leaves"] != len(template_leaves):
        raise ValueError(
            f"{path}: checkpoint has {payload['num_leaves']} arrays, this config expects "
            f"{len(template_leaves)} (different algorithm or settings?)"
        )
    leaves = []
    for i, expected in enumerate(template_leaves):
        leaf = np.asarray(payload["leaves"][str(i)])
        if leaf.shape != tuple(expected.shape) or leaf.dtype != np.dtype(expected.dtype):
            raise ValueError(
                f"{path}: array {i} is {leaf.dtype}{list(leaf.shape)}, expected "
                f"{np.dtype(expected.dtype)}{list(expected.shape)}"
            )
        leaves.append(leaf)
    return jax.tree.unflatten(treedef, leaves), dict(payload["host"])
