"""benchmarks.scaling: one count in this process, one on forced host devices in a subprocess, and its flags."""

from __future__ import annotations

import json

import pytest

from benchmarks import scaling

TINY = ["--num-envs", "32", "--num-steps", "2", "--hidden-sizes", "8", "--base-stock-episodes", "4", "--updates", "1"]


def test_scaling_times_each_device_count_and_writes_json(tmp_path, learner_env, capsys, assert_machine, assert_rate):
    out = tmp_path / "scaling.json"
    payload = scaling.main([*TINY, "--devices", "1", "2", "--repeats", "1", "--out", str(out)])
    assert json.loads(out.read_text()) == json.loads(json.dumps(payload))
    assert_machine(payload["machine"])
    one, two = payload["rows"]
    assert (one["num_devices"], two["num_devices"]) == (1, 2)
    assert not one["forced_host_devices"] and two["forced_host_devices"]  # this CPU cut in two, in a subprocess
    assert "overhead" in payload["note"]
    assert one["all_reduces_in_program"] == 0 and two["all_reduces_in_program"] > 0
    for row in (one, two):
        assert_rate(row["env_steps_per_s"])
        assert row["env_steps_timed"] == 64
    assert one["speedup"] == 1.0 and one["efficiency"] == 1.0
    ratio = two["env_steps_per_s"]["median"] / one["env_steps_per_s"]["median"]
    assert two["speedup"] == pytest.approx(ratio) and two["efficiency"] == pytest.approx(ratio / 2)
    assert "efficiency" in capsys.readouterr().out


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
