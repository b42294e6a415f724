"""Policies as data: the heuristics' formulas, their parameters as pytrees, the registry and seated teams."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxbeer
from jaxbeer import policies


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


def test_new_parameters_reuse_the_compiled_evaluation():
    """A policy is an ordinary jit argument: other levels, or other Sterman weights, do not retrace."""
    env, params = jaxbeer.make("basic", horizon=30)
    traces = []

    @jax.jit
    def team_cost(policy, key):
        traces.append(1)
        return jaxbeer.rollouts.episode_sums(env, params, policy, key)["cost"].sum()

    key = jax.random.key(0)
    costs = [float(team_cost(policies.base_stock([level, level, 0, 0]), key)) for level in (2, 8, 14)]
    assert len(traces) == 1 and len(set(costs)) == 3
    team_cost(policies.sterman(alpha=-0.3), key)
    team_cost(policies.sterman(alpha=-0.7, beta=-0.1, a=5.0, b=3.0), key)
    assert len(traces) == 2  # one more program for the Sterman structure, then reused


def test_a_grid_of_levels_is_one_vmap_and_equals_a_loop():
    env, params = jaxbeer.make("basic", horizon=12)
    grid = np.array([[level, 8, 0, 0] for level in range(0, 12, 2)], np.int32)
    key = jax.random.key(3)
    batched = np.asarray(jaxbeer.team_costs(env, params, policies.base_stock(grid), key, 16))
    one_by_one = [
        jaxbeer.evaluate(env, params, policies.base_stock(levels), key, 16)["team_cost_mean"] for levels in grid
    ]
    np.testing.assert_allclose(batched, one_by_one, rtol=1e-5)


def test_heuristic_team_seats_each_heuristic_as_its_own_policy():
    env, params = jaxbeer.make("classic")
    _, state = env.reset(jax.random.key(0), params)
    for _ in range(5):  # away from the steady start, so the heuristics order differently
        _, state, *_ = env.step_orders(jax.random.key(1), state, jnp.array([9, 2, 7, 12]), params)
    levels = [30, 28, 26, 24]
    team = policies.heuristic_team(["sterman", "base_stock", "pass_through", None], base_stock={"levels": levels})
    orders = np.asarray(team(jax.random.key(2), state, params))
    assert orders[0] == policies.sterman()(None, state, params)[0]
    assert orders[1] == policies.base_stock(levels)(None, state, params)[1]
    assert orders[2] == policies.pass_through()(None, state, params)[2]
    assert orders[3] == 0
    # Every team of four seats has one structure, so all of them share one compiled program.
    other = policies.heuristic_team(["pass_through"] * 4)
    assert jax.tree.structure(other) == jax.tree.structure(team)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: policies.heuristic_team(["base_stock"] * 4), "base_stock seats need settings"),
        (lambda: policies.heuristic_team(["robot"] * 4), r"unknown heuristic\(s\) \['robot'\]"),
        (lambda: policies.base_stock(5), "base_stock levels must be integers >= 0, one per echelon"),
        (lambda: policies.base_stock([1.5, 2, 3, 4]), "base_stock levels must be integers"),
        (lambda: policies.base_stock([1, 2, 3], num_agents=4), r"base_stock levels must have shape \(4,\)"),
        (lambda: policies.sterman(alpha=float("nan")), "sterman alpha must be finite"),
        (lambda: policies.sterman(a=float("inf")), "sterman a must be finite"),
        (lambda: policies.constant(-1), "constant quantity must be integers >= 0"),
        (lambda: policies.uniform_random(-1), "high must be an integer >= 0"),
    ],
)
def test_bad_policy_parameters_raise_naming_the_parameter(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_wrong_number_of_levels_is_caught_at_trace_time():
    env, params = jaxbeer.make("classic")
    with pytest.raises(ValueError, match=r"base_stock levels must have shape \(4,\)"):
        jaxbeer.evaluate(env, params, policies.base_stock([1, 2]), jax.random.key(0), 2)
