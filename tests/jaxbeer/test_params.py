"""EnvParams and EnvConfig check their values and shapes when built."""

from __future__ import annotations

import jax.numpy as jnp
import pytest

import jaxbeer
from jaxbeer.params import EnvConfig


def test_params_replace_validates_values():
    _, params = jaxbeer.make("classic")
    with pytest.raises(ValueError, match="holding_cost must be finite and >= 0"):
        params.replace(holding_cost=jnp.array([0.5, -0.5, 0.5, 0.5], jnp.float32))
    with pytest.raises(ValueError, match="shipment_lead_min must be >= 1"):
        params.replace(shipment_lead_min=jnp.zeros(4, jnp.int32))


def test_params_shapes_are_checked_against_the_config():
    env, params = jaxbeer.make("classic")
    with pytest.raises(ValueError, match=r"initial_order must have shape \(4,\)"):
        params.replace(initial_order=jnp.zeros(3, jnp.int32)).check_shapes(env.config)
    with pytest.raises(ValueError, match="shipment_lead_max must be <= shipment_buffer-1"):
        params.replace(shipment_lead_max=jnp.full((4,), 9, jnp.int32)).check_shapes(env.config)


def test_config_rejects_bad_static_settings():
    with pytest.raises(ValueError, match="obs_history must be an integer >= 0"):
        EnvConfig(obs_history=-1)
    with pytest.raises(ValueError, match="num_agents must be an integer >= 2"):
        EnvConfig(num_agents=True)
