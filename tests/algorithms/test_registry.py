"""The algorithm registry, and reloading a run whose files are missing or damaged."""

from __future__ import annotations

import json

import pytest

from algorithms import ippo, iql, mappo, qmix, registry, vdn
from algorithms.common.checkpoint import CheckpointError
from algorithms.common.config import ConfigError


def test_every_learner_is_registered_once_under_its_cli_name():
    assert list(registry.ALGORITHMS) == ["ippo", "mappo", "iql", "vdn", "qmix"]
    for module in (ippo, mappo, iql, vdn, qmix):
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
                    "config": ippo.Config(num_envs=8, num_minibatches=2, num_steps=4, total_timesteps=64).to_json(),
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
def test_every_cli_prints_its_help(name, run_module):
    done = run_module(f"algorithms.{name}", "--help", timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "--num-envs" in done.stdout and "--total-timesteps" in done.stdout
