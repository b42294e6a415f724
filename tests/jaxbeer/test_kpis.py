"""jaxbeer.kpis: hand-worked KPIs, the SLA-k against a unit-by-unit FIFO queue, intervals, paired differences,
and benchmarks.aggregate's IQM."""

from __future__ import annotations

import jax
import numpy as np
import pytest

import jaxbeer
from benchmarks.aggregate import iqm_interval
from jaxbeer import kpis, policies

# One game and one episode count for most tests, so they share compiled rollouts.
HORIZON = 8
NUM_EPISODES = 64
EMPTY_SEATS = [None] * 4  # heuristic_team seats that order nothing


def basic(**overrides):
    return jaxbeer.make("basic", horizon=HORIZON, **overrides)


def base_stock_team(levels):
    return policies.heuristic_team(["base_stock"] * 4, base_stock={"levels": list(levels)})


def traced(demand):
    """Basic with a fixed demand path and a wholesaler that starts with 12 units: every episode is the same."""
    return jaxbeer.make("basic", demand="trace", demand_trace=demand, horizon=8, initial_inventory=[0, 12, 0, 0])


RETAILER_PASSES_ON = policies.heuristic_team(["pass_through", None, None, None])


def test_a_hand_worked_episode():
    # Demand 1,3,1,3,...; the retailer passes it on, nobody else orders, and the wholesaler starts with the
    # 12 units it will be asked for. Orders take 2 periods up and shipments 2 down, so the retailer receives
    # period t's demand in period t+4: periods 0-3 build a backlog of 1,4,5,8, which then stays at 8 while
    # every unit waits exactly 4 periods. The wholesaler ships 1,3,1,3,1,3 in periods 2-7 from its 12.
    env, params = traced([1, 3] * 4)
    report = kpis.kpis(env, params, RETAILER_PASSES_ON, jax.random.key(0), num_episodes=4)

    expected = {
        "cost": [100, 114, 0, 0],  # retailer 2 * (1+4+5+8+8+8+8+8); wholesaler 2 * (12+12+11+8+7+4+3+0)
        "holding_cost": [0, 114, 0, 0],
        "backlog_cost": [100, 0, 0, 0],
        "mean_on_hand": [0, 57 / 8, 0, 0],
        "mean_backlog": [50 / 8, 0, 0, 0],
        "bullwhip": [1, 0, 0, 0],  # the retailer orders demand itself (variance 1); the others order 0
        "fill_rate": [0, 1, 1, 1],  # upstream of the wholesaler nothing arrives: nothing refused
        "sla_0": [0, 1, 1, 1],
        "sla_1": [0, 1, 1, 1],
        "sla_2": [0, 1, 1, 1],
        "sla_4": [1, 1, 1, 1],  # the retailer's arrivals of periods 0-3, all shipped 4 periods later
        "team_cost": 214,
        "team_holding_cost": 114,
        "team_backlog_cost": 100,
        "team_mean_on_hand": 57 / 8,
        "team_mean_backlog": 50 / 8,
    }
    assert set(report) == set(expected) == set(kpis.kpi_names())
    for name, value in expected.items():
        # Every episode is the same, so every interval is the point itself.
        for part in report[name]:
            np.testing.assert_array_equal(part, value, err_msg=name)


def fifo_delays(arriving: np.ndarray, shipped: np.ndarray) -> list[tuple[int, int | None]]:
    """(arrival period, shipping period or None) of every unit of one echelon, served first in first out."""
    queue, units = [], []
    for period, (count, sent) in enumerate(zip(arriving.tolist(), shipped.tolist())):
        queue.extend([len(units) + i for i in range(count)])
        units.extend([[period, None] for _ in range(count)])
        for _ in range(sent):
            units[queue.pop(0)][1] = period
    return [tuple(unit) for unit in units]


def test_sla_k_matches_a_unit_by_unit_fifo_queue():
    env, params = basic()
    team = base_stock_team([2, 3, 2, 1])
    key = jax.random.key(3)
    episodes = kpis.episode_kpis(env, params, team, key, NUM_EPISODES)
    infos = jaxbeer.rollout(env, params, team, key, NUM_EPISODES)
    arriving, shipped = np.asarray(infos["arriving_order"]), np.asarray(infos["shipped"])
    units = {
        (episode, echelon): fifo_delays(arriving[episode, :, echelon], shipped[episode, :, echelon])
        for episode in range(NUM_EPISODES)
        for echelon in range(4)
    }
    for index, k in enumerate(kpis.SLA_PERIODS):
        served = np.zeros((NUM_EPISODES, 4), np.int64)
        counted = np.zeros((NUM_EPISODES, 4), np.int64)
        for (episode, echelon), delays in units.items():
            # Arrivals too late to be seen through k periods are not counted (right-censoring).
            seen = [(arrival, sent) for arrival, sent in delays if arrival + k <= HORIZON - 1]
            counted[episode, echelon] = len(seen)
            served[episode, echelon] = sum(sent is not None and sent - arrival <= k for arrival, sent in seen)
        np.testing.assert_array_equal(episodes["sla_arrived"][:, index], counted, err_msg=f"k={k}")
        np.testing.assert_array_equal(episodes["sla_served"][:, index], served, err_msg=f"k={k}")
    assert np.any(episodes["sla_served"] < episodes["sla_arrived"])  # the game is not trivially served


def test_holding_plus_backlog_is_cost_and_sla_0_is_the_fill_rate():
    env, params = basic(initial_inventory=4)  # stock to hold, then backlog when it runs out
    episodes = kpis.episode_kpis(env, params, base_stock_team([2, 3, 2, 1]), jax.random.key(1), NUM_EPISODES)
    # Per-period costs are whole numbers here, so float32 sums are exact.
    np.testing.assert_array_equal(episodes["holding_cost"] + episodes["backlog_cost"], episodes["cost"])
    assert np.any(episodes["holding_cost"] > 0) and np.any(episodes["backlog_cost"] > 0)
    np.testing.assert_array_equal(episodes["sla_served"][:, 0], episodes["filled"])
    np.testing.assert_array_equal(episodes["sla_arrived"][:, 0], episodes["arriving"])


def test_estimates_are_jaxbeer_evaluates_on_the_same_episodes():
    env, params = basic()
    team, key = base_stock_team([2, 3, 2, 1]), jax.random.key(2)
    report = kpis.kpis(env, params, team, key, NUM_EPISODES, reps=200)
    summary = jaxbeer.evaluate(env, params, team, key, NUM_EPISODES)
    np.testing.assert_allclose(report["team_cost"].estimate, summary["team_cost_mean"], rtol=1e-12)
    np.testing.assert_allclose(report["cost"].estimate, summary["agent_cost_mean"], rtol=1e-12)
    np.testing.assert_allclose(report["bullwhip"].estimate, summary["bullwhip"], rtol=1e-12)
    np.testing.assert_allclose(report["fill_rate"].estimate, summary["fill_rate"], rtol=1e-12)
    # The t-interval is mean +- t * se, with evaluate's standard error.
    half_width = report["team_cost"].high - report["team_cost"].estimate
    np.testing.assert_allclose(half_width, 1.9983405425 * summary["team_cost_se"], rtol=1e-9)  # t_{0.975, 63}
    for name in ("bullwhip", "fill_rate", "sla_2"):
        low, high = report[name].low, report[name].high
        assert np.all(low <= report[name].estimate) and np.all(report[name].estimate <= high), name


def test_a_policy_against_itself_differs_by_exactly_zero():
    env, params = basic()
    team = base_stock_team([2, 3, 2, 1])
    report = kpis.compare(env, params, team, team, jax.random.key(2), NUM_EPISODES, reps=200)
    for name, interval in report.items():
        for part in interval:
            np.testing.assert_array_equal(part, 0.0, err_msg=name)


def test_paired_interval_is_the_t_interval_of_per_episode_differences():
    env, params = basic()
    key = jax.random.key(2)
    a = kpis.episode_kpis(env, params, base_stock_team([2, 3, 2, 1]), key, NUM_EPISODES)
    b = kpis.episode_kpis(env, params, base_stock_team([3, 3, 2, 1]), key, NUM_EPISODES)
    gap = kpis.paired_differences(a, b, HORIZON, names=["team_cost", "cost"])
    assert list(gap) == ["team_cost", "cost"]
    differences = (a["cost"].astype(np.float64) - b["cost"]).sum(axis=1)
    expected = kpis.mean_interval(differences)
    assert gap["team_cost"] == tuple(float(part) for part in expected)
    # Same demand paths make the paired interval far narrower than the two costs' own intervals.
    own = kpis.summarise_kpis(a, HORIZON, names=["team_cost"])["team_cost"]
    assert gap["team_cost"].high - gap["team_cost"].low < (own.high - own.low) / 2
    other_key = kpis.episode_kpis(env, params, base_stock_team([2, 3, 2, 1]), jax.random.key(9), NUM_EPISODES)
    with pytest.raises(ValueError, match="same episodes"):
        kpis.paired_differences(a, other_key, HORIZON)


def test_the_cost_interval_covers_a_known_mean_95_percent_of_the_time():
    # Nobody orders and nothing is in stock: the retailer's backlog after period t is the sum of t+1
    # demands uniform in 0..2 (mean 1), at 2 per unit, so E[team cost] = 2 * (1 + ... + T) = T (T + 1).
    env, params = basic()
    batches, per_batch = 400, 25
    episodes = kpis.episode_kpis(
        env, params, policies.heuristic_team(EMPTY_SEATS), jax.random.key(7), batches * per_batch
    )
    team_cost = episodes["cost"].sum(axis=1).reshape(per_batch, batches)  # episodes first: one interval per column
    intervals = kpis.mean_interval(team_cost)
    truth = HORIZON * (HORIZON + 1)
    coverage = np.mean((intervals.low <= truth) & (truth <= intervals.high))
    # 400 independent intervals: a binomial(400, 0.95) share lies in [0.92, 0.98] with probability > 0.99.
    assert 0.92 <= coverage <= 0.98, coverage
    assert np.all(intervals.low < intervals.estimate) and np.all(intervals.estimate < intervals.high)


def test_a_batch_of_policies_is_a_vmap_that_equals_a_loop():
    env, params = basic()
    levels = [[2, 3, 2, 1], [4, 0, 0, 0], [0, 0, 0, 0]]
    stacked = jax.tree.map(lambda *leaves: np.stack(leaves), *(base_stock_team(v) for v in levels))
    key = jax.random.key(4)
    batch = kpis.episode_kpis_batch(env, params, stacked, key, NUM_EPISODES)
    for index, one in enumerate(levels):
        alone = kpis.episode_kpis(env, params, base_stock_team(one), key, NUM_EPISODES)
        jax.tree.map(np.testing.assert_array_equal, kpis.select(batch, index), alone)


def test_constant_demand_has_no_bullwhip_and_bad_settings_are_refused():
    env, params = traced([2] * 8)
    episodes = kpis.episode_kpis(env, params, RETAILER_PASSES_ON, jax.random.key(0), 4)
    report = kpis.summarise_kpis(episodes, HORIZON, reps=50)
    assert np.all(np.isnan(report["bullwhip"].estimate)) and np.all(np.isnan(report["bullwhip"].high))
    assert kpis.to_json(report)["bullwhip"]["estimate"] == [None] * 4
    with pytest.raises(ValueError, match="sla_periods"):
        kpis.episode_kpis(env, params, RETAILER_PASSES_ON, jax.random.key(0), 4, sla_periods=(1, 1))
    with pytest.raises(ValueError, match="unknown KPI"):
        kpis.summarise_kpis(episodes, HORIZON, names=["profit"])
    with pytest.raises(ValueError, match="confidence"):
        kpis.summarise_kpis(episodes, HORIZON, confidence=1.0)


# ---------------------------------------------------------------- IQM
def test_iqm_of_known_values_and_its_interval():
    # The IQM drops the lowest and highest quarter: of 1..8 it is the mean of 3, 4, 5, 6.
    result = iqm_interval(np.arange(1.0, 9.0))
    assert result["iqm"] == 4.5
    assert result["low"] <= result["iqm"] <= result["high"] and result["low"] < result["high"]
    # Over runs and tasks alike: the middle half of 1..16 is 5..12.
    grid = iqm_interval(np.arange(1.0, 17.0).reshape(8, 2), reps=500, seed=3)
    assert grid["iqm"] == 8.5 and grid["low"] <= 8.5 <= grid["high"]
    # Constant scores have a zero-width interval; the same seed gives the same interval, and the caller's
    # global NumPy stream is left where it was.
    assert iqm_interval(np.full(5, 2.0)) == {"iqm": 2.0, "low": 2.0, "high": 2.0}
    np.random.seed(11)
    before = np.random.get_state()[1].copy()
    assert iqm_interval(np.arange(1.0, 9.0)) == result
    np.testing.assert_array_equal(np.random.get_state()[1], before)


def test_iqm_refuses_bad_scores():
    with pytest.raises(ValueError, match="shape"):
        iqm_interval(np.zeros((2, 2, 2)))
    with pytest.raises(ValueError, match="finite"):
        iqm_interval(np.array([1.0, np.nan]))
