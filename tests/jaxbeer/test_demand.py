"""Demand processes: support, mean, the seasonal path, and the fused threefry words."""

from __future__ import annotations

import jax
import numpy as np
import pytest

import jaxbeer
from jaxbeer import policies


@pytest.mark.parametrize(
    "kind, overrides, low, high, mean",
    [
        ("uniform", dict(demand_low=0, demand_high=8), 0, 8, 4.0),
        ("poisson", dict(demand_rate=8.0), 0, 60, 8.0),
        ("normal", dict(demand_mean=10.0, demand_std=2.0), 0, 30, 10.0),
        (
            "seasonal",
            dict(seasonal_mean=8.0, seasonal_amplitude=4.0, seasonal_period=20.0, seasonal_noise=1.0),
            0,
            30,
            8.0,
        ),
    ],
)
def test_demand_samplers_have_the_right_support_and_mean(kind, overrides, low, high, mean):
    env, params = jaxbeer.make("seed-default", demand=kind, horizon=40, **overrides)
    demand = np.asarray(jaxbeer.rollout(env, params, policies.constant(0), jax.random.key(0), 200)["demand"])
    assert demand.min() >= low and demand.max() <= high
    standard_error = demand.std() / np.sqrt(demand.size)
    assert abs(demand.mean() - mean) < 5 * standard_error + 0.05
    if kind == "uniform":
        np.testing.assert_array_equal(np.unique(demand), np.arange(9))


def test_seasonal_demand_follows_the_sinusoid():
    env, params = jaxbeer.make(
        "seed-default",
        demand="seasonal",
        horizon=20,
        seasonal_mean=10.0,
        seasonal_amplitude=5.0,
        seasonal_period=20.0,
        seasonal_noise=0.0,
    )
    demand = np.asarray(jaxbeer.rollout(env, params, policies.constant(0), jax.random.key(0))["demand"][0])
    expected = np.round(10 + 5 * np.sin(2 * np.pi * np.arange(20) / 20))
    np.testing.assert_array_equal(demand, expected)
