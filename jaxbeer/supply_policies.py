"""Reference policies of ``jaxbeer.supply`` and their optimiser: base-stock per echelon and product, and dual index.

Policies are ``jaxbeer.policies.Policy`` values (a static rule, parameters as
data), so a grid of levels is one ``vmap`` and ``jaxbeer.rollouts`` plays them.
Their orders are ``int32[A, P, M]``, for ``SupplyChainGame.step_orders``.

* **Base-stock** per echelon and product, by one mode: ``q = max(0, S[k, p] -
  IP[k, p])`` with ``IP = IL + OO - AO``. Under binding capacity the best such
  levels are found for the game's allocation rule, by the same search.
* **Dual index** (two modes: fast ``f``, regular ``r``). Each echelon keeps
  two levels per product. The fast position ``IP_f`` counts the net stock
  after this period's arriving order, the units in transit that arrive
  within the fast lead ``tau_f`` (the order lead plus the fast shipment
  lead, the ``min`` of a range), and its fast-mode orders not yet shipped
  (in transit to the supplier or owed by it). The fast order tops ``IP_f``
  up to ``S_f``; the regular order tops the full position, fast order
  included, up to ``S_r``: ``q_f = max(0, S_f - IP_f)``, ``q_r = max(0, S_r
  - IP - q_f)``. It is the standard near-optimal heuristic for dual sourcing
  (Veeraraghavan and Scheller-Wolf, 2008).

``optimize_levels`` searches either policy's levels with
``jaxbeer.rollouts.search_levels``: every candidate on the same episodes.
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from jaxbeer.policies import Policy
from jaxbeer.rollouts import _team_costs_jit, search_levels
from jaxbeer.supply import SupplyChainGame, SupplyParams, SupplyState, inventory_position
from jaxbeer.validation import check_int


@struct.dataclass
class ProductBaseStockParams:
    """One order-up-to level per echelon and product, and the mode every order goes by."""

    levels: jax.Array  # int32[A, P]
    mode: jax.Array  # int32[]


def product_base_stock_orders(
    params: ProductBaseStockParams, key: jax.Array, state: SupplyState, env_params: SupplyParams
) -> jax.Array:
    """``q[k, p, mode] = max(0, S[k, p] - IP[k, p])``; nothing by the other modes."""
    shortfall = jnp.maximum(params.levels - inventory_position(state), 0)
    modes = jnp.arange(state.last_order.shape[-1])
    return shortfall[..., None] * (modes == params.mode).astype(jnp.int32)


def product_base_stock(env: SupplyChainGame, levels: Any, mode: int | None = None) -> Policy:
    """Base-stock per echelon and product (``levels`` int >= 0 of shape ``[A, P]``, a leading batch axis
    allowed) by ``mode`` (default: the regular mode ``M-1``)."""
    _check_levels("levels", levels, env)
    levels = jnp.asarray(levels, jnp.int32)
    mode = env.config.num_modes - 1 if mode is None else check_int("mode", mode, 0, env.config.num_modes - 1)
    return Policy(
        params=ProductBaseStockParams(levels=levels, mode=jnp.full(levels.shape[:-2], mode, jnp.int32)),
        apply=product_base_stock_orders,
    )


@struct.dataclass
class DualIndexParams:
    """Dual-index levels per echelon and product, and the two modes they order by."""

    fast_levels: jax.Array  # int32[A, P], target of the fast position
    regular_levels: jax.Array  # int32[A, P], target of the full position
    fast_mode: jax.Array  # int32[]
    regular_mode: jax.Array  # int32[]


def fast_inventory_position(state: SupplyState, env_params: SupplyParams, fast_mode: jax.Array) -> jax.Array:
    """Net stock after this period's arriving order, plus what arrives within the fast lead and the fast
    orders not yet shipped, int32[A, P]."""
    order_lead = jnp.concatenate([env_params.order_lead_min, jnp.zeros((1,), jnp.int32)])
    fast_lead = order_lead + env_params.shipment_lead_min[:, fast_mode]
    slots = jnp.arange(state.shipment_pipe.shape[1])
    arriving_soon = jnp.sum(state.shipment_pipe * (slots[None, :, None] <= fast_lead[:, None, None]), axis=1)
    fast_owed = state.owed[1:, fast_mode] + state.order_pipe[1:, :, fast_mode].sum(axis=1)  # echelon k+1 owes k
    fast_outstanding = jnp.concatenate([fast_owed, jnp.zeros((1,) + fast_owed.shape[1:], jnp.int32)])
    return state.net_inventory - state.arriving_order + arriving_soon + fast_outstanding


def dual_index_orders(
    params: DualIndexParams, key: jax.Array, state: SupplyState, env_params: SupplyParams
) -> jax.Array:
    """``q_f = max(0, S_f - IP_f)`` by the fast mode, ``q_r = max(0, S_r - IP - q_f)`` by the regular one."""
    fast = jnp.maximum(params.fast_levels - fast_inventory_position(state, env_params, params.fast_mode), 0)
    regular = jnp.maximum(params.regular_levels - inventory_position(state) - fast, 0)
    modes = jnp.arange(state.last_order.shape[-1])
    by_fast = (modes == params.fast_mode).astype(jnp.int32)
    by_regular = (modes == params.regular_mode).astype(jnp.int32)
    return fast[..., None] * by_fast + regular[..., None] * by_regular


def dual_index(
    env: SupplyChainGame, fast_levels: Any, regular_levels: Any, fast_mode: int = 0, regular_mode: int | None = None
) -> Policy:
    """Dual index with ``[A, P]`` levels (a leading batch axis allowed), fast mode 0 and the regular mode
    ``M-1`` unless told. Regular levels are >= 0; a fast level may be negative, to expedite only against
    a backlog deeper than it."""
    num_modes = env.config.num_modes
    if num_modes < 2:
        raise ValueError(f"dual_index needs a game with at least 2 modes, got num_modes={num_modes}")
    regular_mode = num_modes - 1 if regular_mode is None else regular_mode
    check_int("fast_mode", fast_mode, 0, num_modes - 1)
    check_int("regular_mode", regular_mode, 0, num_modes - 1)
    if fast_mode == regular_mode:
        raise ValueError(f"fast_mode and regular_mode must differ, got both {fast_mode}")
    _check_levels("fast_levels", fast_levels, env, negative=True)
    _check_levels("regular_levels", regular_levels, env)
    fast_levels, regular_levels = jnp.asarray(fast_levels, jnp.int32), jnp.asarray(regular_levels, jnp.int32)
    if fast_levels.shape != regular_levels.shape:
        raise ValueError(
            f"fast_levels and regular_levels must have one shape, got {fast_levels.shape}, {regular_levels.shape}"
        )
    batch = fast_levels.shape[:-2]
    return Policy(
        params=DualIndexParams(
            fast_levels=fast_levels,
            regular_levels=regular_levels,
            fast_mode=jnp.full(batch, fast_mode, jnp.int32),
            regular_mode=jnp.full(batch, regular_mode, jnp.int32),
        ),
        apply=dual_index_orders,
    )


def _check_levels(name: str, levels: Any, env: SupplyChainGame, negative: bool = False) -> None:
    if isinstance(levels, jax.core.Tracer):
        return
    array = np.asarray(levels)
    shape = (env.config.num_agents, env.config.num_products)
    sign_ok = negative or not np.any(array < 0)
    if array.shape[-2:] != shape or not np.issubdtype(array.dtype, np.integer) or not sign_ok:
        kind = "integers" if negative else "integers >= 0"
        raise ValueError(f"{name} must be {kind} of shape {shape} (echelon, product), got {array.tolist()}")


# ------------------------------------------------------------- optimiser
def default_max_level(env: SupplyChainGame, params: SupplyParams) -> int:
    """The search's largest level: twice the lead-time demand, with three standard deviations, of the
    busiest product over the longest lead."""
    mean = float(np.max(np.asarray(params.demand_mean)))
    longest = int(np.max(params.shipment_lead_max)) + int(np.max(params.order_lead_max, initial=0)) + 1
    return int(math.ceil(2 * (mean + 3 * math.sqrt(mean + 1)) * longest))


def lead_demand_levels(env: SupplyChainGame, params: SupplyParams, mode: int) -> np.ndarray:
    """A start for the search: each product's mean demand over each echelon's lead by ``mode``, plus one
    period, int32[A, P]."""
    order_lead = np.append(np.asarray(params.order_lead_min), 0)
    lead = order_lead + np.asarray(params.shipment_lead_min)[:, mode]
    return np.round(np.asarray(params.demand_mean)[None, :] * (lead[:, None] + 1)).astype(np.int32)


def optimize_levels(
    env: SupplyChainGame,
    params: SupplyParams,
    key: jax.Array,
    policy: str = "base_stock",
    *,
    mode: int | None = None,
    start: Any = None,
    num_episodes: int = 100,
    max_level: int | None = None,
    batch_size: int = 512,
) -> tuple[dict[str, np.ndarray], float]:
    """The levels of ``policy`` (``base_stock`` by ``mode``, or ``dual_index``) with the lowest mean team
    cost on ``num_episodes`` episodes (common random numbers), and that cost.

    Returns ``({"levels": [A, P]}, cost)`` or ``({"fast_levels", "regular_levels"}, cost)``. The search
    (``jaxbeer.rollouts.search_levels``) starts from ``start`` (the same dict), else from
    ``lead_demand_levels`` (dual index: fast levels at ``-max_level``, which hardly ever expedite, and
    the regular mode's lead-time levels).
    """
    check_int("num_episodes", num_episodes, 1)
    shape = (env.config.num_agents, env.config.num_products)
    size = shape[0] * shape[1]
    max_level = default_max_level(env, params) if max_level is None else max_level
    regular = env.config.num_modes - 1
    if policy == "base_stock":
        mode = regular if mode is None else check_int("mode", mode, 0, regular)
        first = lead_demand_levels(env, params, mode) if start is None else np.asarray(start["levels"])

        def build(candidates):
            return product_base_stock(env, candidates.reshape((-1,) + shape), mode)

        start_vector = first.reshape(-1)
    elif policy == "dual_index":
        if start is None:
            start = {
                "fast_levels": np.full(shape, -max_level, np.int32),
                "regular_levels": lead_demand_levels(env, params, regular),
            }
        start_vector = np.concatenate(
            [np.asarray(start["fast_levels"]).ravel(), np.asarray(start["regular_levels"]).ravel()]
        )

        half = size

        def build(candidates):
            fast, regular = candidates[:, :half], candidates[:, half:]
            return dual_index(env, fast.reshape((-1,) + shape), regular.reshape((-1,) + shape))

        size *= 2
    else:
        raise ValueError(f"policy must be 'base_stock' or 'dual_index', got {policy!r}")

    def score(candidates: np.ndarray) -> np.ndarray:
        return np.asarray(_team_costs_jit(env, params, build(candidates), key, num_episodes))

    # A fast level below zero expedites only against backlog. The search lets it go down to -max_level,
    # where it expedites only past a backlog deeper than that: the regular mode's base-stock policy,
    # in all but pathological periods, is inside the family searched.
    min_level = np.zeros(size, np.int64)
    if policy == "dual_index":
        min_level[: size // 2] = -max_level
    best, cost = search_levels(score, size, max_level, min_level=min_level, batch_size=batch_size, start=start_vector)
    if policy == "base_stock":
        return {"levels": best.reshape(shape)}, cost
    half = size // 2
    return {"fast_levels": best[:half].reshape(shape), "regular_levels": best[half:].reshape(shape)}, cost
