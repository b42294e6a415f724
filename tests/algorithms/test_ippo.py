"""IPPO and MAPPO: the CLIs end to end, bad flags, resume equivalence and a short learning check."""

from __future__ import annotations

import json

import jax
import numpy as np
import pytest

from algorithms import ippo
from algorithms.common import checkpoint, evaluation, runlog
from algorithms.common.loop import seed_keys


def _log(run_dir):
    return [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines()]


def test_ippo_cli_writes_log_checkpoint_plots_and_evaluate_reloads_it(ippo_run, tmp_path, run_module):
    run_dir = ippo_run
    for name in (
        "config.json",
        "log.jsonl",
        "results.json",
        "learning_curve.png",
        "trajectory.png",
    ):
        assert (run_dir / name).is_file(), name
    assert [p.name for p in checkpoint.saved_checkpoints(run_dir)] == [
        "checkpoint-0002.msgpack",
        "checkpoint-0001.msgpack",
    ]
    log = _log(run_dir)
    assert [r["chunk"] for r in log] == [1, 2] and log[-1]["env_steps"] == 64
    for key in (
        "steps_per_s",
        "episode_agent_cost",
        "entropy",
        "loss",
        "value_loss",
        "eval_team_cost",
        "base_stock_eval_team_cost",
    ):
        assert key in log[-1], key
    assert log[-1]["steps_per_s"] > 0 and len(log[-1]["eval_agent_cost"]) == 4
    # The wall clock runs from before the compile, so it covers compile and every chunk's training.
    assert log[0]["compile_seconds"] + log[0]["chunk_seconds"] <= log[0]["wall_seconds"] < log[1]["wall_seconds"]
    results = json.loads((run_dir / "results.json").read_text())
    assert results["seconds_to_within_5_percent"] == runlog.seconds_to_quality(log)

    result = run_module(
        "algorithms.evaluate",
        *["--run", str(run_dir), "--episodes", "8", "--json-out", str(tmp_path / "table.json")],
        check=True,
    )
    table = json.loads((tmp_path / "table.json").read_text())["rows"]
    labels = [row["label"] for row in table]
    assert labels[0] == "learned (greedy)" and labels[-3:] == ["all base_stock", "all sterman", "all pass_through"]
    assert len(labels) in (4, 5)  # plus the best chunk's policy when that is not the last chunk
    assert (run_dir / "best_policy.msgpack").is_file()
    assert "all sterman" in result.stdout and "vs base-stock" in result.stdout
    assert all(np.isfinite(row["team_cost_mean"]) for row in table)


def test_mappo_cli_mixed_team_many_seeds_separate_networks(mixed_mappo_run):
    run_dir = mixed_mappo_run
    log = _log(run_dir)
    assert len(log[-1]["eval_team_cost_per_seed"]) == 2 and log[-1]["env_steps_all_seeds"] == 128
    rows = json.loads((run_dir / "results.json").read_text())["rows"]
    labels = [row["label"] for row in rows]
    assert labels[:2] == ["learned (greedy), seed 0", "learned (greedy), seed 1"]
    assert all(label.startswith("learned (greedy), best chunk 1, seed") for label in labels[2:-6])
    assert "base_stock in learner seats, same co-players" in labels
    assert rows[0]["kinds"] == ["ppo", "sterman", "sterman", "sterman"]
    assert (run_dir / "trajectory.png").is_file()


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--num-envs", "0"], "--num-envs must be an integer >= 1, got 0"),
        (["--agents", "ppo,dqn,sterman,sterman"], "unknown agent kind 'dqn'"),
        (["--agents", "ppo,sterman,sterman"], "must name exactly 4 kinds"),
        (["--resume", "/no/such/run"], "is not a run directory"),
        (["--num-envs", "10", "--num-minibatches", "4"], "--num-envs (10) must be divisible by --num-minibatches (4)"),
        (["--lr", "-1"], "--lr must be finite and >= 0"),
        (["--anchor-base-stock", "--action-mode", "relative"], "--anchor-base-stock needs --action-mode order_up_to"),
        (["--anchor-base-stock", "--share-params"], "and separate networks (no --share-params)"),
    ],
)
def test_bad_flags_exit_2_before_compiling(argv, message, capsys, learner_env):
    with pytest.raises(SystemExit) as stop:
        ippo.main(argv)
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and message in err, err


def test_bad_flag_in_a_subprocess_is_one_line_and_status_2(run_module):
    result = run_module("algorithms.mappo", "--agents", "ppo,robot,ppo,ppo")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: --agents: unknown agent kind 'robot'; allowed kinds: ['ppo', 'base_stock', 'sterman', 'pass_through']"
    ]


def test_evaluate_refuses_a_missing_run_in_one_line(cli_exit):
    status, stderr = cli_exit("algorithms.evaluate", "--run", "/no/such/run")
    assert status == 2 and stderr.count("\n") == 1


def test_resume_gives_the_same_parameters_as_an_uninterrupted_run(tmp_path, learner_env, capsys):
    flags = (
        "--num-envs 8 --num-steps 4 --num-minibatches 2 --total-timesteps 128 --num-chunks 4 "
        "--eval-episodes 8 --base-stock-episodes 4 --hidden-sizes 16 --no-progress --no-plots "
        "--seed 3"
    ).split()
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    ippo.main([*flags, "--run-dir", str(whole)])
    ippo.main([*flags, "--run-dir", str(parts), "--stop-after-chunks", "2"])
    assert [r["chunk"] for r in _log(parts)] == [1, 2] and not (parts / "results.json").exists()
    # A torn latest checkpoint costs one chunk: the resume falls back to chunk 1 and replays chunk 2.
    latest = checkpoint.path_for(parts, 2)
    latest.write_bytes(latest.read_bytes()[:100])
    ippo.main(["--resume", str(parts), "--no-progress"])
    err = capsys.readouterr().err
    assert f"warning: {latest} is damaged" in err and "falling back to checkpoint-0001.msgpack" in err

    config = ippo.Config(
        num_envs=8,
        num_steps=4,
        num_minibatches=2,
        total_timesteps=128,
        hidden_sizes=(16,),
        base_stock_episodes=4,
        seed=3,
    )
    template = jax.eval_shape(jax.vmap(ippo.make_learner(config).init), seed_keys(3, 1))
    (state_whole, host_whole), (state_parts, host_parts) = (checkpoint.load(d, template) for d in (whole, parts))
    assert host_whole["chunk"] == host_parts["chunk"] == 4
    for a, b in zip(jax.tree.leaves(state_whole), jax.tree.leaves(state_parts)):
        np.testing.assert_array_equal(a, b)
    assert [r["chunk"] for r in _log(parts)] == [1, 2, 3, 4]
    assert _log(parts)[-1]["eval_team_cost"] == _log(whole)[-1]["eval_team_cost"]


def test_short_training_on_basic_beats_random_play(learner_env):
    """Deterministic (fixed seed), not timed: 30 updates of 64 games on basic, all four echelons learning.
    Random play draws uniform actions from the same action space every period."""
    config = ippo.Config(
        num_envs=64, num_steps=64, num_minibatches=4, total_timesteps=64 * 64 * 30, base_stock_episodes=4, seed=0
    )
    learner = ippo.make_learner(config)
    state, metrics = jax.jit(ippo.make_train(config))(jax.random.PRNGKey(0))
    assert np.all(np.isfinite(metrics["loss"]))
    game = learner.game
    key = jax.random.PRNGKey(99)
    learned = evaluation.evaluate_learned(game, learner.act, learner.policy_params(state), key, 200)[0][
        "team_cost_mean"
    ]
    num_actions = game.env.config.num_actions

    def random_act(params, obs, key):
        return jax.random.randint(key, (obs.shape[0],), 0, num_actions)

    random = evaluation.evaluate_learned(game, random_act, None, key, 200)[0]["team_cost_mean"]
    assert learned < 0.8 * random, (learned, random)


def test_anchor_base_stock_starts_each_learner_greedy_at_its_base_stock_target(learner_env):
    """With order_up_to actions base-stock is one constant target per echelon; the anchored actor's greedy
    action is that target in every state, whatever the seat's neighbours are."""
    config = ippo.Config(
        num_envs=8, num_steps=4, num_minibatches=2, total_timesteps=64, hidden_sizes=(16,), base_stock_episodes=4
    )
    config = ippo.Config(**{**config.__dict__, "anchor_base_stock": True, "agents": "ppo,sterman,ppo,ppo"})
    learner = ippo.make_learner(config)
    state = learner.init(jax.random.PRNGKey(0))
    observations = jax.random.uniform(jax.random.PRNGKey(1), (32,) + state.obs.shape[1:], maxval=20.0)
    greedy = jax.vmap(lambda obs: learner.act(state.params.actor, obs, None))(observations)
    levels = np.asarray(learner.game.team.base_stock_levels)
    learning = np.asarray(learner.game.team.learner_mask)
    np.testing.assert_array_equal(np.asarray(greedy)[:, learning], np.broadcast_to(levels[learning], (32, 3)))
