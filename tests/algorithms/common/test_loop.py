"""The host loop: the NaN stop keeps the last good checkpoint; a chunk of one member runs without the vmap."""

from __future__ import annotations

import dataclasses
import json
from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from algorithms.common import checkpoint, runlog
from algorithms.common.config import CommonConfig
from algorithms.common.game import make_game
from algorithms.common.loop import Learner, chunk_function, for_every_member, run


@dataclasses.dataclass
class _Config(CommonConfig):
    learner_kind: ClassVar[str] = "ppo"


def test_host_loop_stops_on_nan_and_keeps_the_last_good_checkpoint(tmp_path, learner_env, capsys):
    config = _Config(
        num_envs=2,
        eval_episodes=4,
        base_stock_episodes=2,
        run_dir=str(tmp_path),
        num_chunks=4,
        progress=False,
        plots=False,
    )
    game = make_game(config)

    def update(state):  # a fake learner whose loss turns NaN at its third update
        count = state["count"] + 1
        loss = jnp.where(count >= 3, jnp.nan, 1.0 / count)
        return {"count": count, "w": state["w"] + 1.0}, {"loss": loss}

    learner = Learner(
        game=game,
        init=lambda key, hyperparameters=None: {"count": jnp.int32(0), "w": jnp.zeros(2)},
        update=update,
        act=lambda p, obs, key: jnp.zeros(obs.shape[0], jnp.int32),
        policy_params=lambda s: s["w"],
        num_updates=4,
        env_steps_per_update=1,
    )
    with pytest.raises(SystemExit) as stop:
        run(config, learner, "fake")
    assert stop.value.code == 1
    assert "non-finite loss in chunk 3" in capsys.readouterr().err
    state, host = checkpoint.load(
        tmp_path, jax.eval_shape(jax.vmap(learner.init), jax.random.split(jax.random.PRNGKey(0), 1))
    )
    assert host["chunk"] == 2 and int(state["count"][0]) == 2
    lines = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert [line["chunk"] for line in lines] == [1, 2, 3] and "stopped" in lines[-1]


def test_seconds_to_quality_is_the_first_chunk_within_the_gap():
    records = [
        {"chunk": 1, "wall_seconds": 30.0, "eval_gap_vs_base_stock": 0.2},
        {"chunk": 2, "wall_seconds": 55.0, "eval_gap_vs_base_stock": 0.05},
        {"chunk": 3, "wall_seconds": 80.0, "eval_gap_vs_base_stock": 0.01},
    ]
    assert runlog.seconds_to_quality(records) == 55.0
    assert runlog.seconds_to_quality(records, gap=0.02) == 80.0
    assert runlog.seconds_to_quality(records, gap=0.001) is None
    assert runlog.seconds_to_quality([{"chunk": 1, "eval_gap_vs_base_stock": 0.0}]) is None  # written before


def _counting_learner(shared_flag: bool = False) -> Learner:
    """A fake learner whose update learns only once a traced counter allows it, as the replay learners do
    (who pass the flag through ``for_every_member``: ``shared_flag``)."""

    def update(state):
        count = state["count"] + 1
        learn = lambda w: w * 0.5 + jnp.float32(count)  # noqa: E731
        ready = for_every_member(count >= 3) if shared_flag else count >= 3
        w = jax.lax.cond(ready, learn, lambda w: w, state["w"])
        return {"count": count, "w": w}, {"w_sum": jnp.sum(w)}

    return Learner(
        game=None,
        init=lambda key, hyperparameters=None: {"count": jnp.int32(0), "w": jax.random.normal(key, (3,))},
        update=update,
        act=None,
        policy_params=lambda s: s["w"],
        num_updates=5,
        env_steps_per_update=1,
    )


@pytest.mark.parametrize("members", [1, 3])
@pytest.mark.parametrize("shared_flag", [False, True])
def test_chunk_keeps_its_conditional_and_equals_the_vmapped_chunk(members, shared_flag):
    """One member is run without the vmap, and a flag shared by every member is one value, so either way a
    ``lax.cond`` on it stays a conditional instead of a select that computes both branches; the numbers
    are those of the plain vmapped chunk (whose flag stays batched) either way."""
    learner = _counting_learner(shared_flag)
    state = jax.vmap(learner.init)(jax.random.split(jax.random.PRNGKey(0), members))
    chunk = jax.jit(chunk_function(learner, 5))
    vmapped = jax.jit(jax.vmap(lambda s: jax.lax.scan(lambda c, _: learner.update(c), s, None, length=5)))
    (got, got_metrics), (want, want_metrics) = chunk(state), vmapped(state)
    assert got_metrics["w_sum"].shape == (members, 5)
    for a, b in zip(jax.tree.leaves((got, got_metrics)), jax.tree.leaves((want, want_metrics))):
        np.testing.assert_array_equal(a, b)
    assert (" conditional(" in chunk.lower(state).compile().as_text()) == (members == 1 or shared_flag)
