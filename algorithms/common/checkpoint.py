"""Checkpoints of the whole training state: the last two kept, each checked before it is trusted.

A checkpoint is one msgpack file (flax's serialisation, no pickle) holding the
state's leaves under their tree paths (``.params.actor['params']...``), a
SHA-256 of each leaf's bytes, and the host loop's counters. Files are written
through ``files.write_atomically`` and named by chunk, ``checkpoint-0007.msgpack``;
the newest ``KEEP`` stay. ``load`` takes the newest that reads back whole and
matches its checksums; a truncated or altered file is skipped with one line on
stderr naming it, so a damaged latest checkpoint costs one chunk, not the run.
A leaf of the wrong shape or dtype is a different config, not damage: that is
an error naming the field.

msgpack rather than orbax: this state is one process's arrays, orbax restored a
flipped byte without a word and named no field in its shape errors
(``docs/decisions.md``).
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
from pathlib import Path
from typing import Any

import jax
import numpy as np
from flax import serialization

from algorithms.common.files import write_atomically

PREFIX = "checkpoint-"
SUFFIX = ".msgpack"
BEST_POLICY = "best_policy.msgpack"
KEEP = 2
FORMAT = 2
_NUMBERED = re.compile(rf"^{PREFIX}(\d+){re.escape(SUFFIX)}$")


class CheckpointError(ValueError):
    """No checkpoint could be restored; the message names the file(s) and why."""


class DamagedCheckpoint(CheckpointError):
    """A checkpoint file that does not read back whole (truncated, altered, not a checkpoint)."""


def path_for(run_dir: str | os.PathLike, chunk: int) -> Path:
    """Where the checkpoint after ``chunk`` chunks goes."""
    return Path(run_dir) / f"{PREFIX}{chunk:04d}{SUFFIX}"


def saved_checkpoints(run_dir: str | os.PathLike) -> list[Path]:
    """The numbered checkpoints in ``run_dir``, newest first."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        return []
    found = [(int(m.group(1)), run_dir / name) for name in os.listdir(run_dir) if (m := _NUMBERED.match(name))]
    return [path for _, path in sorted(found, reverse=True)]


def save(run_dir: str | os.PathLike, train_state: Any, host: dict[str, Any], filename: str | None = None) -> Path:
    """Write ``train_state`` and the JSON-able ``host`` counters atomically.

    Without ``filename`` the file is numbered by ``host["chunk"]`` and older
    numbered checkpoints beyond the newest ``KEEP`` are removed.
    """
    leaves_with_paths = jax.tree_util.tree_flatten_with_path(jax.device_get(train_state))[0]
    arrays = [np.asarray(leaf) for _, leaf in leaves_with_paths]
    payload = {
        "format": FORMAT,
        "host": dict(host),
        "names": [jax.tree_util.keystr(path) for path, _ in leaves_with_paths],
        "sha256": [_digest(array) for array in arrays],
        "leaves": {str(i): array for i, array in enumerate(arrays)},
    }
    path = Path(run_dir) / filename if filename else path_for(run_dir, int(host["chunk"]))
    write_atomically(path, serialization.msgpack_serialize(payload))
    if filename is None:
        for old in saved_checkpoints(run_dir)[KEEP:]:
            old.unlink(missing_ok=True)
    return path


def chunk_of(path: Path) -> int:
    """The chunk a numbered checkpoint was taken after."""
    return int(_NUMBERED.match(path.name).group(1))


def load(
    run_dir: str | os.PathLike,
    template: Any,
    filename: str | None = None,
    at_most: int | None = None,
    fill: dict[str, np.ndarray] | None = None,
) -> tuple[Any, dict[str, Any]]:
    """Restore into the structure of ``template`` (arrays or ``ShapeDtypeStruct``s): ``(state, host)``.

    Without ``filename``: the newest numbered checkpoint that is whole, falling
    back past damaged ones with a line on stderr; with ``at_most``, the newest
    taken after at most that many chunks, where one is kept. Raises
    ``CheckpointError`` when none can be restored, and ``ValueError`` naming
    the field when the checkpoint holds a different structure than ``template``. ``fill`` gives the
    values of leaves that checkpoints written before they existed lack, by tree path.
    """
    if filename is not None:
        return _load_file(Path(run_dir) / filename, template, fill)
    candidates = saved_checkpoints(run_dir)
    if at_most is not None and any(chunk_of(path) <= at_most for path in candidates):
        candidates = [path for path in candidates if chunk_of(path) <= at_most]
    if not candidates:
        raise CheckpointError(f"{run_dir} holds no checkpoint ({PREFIX}NNNN{SUFFIX}) to resume from")
    problems = []
    for index, path in enumerate(candidates):
        try:
            restored = _load_file(path, template, fill)
        except DamagedCheckpoint as error:
            problems.append(str(error))
            following = f"; falling back to {candidates[index + 1].name}" if index + 1 < len(candidates) else ""
            print(f"warning: {error}{following}", file=sys.stderr)
            continue
        return restored
    raise CheckpointError(f"no checkpoint in {run_dir} can be restored: {'; '.join(problems)}")


def _load_file(path: Path, template: Any, fill: dict[str, np.ndarray] | None = None) -> tuple[Any, dict[str, Any]]:
    try:
        payload = serialization.msgpack_restore(path.read_bytes())
    except FileNotFoundError:
        raise CheckpointError(f"{path} does not exist") from None
    except Exception as error:  # noqa: BLE001 - msgpack raises many kinds on a torn or foreign file
        raise DamagedCheckpoint(f"{path} is damaged ({type(error).__name__}: {error})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise DamagedCheckpoint(f"{path} is not a checkpoint of format {FORMAT}")
    try:
        names, digests, stored, host = payload["names"], payload["sha256"], payload["leaves"], payload["host"]
        arrays = [np.asarray(stored[str(i)]) for i in range(len(names))]
    except (KeyError, TypeError) as error:
        raise DamagedCheckpoint(f"{path} is damaged (missing {error})") from None
    for name, array, digest in zip(names, arrays, digests):
        if _digest(array) != digest:
            raise DamagedCheckpoint(f"{path} is damaged (checksum of {name} does not match)")

    template_leaves, treedef = jax.tree_util.tree_flatten_with_path(template)
    expected_names = [jax.tree_util.keystr(p) for p, _ in template_leaves]
    added = [name for name in expected_names if name not in names and name in (fill or {})]
    if added and set(names) | set(added) == set(expected_names):
        # An older checkpoint: the leaves it predates take their given values, in the template's order.
        by_name = {**dict(zip(names, arrays)), **{name: np.asarray(fill[name]) for name in added}}
        names, arrays = expected_names, [by_name[name] for name in expected_names]
    if names != expected_names:
        missing = sorted(set(expected_names) - set(names))[:3]
        extra = sorted(set(names) - set(expected_names))[:3]
        raise ValueError(
            f"{path} holds a different state than this config expects (missing {missing}, "
            f"unexpected {extra}): a different algorithm or settings?"
        )
    for name, array, (_, expected) in zip(names, arrays, template_leaves):
        if array.shape != tuple(expected.shape) or array.dtype != np.dtype(expected.dtype):
            raise ValueError(
                f"{path}: {name} is {array.dtype}{list(array.shape)}, this config expects "
                f"{np.dtype(expected.dtype)}{list(expected.shape)} (different settings?)"
            )
    return jax.tree_util.tree_unflatten(treedef, arrays), dict(host)


def _digest(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()
