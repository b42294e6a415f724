"""Static settings and array parameters of the beer game.

Two objects describe a game:

* ``EnvConfig``: hashable, static settings that fix array shapes and control
  flow (number of echelons, horizon, buffer sizes, action mode, demand kind,
  observation layout). Changing one recompiles.
* ``EnvParams``: a ``flax.struct`` dataclass of arrays (costs, lead times,
  initial conditions, demand tables). ``jax.vmap`` can vary any of them per
  game, so sweeps and domain randomisation need no recompilation.

Both validate concrete values when they are built and raise ``ValueError``
naming the field and its allowed range. Inside ``jit`` nothing can raise, so the
dynamics clip instead (documented in ``jaxbeer.env``).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from jaxbeer.validation import check_int

ACTION_MODES = ("absolute", "relative", "order_up_to")
DEMAND_KINDS = ("classic", "uniform", "normal", "poisson", "seasonal", "trace")


@dataclasses.dataclass(frozen=True)
class EnvConfig:
    """Static settings. Hashable, so an env can be a static argument of ``jit``."""

    num_agents: int = 4
    horizon: int = 100
    action_mode: str = "absolute"
    max_order: int = 100
    x_low: int = -8
    x_high: int = 8
    obs_history: int = 0
    team_reward: bool = False
    demand_kind: str = "poisson"
    # Ring buffers hold slots 0..size-1, so they fit lead times up to size-1.
    shipment_buffer: int = 3
    order_buffer: int = 3
    # False lets the step skip the lead-time draws when every lead is fixed.
    random_leads: bool = False
    trace_length: int = 1
    demand_table_size: int = 1

    def __post_init__(self):
        check_int("num_agents", self.num_agents, 2)
        check_int("horizon", self.horizon, 1)
        if self.action_mode not in ACTION_MODES:
            raise ValueError(f"action_mode must be one of {ACTION_MODES}, got {self.action_mode!r}")
        check_int("max_order", self.max_order, 1)
        check_int("x_low", self.x_low)
        check_int("x_high", self.x_high)
        if self.x_low > self.x_high:
            raise ValueError(f"x range: x_low must be <= x_high, got x_low={self.x_low} > x_high={self.x_high}")
        check_int("obs_history", self.obs_history, 0)
        if self.demand_kind not in DEMAND_KINDS:
            raise ValueError(f"demand_kind must be one of {DEMAND_KINDS}, got {self.demand_kind!r}")
        check_int("shipment_buffer", self.shipment_buffer, 2)
        check_int("order_buffer", self.order_buffer, 1)
        check_int("trace_length", self.trace_length, 1)
        check_int("demand_table_size", self.demand_table_size, 1)
        if self.demand_kind == "trace" and self.trace_length < self.horizon:
            raise ValueError(f"demand_trace must hold at least horizon={self.horizon} periods, got {self.trace_length}")

    @property
    def num_actions(self) -> int:
        """Size of the discrete action space."""
        return self.action_high - self.action_low + 1

    @property
    def action_low(self) -> int:
        """Smallest action: x_low for relative actions, else 0 (an order or a target of 0)."""
        return self.x_low if self.action_mode == "relative" else 0

    @property
    def action_high(self) -> int:
        """Largest action: x_high for relative actions, else max_order."""
        return self.x_high if self.action_mode == "relative" else self.max_order


@struct.dataclass
class EnvParams:
    """Array parameters of one game. Every count is int32, every cost float32.

    Per-echelon arrays have length ``A`` (echelon 0 is the retailer, ``A-1`` the
    manufacturer); order leads have length ``A-1`` because the manufacturer's
    order goes to production, whose delay is ``shipment_lead_*[A-1]``.
    """

    holding_cost: jax.Array  # float32[A], per unit on hand per period
    backlog_cost: jax.Array  # float32[A], per unit backlogged per period
    shipment_lead_min: jax.Array  # int32[A], >= 1; lead of shipments *into* echelon k
    shipment_lead_max: jax.Array  # int32[A]
    order_lead_min: jax.Array  # int32[A-1], >= 0; lead of orders from k to k+1
    order_lead_max: jax.Array  # int32[A-1]
    initial_inventory: jax.Array  # int32[A]
    initial_order: jax.Array  # int32[A]
    initial_shipment: jax.Array  # int32[A]
    # Demand: d = max(0, base_t + demand_offset + #{i : u >= demand_thresholds[i]}),
    # u a uniform 32-bit word; thresholds are an inverse-CDF table.
    demand_thresholds: jax.Array  # uint32[K]
    demand_offset: jax.Array  # int32[]
    classic_low: jax.Array  # int32[], classic: demand before the switch
    classic_high: jax.Array  # int32[], classic: demand from the switch on
    classic_switch: jax.Array  # int32[], classic: first period of the high demand
    seasonal_mean: jax.Array  # float32[]
    seasonal_amplitude: jax.Array  # float32[]
    seasonal_period: jax.Array  # float32[], > 0
    demand_trace: jax.Array  # int32[trace_length]
    demand_mean: jax.Array  # float32[], used for documentation and scaling only
    reward_scale: jax.Array  # float32[]
    obs_scale: jax.Array  # float32[], observations are counts times this factor

    def __post_init__(self):
        # Unflattening inside jit/vmap rebuilds the dataclass from tracers or
        # placeholders; only concrete values can be checked.
        if all(
            isinstance(leaf, (np.ndarray, np.generic, int, float)) or _is_concrete(leaf)
            for leaf in dataclasses.astuple(self)
        ):
            validate_values(self)

    def check_shapes(self, config: EnvConfig) -> None:
        """Raise ``ValueError`` if an array does not fit ``config`` (unbatched)."""
        num_agents = config.num_agents
        expected = {
            "holding_cost": (num_agents,),
            "backlog_cost": (num_agents,),
            "shipment_lead_min": (num_agents,),
            "shipment_lead_max": (num_agents,),
            "order_lead_min": (num_agents - 1,),
            "order_lead_max": (num_agents - 1,),
            "initial_inventory": (num_agents,),
            "initial_order": (num_agents,),
            "initial_shipment": (num_agents,),
            "demand_thresholds": (config.demand_table_size,),
            "demand_trace": (config.trace_length,),
        }
        for name, shape in expected.items():
            got = tuple(np.shape(getattr(self, name)))
            if got != shape:
                raise ValueError(f"{name} must have shape {shape} (one entry per echelon), got {got}")
        if int(np.max(self.shipment_lead_max)) > config.shipment_buffer - 1:
            raise ValueError(
                f"shipment_lead_max must be <= shipment_buffer-1={config.shipment_buffer - 1}, "
                f"got {np.asarray(self.shipment_lead_max).tolist()}"
            )
        if int(np.max(self.order_lead_max)) > config.order_buffer - 1:
            raise ValueError(
                f"order_lead_max must be <= order_buffer-1={config.order_buffer - 1}, "
                f"got {np.asarray(self.order_lead_max).tolist()}"
            )
        fixed = bool(
            np.all(np.asarray(self.shipment_lead_min) == np.asarray(self.shipment_lead_max))
            and np.all(np.asarray(self.order_lead_min) == np.asarray(self.order_lead_max))
        )
        if not fixed and not config.random_leads:
            raise ValueError("lead_min != lead_max needs random_leads=True in EnvConfig")


def _is_concrete(leaf: Any) -> bool:
    return isinstance(leaf, jax.Array) and not isinstance(leaf, jax.core.Tracer)


def validate_values(params: EnvParams) -> None:
    """Elementwise checks that also hold for batched (vmapped) params."""

    def arr(name):
        return np.asarray(getattr(params, name))

    for name in ("holding_cost", "backlog_cost", "reward_scale", "obs_scale"):
        values = arr(name)
        if not np.all(np.isfinite(values)) or np.any(values < 0):
            raise ValueError(f"{name} must be finite and >= 0, got {values.tolist()}")
    for name in (
        "order_lead_min",
        "order_lead_max",
        "initial_inventory",
        "initial_order",
        "initial_shipment",
        "demand_trace",
        "classic_low",
        "classic_high",
        "classic_switch",
    ):
        if np.any(arr(name) < 0):
            raise ValueError(f"{name} must be >= 0, got {arr(name).tolist()}")
    for name in ("shipment_lead_min", "shipment_lead_max"):
        if np.any(arr(name) < 1):
            raise ValueError(f"{name} must be >= 1 (a shipment takes at least one period), got {arr(name).tolist()}")
    for kind in ("shipment", "order"):
        low, high = arr(f"{kind}_lead_min"), arr(f"{kind}_lead_max")
        if np.any(low > high):
            raise ValueError(f"{kind}_lead_min must be <= {kind}_lead_max, got min={low.tolist()} max={high.tolist()}")
    for name in ("seasonal_mean", "seasonal_amplitude", "seasonal_period", "demand_mean"):
        if not np.all(np.isfinite(arr(name))):
            raise ValueError(f"{name} must be finite, got {arr(name).tolist()}")
    if np.any(arr("seasonal_period") <= 0):
        raise ValueError(f"seasonal_period must be > 0, got {arr('seasonal_period').tolist()}")


def as_int32(values: Any) -> jax.Array:
    """``values`` as an int32 jax array."""
    return jnp.asarray(np.asarray(values, dtype=np.int32))


def as_float32(values: Any) -> jax.Array:
    """``values`` as a float32 jax array."""
    return jnp.asarray(np.asarray(values, dtype=np.float32))
