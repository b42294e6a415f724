"""Heuristic ordering policies.

Each policy is a pure function ``policy(key, state, params) -> int32[A]`` of
absolute order quantities, usable inside ``jit`` and beside learned agents (feed
it to ``env.step_orders``). Heuristic co-players order absolute quantities even
when learners use relative actions: the "d+x" range bounds learners only.
Orders above ``max_order`` are clipped by the env.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp

from jaxbeer.env import EnvState
from jaxbeer.params import EnvParams

Policy = Callable[[jax.Array, EnvState, EnvParams], jax.Array]


def inventory_position(state: EnvState) -> jax.Array:
    """``IL + OO - AO`` at decision time: what is left after this period's arriving order."""
    return state.net_inventory + state.on_order - state.order_pipe[:, 0]


def base_stock(levels) -> Policy:
    """Order up to ``levels[k]``: ``q_k = max(0, S_k - (IL_k + OO_k - AO_k))``."""
    levels = jnp.asarray(levels, jnp.int32)

    def policy(key, state, params):
        return jnp.maximum(levels - inventory_position(state), 0)

    return policy


def initial_on_order(params: EnvParams) -> jax.Array:
    """On-order quantity of the initial steady pipeline, int32[A]."""
    shipments = params.initial_shipment * params.shipment_lead_min
    outgoing = params.initial_order[:-1] * params.order_lead_min
    return shipments + jnp.concatenate([outgoing, jnp.zeros((1,), outgoing.dtype)])


def sterman(alpha: float = -0.5, beta: float = -0.2, a=None, b=None) -> Policy:
    """Sterman's anchor-and-adjust: ``q = max(0, round(AO + alpha*(IL - a) + beta*(OO - b)))``.

    ``a`` (desired inventory) and ``b`` (desired on-order) default to the
    scenario's initial inventory and initial on-order, i.e. anchoring on the
    steady state the game starts in.
    """

    def policy(key, state, params):
        target_inventory = params.initial_inventory if a is None else jnp.asarray(a, jnp.float32)
        target_on_order = initial_on_order(params) if b is None else jnp.asarray(b, jnp.float32)
        raw = (
            state.order_pipe[:, 0]
            + alpha * (state.net_inventory - target_inventory)
            + beta * (state.on_order - target_on_order)
        )
        return jnp.maximum(jnp.round(raw), 0).astype(jnp.int32)

    return policy


def pass_through() -> Policy:
    """Order exactly what arrived."""

    def policy(key, state, params):
        return state.order_pipe[:, 0]

    return policy


def constant(quantity) -> Policy:
    """Order ``quantity`` (scalar or per echelon) every period."""
    quantity = jnp.asarray(quantity, jnp.int32)

    def policy(key, state, params):
        return jnp.broadcast_to(quantity, state.net_inventory.shape)

    return policy


def uniform_random(high: int) -> Policy:
    """Orders uniform in ``0..high``, from one 32-bit word per echelon.

    The modulo bias is below ``(high + 1) / 2**32``.
    """
    if high < 0:
        raise ValueError(f"high must be >= 0, got {high}")

    def policy(key, state, params):
        words = jax.random.bits(key, state.net_inventory.shape, jnp.uint32)
        return (words % jnp.uint32(high + 1)).astype(jnp.int32)

    return policy


random = uniform_random

HEURISTICS = ("base_stock", "sterman", "pass_through")
