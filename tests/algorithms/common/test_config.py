"""The command line: one-line errors with exit status 2, and --resume reading the saved settings."""

from __future__ import annotations

import dataclasses
import json
from typing import ClassVar

import pytest

from algorithms.common.config import CommonConfig, ConfigError, parse_config


@dataclasses.dataclass
class _Config(CommonConfig):
    learner_kind: ClassVar[str] = "ppo"


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--num-envs", "0"], "--num-envs must be an integer >= 1, got 0"),
        (["--resume", "/nonexistent/run"], "--resume: '/nonexistent/run' is not a run directory"),
        (["--scenario", "mars"], "--scenario must be one of"),
        (["--num-envs", "many"], "Error parsing --num-envs: invalid literal for int() with base 10: 'many'"),
        (["--no-such-flag"], "unrecognized argument(s): --no-such-flag"),
        (["--num-envs"], "--num-envs needs a value"),
        (["--hidden-sizes", "a"], "Error parsing --hidden-sizes"),
        (["--gamma", "0"], "--gamma must be in (0.0, 1.0], got 0.0"),
        (["--action-mode", "sideways"], "--action-mode must be one of ['absolute', 'relative', 'order_up_to']"),
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
    config = parse_config(_Config, ["--resume", str(tmp_path), "--stop-after-chunks", "3"])
    assert (config.num_envs, config.scenario, config.stop_after_chunks) == (16, "classic", 3)
    assert config.run_dir == str(tmp_path)


@pytest.mark.parametrize(
    "content, message",
    [
        ('{"config": {"num_envs": 1', "cannot be read as JSON"),
        ("[1, 2]", "must hold a JSON object, got list"),
        ('{"algorithm": "x"}', "has no 'config' object"),
        ('{"config": {"no_such_field": 1}}', "unknown fields ['no_such_field'], missing fields ['action_mode'"),
    ],
)
def test_resume_with_a_damaged_config_json_is_one_line_naming_the_file(tmp_path, capsys, content, message):
    (tmp_path / "config.json").write_text(content)
    with pytest.raises(SystemExit) as stop:
        parse_config(_Config, ["--resume", str(tmp_path)])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err
    assert str(tmp_path / "config.json") in err


def test_help_still_prints_and_exits_0(capsys):
    with pytest.raises(SystemExit) as stop:
        parse_config(_Config, ["--help"])
    assert stop.value.code == 0
    assert "--num-envs" in capsys.readouterr().out


def test_a_config_json_written_before_anchor_base_stock_loads_as_it_trained():
    from algorithms import ippo

    saved = ippo.Config(num_envs=16).to_json()
    del saved["anchor_base_stock"]
    config = ippo.Config.from_json(saved)
    assert config.num_envs == 16 and config.anchor_base_stock is False
    del saved["lr"]  # a training field that always existed still has to be there
    with pytest.raises(ConfigError, match=r"missing fields \['lr'\]"):
        ippo.Config.from_json(saved)


def test_a_value_based_config_json_written_before_its_levers_and_pqn_loads_as_it_trained():
    from algorithms import vdn

    saved = vdn.Config(num_envs=16).to_json()
    added = ("x_range", "dueling", "value_rescale", "layer_norm", "pqn", "num_steps", "update_epochs")
    for name in added + ("num_minibatches", "td_lambda"):
        del saved[name]
    config = vdn.Config.from_json(saved)
    assert config == vdn.Config(num_envs=16)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--x-range", "3", "1"], "--x-range takes LOW HIGH with LOW <= HIGH, got 3 1"),
        (["--x-range", "2"], "--x-range takes LOW HIGH with LOW <= HIGH, got 2"),
        (["--x-range", "-2", "2", "--action-mode", "absolute"], "--x-range applies to --action-mode relative"),
    ],
)
def test_bad_x_range_exits_2_with_one_line(argv, message, capsys):
    with pytest.raises(SystemExit) as stop:
        parse_config(_Config, argv)
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err


def test_x_range_narrows_the_relative_actions():
    from algorithms.common.game import make_env

    env, _ = make_env(parse_config(_Config, ["--x-range", "-2", "2"]))
    assert (env.config.action_low, env.config.num_actions) == (-2, 5)
