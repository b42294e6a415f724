"""The MIT beer game as pure ``reset``/``step`` functions over a small pytree state.

Echelons are numbered downstream to upstream: 0 retailer, 1 wholesaler,
2 distributor, 3 manufacturer (``A = config.num_agents`` of them). All
per-agent arrays are stacked along a leading axis of size ``A``.

One period ``t``:

1. Each echelon knows its arriving order ``AO_k`` (slot 0 of its order buffer;
   for the retailer this is the customer demand ``d_t``) and its arriving
   shipment ``AS_k`` (slot 0 of its shipment buffer).
2. Every echelon places an order ``q_k >= 0`` at once; ``OO_k += q_k``. The
   order of echelon ``k < A-1`` enters echelon ``k+1``'s order buffer at slot
   ``order_lead[k]`` (lead 0: it arrives this very period). The manufacturer's
   order enters production: its own shipment buffer at slot ``shipment_lead[A-1]``.
3. Every echelon receives ``AS_k`` (``OO_k -= AS_k``), ships
   ``min(on_hand + AS_k, backlog + AO_k)`` downstream (into echelon ``k-1``'s
   shipment buffer at slot ``shipment_lead[k-1] >= 1``; the retailer ships to
   customers) and updates ``IL_k += AS_k - AO_k``.
4. Cost ``c_k = holding_cost[k] * max(IL_k, 0) + backlog_cost[k] * max(-IL_k, 0)``.
5. Buffers advance one slot; next period's demand enters the retailer's order
   slot. After ``horizon`` periods the episode is truncated (never terminated).

Inside ``jit`` nothing can raise, so out-of-range inputs are clipped: actions
into the action space, orders into ``[0, max_order]``, lead times into what the
ring buffers hold (``[1, shipment_buffer-1]`` and ``[0, order_buffer-1]``).
Shapes and dtypes are static, so a wrong action shape or dtype raises at trace time.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from jaxbeer.demand import demand_at, random_words
from jaxbeer.params import EnvConfig, EnvParams
from jaxbeer.spaces import Box, Discrete

_INT32 = np.iinfo(np.int32)
NUM_BASE_FEATURES = 7
HISTORY_FEATURES = 3
FINAL_OBS = "final_obs"
"""``info`` key: the observation after this period, before any auto-reset (the truncation bootstrap)."""
FINAL_STATE = "final_state"
"""``info`` key: the state after this period, before any auto-reset (for centralised critics and mixers)."""


@struct.dataclass
class EnvState:
    """Everything that changes during a game; counts are int32."""

    net_inventory: jax.Array  # int32[A], on hand minus backlog (IL)
    on_order: jax.Array  # int32[A], ordered and not yet received (OO)
    shipment_pipe: jax.Array  # int32[A, shipment_buffer]; [k, i] reaches echelon k in i periods
    order_pipe: jax.Array  # int32[A, order_buffer]; [k, i] reaches echelon k in i periods
    last_order: jax.Array  # int32[A]
    period: jax.Array  # int32[]
    history: jax.Array  # int32[A, obs_history, 3]


def inventory_position(state: EnvState) -> jax.Array:
    """``IL + OO - AO`` at decision time, int32[A]: what is left after this period's arriving order."""
    return state.net_inventory + state.on_order - state.order_pipe[:, 0]


class BeerGame:
    """The beer game's static settings (``config``); everything that varies is an argument.

    **Observation** ``float32[A, obs_dim]``, one row per echelon, every count
    times ``params.obs_scale`` (the scenarios set ``1 / (4 * mean demand)``):
    ``[on_hand, backlog, on_order, arriving_shipment, arriving_order,
    last_order, period / horizon]``, then with ``obs_history = H`` the last
    ``H`` periods' ``(arriving_order, arriving_shipment, order)``, newest first.
    ``global_state(state, params)`` is ``float32[global_state_dim]``: every
    row of the observation, in echelon order, plus both pipelines.

    **Action** ``int32[A]``, one per echelon, clipped into the action space;
    ``config.action_mode`` says what it means:

    * ``absolute``: the order itself, ``0..max_order``;
    * ``relative``: the deep-Q study's "d+x" rule, ``q = max(0, AO + x)`` with
      ``x`` in ``x_low..x_high``;
    * ``order_up_to``: a target inventory position ``S`` in ``0..max_order``,
      ``q = max(0, S - (IL + OO - AO))``.

    ``step_orders`` takes order quantities instead (what ``jaxbeer.policies`` return).

    **Reward** ``float32[A]``: ``-cost * params.reward_scale``, each echelon's
    own cost, or the team's summed cost for every echelon with ``team_reward``.

    **Termination** never; ``truncated`` is True after ``horizon`` periods.

    **Auto-reset**: ``step`` and ``step_orders`` (the only auto-reset in the
    project) return, at truncation, the observation and state of a new episode;
    ``info[FINAL_OBS]`` and ``info[FINAL_STATE]`` hold the last observation and
    state of the finished one (every period, so their shapes never change).
    ``step_env`` is the same period without the reset.

    **info**, per echelon unless noted, unscaled: ``cost``, ``holding``,
    ``backlog`` (float32[A]); ``orders``, ``shipped``, ``filled`` (arriving
    order units shipped the period they arrived), ``arriving_order``,
    ``net_inventory`` (int32[A]); ``demand`` (int32[], the customer demand of
    the period); ``FINAL_OBS``, ``FINAL_STATE``.

    **State**: ``EnvState``, int32 counts and ring buffers of size ``lead_max + 1``.

    >>> import jax, jax.numpy as jnp, jaxbeer
    >>> env, params = jaxbeer.make("classic", action_mode="order_up_to")
    >>> obs, state = env.reset(jax.random.key(0), params)
    >>> obs, state, reward, terminated, truncated, info = env.step(
    ...     jax.random.key(1), state, jnp.full((4,), 32, jnp.int32), params)
    >>> info["orders"].tolist()
    [8, 8, 8, 12]
    """

    def __init__(self, config: EnvConfig):
        self.config = config

    def __hash__(self):
        return hash(self.config)

    def __eq__(self, other):
        return isinstance(other, BeerGame) and other.config == self.config

    def __repr__(self):
        return f"BeerGame({self.config})"

    @property
    def num_agents(self) -> int:
        """``A``, the number of echelons."""
        return self.config.num_agents

    @property
    def obs_dim(self) -> int:
        """Features per echelon in an observation."""
        return NUM_BASE_FEATURES + HISTORY_FEATURES * self.config.obs_history

    # ----------------------------------------------------------------- reset
    def reset(self, key: jax.Array, params: EnvParams) -> tuple[jax.Array, EnvState]:
        """``(obs, state)`` of a new episode; ``key`` draws its first demand."""
        return self.reset_env(key, params)

    def reset_env(self, key: jax.Array, params: EnvParams) -> tuple[jax.Array, EnvState]:
        """The same as ``reset`` (gymnax's name for the env-specific part)."""
        first_demand = demand_at(self.config, params, jnp.int32(0), jax.random.bits(key, (), jnp.uint32))
        state = self.initial_state(params, first_demand)
        return self.get_obs(state, params), state

    def initial_state(self, params: EnvParams, first_demand: jax.Array) -> EnvState:
        """Steady pipeline: ``initial_shipment`` in the first ``shipment_lead_min``
        slots, ``initial_order`` in the first ``order_lead_min`` slots."""
        cfg = self.config
        num_agents = cfg.num_agents
        shipment_slots = jnp.arange(cfg.shipment_buffer, dtype=jnp.int32)
        shipment_pipe = jnp.where(
            shipment_slots[None, :] < params.shipment_lead_min[:, None], params.initial_shipment[:, None], 0
        ).astype(jnp.int32)
        order_slots = jnp.arange(cfg.order_buffer, dtype=jnp.int32)
        orders_upstream = jnp.where(
            order_slots[None, :] < params.order_lead_min[:, None], params.initial_order[:-1, None], 0
        ).astype(jnp.int32)
        retailer_row = jnp.zeros((1, cfg.order_buffer), jnp.int32).at[0, 0].set(first_demand)
        order_pipe = jnp.concatenate([retailer_row, orders_upstream], axis=0)
        outgoing_in_transit = jnp.concatenate([orders_upstream.sum(axis=1), jnp.zeros((1,), jnp.int32)])
        return EnvState(
            net_inventory=params.initial_inventory.astype(jnp.int32),
            on_order=shipment_pipe.sum(axis=1) + outgoing_in_transit,
            shipment_pipe=shipment_pipe,
            order_pipe=order_pipe,
            last_order=params.initial_order.astype(jnp.int32),
            period=jnp.int32(0),
            history=jnp.zeros((num_agents, cfg.obs_history, HISTORY_FEATURES), jnp.int32),
        )

    # ------------------------------------------------------------------ step
    def action_to_orders(self, state: EnvState, action: jax.Array, params: EnvParams) -> jax.Array:
        """Order quantities ``int32[A]`` from actions ``int32[A]``, which are clipped into the action space."""
        cfg = self.config
        action = jnp.clip(self._checked_action(action), cfg.action_low, cfg.action_high)
        if cfg.action_mode == "absolute":
            orders = action
        elif cfg.action_mode == "relative":  # the "d+x" rule: order what arrived plus x
            orders = state.order_pipe[:, 0] + action
        else:  # order_up_to: top the inventory position up to the target
            orders = action - inventory_position(state)
        return jnp.clip(orders, 0, cfg.max_order)

    def _checked_action(self, action: jax.Array) -> jax.Array:
        """``action`` as int32 after trace-time checks of its shape and dtype.

        A concrete integer array wider than int32 (NumPy's int64, Python ints)
        is clipped into int32's range first, so a huge action saturates instead
        of wrapping; traced values are already int32 or narrower.
        """
        if not isinstance(action, jax.Array):  # host values: NumPy arrays, lists, Python ints
            action = np.asarray(action)
        expected = (self.config.num_agents,)
        if action.shape != expected:
            raise ValueError(f"action must have shape {expected} (int32, one per echelon), got {action.shape}")
        if not jnp.issubdtype(action.dtype, jnp.integer):
            raise TypeError(f"action must be an integer array int32{list(expected)}, got {action.dtype}")
        if isinstance(action, np.ndarray):
            action = np.clip(action.astype(np.int64), _INT32.min, _INT32.max)
        return jnp.asarray(action, jnp.int32)

    def step(
        self, key: jax.Array, state: EnvState, action: jax.Array, params: EnvParams
    ) -> tuple[jax.Array, EnvState, jax.Array, jax.Array, jax.Array, dict[str, Any]]:
        """One period from actions, with the auto-reset: ``(obs, state, reward, terminated, truncated, info)``."""
        return self._step(key, state, self.action_to_orders(state, action, params), params, True)

    def step_env(
        self, key: jax.Array, state: EnvState, action: jax.Array, params: EnvParams
    ) -> tuple[jax.Array, EnvState, jax.Array, jax.Array, jax.Array, dict[str, Any]]:
        """``step`` without the auto-reset: past the horizon the episode simply goes on."""
        return self._step(key, state, self.action_to_orders(state, action, params), params, False)

    def step_orders(
        self, key: jax.Array, state: EnvState, orders: jax.Array, params: EnvParams, auto_reset: bool = True
    ) -> tuple[jax.Array, EnvState, jax.Array, jax.Array, jax.Array, dict[str, Any]]:
        """One period from order quantities ``int32[A]`` (clipped into ``[0, max_order]``).

        ``auto_reset=False`` is for scans that play exactly one episode; they never cross the horizon.
        """
        orders = jnp.clip(self._checked_action(orders), 0, self.config.max_order)
        return self._step(key, state, orders, params, auto_reset)

    def _step(self, key, state: EnvState, orders: jax.Array, params: EnvParams, auto_reset: bool):
        cfg = self.config
        num_agents = cfg.num_agents
        # One draw of raw bits per period: word 0 is the next demand (of this
        # episode, or the first of the next one after a reset), the rest lead times.
        num_words = 1 + (2 * num_agents - 1 if cfg.random_leads else 0)
        words = random_words(key, num_words)  # == jax.random.bits(key, (num_words,), uint32)
        if cfg.random_leads:
            words = _computed_once(words)
        shipment_lead, order_lead = self._lead_times(words[1:], params)
        # Values read by several parts of the step are stored once (see _computed_once).
        orders = _computed_once(orders)

        # 2. orders travel upstream; lead 0 makes them part of this period's AO.
        order_inflow = jnp.concatenate([jnp.zeros((1,), jnp.int32), orders[:-1]])
        order_lead_rows = jnp.concatenate([jnp.zeros((1,), jnp.int32), order_lead])
        order_pipe = state.order_pipe + _one_hot_slots(order_lead_rows, cfg.order_buffer) * order_inflow[:, None]
        arriving_order = order_pipe[:, 0]
        arriving_shipment = state.shipment_pipe[:, 0]

        # 3. receive, ship, update inventory.
        net = state.net_inventory
        on_hand, backlog = jnp.maximum(net, 0), jnp.maximum(-net, 0)
        shipped = _computed_once(jnp.minimum(on_hand + arriving_shipment, backlog + arriving_order))
        filled_on_time = jnp.clip(on_hand + arriving_shipment - backlog, 0, arriving_order)
        net = net + arriving_shipment - arriving_order
        on_order = state.on_order + orders - arriving_shipment
        shipment_inflow = jnp.concatenate([shipped[1:], orders[-1:]])
        shipment_pipe = (
            state.shipment_pipe + _one_hot_slots(shipment_lead, cfg.shipment_buffer) * shipment_inflow[:, None]
        )

        # 4. cost.
        holding = params.holding_cost * jnp.maximum(net, 0).astype(jnp.float32)
        backlog_cost = params.backlog_cost * jnp.maximum(-net, 0).astype(jnp.float32)
        cost = holding + backlog_cost
        team_cost = jnp.sum(cost)
        agent_cost = jnp.broadcast_to(team_cost, cost.shape) if cfg.team_reward else cost
        reward = -agent_cost * params.reward_scale

        # 5. advance the buffers and the clock.
        period = state.period + 1
        next_demand = _computed_once(demand_at(cfg, params, period, words[0]))
        order_pipe = _advance(order_pipe).at[0, 0].set(next_demand)
        history = state.history
        if cfg.obs_history > 0:
            newest = jnp.stack([arriving_order, arriving_shipment, orders], axis=-1)[:, None, :]
            history = jnp.concatenate([newest, history[:, :-1]], axis=1)
        next_state = jax.tree.map(
            _computed_once,
            EnvState(
                net_inventory=net,
                on_order=on_order,
                shipment_pipe=_advance(shipment_pipe),
                order_pipe=order_pipe,
                last_order=orders,
                period=period,
                history=history,
            ),
        )
        truncated = period >= cfg.horizon
        terminated = jnp.zeros((), jnp.bool_)
        obs = final_obs = self.get_obs(next_state, params)
        info = {
            "cost": cost,
            "holding": holding,
            "backlog": backlog_cost,
            "orders": orders,
            "shipped": shipped,
            "filled": filled_on_time,
            "arriving_order": arriving_order,
            "net_inventory": next_state.net_inventory,
            "demand": state.order_pipe[0, 0],
            FINAL_OBS: final_obs,
            FINAL_STATE: next_state,
        }
        if auto_reset:
            # Both branches run under vmap; a reset only rebuilds constants and
            # reuses word 0 as the new episode's first demand, so it stays cheap.
            reset_demand = _computed_once(demand_at(cfg, params, jnp.int32(0), words[0]))
            reset_state = self.initial_state(params, reset_demand)
            next_state = jax.tree.map(lambda r, s: jnp.where(truncated, r, s), reset_state, next_state)
            obs = self.get_obs(next_state, params)  # the same as selecting between the two observations
        return obs, next_state, reward, terminated, truncated, info

    def _lead_times(self, words: jax.Array, params: EnvParams) -> tuple[jax.Array, jax.Array]:
        cfg = self.config
        num_agents = cfg.num_agents
        shipment_lead, order_lead = params.shipment_lead_min, params.order_lead_min
        if cfg.random_leads:
            shipment_span = (params.shipment_lead_max - shipment_lead + 1).astype(jnp.uint32)
            order_span = (params.order_lead_max - order_lead + 1).astype(jnp.uint32)
            # The modulo bias is below span / 2**32, i.e. negligible.
            shipment_lead = shipment_lead + (words[:num_agents] % shipment_span).astype(jnp.int32)
            order_lead = order_lead + (words[num_agents:] % order_span).astype(jnp.int32)
        return (jnp.clip(shipment_lead, 1, cfg.shipment_buffer - 1), jnp.clip(order_lead, 0, cfg.order_buffer - 1))

    # ----------------------------------------------------------- observation
    def get_obs(self, state: EnvState, params: EnvParams) -> jax.Array:
        """float32[A, obs_dim], see the module docstring for the layout."""
        net = state.net_inventory
        counts = (
            jnp.stack(
                [
                    jnp.maximum(net, 0),
                    jnp.maximum(-net, 0),
                    state.on_order,
                    state.shipment_pipe[:, 0],
                    state.order_pipe[:, 0],
                    state.last_order,
                ],
                axis=-1,
            ).astype(jnp.float32)
            * params.obs_scale
        )
        # Times the float32 reciprocal, which is what XLA makes of a division by
        # a constant under jit; written out so eager and jitted calls agree.
        elapsed = jnp.broadcast_to(
            state.period.astype(jnp.float32) * jnp.float32(1.0 / self.config.horizon), (self.config.num_agents, 1)
        )
        parts = [counts, elapsed]
        if self.config.obs_history > 0:
            history = state.history.reshape(self.config.num_agents, -1).astype(jnp.float32)
            parts.append(history * params.obs_scale)
        return jnp.concatenate(parts, axis=-1)

    def global_state(self, state: EnvState, params: EnvParams) -> jax.Array:
        """float32[A*obs_dim + A*shipment_buffer + A*order_buffer]: every agent's
        observation (in agent order) plus both pipelines, for centralised critics."""
        pipes = jnp.concatenate([state.shipment_pipe.ravel(), state.order_pipe.ravel()])
        return jnp.concatenate([self.get_obs(state, params).ravel(), pipes.astype(jnp.float32) * params.obs_scale])

    @property
    def global_state_dim(self) -> int:
        """Length of ``global_state``."""
        cfg = self.config
        return cfg.num_agents * (self.obs_dim + cfg.shipment_buffer + cfg.order_buffer)

    # ---------------------------------------------------------------- spaces
    def observation_space(self, params: EnvParams | None = None) -> Box:
        """Shape and bounds of an observation."""
        return Box(low=0.0, high=float("inf"), shape=(self.config.num_agents, self.obs_dim))

    def action_space(self, params: EnvParams | None = None) -> Discrete:
        """The discrete actions of every echelon, ``action_low .. action_high``."""
        cfg = self.config
        return Discrete(num_values=cfg.num_actions, low=cfg.action_low, shape=(cfg.num_agents,))


def _computed_once(x: jax.Array) -> jax.Array:
    """``x`` itself; a hint that makes XLA store it in a buffer that its users read.

    XLA fuses a cheap producer into each of its consumers, and on CPU it then
    evaluates the producer once per element of every consumer: an order used by
    the pipes, the inventory and the observation was recomputed about thirty
    times per game. A reduction is never copied into consumers, so a trivial
    one (``x + 0`` over a stacked axis) pins ``x`` to a buffer. (An
    ``optimization_barrier`` does not: the CPU pipeline drops it before fusion.)
    ``docs/performance.md`` gives what it saves.
    """
    return jnp.sum(jnp.stack([x, jnp.zeros_like(x)]), axis=0, dtype=x.dtype)


def _one_hot_slots(slots: jax.Array, size: int) -> jax.Array:
    return (jnp.arange(size, dtype=jnp.int32)[None, :] == slots[:, None]).astype(jnp.int32)


def _advance(pipe: jax.Array) -> jax.Array:
    return jnp.concatenate([pipe[:, 1:], jnp.zeros_like(pipe[:, :1])], axis=1)
