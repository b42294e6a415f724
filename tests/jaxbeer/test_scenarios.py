"""Bad input raises ValueError naming the field and its allowed range, before tracing."""

from __future__ import annotations

import jax.numpy as jnp
import pytest

import jaxbeer


@pytest.mark.parametrize(
    "name, overrides, message",
    [
        ("nope", {}, r"unknown scenario 'nope'; known scenarios: \['basic'"),
        ("basic", {"holding_cost": [2, -1, 2, 2]}, r"holding_cost must be finite and >= 0"),
        ("basic", {"backlog_cost": -1.0}, r"backlog_cost must be finite and >= 0"),
        ("basic", {"shipment_lead": [2, 0, 2, 2]}, r"shipment_lead_min must be >= 1"),
        ("basic", {"order_lead": [2, -1, 2]}, r"order_lead_min must be >= 0"),
        (
            "basic",
            {"shipment_lead_min": [3, 3, 3, 3], "shipment_lead_max": [2, 2, 2, 2]},
            r"shipment_lead_min must be <= shipment_lead_max",
        ),
        (
            "basic",
            {"order_lead_min": [2, 2, 2], "order_lead_max": [1, 1, 1]},
            r"order_lead_min must be <= order_lead_max",
        ),
        ("basic", {"max_order": 0}, r"max_order must be an integer >= 1"),
        ("basic", {"x_low": 3, "x_high": -3}, r"x_low must be <= x_high"),
        ("basic", {"holding_cost": [1, 2, 3]}, r"holding_cost must be a scalar or have length 4"),
        ("basic", {"order_lead": [1, 2, 3, 4]}, r"order_lead_min must be a scalar or have length 3"),
        ("basic", {"demand_trace": [1, 2, 3], "horizon": 5}, r"demand_trace must hold at least horizon=5"),
        ("basic", {"horizon": 0}, r"horizon must be an integer >= 1"),
        ("basic", {"action_mode": "both"}, r"action_mode must be one of"),
        ("basic", {"demand": "zipf"}, r"demand must be one of"),
        ("basic", {"demand": "uniform", "demand_low": 5, "demand_high": 2}, r"0 <= demand_low <= demand_high"),
        ("basic", {"demand": "poisson", "demand_rate": -1.0}, r"demand_rate \(Poisson\) must be finite and > 0"),
        ("basic", {"holding_cost_typo": 1.0}, r"unknown make\(\) argument\(s\) \['holding_cost_typo'\]"),
        ("basic", {"num_agents": 1}, r"num_agents must be an integer >= 2"),
    ],
)
def test_make_rejects_bad_input(name, overrides, message):
    with pytest.raises(ValueError, match=message):
        jaxbeer.make(name, **overrides)


def test_overrides_reach_config_and_params():
    env, params = jaxbeer.make(
        "classic", horizon=52, action_mode="relative", max_order=30, holding_cost=2.0, shipment_lead=[1, 2, 3, 4]
    )
    assert env.config.horizon == 52 and env.config.action_mode == "relative" and env.config.max_order == 30
    assert params.holding_cost.tolist() == [2.0] * 4
    assert params.shipment_lead_min.tolist() == [1, 2, 3, 4] and env.config.shipment_buffer == 5
    assert params.holding_cost.dtype == jnp.float32 and params.initial_inventory.dtype == jnp.int32
    env3, params3 = jaxbeer.make("seed-default", num_agents=3)
    assert params3.holding_cost.shape == (3,) and params3.order_lead_min.shape == (2,)
    with pytest.raises(ValueError, match="shipment_lead_min must be a scalar or have length 3"):
        jaxbeer.make("basic", num_agents=3)  # basic's leads differ per echelon: no silent truncation
