"""benchmarks.scaling: one count timed end to end, the speed-up arithmetic, and its flags."""

from __future__ import annotations

import json

import pytest

from benchmarks import scaling

TINY = ["--num-envs", "32", "--num-steps", "2", "--hidden-sizes", "8", "--base-stock-episodes", "4", "--updates", "1"]


def test_scaling_times_a_device_count_and_writes_json(tmp_path, learner_env, capsys, assert_machine, assert_rate):
    """One count in this process (the subprocess of a forced count runs this same ``measure``)."""
    out = tmp_path / "scaling.json"
    payload = scaling.main([*TINY, "--devices", "1", "--repeats", "1", "--out", str(out)])
    assert json.loads(out.read_text()) == json.loads(json.dumps(payload))
    assert_machine(payload["machine"])
    (row,) = payload["rows"]
    assert row["num_devices"] == 1 and not row["forced_host_devices"]
    assert row["all_reduces_in_program"] == 0  # nothing to average over on one device
    assert_rate(row["env_steps_per_s"])
    assert row["env_steps_timed"] == 64
    assert row["speedup"] == 1.0 and row["efficiency"] == 1.0
    assert "efficiency" in capsys.readouterr().out


def test_speedup_and_efficiency_are_relative_to_the_first_count():
    def row(devices, rate):
        return {"num_devices": devices, "env_steps_per_s": {"median": rate}}

    rows = scaling.with_scaling([row(1, 100.0), row(2, 150.0), row(4, 200.0)])
    assert [r["speedup"] for r in rows] == [1.0, 1.5, 2.0]
    assert [r["efficiency"] for r in rows] == [1.0, 0.75, 0.5]
    rows = scaling.with_scaling([row(2, 100.0), row(8, 300.0)])
    assert rows[1]["speedup"] == 3.0 and rows[1]["efficiency"] == 0.75  # 4x the devices, 3x the rate


@pytest.mark.parametrize(
    ("flags", "message"),
    [(["--devices", "0"], "--devices"), (["--algorithm", "sarsa"], "--algorithm"), (["--repeats", "0"], "--repeats")],
)
def test_bad_flags_exit_2_with_one_line(flags, message, capsys):
    with pytest.raises(SystemExit) as stop:
        scaling.main(flags)
    assert stop.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
