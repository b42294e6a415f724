"""benchmarks.env_throughput end to end at tiny sizes: its JSON, its profile, its random actions."""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from benchmarks.env_throughput import actions_from_words


def test_env_throughput_writes_json(tmp_path, run_module, assert_rate, assert_machine):
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
def test_env_throughput_profile_attributes_time_to_env_code(tmp_path, run_module):
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


def test_random_actions_cover_the_action_range():
    words = jnp.asarray(np.random.default_rng(0).integers(0, 2**32, size=(4096, 2), dtype=np.uint64).astype(np.uint32))
    actions = np.asarray(actions_from_words(words, num_agents=6, num_actions=17, action_low=-8))
    assert actions.shape == (4096, 6)
    for agent in range(6):
        assert set(np.unique(actions[:, agent])) == set(range(-8, 9))
