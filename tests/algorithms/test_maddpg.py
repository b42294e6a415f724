"""MADDPG (``algorithms/maddpg.py``): its TD target by hand, gradients through the straight-through
Gumbel-softmax, the pre-reset next state at truncation, a CLI run, resume, and bad flags."""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from algorithms import maddpg, registry
from algorithms.common.config import parse_config

TINY = (
    "--num-envs 4 --base-stock-episodes 4 --eval-episodes 8 --batch-size 8 --buffer-size 256 "
    "--learning-starts 32 --hidden-sizes 16 --no-progress --no-plots"
).split()
SMOKE = [*TINY, "--total-timesteps", "480", "--num-chunks", "2", "--num-seeds", "2"]
MIXED = ["--agents", "maddpg,sterman,maddpg,base_stock"]


def test_td_target_by_hand_bootstraps_a_truncation_and_not_a_termination():
    reward = jnp.array([[-1.0, -2.0], [-1.0, -2.0]])
    next_q = jnp.array([[4.0, 6.0], [4.0, 6.0]])
    # Row 0 truncated (its next_q is the value of the pre-reset state): r + gamma * Q'. Row 1 terminated: r.
    terminated = jnp.array([False, True])
    targets = maddpg.td_targets(reward, terminated, next_q, gamma=0.5)
    np.testing.assert_allclose(targets, [[-1.0 + 2.0, -2.0 + 3.0], [-1.0, -2.0]])


def test_the_buffer_keeps_the_pre_reset_next_state_at_a_truncation():
    """One whole 3-period episode without learning: its last transition's next observation and state are
    the finished episode's, not the next episode's first."""
    config = parse_config(
        maddpg.Config, [*TINY, "--horizon", "3", "--learning-starts", "1000", "--total-timesteps", "12"]
    )
    learner = maddpg.make_learner(config)
    state = learner.init(jax.random.PRNGKey(0))
    state, _ = jax.jit(lambda s: jax.lax.scan(lambda c, _: learner.update(c), s, None, length=3))(state)
    last = jax.tree.map(lambda x: x[2], state.buffer.data)
    env = learner.game.env
    reset_obs, reset_state = jax.vmap(env.reset, in_axes=(0, None))(
        jax.random.split(jax.random.PRNGKey(1), 4), learner.game.params
    )
    assert not np.allclose(last["next_obs"], state.obs)  # state.obs: the new episode's first observation
    assert np.all(np.asarray(state.env_state.period) == 0)
    global_state = jax.vmap(env.global_state, in_axes=(0, None))(state.env_state, learner.game.params)
    assert not np.allclose(last["next_state"], global_state)
    assert not np.any(np.asarray(last["terminated"]))  # the beer game only truncates
    assert reset_obs.shape == last["next_obs"].shape and reset_state.period.shape == (4,)


def test_gradients_flow_through_the_straight_through_gumbel_softmax():
    logits_weight = jax.random.normal(jax.random.PRNGKey(0), (3, 5))
    obs = jax.random.normal(jax.random.PRNGKey(1), (7, 3))
    value_of_action = jnp.arange(5.0)  # a critic linear in the one-hot

    def loss(weight, key):
        sample = maddpg.gumbel_softmax_straight_through(key, obs @ weight, jnp.float32(1.0))
        return -jnp.mean(sample @ value_of_action), sample

    (value, sample), grads = jax.value_and_grad(loss, has_aux=True)(logits_weight, jax.random.PRNGKey(2))
    # Forward: an exact one-hot per row; backward: the relaxation's gradient, finite and not zero.
    np.testing.assert_allclose(np.sort(np.asarray(sample), axis=-1)[:, -1], 1.0, atol=1e-6)
    np.testing.assert_allclose(np.sum(np.asarray(sample), axis=-1), 1.0, atol=1e-6)
    assert np.all(np.isfinite(grads)) and np.abs(np.asarray(grads)).max() > 1e-3
    assert np.isfinite(value)


@pytest.fixture(scope="module")
def maddpg_run(train_once, run_module):
    """One small mixed-team MADDPG CLI run in a subprocess, two seeds, two chunks."""
    flags = [*SMOKE, *MIXED]

    def train(run_dir):
        run_module("algorithms.maddpg", *flags, "--run-dir", str(run_dir), check=True)

    return train_once("maddpg-run", train), flags


def test_cli_run_writes_log_checkpoints_and_a_cost_table(maddpg_run):
    run_dir, _ = maddpg_run
    lines = [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines()]
    assert [line["chunk"] for line in lines] == [1, 2]
    assert lines[-1]["learning"] > 0  # gradient steps ran in chunk 2
    for line in lines:
        assert (
            np.isfinite(line["critic_loss"]) and np.isfinite(line["actor_loss"]) and np.isfinite(line["eval_team_cost"])
        )
    rows = json.loads((run_dir / "results.json").read_text())["rows"]
    assert rows[0]["label"] == "learned (greedy), seed 0" and rows[0]["kinds"] == MIXED[1].split(",")
    loaded = registry.load_policy(run_dir, which="final", seed=1)
    assert loaded.algorithm == "maddpg" and loaded.kinds == tuple(MIXED[1].split(","))


def test_resume_equals_an_uninterrupted_run(maddpg_run, tmp_path):
    whole, flags = maddpg_run
    parts = tmp_path / "parts"
    maddpg.main([*flags, "--run-dir", str(parts), "--stop-after-chunks", "1"])
    maddpg.main(["--resume", str(parts), "--no-progress"])
    _, _, _, state_whole = registry.load_run(whole)
    _, _, _, state_parts = registry.load_run(parts)
    leaves_whole, leaves_parts = jax.tree.leaves(state_whole), jax.tree.leaves(state_parts)
    assert len(leaves_whole) == len(leaves_parts)
    assert all(np.array_equal(a, b, equal_nan=True) for a, b in zip(leaves_whole, leaves_parts))


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--tau", "0"], "--tau must be in (0.0, 1.0]"),
        (["--tau", "1.5"], "--tau must be in (0.0, 1.0]"),
        (["--gumbel-temperature", "0"], "--gumbel-temperature"),
        (["--buffer-size", "4", "--num-envs", "8"], "--buffer-size must be >= num_envs"),
        (["--agents", "ppo,maddpg,maddpg,maddpg"], "--agents"),
        (["--actor-lr", "-1"], "--actor-lr"),
    ],
)
def test_bad_flags_exit_2_with_one_line(flags, message, capsys):
    with pytest.raises(SystemExit) as stop:
        maddpg.main(flags)
    assert stop.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "\n" not in err and message in err, err
