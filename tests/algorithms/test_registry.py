"""The algorithm registry, and reloading a run whose files are missing or damaged."""

from __future__ import annotations

import importlib
import json

import jax
import numpy as np
import pytest

from algorithms import ippo, iql, maddpg, mappo, qmix, registry, vdn
from algorithms.common.checkpoint import CheckpointError
from algorithms.common.config import ConfigError


def test_every_learner_is_registered_once_under_its_cli_name():
    assert list(registry.ALGORITHMS) == ["ippo", "mappo", "iql", "vdn", "qmix", "maddpg"]
    for module in (ippo, mappo, iql, vdn, qmix, maddpg):
        entry = registry.get(module.NAME)
        assert entry.config is module.Config and entry.make_learner is module.make_learner
    with pytest.raises(ConfigError, match=r"unknown algorithm 'dqn'; known: \['ippo'"):
        registry.get("dqn")


@pytest.mark.parametrize(
    "content, error, message",
    [
        (None, ConfigError, "cannot be read as JSON"),
        ('{"algorithm": "ippo"', ConfigError, "cannot be read as JSON"),
        ('{"config": {}}', ConfigError, "lacks 'algorithm' or 'config'"),
        ('{"algorithm": "dqn", "config": {}}', ConfigError, "unknown algorithm 'dqn'"),
        ('{"algorithm": "ippo", "config": {"num_envs": 8}}', ConfigError, "missing fields"),
        (
            json.dumps(
                {
                    "algorithm": "ippo",
                    "config": ippo.Config(
                        num_envs=8, num_minibatches=2, num_steps=4, total_timesteps=64, base_stock_episodes=4
                    ).to_json(),
                }
            ),
            CheckpointError,
            "holds no checkpoint",
        ),
    ],
)
def test_load_run_names_what_is_missing_or_damaged(tmp_path, learner_env, content, error, message):
    if content is not None:
        (tmp_path / "config.json").write_text(content)
    with pytest.raises(error, match=message):
        registry.load_run(tmp_path)


def test_the_config_file_is_plain_json(tmp_path):
    assert json.loads(json.dumps(ippo.Config().to_json()))["num_envs"] == 4096


@pytest.mark.parametrize("name", list(registry.ALGORITHMS))
def test_every_cli_prints_its_help(name, capsys):
    """In this process: the subprocess runs of the CLIs elsewhere cover ``python -m``'s own entry."""
    module = importlib.import_module(f"algorithms.{name}")
    with pytest.raises(SystemExit) as stop:
        module.main(["--help"])
    assert stop.value.code == 0
    out = capsys.readouterr().out
    assert "--num-envs" in out and "--total-timesteps" in out


# ------------------------------------------------------------- load_policy
def _results_row(run_dir, label):
    rows = json.loads((run_dir / "results.json").read_text())["rows"]
    return next(row for row in rows if row["label"] == label)


def test_load_policy_round_trips_the_runs_own_results_row(ippo_run):
    import algorithms
    import jaxbeer
    from algorithms.common.loop import eval_keys

    loaded = algorithms.load_policy(ippo_run)
    assert loaded.algorithm == "ippo" and loaded.kinds == ("ppo",) * 4 and loaded.chunk == 2
    assert isinstance(loaded.policy, jaxbeer.Policy)
    key = eval_keys(loaded.config.seed)[1]  # the key of the run's final cost table
    result = jaxbeer.evaluate(loaded.env, loaded.params, loaded.policy, key, loaded.config.eval_episodes)
    row = _results_row(ippo_run, "learned (greedy)")
    assert result["team_cost_mean"] == row["team_cost_mean"]
    np.testing.assert_allclose(result["agent_cost_mean"], row["agent_cost_mean"], rtol=0, atol=1e-3)


def test_load_policy_best_and_a_mixed_team_on_its_second_seed(mixed_mappo_run):
    import algorithms
    import jaxbeer
    from algorithms.common.loop import eval_keys

    loaded = algorithms.load_policy(mixed_mappo_run, which="best", seed=1)
    assert loaded.kinds == ("ppo", "sterman", "sterman", "sterman") and loaded.chunk == 1
    key = eval_keys(loaded.config.seed)[1]
    result = jaxbeer.evaluate(loaded.env, loaded.params, loaded.policy, key, loaded.config.eval_episodes)
    assert (
        result["team_cost_mean"]
        == _results_row(mixed_mappo_run, "learned (greedy), best chunk 1, seed 1")["team_cost_mean"]
    )
    # The heuristic seats play Sterman exactly as a heuristic team would on the same states.
    _, state = loaded.env.reset(jax.random.PRNGKey(0), loaded.params)
    orders = loaded.policy(jax.random.PRNGKey(1), state, loaded.params)
    sterman = jaxbeer.policies.sterman()(jax.random.PRNGKey(1), state, loaded.params)
    np.testing.assert_array_equal(orders[1:], sterman[1:])


@pytest.mark.parametrize(
    "damage, message",
    [
        ("missing", "is not a run directory"),
        ("config", "cannot be read as JSON"),
        ("checkpoints", "holds no checkpoint"),
        ("seed", "seed must be an integer in [0, 0]"),
        ("which", "which must be 'final' or 'best'"),
    ],
)
def test_load_policy_refuses_a_missing_or_damaged_run_in_one_line(ippo_run, tmp_path, damage, message):
    import shutil

    import algorithms

    run_dir = tmp_path / "copy"
    shutil.copytree(ippo_run, run_dir)
    kwargs = {}
    if damage == "missing":
        run_dir = tmp_path / "nothing-here"
    elif damage == "config":
        (run_dir / "config.json").write_text('{"algorithm": "ip')
    elif damage == "checkpoints":
        for path in checkpoint_paths(run_dir):
            path.unlink()
    else:
        kwargs = {"seed": 1} if damage == "seed" else {"which": "last"}
    with pytest.raises(algorithms.PolicyLoadError) as error:
        algorithms.load_policy(run_dir, **kwargs)
    assert message in str(error.value) and "\n" not in str(error.value)


def checkpoint_paths(run_dir):
    from algorithms.common.checkpoint import saved_checkpoints

    return saved_checkpoints(run_dir)


def test_a_run_written_before_an_output_only_field_existed_still_loads(ippo_run, tmp_path):
    import shutil

    import algorithms

    run_dir = tmp_path / "old"
    shutil.copytree(ippo_run, run_dir)
    saved = json.loads((run_dir / "config.json").read_text())
    del saved["config"]["overwrite"]
    (run_dir / "config.json").write_text(json.dumps(saved))
    assert algorithms.load_policy(run_dir).config.overwrite is False
    del saved["config"]["num_envs"]  # a training setting is never filled in
    (run_dir / "config.json").write_text(json.dumps(saved))
    with pytest.raises(algorithms.PolicyLoadError, match=r"missing fields \['num_envs'\]"):
        algorithms.load_policy(run_dir)
