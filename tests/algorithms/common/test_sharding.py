"""Sharding across devices and sweeps in one program (``algorithms/common/sharding.py``, ``sweep.py``).

The runs on four devices happen in one subprocess (``sharded_runs.py``), since JAX fixes the device count
when it starts; the checks of files and flags run here, on this process's one device, before anything
compiles."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from algorithms import ippo, qmix
from algorithms.common import loop, sharding, sweep
from algorithms.common.config import ConfigError

HERE = Path(__file__).resolve().parent
# A float32 sum over the games of 4 devices, added in another order than on one: the parameters after a
# few Adam steps agree to about 1e-7, far inside this bound, and the greedy evaluation to the unit.
PARAM_TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def report(tmp_path_factory, learner_env) -> dict:
    out = tmp_path_factory.mktemp("sharded")
    env = {**learner_env, "PYTHONPATH": str(HERE.parents[2])}
    env["XLA_FLAGS"] = f"{env.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count=4".strip()
    done = subprocess.run(
        [sys.executable, str(HERE / "sharded_runs.py"), str(out)], env=env, capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads((out / "report.json").read_text())


def test_four_devices_train_what_one_does(report):
    assert report["devices"] == 4
    compared = report["four_vs_one"]
    assert compared["param_max_abs_difference"] < PARAM_TOLERANCE
    assert compared["cost_four"] == pytest.approx(compared["cost_one"], rel=1e-4)


def test_the_games_are_split_and_the_gradients_all_reduced(report):
    layout = report["four_vs_one"]
    assert layout["obs_spec"] == "P('members', 'data', None, None)"  # [seeds, games, echelons, features]
    assert layout["params_spec"] == "P('members', None, None)"  # replicated over the games' devices
    assert layout["all_reduces"] > 0 and layout["logged_devices"] == 4


def test_a_resumed_sharded_run_equals_the_uninterrupted_one(report):
    resumed = report["resume"]
    assert resumed["identical_leaves"] == resumed["all_leaves"]
    assert resumed["cost_resumed"] == resumed["cost_uninterrupted"]


def test_a_sweep_gives_the_rows_of_its_configurations_trained_alone(report):
    swept = report["sweep"]
    assert swept["groups"] == [{}]  # one compiled program
    assert swept["sweep_md"] and swept["sweep_png"]
    assert len(swept["rows"]) == 4
    for row in swept["rows"]:
        np.testing.assert_allclose(row["swept"], row["alone"], rtol=1e-4, err_msg=row["label"])
    # The configurations do differ: the learning rates give other policies.
    assert swept["rows"][0]["swept"] != swept["rows"][2]["swept"]


def test_bad_device_counts_exit_2_with_one_line(report):
    for value, (status, stderr) in report["bad_num_devices"].items():
        assert status == 2, value
        assert len(stderr.strip().splitlines()) == 1 and "--num-devices" in stderr, stderr


def test_resolve_names_the_flag_and_range():
    with pytest.raises(ConfigError, match=r"--num-devices must be an integer in \[1, 1\]"):
        sharding.resolve(2, 0, 1, 16)
    with pytest.raises(ConfigError, match="--seed-devices"):
        sharding.resolve(1, 2, 1, 16)
    assert sharding.resolve(None, 0, 4, 16) == (1, 1)


def test_seed_devices_default_to_what_divides_the_members(monkeypatch):
    monkeypatch.setattr(sharding.jax, "devices", lambda: list(range(8)))
    assert sharding.resolve(8, 0, 4, 16) == (8, 4)  # 4 seeds on 4 devices, their games on 2 each
    assert sharding.resolve(8, 0, 3, 16) == (8, 1)
    with pytest.raises(ConfigError, match="must split evenly over the 8 device"):
        sharding.resolve(8, 1, 1, 12)


def write(tmp_path: Path, text: str, name: str = "sweep.toml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_a_grid_groups_shape_changing_settings_into_programs(tmp_path):
    file = write(tmp_path, "seeds = 3\n[grid]\nlr = [1e-3, 3e-4]\nhidden_sizes = [[16], [32, 32]]\n")
    config = ippo.Config(sweep=file, run_dir=str(tmp_path / "out"))
    plan = sweep.plan(config, ippo.TRACED_SETTINGS)
    assert len(plan.configurations) == 4 and plan.seeds == 3
    assert [g.static for g in plan.groups] == [{"hidden_sizes": (16,)}, {"hidden_sizes": (32, 32)}]
    first = plan.groups[0].members
    assert first.seed_index == (0, 1, 2, 0, 1, 2)
    assert first.hyperparameters["lr"] == (1e-3,) * 3 + (3e-4,) * 3
    assert first.hyperparameters["clip_eps"] == (config.clip_eps,) * 6
    assert first.labels[4] == "lr=0.0003, hidden_sizes=16, seed 1"
    assert sweep.label({"lr": 1.0000001e-3}) != sweep.label({"lr": 1.0000002e-3})  # distinct rows, distinct labels
    assert loop.Members.from_json(json.loads(json.dumps(first.to_json()))) == first


def test_a_json_list_of_configurations(tmp_path):
    file = write(tmp_path, json.dumps({"configurations": [{"ent-coef": 0.0}, {"lr": 1e-4, "num_steps": 16}]}), "s.json")
    plan = sweep.plan(ippo.Config(sweep=file, run_dir=str(tmp_path)), ippo.TRACED_SETTINGS)
    assert plan.seeds == 1
    assert [g.static for g in plan.groups] == [{}, {"num_steps": 16}]
    assert plan.groups[0].members.hyperparameters["ent_coef"] == (0.0,)


def test_value_based_sweeps_carry_the_learning_rate(tmp_path):
    file = write(tmp_path, "[grid]\nlr = [1e-3, 1e-4]\nbatch_size = [64]\n")
    plan = sweep.plan(qmix.Config(sweep=file, run_dir=str(tmp_path)), qmix.Config.traced_settings)
    assert len(plan.groups) == 1 and plan.groups[0].members.hyperparameters["lr"] == (1e-3, 1e-4)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[grid]\nlearning_rate = [1e-3]\n", "'learning_rate' is not a setting"),
        ("[grid]\nlr = 1e-3\n", "grid.lr must be a non-empty list"),
        ("[grid]\nlr = [-1.0]\n", r"configuration 0 \(lr=-1.0\): --lr"),
        ("[grid]\nseed = [1, 2]\n", "'seed' cannot be swept"),
        ("seeds = 0\n[grid]\nlr = [1e-3]\n", "seeds must be an integer >= 1"),
        ("lr = 1e-3\n", "unknown keys"),
        ("[grid]\nnum_envs = [10]\n", "--num-envs \\(10\\) must be divisible"),
        ("[grid\n", "cannot be read"),
        ("[[configurations]]\nlr = 1e-3\n[[configurations]]\nlr = 0.001\n", "configurations 0 and 1 are the same"),
    ],
)
def test_a_bad_sweep_file_is_named_before_anything_runs(tmp_path, text, message):
    config = ippo.Config(sweep=write(tmp_path, text), run_dir=str(tmp_path / "out"))
    with pytest.raises(ConfigError, match=message):
        sweep.plan(config, ippo.TRACED_SETTINGS)


def test_the_cli_refuses_a_bad_sweep_with_status_2(tmp_path, capsys):
    file = write(tmp_path, "[grid]\nclip_eps = [-0.5]\n")
    with pytest.raises(SystemExit) as stop:
        ippo.main(["--sweep", file, "--run-dir", str(tmp_path / "out"), "--no-progress"])
    assert stop.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--clip-eps" in err[0]
    assert not (tmp_path / "out").exists()  # refused before anything was written


def test_zero_devices_exit_2_before_any_work(tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        ippo.main(["--num-devices", "0", "--run-dir", str(tmp_path / "out")])
    assert stop.value.code == 2 and "--num-devices must be an integer >= 1" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_explicit_multi_host_flags_are_checked():
    with pytest.raises(ConfigError, match="--process-id"):
        sharding.initialize("localhost:1234", num_processes=2, process_id=2)


def test_a_sweep_needs_a_run_dir_and_multi_host_a_shared_one(capsys):
    for flags, message in (
        (["--sweep", "s.toml"], "--sweep needs --run-dir"),
        (["--distributed"], "--distributed needs --run-dir"),
    ):
        with pytest.raises(SystemExit) as stop:
            ippo.main(flags)
        assert stop.value.code == 2 and message in capsys.readouterr().err


def test_a_resume_keeps_its_saved_layout_unless_told():
    saved = {"devices": {"num_devices": 1, "seed_devices": 1}}
    assert loop.device_request(ippo.Config(resume="r"), saved) == (1, 1)
    assert loop.device_request(ippo.Config(resume="r", num_devices=1), saved) == (1, 0)
    assert loop.device_request(ippo.Config(resume="r"), {"devices": {"num_devices": 64, "seed_devices": 1}}) == (
        None,
        0,
    )
    assert loop.device_request(ippo.Config(), {}) == (None, 0)
