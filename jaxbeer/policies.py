"""Ordering policies whose parameters are data, and the one registry of heuristics.

A policy is a pure function ``apply(policy_params, key, state, env_params) ->
int32[A]`` of order quantities, paired with its parameters in a ``Policy``.
The function is static (part of the pytree structure) and the parameters are
arrays, so a policy passes through ``jit`` as an ordinary argument: new
base-stock levels reuse the compiled program, and a grid of levels is one
``jax.vmap`` over ``Policy.params``. Feed the orders to ``env.step_orders``.
Heuristics order absolute quantities even when learners use relative or
order-up-to actions; orders above ``max_order`` are clipped by the env.

``HEURISTICS`` names the heuristics a team seat can play (``--agents`` in the
learners, the co-players of a learned echelon). ``heuristic_team`` seats one
per echelon, with the seat assignment as data too, so every heuristic team of
``A`` echelons runs through one compiled program.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from jaxbeer.env import EnvState, inventory_position
from jaxbeer.params import EnvParams
from jaxbeer.validation import check_int, check_range

PolicyFn = Callable[[Any, jax.Array, EnvState, EnvParams], jax.Array]


@struct.dataclass
class Policy:
    """An ordering rule (static) and its parameters (a pytree of arrays)."""

    params: Any
    apply: PolicyFn = struct.field(pytree_node=False)

    def __call__(self, key: jax.Array, state: EnvState, env_params: EnvParams) -> jax.Array:
        """Orders ``int32[A]`` of one game."""
        return self.apply(self.params, key, state, env_params)


# ------------------------------------------------------------ base-stock
@struct.dataclass
class BaseStockParams:
    """Base-stock's parameters: one order-up-to level per echelon."""

    levels: jax.Array  # int32[A], the target inventory position of each echelon


def base_stock_orders(params: BaseStockParams, key: jax.Array, state: EnvState, env_params: EnvParams) -> jax.Array:
    """Order up to the level: ``q_k = max(0, S_k - (IL_k + OO_k - AO_k))``."""
    if params.levels.shape != state.net_inventory.shape:
        raise ValueError(
            f"base_stock levels must have shape {state.net_inventory.shape} (one per echelon), "
            f"got {params.levels.shape}"
        )
    return jnp.maximum(params.levels - inventory_position(state), 0)


def base_stock(levels: Sequence[int] | np.ndarray | jax.Array, num_agents: int | None = None) -> Policy:
    """Base-stock policy with one level per echelon (integers >= 0); ``num_agents`` checks the count now
    rather than when the policy is first traced."""
    return Policy(params=base_stock_params(levels, num_agents), apply=base_stock_orders)


def base_stock_params(levels: Sequence[int] | np.ndarray | jax.Array, num_agents: int | None = None) -> BaseStockParams:
    """Checked ``BaseStockParams``: integers >= 0, one per echelon (a leading batch axis is allowed)."""
    if not isinstance(levels, jax.core.Tracer):
        array = np.asarray(levels)
        if array.ndim < 1 or not np.issubdtype(array.dtype, np.integer) or np.any(array < 0):
            raise ValueError(f"base_stock levels must be integers >= 0, one per echelon, got {array.tolist()}")
        if num_agents is not None and array.shape[-1:] != (num_agents,):
            raise ValueError(f"base_stock levels must have shape ({num_agents},) (one per echelon), got {array.shape}")
    return BaseStockParams(levels=jnp.asarray(levels, jnp.int32))


# --------------------------------------------------------------- Sterman
@struct.dataclass
class StermanParams:
    """Sterman's anchor-and-adjust weights and the targets they pull towards."""

    alpha: jax.Array  # float32[], weight of the inventory gap
    beta: jax.Array  # float32[], weight of the supply-line gap
    a: jax.Array  # float32[] or [A], desired inventory (used unless a_from_start)
    b: jax.Array  # float32[] or [A], desired on-order (used unless b_from_start)
    a_from_start: jax.Array  # bool[]: desired inventory = the scenario's initial inventory
    b_from_start: jax.Array  # bool[]: desired on-order = the initial pipeline's on-order


def initial_on_order(params: EnvParams) -> jax.Array:
    """On-order quantity of the initial steady pipeline, int32[A]."""
    shipments = params.initial_shipment * params.shipment_lead_min
    outgoing = params.initial_order[:-1] * params.order_lead_min
    return shipments + jnp.concatenate([outgoing, jnp.zeros((1,), outgoing.dtype)])


def sterman_orders(params: StermanParams, key: jax.Array, state: EnvState, env_params: EnvParams) -> jax.Array:
    """Anchor and adjust: ``q = max(0, round(AO + alpha*(IL - a) + beta*(OO - b)))``."""
    target_inventory = jnp.where(params.a_from_start, env_params.initial_inventory, params.a)
    target_on_order = jnp.where(params.b_from_start, initial_on_order(env_params), params.b)
    raw = (
        state.order_pipe[:, 0]
        + params.alpha * (state.net_inventory - target_inventory)
        + params.beta * (state.on_order - target_on_order)
    )
    return jnp.maximum(jnp.round(raw), 0).astype(jnp.int32)


def sterman_params(alpha: float = -0.5, beta: float = -0.2, a: Any = None, b: Any = None) -> StermanParams:
    """Checked ``StermanParams``. ``a`` and ``b`` default to the steady state the game starts in."""
    check_range("sterman alpha", alpha)
    check_range("sterman beta", beta)
    for name, value in (("a", a), ("b", b)):
        if value is not None and not np.all(np.isfinite(np.asarray(value, np.float64))):
            raise ValueError(f"sterman {name} must be finite, got {value!r}")
    return StermanParams(
        alpha=jnp.float32(alpha),
        beta=jnp.float32(beta),
        a=jnp.asarray(0.0 if a is None else a, jnp.float32),
        b=jnp.asarray(0.0 if b is None else b, jnp.float32),
        a_from_start=jnp.asarray(a is None),
        b_from_start=jnp.asarray(b is None),
    )


def sterman(alpha: float = -0.5, beta: float = -0.2, a: Any = None, b: Any = None) -> Policy:
    """Sterman's anchor-and-adjust heuristic (defaults: his fitted ``alpha``, ``beta``; anchored on the start)."""
    return Policy(params=sterman_params(alpha, beta, a, b), apply=sterman_orders)


# ------------------------------------------------------- simple policies
def pass_through_orders(params: Any, key: jax.Array, state: EnvState, env_params: EnvParams) -> jax.Array:
    """Order exactly what arrived."""
    return state.order_pipe[:, 0]


def pass_through() -> Policy:
    """Order exactly what arrived (no parameters)."""
    return Policy(params=(), apply=pass_through_orders)


def constant_orders(quantity: jax.Array, key: jax.Array, state: EnvState, env_params: EnvParams) -> jax.Array:
    """Order ``quantity`` (scalar or per echelon)."""
    return jnp.broadcast_to(quantity, state.net_inventory.shape)


def constant(quantity: int | Sequence[int]) -> Policy:
    """Order ``quantity`` (an integer >= 0, or one per echelon) every period."""
    array = np.asarray(quantity)
    if not np.issubdtype(array.dtype, np.integer) or np.any(array < 0):
        raise ValueError(f"constant quantity must be integers >= 0, got {array.tolist()}")
    return Policy(params=jnp.asarray(array, jnp.int32), apply=constant_orders)


def uniform_random_orders(high: jax.Array, key: jax.Array, state: EnvState, env_params: EnvParams) -> jax.Array:
    """Orders uniform in ``0..high`` from one 32-bit word per echelon (modulo bias below ``(high+1) / 2**32``)."""
    words = jax.random.bits(key, state.net_inventory.shape, jnp.uint32)
    return (words % (high.astype(jnp.uint32) + 1)).astype(jnp.int32)


def uniform_random(high: int) -> Policy:
    """Orders drawn uniformly in ``0..high`` every period."""
    return Policy(params=jnp.int32(check_int("high", high, 0)), apply=uniform_random_orders)


# ------------------------------------------- learners' actions beside them
def orders_with_actions(
    env: Any,
    state: EnvState,
    env_params: EnvParams,
    action_index: jax.Array,
    mask: np.ndarray,
    others: jax.Array | None = None,
) -> jax.Array:
    """Orders ``int32[A]``: where ``mask`` is True, from action indices ``int32[A]`` (``0 ..
    num_actions - 1``, through ``env``'s action mode); elsewhere ``others`` (another policy's orders).

    This is how a learned seat plays beside heuristic ones, in the learners'
    teams and in the adapters alike. ``others=None`` means every seat acts.
    """
    learned = env.action_to_orders(state, action_index + env.config.action_low, env_params)
    return learned if others is None else jnp.where(mask, learned, others)


# ------------------------------------------------ the heuristic registry
class Heuristic(NamedTuple):
    """A heuristic a team seat can play."""

    apply: PolicyFn
    make_params: Callable[..., Any]  # keyword settings -> its parameters (checked)
    placeholder: Callable[[int], Any]  # A -> parameters of the right structure, for a team without this seat


HEURISTICS: dict[str, Heuristic] = {
    "base_stock": Heuristic(
        base_stock_orders, base_stock_params, lambda num_agents: base_stock_params([0] * num_agents)
    ),
    "sterman": Heuristic(sterman_orders, sterman_params, lambda agents: sterman_params()),
    "pass_through": Heuristic(pass_through_orders, lambda: (), lambda agents: ()),
}
HEURISTIC_NAMES = tuple(HEURISTICS)


@struct.dataclass
class TeamParams:
    """Which heuristic sits in each seat, with every heuristic's parameters."""

    seat: jax.Array  # int32[A]: index into HEURISTIC_NAMES, or -1 for a seat someone else fills (orders 0)
    by_heuristic: dict[str, Any]  # each heuristic's parameters, keyed by name


def heuristic_team_orders(params: TeamParams, key: jax.Array, state: EnvState, env_params: EnvParams) -> jax.Array:
    """Each echelon's order from the heuristic in its seat."""
    orders = jnp.zeros(state.net_inventory.shape, jnp.int32)
    for index, (name, heuristic) in enumerate(HEURISTICS.items()):
        own = heuristic.apply(params.by_heuristic[name], key, state, env_params)
        orders = jnp.where(params.seat == index, own, orders)
    return orders


def heuristic_team(seats: Sequence[str | None], **settings: dict[str, Any]) -> Policy:
    """One heuristic per echelon, by name (``None``: a seat filled by someone else, which orders 0).

    ``settings[name]`` holds the keyword settings of heuristic ``name``, e.g.
    ``heuristic_team(["base_stock"] * 4, base_stock={"levels": [8, 8, 0, 0]})``.
    A seated heuristic without settings uses its defaults (base-stock has none:
    it needs its levels); an unseated one gets placeholder parameters, so every
    team of ``A`` seats has the same structure.
    """
    unknown = sorted(
        {seat for seat in seats if seat is not None and seat not in HEURISTICS} | (set(settings) - set(HEURISTICS))
    )
    if unknown:
        raise ValueError(f"unknown heuristic(s) {unknown}; known: {list(HEURISTIC_NAMES)}")
    by_heuristic = {}
    for name, heuristic in HEURISTICS.items():
        if name in settings:
            by_heuristic[name] = heuristic.make_params(**settings[name])
        elif name in seats:
            try:
                by_heuristic[name] = heuristic.make_params()
            except TypeError as error:
                raise ValueError(f"{name} seats need settings: heuristic_team(..., {name}={{...}}) ({error})") from None
        else:
            by_heuristic[name] = heuristic.placeholder(len(seats))
    seat = jnp.asarray([-1 if s is None else HEURISTIC_NAMES.index(s) for s in seats], jnp.int32)
    return Policy(params=TeamParams(seat=seat, by_heuristic=by_heuristic), apply=heuristic_team_orders)
