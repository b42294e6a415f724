"""Checkpoints: round trip, field-named errors, the last two kept, damaged files skipped with a line."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from algorithms.common import checkpoint


class _State(NamedTuple):
    params: dict
    key: jax.Array
    count: jax.Array


def _state(offset: float = 0.0) -> _State:
    return _State(
        params={"actor": {"w": jnp.arange(6, dtype=jnp.float32).reshape(2, 3) + offset}},
        key=jax.random.PRNGKey(3),
        count=jnp.int32(7),
    )


def _same(a, b) -> bool:
    return all(np.array_equal(x, y) and x.dtype == y.dtype for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


def test_round_trip_keeps_values_and_dtypes(tmp_path):
    state = _state()
    path = checkpoint.save(tmp_path, state, {"chunk": 2})
    assert path.name == "checkpoint-0002.msgpack"
    restored, host = checkpoint.load(tmp_path, jax.eval_shape(lambda: state))
    assert host == {"chunk": 2} and isinstance(restored, _State) and _same(state, restored)


def test_a_different_structure_names_the_field(tmp_path):
    checkpoint.save(tmp_path, _state(), {"chunk": 1})
    wrong_shape = _state()._replace(params={"actor": {"w": jnp.zeros((3, 2))}})
    with pytest.raises(
        ValueError,
        match=r"\.params\['actor'\]\['w'\] is float32\[2, 3\], this config expects "
        r"float32\[3, 2\]",
    ):
        checkpoint.load(tmp_path, jax.eval_shape(lambda: wrong_shape))
    other_tree = {"actor": {"w": jnp.zeros((2, 3))}}
    with pytest.raises(ValueError, match="holds a different state than this config expects"):
        checkpoint.load(tmp_path, jax.eval_shape(lambda: other_tree))


def test_only_the_last_two_checkpoints_are_kept(tmp_path):
    for chunk in range(1, 5):
        checkpoint.save(tmp_path, _state(chunk), {"chunk": chunk})
    assert [p.name for p in checkpoint.saved_checkpoints(tmp_path)] == [
        "checkpoint-0004.msgpack",
        "checkpoint-0003.msgpack",
    ]
    restored, host = checkpoint.load(tmp_path, jax.eval_shape(_state))
    assert host["chunk"] == 4 and _same(restored, _state(4))
    assert not list(tmp_path.glob(".*tmp*")), "no temporary file is left behind"


def _damage_truncate(path):
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])


def _damage_flip_a_weight_byte(path):
    """Flip one byte inside the float data of the weights: the file still parses."""
    data = bytearray(path.read_bytes())
    needle = np.arange(6, dtype=np.float32).reshape(2, 3).__add__(2.0).tobytes()
    start = bytes(data).find(needle)
    assert start >= 0
    data[start + 5] ^= 0x01
    path.write_bytes(bytes(data))


def _damage_garbage(path):
    path.write_bytes(b"not a checkpoint at all")


def _damage_empty(path):
    path.write_bytes(b"")


@pytest.mark.parametrize("damage", [_damage_truncate, _damage_flip_a_weight_byte, _damage_garbage, _damage_empty])
def test_a_damaged_latest_checkpoint_falls_back_to_the_previous_one(tmp_path, capsys, damage):
    checkpoint.save(tmp_path, _state(1), {"chunk": 1})
    checkpoint.save(tmp_path, _state(2), {"chunk": 2})
    latest = checkpoint.path_for(tmp_path, 2)
    damage(latest)
    restored, host = checkpoint.load(tmp_path, jax.eval_shape(_state))
    assert host["chunk"] == 1 and _same(restored, _state(1))
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(latest) in err[0] and "damaged" in err[0] and "checkpoint-0001" in err[0], err


def test_no_restorable_checkpoint_is_one_error_naming_each_file(tmp_path, capsys):
    with pytest.raises(checkpoint.CheckpointError, match="holds no checkpoint"):
        checkpoint.load(tmp_path, jax.eval_shape(_state))
    checkpoint.save(tmp_path, _state(1), {"chunk": 1})
    checkpoint.save(tmp_path, _state(2), {"chunk": 2})
    for chunk in (1, 2):
        _damage_garbage(checkpoint.path_for(tmp_path, chunk))
    with pytest.raises(checkpoint.CheckpointError, match="checkpoint-0002.*checkpoint-0001"):
        checkpoint.load(tmp_path, jax.eval_shape(_state))


def test_a_named_file_is_not_rotated(tmp_path):
    checkpoint.save(tmp_path, _state(), {"chunk": 9}, checkpoint.BEST_POLICY)
    assert checkpoint.saved_checkpoints(tmp_path) == []
    restored, host = checkpoint.load(tmp_path, jax.eval_shape(_state), checkpoint.BEST_POLICY)
    assert host["chunk"] == 9 and _same(restored, _state())
    _damage_truncate(tmp_path / checkpoint.BEST_POLICY)
    with pytest.raises(checkpoint.DamagedCheckpoint, match="best_policy.msgpack is damaged"):
        checkpoint.load(tmp_path, jax.eval_shape(_state), checkpoint.BEST_POLICY)


class _StateWithSettings(NamedTuple):
    params: dict
    key: jax.Array
    count: jax.Array
    hyperparameters: dict


def test_an_older_checkpoint_takes_the_leaves_it_predates_from_fill(tmp_path):
    old = _state()
    checkpoint.save(tmp_path, old, {"chunk": 1})
    new = _StateWithSettings(*old, hyperparameters={"lr": jnp.float32(0.5)})
    template = jax.eval_shape(lambda: new)
    with pytest.raises(ValueError, match="missing"):
        checkpoint.load(tmp_path, template)
    restored, _ = checkpoint.load(tmp_path, template, fill={".hyperparameters['lr']": np.float32(0.5)})
    assert isinstance(restored, _StateWithSettings) and _same(new, restored)
    # Only missing leaves are filled: a leaf of another shape is still a different config.
    with pytest.raises(ValueError, match="missing"):
        checkpoint.load(tmp_path, template, fill={".hyperparameters['clip']": np.float32(0.5)})
