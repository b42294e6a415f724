"""The beer game with several products, transport modes, shared capacity and lost sales.

``SupplyChainGame`` is ``BeerGame``'s period (``jaxbeer.env``) with two more
axes, and the same API: ``reset``, ``step`` (the auto-reset), ``step_env``,
``step_orders``, ``get_obs``, ``global_state`` and the spaces. ``make_supply``
builds one from a scenario. With one product, one mode, no capacity and
backlog, it plays ``BeerGame``'s game exactly (same key, same trajectory);
``jaxbeer.make`` keeps returning the single-product ``BeerGame``, whose step
has no product or mode axes to carry (``docs/supply.md`` times both).

Axes: ``A`` echelons (0 retailer .. ``A-1`` manufacturer), ``P`` products,
``M`` transport modes. Mode ``m`` of echelon ``k`` is a lead time (fixed, or a
range drawn per shipment) and a cost per unit, ``transport_cost[k, m]``,
charged to ``k`` (the ordering echelon) when the units ship to it. Row ``A-1``
is production: its modes are the plant's (for example regular and overtime),
and its units are charged when production starts. Modes are listed in the
order the supplier serves them: mode 0 first (the fast, expedited one), mode
``M-1`` last (the regular one, by which the initial pipeline was ordered).

One period ``t`` (the single-product steps 1-5, per product):

1. Every echelon orders ``q[k, p, m] >= 0``, one quantity per product and
   mode (``action`` and ``orders`` are ``int32[A, P, M]``). Orders travel
   upstream with their mode: the supplier keeps what it owes per mode.
2. The manufacturer's orders start production at the mode's production lead.
   With ``production_capacity``, at most ``params.production_capacity`` units
   start in all, over products and modes, shared by the allocation rule; the
   rest is dropped, not queued (on-order counts what started, so the
   manufacturer's next inventory position orders it again).
3. Each echelon ships, per product, ``min(on hand + arriving shipment, owed +
   arriving orders)``. With ``shipping_capacity``, at most
   ``params.shipping_capacity[k]`` units leave echelon ``k`` in all products,
   shared by the allocation rule; the rest stays on hand and stays owed. Each
   product's shipment serves mode 0's dues first, then mode 1's, and so on
   (older dues before this period's within a mode). Units shipped by mode
   ``m`` enter the pipeline at that mode's lead.
4. With ``lost_sales``, the retailer's unmet customer demand is dropped
   instead of backlogged, at ``lost_sales_cost[p]`` per unit (upstream
   echelons still backlog). Cost of echelon ``k``: holding on what is on
   hand, backlog on what it owes, its transport, and at the retailer the lost
   sales.
5. Buffers advance; each product's next demand enters the retailer's order slot.

**Allocation rules** (``allocation``), for requests ``r_i`` sharing capacity
``C`` when ``sum r > C``:

* ``proportional``: ``floor(r_i * C / sum r)`` each, and the units left over
  one at a time to the largest remainders (ties: the lower index). Exact in
  int32 while ``r_i * C < 2**31``: capacities are at most 46,340 units, and a
  single request above that is counted as 46,340 (only past any sane game);
* ``priority``: in index order (product 0 first; for production, mode 0's
  products first), each takes what it asks while capacity lasts.

Either way no unit is created or lost: what is not granted stays owed (or, in
production, is not started). Inside ``jit`` nothing can raise, so orders are
clipped into ``[0, max_order]`` and lead times into the ring buffers, as in
``BeerGame``.

**Observation** ``float32[A, 6 * P + 1 + 3 * P * H]``: per echelon, the six
counts ``[on_hand, backlog, on_order, arriving_shipment, arriving_order,
last_order]`` (each a block of ``P``, the last two summed over modes), the
elapsed share of the horizon, then ``H`` periods of ``(arriving_order,
arriving_shipment, order)`` per product; counts times ``obs_scale[p]``.

**info**: ``cost`` float32[A] (the reward's source); ``holding``, ``backlog``
float32[A, P]; ``transport`` float32[A, M]; ``lost`` int32[P] (units) and
``lost_cost`` float32[P]; ``orders``, ``shipped`` (what each echelon sent
downstream, per mode) int32[A, P, M]; ``produced`` int32[P, M]; ``filled``,
``arriving_order``, ``net_inventory`` int32[A, P]; ``demand`` int32[P];
``final_obs`` and ``final_state`` as in ``BeerGame``.
"""

from __future__ import annotations

import dataclasses
import types
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from jaxbeer.demand import demand_at, random_words
from jaxbeer.env import FINAL_OBS, FINAL_STATE, HISTORY_FEATURES, _advance, _computed_once, _one_hot_slots
from jaxbeer.params import EnvConfig, as_float32, as_int32
from jaxbeer.scenarios import _DEMAND_DEFAULTS, make
from jaxbeer.spaces import Box, Discrete
from jaxbeer.validation import check_int

ALLOCATION_RULES = ("proportional", "priority")
MAX_CAPACITY = 46_340  # the largest C with C * C < 2**31, so the proportional rule's products fit int32
COUNT_FEATURES = 6
_INT32 = np.iinfo(np.int32)


@dataclasses.dataclass(frozen=True)
class SupplyConfig:
    """Static settings: the single-product game's (``game``) plus the product and mode counts and switches."""

    game: EnvConfig
    num_products: int = 1
    num_modes: int = 1
    lost_sales: bool = False
    production_capacity: bool = False  # whether params.production_capacity applies
    shipping_capacity: bool = False  # whether params.shipping_capacity applies
    allocation: str = "proportional"

    def __post_init__(self):
        check_int("num_products", self.num_products, 1)
        check_int("num_modes", self.num_modes, 1)
        if self.allocation not in ALLOCATION_RULES:
            raise ValueError(f"allocation must be one of {ALLOCATION_RULES}, got {self.allocation!r}")
        if self.num_modes > 1 and self.game.action_mode != "absolute":
            raise ValueError(
                f"action_mode must be 'absolute' with num_modes={self.num_modes} > 1 (an order per mode), "
                f"got {self.game.action_mode!r}"
            )

    @property
    def num_agents(self) -> int:
        """``A``, the number of echelons."""
        return self.game.num_agents

    @property
    def horizon(self) -> int:
        """Periods per episode."""
        return self.game.horizon


@struct.dataclass
class SupplyParams:
    """Array parameters of one game: counts int32, costs float32 (per echelon, product and mode)."""

    holding_cost: jax.Array  # float32[A, P]
    backlog_cost: jax.Array  # float32[A, P]
    lost_sales_cost: jax.Array  # float32[P], per unit of customer demand lost (with lost_sales)
    transport_cost: jax.Array  # float32[A, M], per unit shipped into echelon k by mode m (row A-1: production)
    shipment_lead_min: jax.Array  # int32[A, M], >= 1
    shipment_lead_max: jax.Array  # int32[A, M]
    order_lead_min: jax.Array  # int32[A-1]
    order_lead_max: jax.Array  # int32[A-1]
    initial_inventory: jax.Array  # int32[A, P]
    initial_order: jax.Array  # int32[A, P], by the regular mode M-1
    initial_shipment: jax.Array  # int32[A, P]
    production_capacity: jax.Array  # int32[], units per period over products and modes
    shipping_capacity: jax.Array  # int32[A], units leaving echelon k per period over products
    demand_thresholds: jax.Array  # uint32[P, K], each product's inverse-CDF table (jaxbeer.demand)
    demand_offset: jax.Array  # int32[P]
    classic_low: jax.Array  # int32[P]
    classic_high: jax.Array  # int32[P]
    classic_switch: jax.Array  # int32[P]
    seasonal_mean: jax.Array  # float32[P]
    seasonal_amplitude: jax.Array  # float32[P]
    seasonal_period: jax.Array  # float32[P]
    demand_trace: jax.Array  # int32[T, P]
    demand_mean: jax.Array  # float32[P]
    reward_scale: jax.Array  # float32[]
    obs_scale: jax.Array  # float32[P]


@struct.dataclass
class SupplyState:
    """Everything that changes during a game; counts are int32."""

    on_hand: jax.Array  # int32[A, P]
    owed: jax.Array  # int32[A, M, P], what echelon k owes downstream (the retailer: its customers, mode 0)
    on_order: jax.Array  # int32[A, P]
    shipment_pipe: jax.Array  # int32[A, shipment_buffer, P]; [k, i] reaches echelon k in i periods
    order_pipe: jax.Array  # int32[A, order_buffer, M, P]; [k, i] reaches echelon k in i periods
    last_order: jax.Array  # int32[A, P, M]
    period: jax.Array  # int32[]
    history: jax.Array  # int32[A, obs_history, 3, P]

    @property
    def net_inventory(self) -> jax.Array:
        """On hand minus backlog, int32[A, P] (with binding shipping capacity both can be positive)."""
        return self.on_hand - self.owed.sum(axis=-2)

    @property
    def arriving_order(self) -> jax.Array:
        """This period's arriving orders over all modes, int32[A, P]."""
        return self.order_pipe[..., 0, :, :].sum(axis=-2)


def inventory_position(state: SupplyState) -> jax.Array:
    """``IL + OO - AO`` per echelon and product at decision time, int32[A, P]."""
    return state.net_inventory + state.on_order - state.arriving_order


def allocate(requests: jax.Array, capacity: jax.Array, rule: str) -> jax.Array:
    """Units granted to ``requests`` (int32[..., N]) sharing ``capacity`` (int32[...]) by ``rule``.

    Grants nothing beyond a request and, when requests exceed the capacity,
    exactly the capacity in all (see the module docstring for the rules).
    """
    capacity = jnp.clip(capacity, 0, MAX_CAPACITY)[..., None]
    bounded = jnp.minimum(requests, MAX_CAPACITY)  # no grant exceeds the capacity, and the sums fit int32
    if rule == "priority":
        before = jnp.cumsum(bounded, axis=-1) - bounded
        return jnp.clip(capacity - before, 0, bounded)
    total = bounded.sum(axis=-1, keepdims=True)
    scaled = bounded * capacity
    share = scaled // jnp.maximum(total, 1)
    remainder = scaled % jnp.maximum(total, 1)
    left = capacity - share.sum(axis=-1, keepdims=True)
    index = jnp.arange(requests.shape[-1])
    ahead = (remainder[..., None, :] > remainder[..., :, None]) | (
        (remainder[..., None, :] == remainder[..., :, None]) & (index[None, :] < index[:, None])
    )
    rank = ahead.sum(axis=-1)  # how many requests are served before this one
    granted = share + (rank < left).astype(jnp.int32)
    return jnp.where(total <= capacity, bounded, granted)


class SupplyChainGame:
    """The beer game over products and transport modes (the module docstring is the spec sheet).

    >>> import jax, jax.numpy as jnp, jaxbeer
    >>> env, params = jaxbeer.make_supply("basic", products=2, production_capacity=3)
    >>> obs, state = jax.jit(env.reset)(jax.random.key(0), params)
    >>> orders = jnp.full((4, 2, 1), 2, jnp.int32)
    >>> step = jax.jit(env.step_orders)
    >>> obs, state, reward, terminated, truncated, info = step(jax.random.key(1), state, orders, params)
    >>> info["produced"].sum().tolist()
    3
    """

    def __init__(self, config: SupplyConfig):
        self.config = config

    def __hash__(self):
        return hash(self.config)

    def __eq__(self, other):
        return isinstance(other, SupplyChainGame) and other.config == self.config

    def __repr__(self):
        return f"SupplyChainGame({self.config})"

    @property
    def num_agents(self) -> int:
        """``A``, the number of echelons."""
        return self.config.num_agents

    @property
    def action_shape(self) -> tuple[int, int, int]:
        """``(A, P, M)``: one order per echelon, product and mode."""
        return (self.config.num_agents, self.config.num_products, self.config.num_modes)

    @property
    def obs_dim(self) -> int:
        """Features per echelon in an observation."""
        products = self.config.num_products
        return COUNT_FEATURES * products + 1 + HISTORY_FEATURES * products * self.config.game.obs_history

    # ----------------------------------------------------------------- reset
    def reset(self, key: jax.Array, params: SupplyParams) -> tuple[jax.Array, SupplyState]:
        """``(obs, state)`` of a new episode; ``key`` draws each product's first demand."""
        return self.reset_env(key, params)

    def reset_env(self, key: jax.Array, params: SupplyParams) -> tuple[jax.Array, SupplyState]:
        """The same as ``reset`` (gymnax's name)."""
        words = random_words(key, self.config.num_products)  # word 0 is BeerGame's first-demand word
        state = self.initial_state(params, self._demands(params, jnp.int32(0), words))
        return self.get_obs(state, params), state

    def initial_state(self, params: SupplyParams, first_demand: jax.Array) -> SupplyState:
        """Steady pipeline by the regular mode ``M-1``: ``initial_shipment`` in its first
        ``shipment_lead_min`` slots, ``initial_order`` in the first ``order_lead_min`` slots."""
        cfg, game = self.config, self.config.game
        regular = cfg.num_modes - 1
        shipment_slots = jnp.arange(game.shipment_buffer, dtype=jnp.int32)
        regular_lead = params.shipment_lead_min[:, regular]
        shipment_pipe = jnp.where(
            shipment_slots[None, :, None] < regular_lead[:, None, None], params.initial_shipment[:, None, :], 0
        ).astype(jnp.int32)
        order_slots = jnp.arange(game.order_buffer, dtype=jnp.int32)
        upstream = jnp.where(
            order_slots[None, :, None] < params.order_lead_min[:, None, None], params.initial_order[:-1, None, :], 0
        ).astype(jnp.int32)  # [A-1, O, P]
        regular_mode = (jnp.arange(cfg.num_modes) == regular).astype(jnp.int32)
        retailer_row = jnp.zeros((1, game.order_buffer, cfg.num_modes, cfg.num_products), jnp.int32)
        retailer_row = retailer_row.at[0, 0, 0].set(first_demand)
        order_pipe = jnp.concatenate([retailer_row, upstream[:, :, None, :] * regular_mode[:, None]], axis=0)
        outgoing = jnp.concatenate([upstream.sum(axis=1), jnp.zeros((1, cfg.num_products), jnp.int32)])
        return SupplyState(
            on_hand=params.initial_inventory.astype(jnp.int32),
            owed=jnp.zeros((cfg.num_agents, cfg.num_modes, cfg.num_products), jnp.int32),
            on_order=shipment_pipe.sum(axis=1) + outgoing,
            shipment_pipe=shipment_pipe,
            order_pipe=order_pipe,
            last_order=params.initial_order.astype(jnp.int32)[:, :, None] * regular_mode,
            period=jnp.int32(0),
            history=jnp.zeros((cfg.num_agents, game.obs_history, HISTORY_FEATURES, cfg.num_products), jnp.int32),
        )

    def _demands(self, params: SupplyParams, period: jax.Array, words: jax.Array) -> jax.Array:
        """Each product's customer demand of ``period``, int32[P], by ``jaxbeer.demand.demand_at``."""
        fields = {
            name: getattr(params, name)
            for name in (
                "demand_thresholds",
                "demand_offset",
                "classic_low",
                "classic_high",
                "classic_switch",
                "seasonal_mean",
                "seasonal_amplitude",
                "seasonal_period",
            )
        }
        fields["demand_trace"] = params.demand_trace.T

        def one(product_fields, word):
            return demand_at(self.config.game, types.SimpleNamespace(**product_fields), period, word)

        return jax.vmap(one)(fields, words)

    # ------------------------------------------------------------------ step
    def action_to_orders(self, state: SupplyState, action: jax.Array, params: SupplyParams) -> jax.Array:
        """Orders ``int32[A, P, M]`` from actions of the same shape, clipped into the action space."""
        game = self.config.game
        action = jnp.clip(self._checked(action, "action"), game.action_low, game.action_high)
        if game.action_mode == "absolute":
            orders = action
        elif game.action_mode == "relative":  # one mode (checked in SupplyConfig)
            orders = state.arriving_order[..., None] + action
        else:
            orders = action - inventory_position(state)[..., None]
        return jnp.clip(orders, 0, game.max_order)

    def _checked(self, values: jax.Array, name: str) -> jax.Array:
        if not isinstance(values, jax.Array):
            values = np.asarray(values)
        if values.shape != self.action_shape:
            raise ValueError(
                f"{name} must have shape {self.action_shape} (int32, one per echelon, product and mode), "
                f"got {values.shape}"
            )
        if not jnp.issubdtype(values.dtype, jnp.integer):
            raise TypeError(f"{name} must be an integer array int32{list(self.action_shape)}, got {values.dtype}")
        if isinstance(values, np.ndarray):
            values = np.clip(values.astype(np.int64), _INT32.min, _INT32.max)
        return jnp.asarray(values, jnp.int32)

    def step(self, key, state: SupplyState, action, params: SupplyParams):
        """One period from actions, with the auto-reset: ``(obs, state, reward, terminated, truncated, info)``."""
        return self._step(key, state, self.action_to_orders(state, action, params), params, True)

    def step_env(self, key, state: SupplyState, action, params: SupplyParams):
        """``step`` without the auto-reset."""
        return self._step(key, state, self.action_to_orders(state, action, params), params, False)

    def step_orders(self, key, state: SupplyState, orders, params: SupplyParams, auto_reset: bool = True):
        """One period from order quantities ``int32[A, P, M]`` (clipped into ``[0, max_order]``)."""
        orders = jnp.clip(self._checked(orders, "orders"), 0, self.config.game.max_order)
        return self._step(key, state, orders, params, auto_reset)

    def _step(self, key, state: SupplyState, orders: jax.Array, params: SupplyParams, auto_reset: bool):
        cfg, game = self.config, self.config.game
        num_agents, num_products, num_modes = self.action_shape
        # Words 0..P-1 are the products' next demands (word 0 is BeerGame's), then the lead times.
        num_words = num_products + (num_agents * num_modes + num_agents - 1 if game.random_leads else 0)
        words = random_words(key, num_words)
        shipment_lead, order_lead = self._lead_times(words[num_products:], params)
        by_mode = _computed_once(jnp.swapaxes(orders, 1, 2))  # [A, M, P]

        # 1. orders travel upstream with their mode; lead 0 arrives this period.
        order_inflow = jnp.concatenate([jnp.zeros((1, num_modes, num_products), jnp.int32), by_mode[:-1]])
        order_lead_rows = jnp.concatenate([jnp.zeros((1,), jnp.int32), order_lead])
        order_slots = _one_hot_slots(order_lead_rows, game.order_buffer)
        order_pipe = state.order_pipe + order_slots[:, :, None, None] * order_inflow[:, None]
        arriving_order = order_pipe[:, 0]  # [A, M, P]
        arriving_shipment = state.shipment_pipe[:, 0]  # [A, P]

        # 2. production.
        produced = by_mode[-1]
        if cfg.production_capacity:
            produced = allocate(produced.reshape(-1), params.production_capacity, cfg.allocation)
            produced = produced.reshape(num_modes, num_products)

        # 3. ship: per product what stock allows, then capacity, then the modes in order.
        available = _computed_once(state.on_hand + arriving_shipment)
        due = _computed_once(state.owed + arriving_order)
        shipped_total = jnp.minimum(available, due.sum(axis=1))
        if cfg.shipping_capacity:
            shipped_total = allocate(shipped_total, params.shipping_capacity, cfg.allocation)
        shipped_total = _computed_once(shipped_total)
        due_before = jnp.cumsum(due, axis=1) - due
        shipped = _computed_once(jnp.clip(shipped_total[:, None] - due_before, 0, due))  # [A, M, P]
        filled_on_time = jnp.clip(shipped - state.owed, 0, arriving_order).sum(axis=1)
        owed = _computed_once(due - shipped)
        on_hand = available - shipped_total
        lost = jnp.zeros((num_products,), jnp.int32)
        if cfg.lost_sales:
            lost = owed[0].sum(axis=0)
            owed = owed.at[0].set(0)
        placed = by_mode.sum(axis=1).at[-1].set(produced.sum(axis=0))
        on_order = state.on_order + placed - arriving_shipment
        shipment_inflow = jnp.concatenate([shipped[1:], produced[None]])  # into echelon k, by mode
        lead_slots = _one_hot_slots(shipment_lead.reshape(-1), game.shipment_buffer)
        lead_slots = lead_slots.reshape(num_agents, num_modes, game.shipment_buffer)
        shipment_pipe = state.shipment_pipe + jnp.sum(lead_slots[..., None] * shipment_inflow[:, :, None, :], axis=1)

        # 4. cost.
        backlog_units = owed.sum(axis=1)
        holding = params.holding_cost * on_hand.astype(jnp.float32)
        backlog_cost = params.backlog_cost * backlog_units.astype(jnp.float32)
        transport = params.transport_cost * shipment_inflow.sum(axis=2).astype(jnp.float32)
        lost_cost = params.lost_sales_cost * lost.astype(jnp.float32)
        cost = holding.sum(axis=1) + backlog_cost.sum(axis=1) + transport.sum(axis=1)
        cost = _computed_once(cost)
        if cfg.lost_sales:
            cost = cost.at[0].add(lost_cost.sum())
        team_cost = jnp.sum(cost)
        agent_cost = jnp.broadcast_to(team_cost, cost.shape) if game.team_reward else cost
        reward = -agent_cost * params.reward_scale

        # 5. advance the buffers and the clock.
        period = state.period + 1
        next_demand = _computed_once(self._demands(params, period, words[:num_products]))
        order_pipe = _advance(order_pipe).at[0, 0, 0].set(next_demand)
        history = state.history
        if game.obs_history > 0:
            newest = jnp.stack([arriving_order.sum(axis=1), arriving_shipment, by_mode.sum(axis=1)], axis=1)
            history = jnp.concatenate([newest[:, None], history[:, :-1]], axis=1)
        next_state = jax.tree.map(
            _computed_once,
            SupplyState(
                on_hand=on_hand,
                owed=owed,
                on_order=on_order,
                shipment_pipe=_advance(shipment_pipe),
                order_pipe=order_pipe,
                last_order=orders,
                period=period,
                history=history,
            ),
        )
        truncated = period >= game.horizon
        terminated = jnp.zeros((), jnp.bool_)
        obs = final_obs = self.get_obs(next_state, params)
        info = {
            "cost": cost,
            "holding": holding,
            "backlog": backlog_cost,
            "transport": transport,
            "lost": lost,
            "lost_cost": lost_cost,
            "orders": orders,
            "produced": produced.T,
            "shipped": jnp.swapaxes(shipped, 1, 2),
            "filled": filled_on_time,
            "arriving_order": arriving_order.sum(axis=1),
            "net_inventory": next_state.net_inventory,
            "demand": state.order_pipe[0, 0, 0],
            FINAL_OBS: final_obs,
            FINAL_STATE: next_state,
        }
        if auto_reset:
            reset_demand = _computed_once(self._demands(params, jnp.int32(0), words[:num_products]))
            reset_state = self.initial_state(params, reset_demand)
            next_state = jax.tree.map(lambda r, s: jnp.where(truncated, r, s), reset_state, next_state)
            obs = self.get_obs(next_state, params)
        return obs, next_state, reward, terminated, truncated, info

    def _lead_times(self, words: jax.Array, params: SupplyParams) -> tuple[jax.Array, jax.Array]:
        """``(shipment int32[A, M], order int32[A-1])`` lead times of this period."""
        game = self.config.game
        shipment_lead, order_lead = params.shipment_lead_min, params.order_lead_min
        if game.random_leads:
            count = self.config.num_agents * self.config.num_modes
            shipment_span = (params.shipment_lead_max - shipment_lead + 1).astype(jnp.uint32)
            order_span = (params.order_lead_max - order_lead + 1).astype(jnp.uint32)
            shipment_words = words[:count].reshape(shipment_lead.shape)
            shipment_lead = shipment_lead + (shipment_words % shipment_span).astype(jnp.int32)
            order_lead = order_lead + (words[count:] % order_span).astype(jnp.int32)
        return (
            jnp.clip(shipment_lead, 1, game.shipment_buffer - 1),
            jnp.clip(order_lead, 0, game.order_buffer - 1),
        )

    # ----------------------------------------------------------- observation
    def get_obs(self, state: SupplyState, params: SupplyParams) -> jax.Array:
        """float32[A, obs_dim], see the module docstring for the layout."""
        game = self.config.game
        num_agents = self.config.num_agents
        counts = jnp.stack(
            [
                state.on_hand,
                state.owed.sum(axis=1),
                state.on_order,
                state.shipment_pipe[:, 0],
                state.arriving_order,
                state.last_order.sum(axis=-1),
            ],
            axis=1,
        ).astype(jnp.float32)
        counts = (counts * params.obs_scale).reshape(num_agents, -1)
        elapsed = jnp.broadcast_to(state.period.astype(jnp.float32) * jnp.float32(1.0 / game.horizon), (num_agents, 1))
        parts = [counts, elapsed]
        if game.obs_history > 0:
            history = state.history.astype(jnp.float32) * params.obs_scale
            parts.append(history.reshape(num_agents, -1))
        return jnp.concatenate(parts, axis=-1)

    def global_state(self, state: SupplyState, params: SupplyParams) -> jax.Array:
        """float32[global_state_dim]: every echelon's observation, both pipelines and, with several modes,
        what each echelon owes per mode; counts times ``obs_scale``."""
        pipes = [
            (state.shipment_pipe * params.obs_scale).ravel(),
            (state.order_pipe * params.obs_scale).ravel(),
        ]
        if self.config.num_modes > 1:
            pipes.append((state.owed * params.obs_scale).ravel())
        return jnp.concatenate([self.get_obs(state, params).ravel(), *pipes])

    @property
    def global_state_dim(self) -> int:
        """Length of ``global_state``."""
        cfg, game = self.config, self.config.game
        per_echelon = game.shipment_buffer + game.order_buffer * cfg.num_modes
        per_echelon += cfg.num_modes if cfg.num_modes > 1 else 0
        return cfg.num_agents * (self.obs_dim + per_echelon * cfg.num_products)

    # ---------------------------------------------------------------- spaces
    def observation_space(self, params: SupplyParams | None = None) -> Box:
        """Shape and bounds of an observation."""
        return Box(low=0.0, high=float("inf"), shape=(self.config.num_agents, self.obs_dim))

    def action_space(self, params: SupplyParams | None = None) -> Discrete:
        """The discrete actions, one per echelon, product and mode."""
        game = self.config.game
        return Discrete(num_values=game.num_actions, low=game.action_low, shape=self.action_shape)


# ---------------------------------------------------------------------- make
def make_supply(
    name: str = "basic",
    *,
    products: int | Sequence[dict[str, Any]] = 1,
    modes: Sequence[dict[str, Any]] | None = None,
    lost_sales: bool = False,
    lost_sales_cost: float | Sequence[float] | None = None,
    production_capacity: int | None = None,
    shipping_capacity: int | Sequence[int] | None = None,
    allocation: str = "proportional",
    **overrides: Any,
) -> tuple[SupplyChainGame, SupplyParams]:
    """A ``SupplyChainGame`` from scenario ``name``, built through ``jaxbeer.make`` once per product.

    * ``products``: a count (identical products), or one dict of ``make``
      overrides per product, for what may differ between products: the demand
      (``demand``, its settings, ``demand_trace``; a ``[T, P]`` ``demand_trace`` among the
      overrides gives each product its column), ``holding_cost``,
      ``backlog_cost``, ``initial_*`` and ``obs_scale``. ``overrides`` apply
      to every product.
    * ``modes``: in the order the supplier serves them, fast first; each a
      dict with ``shipment_lead`` (or ``shipment_lead_min``/``_max``; a
      scalar or one per echelon, the last being production; they replace any
      ``shipment_lead*`` override, and a mode without leads takes the
      overrides' or the scenario's) and ``cost`` (per unit, a scalar or one
      per echelon). Default: one mode, those leads at no cost.
    * ``lost_sales``: the retailer loses unmet demand at ``lost_sales_cost``
      per unit (a scalar or one per product; default: the retailer's backlog
      cost, one period's worth) instead of backlogging it.
    * ``production_capacity``, ``shipping_capacity`` (a scalar or one per
      echelon): units per period over all products, shared by ``allocation``
      (``proportional`` or ``priority``, see the module docstring); ``None``
      for none.

    Raises ``ValueError`` naming the field and its allowed range.
    """
    per_product = _product_overrides(products)
    if np.ndim(overrides.get("demand_trace", ())) == 2:  # a [T, P] trace: one column per product
        columns = np.asarray(overrides.pop("demand_trace")).T
        if len(per_product) == 1:
            per_product = per_product * len(columns)
        if len(columns) != len(per_product):
            raise ValueError(
                f"demand_trace of shape [T, P] must have one column per product ({len(per_product)}), "
                f"got {len(columns)}"
            )
        per_product = [{**product, "demand_trace": column} for product, column in zip(per_product, columns)]
    product_keys = {"demand", "demand_trace", "holding_cost", "backlog_cost", "obs_scale"}
    product_keys |= {"initial_inventory", "initial_order", "initial_shipment"}
    product_keys |= set(_DEMAND_DEFAULTS)
    for index, product in enumerate(per_product):
        unknown = sorted(set(product) - product_keys)
        if unknown:
            raise ValueError(f"products[{index}] sets {unknown}; a product may set only {sorted(product_keys)}")
    mode_list = [{}] if modes is None else list(modes)
    if not mode_list:
        raise ValueError("modes must list at least one transport mode")
    games = [make(name, **{**overrides, **product}) for product in per_product]
    envs, params_list = zip(*games)
    num_agents = envs[0].num_agents
    num_products = len(per_product)
    mode_leads, mode_costs = [], []
    for index, mode in enumerate(mode_list):
        unknown = sorted(set(mode) - {"shipment_lead", "shipment_lead_min", "shipment_lead_max", "cost"})
        if unknown:
            raise ValueError(f"modes[{index}] sets {unknown}; a mode sets shipment_lead (or _min/_max) and cost")
        leads = {key: mode[key] for key in ("shipment_lead", "shipment_lead_min", "shipment_lead_max") if key in mode}
        # A mode's own leads replace every shipment-lead override (a range among the overrides
        # would otherwise win over the mode's fixed lead inside make).
        others = {key: value for key, value in overrides.items() if not key.startswith("shipment_lead")}
        _, lead_params = make(name, **{**others, **leads}) if leads else games[0]
        mode_leads.append((np.asarray(lead_params.shipment_lead_min), np.asarray(lead_params.shipment_lead_max)))
        cost = np.asarray(mode.get("cost", 0.0), np.float64)
        if cost.ndim == 0:
            cost = np.full((num_agents,), float(cost))
        if cost.shape != (num_agents,) or not np.all(np.isfinite(cost)) or np.any(cost < 0):
            raise ValueError(
                f"modes[{index}].cost must be finite and >= 0, a scalar or one per echelon ({num_agents}), "
                f"got {mode.get('cost')!r}"
            )
        mode_costs.append(cost)
    lead_min = np.stack([low for low, _ in mode_leads], axis=1)
    lead_max = np.stack([high for _, high in mode_leads], axis=1)
    random_leads = bool(np.any(lead_min != lead_max) or envs[0].config.random_leads)

    base = envs[0].config
    table_size = max(env.config.demand_table_size for env in envs)
    trace_length = max(env.config.trace_length for env in envs)
    kinds = {env.config.demand_kind for env in envs}
    if len(kinds) > 1:
        raise ValueError(f"every product must have the same demand kind, got {sorted(kinds)}")
    game = dataclasses.replace(
        base,
        shipment_buffer=int(lead_max.max()) + 1,
        random_leads=random_leads,
        demand_table_size=table_size,
        trace_length=trace_length,
    )

    if lost_sales_cost is None:
        lost_sales_cost = [float(p.backlog_cost[0]) for p in params_list]
    lost_costs = np.asarray(lost_sales_cost, np.float64)
    lost_costs = np.full((num_products,), float(lost_costs)) if lost_costs.ndim == 0 else lost_costs
    if lost_costs.shape != (num_products,) or not np.all(np.isfinite(lost_costs)) or np.any(lost_costs < 0):
        raise ValueError(
            f"lost_sales_cost must be finite and >= 0, a scalar or one per product ({num_products}), "
            f"got {lost_sales_cost!r}"
        )
    production = (
        0 if production_capacity is None else check_int("production_capacity", production_capacity, 0, MAX_CAPACITY)
    )
    shipping = np.zeros((num_agents,), np.int64)
    if shipping_capacity is not None:
        shipping = np.asarray(shipping_capacity)
        shipping = np.full((num_agents,), shipping) if shipping.ndim == 0 else shipping
        if shipping.shape != (num_agents,) or not np.issubdtype(shipping.dtype, np.integer):
            raise ValueError(
                f"shipping_capacity must be integers, a scalar or one per echelon ({num_agents}), "
                f"got {shipping_capacity!r}"
            )
        for value in shipping.tolist():
            check_int("shipping_capacity", value, 0, MAX_CAPACITY)
    config = SupplyConfig(
        game=game,
        num_products=num_products,
        num_modes=len(mode_list),
        lost_sales=bool(lost_sales),
        production_capacity=production_capacity is not None,
        shipping_capacity=shipping_capacity is not None,
        allocation=allocation,
    )

    def stacked(field: str) -> np.ndarray:
        return np.stack([np.asarray(getattr(p, field)) for p in params_list], axis=-1)

    # Shorter tables are padded in front with thresholds of 0, which every word passes, and their
    # offset lowered by as many: the same demand, draw for draw.
    thresholds = np.zeros((num_products, table_size), np.uint32)
    offsets = stacked("demand_offset").astype(np.int64)
    traces = np.zeros((trace_length, num_products), np.int32)
    for index, p in enumerate(params_list):
        size = p.demand_thresholds.shape[0]
        thresholds[index, table_size - size :] = np.asarray(p.demand_thresholds)
        offsets[index] -= table_size - size
        traces[: p.demand_trace.shape[0], index] = np.asarray(p.demand_trace)
    first = params_list[0]
    params = SupplyParams(
        holding_cost=as_float32(stacked("holding_cost")),
        backlog_cost=as_float32(stacked("backlog_cost")),
        lost_sales_cost=as_float32(lost_costs),
        transport_cost=as_float32(np.stack(mode_costs, axis=1)),
        shipment_lead_min=as_int32(lead_min),
        shipment_lead_max=as_int32(lead_max),
        order_lead_min=first.order_lead_min,
        order_lead_max=first.order_lead_max,
        initial_inventory=as_int32(stacked("initial_inventory")),
        initial_order=as_int32(stacked("initial_order")),
        initial_shipment=as_int32(stacked("initial_shipment")),
        production_capacity=as_int32(production),
        shipping_capacity=as_int32(shipping),
        demand_thresholds=jnp.asarray(thresholds),
        demand_offset=as_int32(offsets),
        classic_low=as_int32(stacked("classic_low")),
        classic_high=as_int32(stacked("classic_high")),
        classic_switch=as_int32(stacked("classic_switch")),
        seasonal_mean=as_float32(stacked("seasonal_mean")),
        seasonal_amplitude=as_float32(stacked("seasonal_amplitude")),
        seasonal_period=as_float32(stacked("seasonal_period")),
        demand_trace=jnp.asarray(traces),
        demand_mean=as_float32(stacked("demand_mean")),
        reward_scale=first.reward_scale,
        obs_scale=as_float32(stacked("obs_scale")),
    )
    return SupplyChainGame(config), params


def _product_overrides(products: int | Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    if isinstance(products, (int, np.integer)) and not isinstance(products, bool):
        return [{}] * check_int("products", int(products), 1)
    if isinstance(products, (list, tuple)) and products and all(isinstance(p, dict) for p in products):
        return [dict(p) for p in products]
    raise ValueError(f"products must be a count >= 1 or a non-empty list of dicts (one per product), got {products!r}")
