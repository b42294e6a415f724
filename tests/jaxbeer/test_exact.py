"""Exact base-stock costs against long simulations, a published Clark–Scarf example, and the optimiser."""

from __future__ import annotations

import jax
import numpy as np
import pytest

import jaxbeer
from jaxbeer import exact, policies
from jaxbeer.demand import rounded_normal_pmf

HORIZON, WARM_UP, EPISODES, CHUNKS = 4100, 100, 64, 4  # 256 episodes of 4000 periods: relative SE about 0.1-0.3%

LEVELS = {
    "basic": [(6, 3, 2, 1), (9, 0, 5, 4)],
    "normal-10-2": [(40, 40, 40, 40), (52, 30, 45, 20)],
    "uniform-0-8": [(15, 10, 18, 16), (24, 16, 12, 20)],
}


def simulated_cost(env, params, levels, seed: int) -> tuple[float, float]:
    """Mean team cost per period after the warm-up, and its standard error over independent episodes."""
    per_episode = []
    for chunk in range(CHUNKS):  # chunks keep the trajectories small
        info = jaxbeer.rollout(
            env, params, policies.base_stock(np.asarray(levels)), jax.random.key(seed + chunk), EPISODES
        )
        per_episode.append(np.asarray(info["cost"], np.float64)[:, WARM_UP:].sum(axis=-1).mean(axis=1))
    costs = np.concatenate(per_episode)
    return float(costs.mean()), float(costs.std(ddof=1) / np.sqrt(costs.size))


@pytest.mark.parametrize("name", list(LEVELS))
def test_exact_cost_matches_a_long_simulation(name):
    env, params = jaxbeer.make(name, horizon=HORIZON)
    for index, levels in enumerate([tuple(jaxbeer.literature_levels(name))] + LEVELS[name]):
        mean, se = simulated_cost(env, params, levels, 1000 * index)
        expected = exact.base_stock_cost(env, params, np.asarray(levels))
        assert se < 0.005 * mean, (levels, mean, se)
        assert abs(mean - expected) < 3 * se, (levels, mean, se, expected)


def test_zero_order_lead_and_other_leads_match_a_simulation():
    # A zero order lead adds a period to the window of the echelon it feeds (see jaxbeer.exact).
    env, params = jaxbeer.make("uniform-0-8", horizon=HORIZON, order_lead=(0, 2, 1), shipment_lead=(1, 2, 3, 1))
    np.testing.assert_array_equal(exact.lead_windows(env, params), [1, 5, 4, 1])
    levels = (10, 14, 20, 6)
    mean, se = simulated_cost(env, params, levels, 7)
    assert abs(mean - exact.base_stock_cost(env, params, np.asarray(levels))) < 3 * se


@pytest.mark.parametrize(
    ("local_holding", "windows", "stockout", "mean", "std", "scale", "published_levels", "published_cost"),
    [
        # Snyder & Shen, Fundamentals of Supply Chain Theory (2nd ed.), Example 6.1, as solved by stockpyl's
        # ssm_serial.optimize_base_stock_levels docstring: echelon holding (3, 2, 2), leads (1, 1, 2).
        ((7, 4, 2), (1, 1, 2), 37.12, 5.0, 1.0, 20, (6.5144, 12.0123, 22.7002), 47.6687),
        # stockpyl's README: local holding (8, 7, 4), shipment leads (2, 1, 1) retailer first, p = 40, N(10, 2).
        ((8, 7, 4), (2, 1, 1), 40.0, 10.0, 2.0, 10, (25.6960, 34.9325, 44.1689), 227.1533),
    ],
)
def test_clark_scarf_reproduces_published_examples(
    local_holding, windows, stockout, mean, std, scale, published_levels, published_cost
):
    # Normal demand on a grid of 1/scale units; costs are per grid unit.
    pmf = rounded_normal_pmf(mean * scale, std * scale, 0, int(2 * mean * scale))
    levels, cost = exact.clark_scarf(pmf, windows, np.asarray(local_holding) / scale, stockout / scale)
    # Both the grid and stockpyl's own discretisation move the optimum a little.
    np.testing.assert_allclose(levels / scale, published_levels, atol=1.5 / scale)
    np.testing.assert_allclose(cost, published_cost, rtol=5e-4)


@pytest.mark.parametrize("name", ["basic", "normal-10-2"])
def test_clark_scarf_cost_is_the_exact_cost_of_its_levels(name):
    env, params = jaxbeer.make(name)
    pmf, windows = exact.demand_pmf(env, params), exact.lead_windows(env, params)
    holding = np.asarray(params.holding_cost, np.float64)
    echelon_levels, echelon_form_cost = exact.clark_scarf(pmf, windows, holding, float(params.backlog_cost[0]))
    # The textbook cost also charges units in transit to stage k at the sender's local holding cost.
    in_transit = float(np.sum(holding[1:] * windows[:-1]) * (pmf @ np.arange(pmf.size)))
    local = exact.echelon_to_local(echelon_levels)
    np.testing.assert_allclose(echelon_form_cost - in_transit, exact.base_stock_cost(env, params, local), rtol=1e-9)


def test_optimal_base_stock_on_basic_is_optimal_and_no_worse_than_the_literature():
    env, params = jaxbeer.make("basic")
    result = exact.optimal_base_stock(env, params)
    assert result.kind == "optimal"
    assert result.levels.shape == (4,) and result.levels.dtype == np.int32
    assert result.cost <= exact.base_stock_cost(env, params, jaxbeer.literature_levels("basic")) + 1e-12
    np.testing.assert_allclose(result.cost, exact.base_stock_cost(env, params, result.levels))
    for k in range(4):  # no single-echelon change does better
        for delta in (-1, 1):
            neighbour = result.levels.copy()
            neighbour[k] += delta
            if neighbour[k] >= 0:
                assert exact.base_stock_cost(env, params, neighbour) >= result.cost - 1e-12


def test_optimal_base_stock_searches_when_upstream_backlog_is_charged():
    env, params = jaxbeer.make("uniform-0-8")
    result = exact.optimal_base_stock(env, params)
    assert result.kind == "best base-stock"
    assert result.cost <= exact.base_stock_cost(env, params, jaxbeer.literature_levels("uniform-0-8"))


def test_deterministic_demand_and_random_leads_are_refused():
    env, params = jaxbeer.make("classic")
    with pytest.raises(ValueError, match="non-stationary"):
        exact.base_stock_cost(env, params, np.array([32, 32, 32, 24]))
    with pytest.raises(ValueError, match="non-stationary"):
        exact.optimal_base_stock(env, params)
    env, params = jaxbeer.make("basic", shipment_lead_min=1, shipment_lead_max=2)
    with pytest.raises(ValueError, match="fixed lead times"):
        exact.base_stock_cost(env, params, np.array([8, 8, 0, 0]))
    with pytest.raises(ValueError, match="fixed lead times"):
        exact.optimal_base_stock(env, params)


def test_levels_are_checked():
    env, params = jaxbeer.make("basic")
    with pytest.raises(ValueError, match="levels"):
        exact.base_stock_cost(env, params, np.array([8, 8, 0]))
    with pytest.raises(ValueError, match="levels"):
        exact.base_stock_cost(env, params, np.array([8, -1, 0, 0]))
