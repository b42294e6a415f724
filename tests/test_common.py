"""algorithms/common: GAE by hand, teams and mixed orders, episode metrics, networks,
checkpoints, CLI errors and the host loop's NaN stop."""

from __future__ import annotations

import dataclasses
import json
import re
from typing import ClassVar

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from algorithms.common import checkpoint, metrics
from algorithms.common import team as team_lib
from algorithms.common.config import CommonConfig, ConfigError, parse_config
from algorithms.common.gae import bootstrap_values, gae
from algorithms.common.loop import Learner, run
from algorithms.common.networks import AgentNetwork, PolicyHead, ValueHead, orthogonal, with_agent_id
from algorithms.common.rollout import minibatches_over_games
from jaxbeer import policies

# ------------------------------------------------------------------- GAE
REWARDS = jnp.array([1.0, 2.0, 3.0, 4.0])
VALUES = jnp.array([10.0, 20.0, 30.0, 40.0])
# V(obs[t+1]) for t = 0, 2, 3 (50 = value after the rollout); at t = 1 the
# episode ended, so the next value there is V(final_obs[1]) = 100.
NEXT_VALUES = jnp.array([20.0, 100.0, 40.0, 50.0])
ENDS_AT_1 = jnp.array([False, True, False, False])
NEVER = jnp.zeros(4, bool)


def test_gae_truncated_bootstraps_from_final_obs_and_does_not_leak_across_the_boundary():
    # gamma = lambda = 0.5. deltas: 1 + .5*20 - 10 = 1; 2 + .5*100 - 20 = 32;
    # 3 + .5*40 - 30 = -7; 4 + .5*50 - 40 = -11. Backwards: A3 = -11,
    # A2 = -7 + .25*(-11) = -9.75, A1 = 32 (cut at the truncation), A0 = 1 + .25*32 = 9.
    advantages, targets = gae(REWARDS, VALUES, NEXT_VALUES, NEVER, ENDS_AT_1, 0.5, 0.5)
    np.testing.assert_allclose(advantages, [9.0, 32.0, -9.75, -11.0])
    np.testing.assert_allclose(targets, [19.0, 52.0, 20.25, 29.0])


def test_gae_terminated_does_not_bootstrap():
    # t = 1 terminal: delta1 = 2 - 20 = -18, A1 = -18, A0 = 1 + .25*(-18) = -3.5.
    advantages, targets = gae(REWARDS, VALUES, NEXT_VALUES, ENDS_AT_1, NEVER, 0.5, 0.5)
    np.testing.assert_allclose(advantages, [-3.5, -18.0, -9.75, -11.0])
    np.testing.assert_allclose(targets, [6.5, 2.0, 20.25, 29.0])


def test_gae_without_episode_end_is_the_plain_recursion():
    # next values V(obs[t+1]) = [20, 30, 40, 50]: deltas 1, -3, -7, -11.
    advantages, _ = gae(REWARDS, VALUES, jnp.array([20.0, 30.0, 40.0, 50.0]), NEVER, NEVER, 0.5, 0.5)
    a3 = -11.0
    a2 = -7.0 + 0.25 * a3
    a1 = -3.0 + 0.25 * a2
    a0 = 1.0 + 0.25 * a1
    np.testing.assert_allclose(advantages, [a0, a1, a2, a3])


def test_bootstrap_values_uses_final_values_only_where_truncated():
    final_values = jnp.array([999.0, 100.0, 999.0, 999.0])
    np.testing.assert_allclose(bootstrap_values(VALUES, jnp.float32(50.0), final_values, ENDS_AT_1), NEXT_VALUES)


def test_gae_broadcasts_game_flags_over_agents():
    rewards = jnp.stack([REWARDS, 2 * REWARDS], axis=-1)[:, None, :]  # [T, E=1, A=2]
    values = jnp.stack([VALUES, 2 * VALUES], axis=-1)[:, None, :]
    next_values = jnp.stack([NEXT_VALUES, 2 * NEXT_VALUES], axis=-1)[:, None, :]
    advantages, _ = gae(rewards, values, next_values, NEVER[:, None], ENDS_AT_1[:, None], 0.5, 0.5)
    np.testing.assert_allclose(advantages[:, 0, 0], [9.0, 32.0, -9.75, -11.0])
    np.testing.assert_allclose(advantages[:, 0, 1], [18.0, 64.0, -19.5, -22.0])


# ------------------------------------------------------------------ team
@dataclasses.dataclass
class _Config(CommonConfig):
    learner_kind: ClassVar[str] = "ppo"


def test_parse_agents():
    assert team_lib.parse_agents("", 4, "ppo") == ("ppo",) * 4
    assert team_lib.parse_agents("ppo, sterman,base_stock,pass_through", 4, "ppo") == (
        "ppo",
        "sterman",
        "base_stock",
        "pass_through",
    )
    with pytest.raises(ConfigError, match="unknown agent kind 'dqn'.*allowed kinds"):
        team_lib.parse_agents("dqn,sterman,sterman,sterman", 4, "ppo")
    with pytest.raises(ConfigError, match="exactly 4 kinds"):
        team_lib.parse_agents("ppo,sterman", 4, "ppo")
    with pytest.raises(ConfigError, match="at least one 'iql'"):
        team_lib.parse_agents("sterman,sterman,sterman,sterman", 4, "iql")


def test_mixed_team_orders_merge_learner_actions_with_heuristics():
    env, params = team_lib.make_env(_Config(scenario="classic"))
    team = team_lib.Team(
        kinds=("ppo", "sterman", "pass_through", "base_stock"), learner_kind="ppo", base_stock_levels=(32, 30, 28, 26)
    )
    _, state = env.reset(jax.random.PRNGKey(0), params)
    for _ in range(6):  # move away from the steady start so the heuristics differ
        _, state, *_ = env.step_orders(jax.random.PRNGKey(1), state, jnp.array([9, 2, 7, 12]), params)
    action_index = jnp.array([11, 0, 0, 0], jnp.int32)
    orders = team.orders(env, jax.random.PRNGKey(2), state, action_index, params)
    learned = env.action_to_orders(state, action_index + env.config.action_low, params)
    key = jax.random.PRNGKey(3)
    assert int(orders[0]) == int(learned[0])
    assert int(orders[1]) == int(policies.sterman()(key, state, params)[1])
    assert int(orders[2]) == int(policies.pass_through()(key, state, params)[2])
    assert int(orders[3]) == int(policies.base_stock([32, 30, 28, 26])(key, state, params)[3])
    assert team.replace_learners("base_stock").kinds == ("base_stock", "sterman", "pass_through", "base_stock")


def test_step_keeps_the_pre_reset_observation_and_state_at_truncation():
    env, params = team_lib.make_env(_Config(horizon=3))
    team = team_lib.Team(kinds=("ppo",) * 4, learner_kind="ppo", base_stock_levels=(0, 0, 0, 0))
    obs, state = env.reset(jax.random.PRNGKey(0), params)
    action = jnp.full((4,), 4, jnp.int32)  # x = +2
    for t in range(3):
        step = team_lib.step(env, team, jax.random.PRNGKey(t), state, action, params)
        assert bool(step.truncated) == (t == 2)
        state = step.state
    assert int(step.final_state.period) == 3 and int(step.state.period) == 0
    np.testing.assert_allclose(step.final_obs, env.get_obs(step.final_state, params))
    np.testing.assert_allclose(step.obs[:, -1], 0.0)  # the new episode's clock
    assert float(step.final_obs[0, -1]) == 1.0
    assert not bool(step.terminated)


def test_track_episodes_counts_only_finished_episodes():
    running = jnp.zeros((2, 3))
    running, first = metrics.track_episodes(running, jnp.ones((2, 3)), jnp.array([False, False]))
    running, second = metrics.track_episodes(running, 2 * jnp.ones((2, 3)), jnp.array([True, False]))
    assert int(first["episodes"]) == 0 and int(second["episodes"]) == 1
    np.testing.assert_allclose(second["episode_agent_cost_sum"], [3.0, 3.0, 3.0])
    np.testing.assert_allclose(running, [[0, 0, 0], [3, 3, 3]])
    chunk = {
        "episodes": np.array([[0, 1]]),
        "episode_agent_cost_sum": np.array([[[0, 0, 0], [3.0, 3.0, 3.0]]]),
        "loss": np.array([[1.0, 3.0]]),
    }
    reduced = metrics.reduce_chunk(chunk)
    assert reduced["episode_team_cost"] == 9.0 and reduced["loss"] == 2.0 and reduced["episodes"] == 1


def test_minibatches_deal_out_whole_games_once_each():
    periods, games = 3, 8
    game_id = jnp.broadcast_to(jnp.arange(games), (periods, games))
    period = jnp.broadcast_to(jnp.arange(periods)[:, None], (periods, games))
    rollout = {"game": game_id, "period": period, "obs": jnp.zeros((periods, games, 2, 5))}
    split = minibatches_over_games(jax.random.PRNGKey(0), rollout, num_minibatches=4)
    assert split["game"].shape == (4, periods, 2) and split["obs"].shape == (4, periods, 2, 2, 5)
    # Every column is one game's periods in order, and the games are dealt out exactly once.
    np.testing.assert_array_equal(split["game"], jnp.broadcast_to(split["game"][:, :1], split["game"].shape))
    in_order = jnp.broadcast_to(jnp.arange(periods)[None, :, None], (4, periods, 2))
    np.testing.assert_array_equal(split["period"], in_order)
    assert sorted(np.asarray(split["game"][:, 0]).ravel().tolist()) == list(range(games))
    other_key = minibatches_over_games(jax.random.PRNGKey(1), rollout, num_minibatches=4)["game"]
    assert not np.array_equal(other_key, split["game"])
    with pytest.raises(ValueError, match="num_minibatches must be a divisor of the number of games \\(8\\), got 3"):
        minibatches_over_games(jax.random.PRNGKey(0), rollout, num_minibatches=3)


# -------------------------------------------------------------- networks
def test_agent_network_without_sharing_keeps_echelons_apart():
    network = AgentNetwork(ValueHead((8,)), num_agents=3, share=False)
    x = jax.random.normal(jax.random.PRNGKey(0), (5, 3, 4))
    params = network.init(jax.random.PRNGKey(1), x[0])
    out = network.apply(params, x)
    assert out.shape == (5, 3)
    moved = network.apply(params, x.at[:, 2].add(10.0))
    np.testing.assert_allclose(out[:, :2], moved[:, :2])
    assert not np.allclose(out[:, 2], moved[:, 2])
    # The same input gives different values per echelon: separate parameters.
    same = network.apply(params, jnp.broadcast_to(x[:, :1], x.shape))
    assert not np.allclose(same[:, 0], same[:, 1])


def test_orthogonal_init_matches_flax_bit_for_bit_under_nested_vmap():
    keys = jax.random.split(jax.random.PRNGKey(2), 6).reshape(2, 3, 2)
    for shape in [(5, 16), (16, 16), (16, 3)]:
        ours = jax.jit(jax.vmap(jax.vmap(lambda k: orthogonal(0.5)(k, shape, jnp.float32))))(keys)
        flax_draws = jax.jit(jax.vmap(jax.vmap(lambda k: nn.initializers.orthogonal(0.5)(k, shape, jnp.float32))))(keys)
        np.testing.assert_array_equal(ours, flax_draws)
    single = orthogonal(2.0)(keys[0, 0], (4, 6))
    assert single.dtype == jnp.float32
    np.testing.assert_array_equal(single, nn.initializers.orthogonal(2.0)(keys[0, 0], (4, 6), jnp.float32))


@pytest.mark.skipif(jax.default_backend() != "cpu", reason="checks XLA:CPU's LAPACK custom calls")
def test_vmapped_init_compiles_to_unbatched_lapack_calls_only():
    """A batched LAPACK call parks an XLA pool thread until its pieces finish; two at once
    deadlock a 2-core machine (see ``networks.orthogonal``). Seeds x echelons of actor and
    critic init must therefore compile to one-matrix calls."""
    actor = AgentNetwork(PolicyHead((16, 16), 5), num_agents=4, share=False)
    critic = AgentNetwork(ValueHead((16,)), num_agents=4, share=False)
    sample = jnp.zeros((4, 6))

    def init(key):
        actor_key, critic_key = jax.random.split(key)
        return actor.init(actor_key, sample), critic.init(critic_key, sample)

    program = jax.jit(jax.vmap(init)).lower(jax.random.split(jax.random.PRNGKey(0), 3)).compile().as_text()
    lapack_calls = [line for line in program.splitlines() if 'custom_call_target="lapack_' in line]
    # Five orthogonal kernels (three in the actor, two in the critic), each a QR and Q's product.
    assert len(lapack_calls) == 10, lapack_calls
    for call in lapack_calls:
        ranks = [len(dims.split(",")) for dims in re.findall(r"\b[a-z]+\d*\[([\d,]+)\]", call)]
        assert ranks and max(ranks) <= 2, call


def test_with_agent_id_appends_one_hot():
    out = with_agent_id(jnp.zeros((2, 3, 4)))
    assert out.shape == (2, 3, 7)
    np.testing.assert_allclose(out[1, :, 4:], np.eye(3))


# ----------------------------------------------------------- checkpoints
def test_checkpoint_round_trip_and_shape_check(tmp_path):
    state = {"w": jnp.arange(6, dtype=jnp.float32).reshape(2, 3), "key": jax.random.PRNGKey(3), "count": jnp.int32(7)}
    checkpoint.save(tmp_path, state, {"chunk": 2})
    restored, host = checkpoint.load(tmp_path, jax.eval_shape(lambda: state))
    assert host == {"chunk": 2}
    for a, b in zip(jax.tree.leaves(state), jax.tree.leaves(restored)):
        np.testing.assert_array_equal(a, b)
        assert a.dtype == b.dtype
    with pytest.raises(ValueError, match="expected float32"):
        checkpoint.load(tmp_path, {"w": jnp.zeros((3, 2)), "key": state["key"], "count": state["count"]})


# ------------------------------------------------------------------- CLI
@pytest.mark.parametrize(
    "argv, message",
    [
        (["--num-envs", "0"], "--num-envs must be an integer >= 1, got 0"),
        (["--agents", "ppo,robot,sterman,sterman"], "unknown agent kind 'robot'"),
        (["--agents", "ppo,sterman"], "exactly 4 kinds"),
        (["--resume", "/nonexistent/run"], "--resume: '/nonexistent/run' is not a run directory"),
        (["--scenario", "mars"], "--scenario must be one of"),
        (["--num-envs", "many"], "--num-envs"),
        (["--no-such-flag"], "--no-such-flag"),
    ],
)
def test_bad_flags_exit_2_with_one_line(argv, message, capsys):
    with pytest.raises(SystemExit) as stop:
        parse_config(_Config, argv)
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and message in err, err


def test_resume_reads_the_saved_settings(tmp_path):
    saved = _Config(num_envs=16, scenario="classic")
    (tmp_path / "config.json").write_text(json.dumps({"algorithm": "x", "config": saved.to_json()}))
    (tmp_path / "checkpoint.msgpack").write_bytes(b"")
    config = parse_config(_Config, ["--resume", str(tmp_path), "--stop-after-chunks", "3"])
    assert (config.num_envs, config.scenario, config.stop_after_chunks) == (16, "classic", 3)
    assert config.run_dir == str(tmp_path)


# -------------------------------------------------------------- host loop
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
    game = team_lib.make_game(config)

    def update(state):  # a fake learner whose loss turns NaN at its third update
        count = state["count"] + 1
        loss = jnp.where(count >= 3, jnp.nan, 1.0 / count)
        return {"count": count, "w": state["w"] + 1.0}, {"loss": loss}

    learner = Learner(
        game=game,
        init=lambda key: {"count": jnp.int32(0), "w": jnp.zeros(2)},
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
