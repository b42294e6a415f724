"""Heuristic policies, evaluation metrics, the base-stock optimiser and the play CLI."""

from __future__ import annotations

import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxbeer
from jaxbeer import policies
from jaxbeer.evaluate import base_stock_team_costs


def test_heuristic_formulas_at_decision_time():
    env, params = jaxbeer.make("classic")
    _, state = env.reset(jax.random.key(0), params)
    # IL = 12, OO = [16, 16, 16, 12], AO = 4: inventory position 24 (manufacturer 20).
    np.testing.assert_array_equal(policies.inventory_position(state), [24, 24, 24, 20])
    np.testing.assert_array_equal(policies.base_stock([30, 20, 24, 25])(None, state, params), [6, 0, 0, 5])
    np.testing.assert_array_equal(policies.pass_through()(None, state, params), [4, 4, 4, 4])
    np.testing.assert_array_equal(policies.constant(3)(None, state, params), [3, 3, 3, 3])
    # Anchored on the start state, Sterman orders exactly what arrives ...
    np.testing.assert_array_equal(policies.sterman()(None, state, params), [4, 4, 4, 4])
    # ... and with explicit targets: 4 - 0.5 * (12 - 20) - 0.2 * (16 - 10) = 6.8 -> 7 (manufacturer: 7.6 -> 8).
    np.testing.assert_array_equal(policies.sterman(a=20, b=10)(None, state, params), [7, 7, 7, 8])
    orders = policies.uniform_random(5)(jax.random.key(0), state, params)
    assert orders.dtype == jnp.int32 and np.all((orders >= 0) & (orders <= 5))


def test_heuristics_order_absolute_quantities_in_relative_mode():
    env, params = jaxbeer.make("classic", action_mode="relative", x_low=-1, x_high=1)
    _, state = env.reset(jax.random.key(0), params)
    orders = policies.base_stock([40, 40, 40, 40])(None, state, params)
    _, _, _, _, _, info = env.step_orders(jax.random.key(1), state, orders, params)
    np.testing.assert_array_equal(info["orders"], [16, 16, 16, 20])


def test_literature_levels_beat_their_neighbours_on_basic():
    env, params = jaxbeer.make("basic")
    literature = jaxbeer.literature_levels("basic")
    candidates = [literature]
    for k in range(4):
        for delta in (-1, 1):
            neighbour = literature.copy()
            neighbour[k] += delta
            if neighbour[k] >= 0:
                candidates.append(neighbour)
    costs = np.asarray(base_stock_team_costs(env, params, jnp.asarray(np.stack(candidates)), jax.random.key(5), 500))
    assert np.all(costs[0] < costs[1:]), costs


def test_optimiser_matches_or_beats_the_literature_on_basic():
    env, params = jaxbeer.make("basic")
    levels, cost = jaxbeer.optimize_base_stock(env, params, jax.random.key(0), num_episodes=100)
    assert levels.shape == (4,) and levels.dtype == np.int32
    literature = jaxbeer.literature_levels("basic")
    fresh = jax.random.key(123)
    found = jaxbeer.evaluate(env, params, policies.base_stock(levels), fresh, 1000)
    reference = jaxbeer.evaluate(env, params, policies.base_stock(literature), fresh, 1000)
    assert found["team_cost_mean"] <= reference["team_cost_mean"]
    # Its reported cost is the mean team cost on its own episodes, so it is reproducible.
    own = base_stock_team_costs(env, params, jnp.asarray(levels)[None], jax.random.key(0), 100)
    np.testing.assert_allclose(float(own[0]), cost, rtol=1e-5)


def test_evaluate_statistics_match_the_trajectories():
    env, params = jaxbeer.make("uniform-0-8", horizon=20)
    policy = policies.sterman()
    key = jax.random.key(4)
    result = jaxbeer.evaluate(env, params, policy, key, 50)
    infos = jaxbeer.rollout(env, params, policy, key, 50)
    episode_costs = np.asarray(infos["cost"], np.float64).sum(axis=1)
    np.testing.assert_allclose(result["agent_cost_mean"], episode_costs.mean(axis=0), rtol=1e-4)
    np.testing.assert_allclose(result["team_cost_mean"], episode_costs.sum(axis=1).mean(), rtol=1e-4)
    np.testing.assert_allclose(result["team_cost_se"], episode_costs.sum(axis=1).std(ddof=1) / np.sqrt(50), rtol=1e-3)
    orders = np.asarray(infos["orders"], np.float64)
    demand = np.asarray(infos["demand"], np.float64)
    expected_bullwhip = orders.var(axis=1).mean(axis=0) / demand.var(axis=1).mean()
    np.testing.assert_allclose(result["bullwhip"], expected_bullwhip, rtol=1e-3)
    fill = np.asarray(infos["filled"]).sum(axis=(0, 1)) / np.asarray(infos["arriving_order"]).sum(axis=(0, 1))
    np.testing.assert_allclose(result["fill_rate"], fill, rtol=1e-5)
    assert np.all((result["fill_rate"] >= 0) & (result["fill_rate"] <= 1))


def test_pass_through_with_constant_demand_has_unit_bullwhip_and_full_fill():
    env, params = jaxbeer.make("classic", demand_trace=[4] * 100)
    result = jaxbeer.evaluate(env, params, policies.pass_through(), jax.random.key(0), 3)
    np.testing.assert_allclose(result["fill_rate"], 1.0)
    assert np.all(np.isnan(result["bullwhip"]))  # demand never varies: the ratio is undefined
    np.testing.assert_allclose(result["agent_cost_mean"], [6.0 * 100] * 4)


def test_evaluate_rejects_bad_episode_counts():
    env, params = jaxbeer.make("basic")
    with pytest.raises(ValueError, match="num_episodes must be an integer >= 1"):
        jaxbeer.evaluate(env, params, policies.pass_through(), jax.random.key(0), 0)


def test_play_cli_prints_a_table_and_draws(tmp_path):
    out = tmp_path / "bullwhip.png"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "jaxbeer.play",
            "--scenario",
            "classic",
            "--policy",
            "sterman",
            "--episodes",
            "5",
            "--horizon",
            "30",
            "--plot",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "team" in done.stdout and "bullwhip" in done.stdout
    assert out.stat().st_size > 10_000


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--scenario", "nope"], "unknown scenario 'nope'"),
        (["--episodes", "0"], "--episodes must be >= 1"),
        (["--levels", "1", "2"], "levels must be 4 integers >= 0"),
        (["--policy", "genius"], "policy"),
    ],
)
def test_play_cli_rejects_bad_flags(argv, message):
    done = subprocess.run([sys.executable, "-m", "jaxbeer.play", *argv], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert message in done.stderr
