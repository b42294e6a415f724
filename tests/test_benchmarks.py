"""The benchmark scripts run end to end at tiny sizes and write valid JSON (as subprocesses, like a user)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from benchmarks.env_throughput import actions_from_words

ROOT = Path(__file__).resolve().parent.parent


def run_module(module: str, *flags: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", module, *flags],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env=env or dict(os.environ),
    )


def assert_rate(summary: dict) -> None:
    assert summary["min"] <= summary["median"] <= summary["max"]
    assert summary["min"] > 0 and math.isfinite(summary["max"])
    assert len(summary["seconds"]) >= 1


def assert_machine(machine: dict) -> None:
    for field in ("cpu_model", "cpu_cores", "jax_version", "device", "backend"):
        assert machine[field], field


def test_env_throughput_writes_json(tmp_path):
    out = tmp_path / "env.json"
    done = run_module(
        "benchmarks.env_throughput", "--num-games", "1", "8", "--steps", "20", "--repeats", "2", "--out", str(out)
    )
    assert done.returncode == 0, done.stderr
    payload = json.loads(out.read_text())
    assert payload["benchmark"] == "env_throughput" and payload["scenario"] == "seed-default"
    assert_machine(payload["machine"])
    rows = {(row["policy"], row["num_games"]): row for row in payload["results"]}
    assert set(rows) == {("random", 1), ("random", 8), ("base-stock", 1), ("base-stock", 8)}
    for row in rows.values():
        assert row["steps"] == 20
        assert_rate(row["env_steps_per_s"])
        assert len(row["env_steps_per_s"]["seconds"]) == 2
    assert "median steps/s" in done.stdout


@pytest.mark.skipif(jax.default_backend() != "cpu", reason="reads XLA:CPU's per-op trace events")
def test_env_throughput_profile_attributes_time_to_env_code(tmp_path):
    out = tmp_path / "profile.json"
    done = run_module(
        "benchmarks.env_throughput",
        "--num-games",
        "8",
        "--steps",
        "20",
        "--repeats",
        "1",
        "--policies",
        "random",
        "--profile",
        "--out",
        str(out),
    )
    assert done.returncode == 0, done.stderr
    (row,) = json.loads(out.read_text())["results"]
    profile = row["profile"]
    shares = [op["share"] for op in profile["ops"]]
    assert shares == sorted(shares, reverse=True) and abs(sum(shares) - 1) < 1e-9
    assert len(shares) == profile["num_ops"] and 0 < profile["traced_op_seconds"]
    assert not any(op["op"].startswith("while") for op in profile["ops"])
    # The ops are named as in the compiled program and traced back to the env's source lines.
    assert any("jaxbeer/env.py:" in op["source"] for op in profile["ops"]), profile["ops"]
    assert profile["ops"][0]["op"] in done.stderr


def test_throughput_suite_writes_json_and_plot(tmp_path, learner_env):
    out = tmp_path / "suite.json"
    done = run_module(
        "benchmarks.throughput",
        "--num-games",
        "1",
        "8",
        "--steps",
        "20",
        "--repeats",
        "2",
        "--reference-steps",
        "300",
        "--learners",
        "ippo",
        "--train-envs",
        "64",
        "--train-updates",
        "1",
        "--train-repeats",
        "1",
        "--train-base-stock-episodes",
        "8",
        "--out",
        str(out),
        env=learner_env,
    )
    assert done.returncode == 0, done.stderr
    payload = json.loads(out.read_text())
    assert_machine(payload["machine"])
    assert [row["num_games"] for row in payload["jaxbeer"]] == [1, 8]
    for row in payload["jaxbeer"]:
        assert_rate(row["env_steps_per_s"])
    assert_rate(payload["reference"]["env_steps_per_s"])
    ippo = payload["learners"]["ippo"]
    assert ippo["status"] == "ok", ippo
    assert ippo["num_envs"] == 64
    assert_rate(ippo["env_steps_per_s"])
    for name, peer in payload["peers"].items():  # optional peers: measured, or skipped with a reason
        assert peer["status"] in ("ok", "skipped"), name
        assert peer["status"] == "ok" or peer["reason"]
        assert f"{name}: skipped" in done.stdout or peer["status"] == "ok"
    peer_ippo = payload["peer_learners"]["jaxmarl-mpe-ippo"]  # needs the extra `peers`
    if peer_ippo["status"] == "ok":
        assert_rate(peer_ippo["env_steps_per_s"])
        assert peer_ippo["num_envs"] == 64 and peer_ippo["settings"]["hidden_sizes"] == ippo["settings"]["hidden_sizes"]
        assert payload["ratios"]["ippo_over_jaxmarl-mpe-ippo"]["64"] == (
            ippo["env_steps_per_s"]["median"] / peer_ippo["env_steps_per_s"]["median"]
        )
    else:
        assert peer_ippo["reason"] and "jaxmarl-mpe-ippo: skipped" in done.stdout
    ratio = payload["ratios"]["jaxbeer_over_reference"]
    reference = payload["reference"]["env_steps_per_s"]["median"]
    assert ratio["8"] == payload["jaxbeer"][1]["env_steps_per_s"]["median"] / reference
    paired = payload["paired_ratio_over_reference"]
    assert paired["num_games"] == 8 and 0 < paired["min"] <= paired["median"] <= paired["max"]
    plot = Path(payload["plot"])
    assert plot.exists() and plot.stat().st_size > 1000


def test_bad_flags_exit_2_with_one_line():
    for module, flags in (
        ("benchmarks.env_throughput", ["--num-games", "0"]),
        ("benchmarks.env_throughput", ["--no-such-flag"]),
        ("benchmarks.throughput", ["--learners", "sarsa"]),
        ("benchmarks.throughput", ["--scenario", "nowhere"]),
    ):
        done = run_module(module, *flags)
        assert done.returncode == 2, (module, flags, done.stderr)
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error:"), done.stderr


def test_random_actions_cover_the_action_range():
    words = jnp.asarray(np.random.default_rng(0).integers(0, 2**32, size=(4096, 2), dtype=np.uint64).astype(np.uint32))
    actions = np.asarray(actions_from_words(words, num_agents=6, num_actions=17, action_low=-8))
    assert actions.shape == (4096, 6)
    for agent in range(6):
        assert set(np.unique(actions[:, agent])) == set(range(-8, 9))
