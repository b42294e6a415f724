"""Named scenarios and ``make``: from a scenario name and overrides to ``(env, params)``.

The four study scenarios follow Oroojlooyjadid et al., "A Deep Q-Network for
the Beer Game" (MSOM 2022) and its public code; ``seed-default`` is the
original plooto-marl example.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax.numpy as jnp
import numpy as np

from jaxbeer import demand as demand_lib
from jaxbeer.env import BeerGame
from jaxbeer.params import DEMAND_KINDS, EnvConfig, EnvParams, as_float32, as_int32
from jaxbeer.validation import check_int, check_range


@dataclasses.dataclass(frozen=True)
class Scenario:
    """One row of the scenario table; the defaults are Sterman's game (costs, leads, start, ranges)."""

    description: str
    demand: dict[str, Any]
    literature_levels: tuple[int, ...] | None
    holding_cost: tuple[float, ...] = (0.5,) * 4
    backlog_cost: tuple[float, ...] = (1.0,) * 4
    shipment_lead: tuple[int, ...] = (2, 2, 2, 3)
    order_lead: tuple[int, ...] = (2, 2, 2)
    initial_inventory: int = 12
    initial_order: int = 4
    initial_shipment: int = 4
    x_range: tuple[int, int] = (-8, 8)
    max_order: int = 40
    horizon: int = 100


SCENARIOS: dict[str, Scenario] = {
    "basic": Scenario(
        description="uniform 0..2 demand, backlog cost at the retailer only",
        demand={"demand": "uniform", "demand_low": 0, "demand_high": 2},
        literature_levels=(8, 8, 0, 0),
        holding_cost=(2, 2, 2, 2),
        backlog_cost=(2, 0, 0, 0),
        shipment_lead=(2, 2, 2, 4),
        initial_inventory=0,
        initial_order=0,
        initial_shipment=0,
        x_range=(-2, 2),
        max_order=16,
    ),
    "uniform-0-8": Scenario(
        description="uniform 0..8 demand, Sterman's costs",
        demand={"demand": "uniform", "demand_low": 0, "demand_high": 8},
        literature_levels=(19, 20, 20, 14),
    ),
    "normal-10-2": Scenario(
        description="max(0, round(N(10, 2))) demand, backlog cost at the retailer only",
        demand={"demand": "normal", "demand_mean": 10.0, "demand_std": 2.0},
        literature_levels=(48, 43, 41, 30),
        holding_cost=(1, 0.75, 0.5, 0.25),
        backlog_cost=(10, 0, 0, 0),
        initial_inventory=10,
        initial_order=10,
        initial_shipment=10,
        x_range=(-5, 5),
        max_order=60,
    ),
    "classic": Scenario(
        description="Sterman's game: demand 4 for periods 0-3, then 8",
        demand={"demand": "classic", "classic_low": 4, "classic_high": 8, "classic_switch": 4},
        literature_levels=(32, 32, 32, 24),
    ),
    "seed-default": Scenario(
        description="the original plooto-marl example: Poisson(8) demand, every lead 2",
        demand={"demand": "poisson", "demand_rate": 8.0},
        literature_levels=None,
        shipment_lead=(2, 2, 2, 2),
        initial_order=8,
        initial_shipment=8,
        max_order=100,
    ),
}

_DEMAND_DEFAULTS: dict[str, Any] = {
    "demand_low": 0,
    "demand_high": 8,
    "demand_mean": 10.0,
    "demand_std": 2.0,
    "demand_rate": 8.0,
    "classic_low": 4,
    "classic_high": 8,
    "classic_switch": 4,
    "seasonal_mean": 8.0,
    "seasonal_amplitude": 4.0,
    "seasonal_period": 52.0,
    "seasonal_noise": 1.0,
}
_INT32_MAX = 2**31 - 1
MAX_LEAD = 1024
_WHOLE_NUMBER_KEYS = (
    "num_agents",
    "horizon",
    "max_order",
    "x_low",
    "x_high",
    "obs_history",
    "demand_low",
    "demand_high",
    "classic_low",
    "classic_high",
    "classic_switch",
)
_CONFIG_KEYS = ("num_agents", "horizon", "action_mode", "max_order", "x_low", "x_high", "obs_history", "team_reward")
_LEAD_KEYS = (
    "shipment_lead",
    "shipment_lead_min",
    "shipment_lead_max",
    "order_lead",
    "order_lead_min",
    "order_lead_max",
)
_OTHER_KEYS = (
    "demand",
    "demand_trace",
    "reward_scale",
    "obs_scale",
    "holding_cost",
    "backlog_cost",
    "initial_inventory",
    "initial_order",
    "initial_shipment",
)
ALLOWED_OVERRIDES = tuple(sorted(set(_CONFIG_KEYS) | set(_LEAD_KEYS) | set(_OTHER_KEYS) | set(_DEMAND_DEFAULTS)))


def scenario_names() -> tuple[str, ...]:
    """The names ``make`` accepts, in table order."""
    return tuple(SCENARIOS)


def literature_levels(name: str) -> np.ndarray | None:
    """Base-stock levels reported for ``name`` in the deep-Q study, or None."""
    levels = _scenario(name).literature_levels
    return None if levels is None else np.asarray(levels, np.int32)


def make(name: str = "basic", **overrides: Any) -> tuple[BeerGame, EnvParams]:
    """Build the env and its params for scenario ``name``.

    Any field can be overridden by keyword: static settings (``horizon``,
    ``action_mode``, ``max_order``, ``x_low``, ``x_high``, ``obs_history``,
    ``team_reward``, ``num_agents``), per-echelon arrays or scalars
    (``holding_cost``, ``backlog_cost``, ``initial_*``), lead times
    (``shipment_lead``/``order_lead`` fix them; ``*_lead_min``/``*_lead_max``
    randomise them per shipment or order), the demand process (``demand`` one
    of classic/uniform/normal/poisson/seasonal/trace and its settings) and
    ``demand_trace``, which replays a given customer-demand path.
    Raises ``ValueError`` naming the field and its allowed range.

    The domain: counts are int32, so every count an episode can reach (all
    stock that enters the chain, plus ``horizon`` periods of the largest
    demand or order) must stay below 2**31; ``make`` refuses settings that
    could overflow, naming them. The bound holds for episodes of at most
    ``horizon`` periods (``step`` and ``step_orders`` reset there; ``step_env``
    runs past it at the caller's risk). Integers may be given as integral
    floats; per-echelon settings are a scalar or exactly one value per
    echelon (the scenario's own uniform defaults stretch to another
    ``num_agents``).
    """
    scenario = _scenario(name)
    unknown = sorted(set(overrides) - set(ALLOWED_OVERRIDES))
    if unknown:
        raise ValueError(f"unknown make() argument(s) {unknown}; allowed: {list(ALLOWED_OVERRIDES)}")

    settings: dict[str, Any] = {
        "holding_cost": scenario.holding_cost,
        "backlog_cost": scenario.backlog_cost,
        "initial_inventory": scenario.initial_inventory,
        "initial_order": scenario.initial_order,
        "initial_shipment": scenario.initial_shipment,
        "x_low": scenario.x_range[0],
        "x_high": scenario.x_range[1],
        "max_order": scenario.max_order,
        "horizon": scenario.horizon,
        "reward_scale": 1.0,
        **_DEMAND_DEFAULTS,
        **scenario.demand,
    }
    settings.update(overrides)
    for key in _WHOLE_NUMBER_KEYS:
        if key in settings:
            if np.ndim(settings[key]) != 0:
                raise ValueError(f"{key} must be a single whole number, got {settings[key]!r}")
            settings[key] = _whole(key, settings[key])
    num_agents = check_int("num_agents", settings.get("num_agents", 4), 2)
    if "demand_trace" in overrides:
        settings["demand"] = "trace"

    shipment_min, shipment_max = _lead_pair(settings, overrides, "shipment_lead", scenario.shipment_lead, num_agents)
    order_min, order_max = _lead_pair(settings, overrides, "order_lead", scenario.order_lead, num_agents - 1)
    per_echelon = {
        key: _per_echelon(key, settings[key], num_agents, stretch=key not in overrides)
        for key in ("holding_cost", "backlog_cost", "initial_inventory", "initial_order", "initial_shipment")
    }
    for key in ("initial_inventory", "initial_order", "initial_shipment"):
        per_echelon[key] = _whole(key, per_echelon[key])
    for key in (
        "reward_scale",
        "seasonal_mean",
        "seasonal_amplitude",
        "seasonal_period",
        "seasonal_noise",
        "demand_mean",
        "demand_std",
        "demand_rate",
    ):
        check_range(key, settings[key])
    horizon = check_int("horizon", settings["horizon"], 1)
    for name, values in (("shipment_lead_max", shipment_max), ("order_lead_max", order_max)):
        if values.size and int(values.max()) > MAX_LEAD:
            raise ValueError(
                f"{name} must be <= {MAX_LEAD} periods (each game keeps a ring buffer of lead + 1 "
                f"slots per echelon), got {values.tolist()}"
            )
    kind, thresholds, offset, trace, mean, peak = _demand(settings, horizon)
    _check_count_range(settings, per_echelon, shipment_max, order_max, horizon, peak)

    config = EnvConfig(
        num_agents=num_agents,
        horizon=horizon,
        action_mode=settings.get("action_mode", "absolute"),
        max_order=settings["max_order"],
        x_low=settings["x_low"],
        x_high=settings["x_high"],
        obs_history=settings.get("obs_history", 0),
        team_reward=bool(settings.get("team_reward", False)),
        demand_kind=kind,
        shipment_buffer=int(max(shipment_max.max(), 1)) + 1,
        order_buffer=int(order_max.max(initial=0)) + 1,
        random_leads=bool(np.any(shipment_min != shipment_max) or np.any(order_min != order_max)),
        trace_length=int(trace.size),
        demand_table_size=int(thresholds.size),
    )
    obs_scale = settings.get("obs_scale", 1.0 / (4.0 * max(mean, 1.0)))
    params = EnvParams(
        holding_cost=as_float32(per_echelon["holding_cost"]),
        backlog_cost=as_float32(per_echelon["backlog_cost"]),
        shipment_lead_min=as_int32(shipment_min),
        shipment_lead_max=as_int32(shipment_max),
        order_lead_min=as_int32(order_min),
        order_lead_max=as_int32(order_max),
        initial_inventory=as_int32(per_echelon["initial_inventory"]),
        initial_order=as_int32(per_echelon["initial_order"]),
        initial_shipment=as_int32(per_echelon["initial_shipment"]),
        demand_thresholds=_as_uint32(thresholds),
        demand_offset=as_int32(offset),
        classic_low=as_int32(settings["classic_low"]),
        classic_high=as_int32(settings["classic_high"]),
        classic_switch=as_int32(settings["classic_switch"]),
        seasonal_mean=as_float32(settings["seasonal_mean"]),
        seasonal_amplitude=as_float32(settings["seasonal_amplitude"]),
        seasonal_period=as_float32(settings["seasonal_period"]),
        demand_trace=as_int32(trace),
        demand_mean=as_float32(mean),
        reward_scale=as_float32(settings["reward_scale"]),
        obs_scale=as_float32(obs_scale),
    )
    params.check_shapes(config)
    return BeerGame(config), params


def _scenario(name: str) -> Scenario:
    if name not in SCENARIOS:
        raise ValueError(f"unknown scenario {name!r}; known scenarios: {list(SCENARIOS)}")
    return SCENARIOS[name]


def _per_echelon(name: str, value: Any, length: int, stretch: bool = False) -> np.ndarray:
    """One value per echelon from a scalar or a list of exactly ``length``; ``stretch`` lets a uniform
    scenario default fit another chain length (never a list the caller gave)."""
    array = np.asarray(value)
    if not np.issubdtype(array.dtype, np.number) or np.issubdtype(array.dtype, np.bool_):
        raise ValueError(f"{name} must be numeric, got {value!r}")
    if array.ndim == 0:
        return np.full((length,), array)
    if array.ndim != 1:
        raise ValueError(f"{name} must be a scalar or have length {length}, got shape {array.shape}")
    if array.size != length:
        if stretch and array.size > 0 and np.all(array == array[0]):
            return np.full((length,), array[0])
        raise ValueError(f"{name} must be a scalar or have length {length} (one per echelon), got {array.size}")
    return array


def _whole(name: str, value: Any) -> Any:
    """``value`` (a number or an array) as integers, if every entry is a finite whole number."""
    array = np.asarray(value)
    if array.dtype == object or not np.issubdtype(array.dtype, np.number) or np.issubdtype(array.dtype, np.bool_):
        raise ValueError(f"{name} must be a whole number, got {value!r}")
    if not np.all(np.isfinite(array)) or np.any(array != np.round(array)):
        raise ValueError(f"{name} must be a whole number, got {np.asarray(value).tolist()}")
    if np.any(np.abs(array) > _INT32_MAX):
        raise ValueError(f"{name} must fit a 32-bit count (|value| <= {_INT32_MAX}), got {array.tolist()}")
    whole = array.astype(np.int64)
    return int(whole) if whole.ndim == 0 else whole


def _check_count_range(settings, per_echelon, shipment_max, order_max, horizon: int, peak_demand: int) -> None:
    """Refuse settings whose counts could leave int32 within an episode: everything that starts in the
    chain plus ``horizon`` periods of the largest demand or order bounds any stock, backlog or on-order."""
    buffer = int(max(shipment_max.max(), order_max.max(initial=0))) + 1
    initial = int(
        np.sum(per_echelon["initial_inventory"])
        + buffer * (np.sum(per_echelon["initial_shipment"]) + np.sum(per_echelon["initial_order"]))
    )
    largest = max(int(settings["max_order"]), int(peak_demand))
    if initial + horizon * largest > _INT32_MAX:
        raise ValueError(
            f"horizon={horizon} periods of up to {largest} units (max_order={settings['max_order']}, largest "
            f"demand {peak_demand}) on top of {initial} initial units could overflow the int32 counts "
            f"(limit {_INT32_MAX}); lower horizon, max_order or the demand"
        )


def _lead_pair(settings, overrides, prefix, default, length):
    fixed = settings.get(prefix, default)
    stretch = prefix not in overrides
    low = _per_echelon(
        f"{prefix}_min",
        settings.get(f"{prefix}_min", fixed),
        length,
        stretch=stretch and f"{prefix}_min" not in overrides,
    )
    high = _per_echelon(
        f"{prefix}_max",
        settings.get(f"{prefix}_max", fixed),
        length,
        stretch=stretch and f"{prefix}_max" not in overrides,
    )
    for label, values in ((f"{prefix}_min", low), (f"{prefix}_max", high)):
        if np.any(values != np.round(values)):
            raise ValueError(f"{label} must be whole periods, got {values.tolist()}")
    floor = 1 if prefix == "shipment_lead" else 0
    for label, values in ((f"{prefix}_min", low), (f"{prefix}_max", high)):
        if np.any(values < floor):
            raise ValueError(f"{label} must be >= {floor}, got {values.tolist()}")
    if np.any(low > high):
        raise ValueError(f"{prefix}_min must be <= {prefix}_max, got min={low.tolist()} max={high.tolist()}")
    return _whole(f"{prefix}_min", low), _whole(f"{prefix}_max", high)


def _demand(settings: dict[str, Any], horizon: int):
    kind = settings["demand"]
    if kind not in DEMAND_KINDS:
        raise ValueError(f"demand must be one of {DEMAND_KINDS}, got {kind!r}")
    trace = np.zeros((1,), np.int32)
    thresholds, offset = demand_lib.thresholds_from_pmf(np.ones(1)), 0
    if kind == "uniform":
        thresholds, offset = demand_lib.uniform_table(settings["demand_low"], settings["demand_high"])
        mean = 0.5 * (settings["demand_low"] + settings["demand_high"])
    elif kind == "normal":
        thresholds, offset = demand_lib.normal_table(float(settings["demand_mean"]), float(settings["demand_std"]))
        mean = demand_lib.table_mean(thresholds, offset)
    elif kind == "poisson":
        thresholds, offset = demand_lib.poisson_table(float(settings["demand_rate"]))
        mean = float(settings["demand_rate"])
    elif kind == "seasonal":
        thresholds, offset = demand_lib.noise_table(float(settings["seasonal_noise"]))
        mean = float(settings["seasonal_mean"])
    elif kind == "classic":
        low, high = settings["classic_low"], settings["classic_high"]
        mean = float(high)
        if low < 0 or high < 0:
            raise ValueError(f"classic_low and classic_high must be >= 0, got {low}, {high}")
        peak = max(low, high)
    else:
        trace = np.asarray(settings.get("demand_trace"))
        if trace.ndim != 1 or not np.issubdtype(trace.dtype, np.integer):
            raise ValueError(f"demand_trace must be a 1-D integer array, got {trace!r}")
        if trace.size < horizon:
            raise ValueError(f"demand_trace must hold at least horizon={horizon} periods, got {trace.size}")
        if np.any(trace < 0):
            raise ValueError("demand_trace must be >= 0 everywhere")
        if np.any(trace > _INT32_MAX):
            raise ValueError(f"demand_trace must fit a 32-bit count (<= {_INT32_MAX})")
        mean = float(trace[:horizon].mean())
        peak = int(trace[:horizon].max())
    if kind not in ("classic", "trace"):  # the table's largest value, plus the seasonal swing
        peak = offset + thresholds.size
        if kind == "seasonal":
            peak += int(np.ceil(abs(float(settings["seasonal_mean"])) + abs(float(settings["seasonal_amplitude"]))))
    return kind, thresholds, offset, trace.astype(np.int32), float(mean), int(peak)


def _as_uint32(values: np.ndarray):
    return jnp.asarray(np.asarray(values, dtype=np.uint32))
