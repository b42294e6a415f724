"""The beer game in plain Python and NumPy, one game at a time: the reference for jaxbeer.

This is the game as one would write it without JAX: a class with ``reset`` and
``step``, per-echelon Python lists, a loop over echelons. It follows the period
order of ``jaxbeer.env`` (see its docstring) with the same initial conditions,
observation, reward and ``info`` fields, so that for the same customer demand,
lead times and actions it produces exactly the same trajectory as
``jaxbeer``'s jitted ``step``. It serves twice:

* ``tests/test_reference_numpy.py`` drives both from the same draws and checks
  that every number agrees;
* ``benchmarks/throughput.py`` uses it as the speed baseline
  (``ReferenceBeerGame.steps_per_second``).

Randomness comes from outside or from a ``numpy.random.Generator``:
``reset(demand=..., shipment_leads=..., order_leads=...)`` replays a given demand
path (``d_0 .. d_horizon``; the last one is only seen in the final
observation) and given lead times (row ``t`` holds the leads drawn in period
``t``); what is not given is drawn from ``rng``. Episodes end by truncation
after ``horizon`` periods; call ``reset`` again to start the next one.
"""

from __future__ import annotations

import bisect
import dataclasses
import time
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

if TYPE_CHECKING:  # the reference itself does not import JAX
    from jaxbeer.env import BeerGame
    from jaxbeer.params import EnvParams

NUM_BASE_FEATURES = 7


@dataclasses.dataclass
class ReferenceSettings:
    """Everything that defines one game; per-echelon lists run retailer first."""

    holding_cost: list[float]
    backlog_cost: list[float]
    shipment_lead_min: list[int]  # lead of shipments *into* echelon k; is production
    shipment_lead_max: list[int]
    order_lead_min: list[int]  # lead of orders from k to k+1, length A-1
    order_lead_max: list[int]
    initial_inventory: list[int]
    initial_order: list[int]
    initial_shipment: list[int]
    horizon: int = 100
    action_mode: str = "absolute"
    max_order: int = 100
    x_low: int = -8
    x_high: int = 8
    obs_history: int = 0
    team_reward: bool = False
    reward_scale: float = 1.0
    obs_scale: float = 1.0 / 32.0
    # Customer demand when no path is given. "table": inverse CDF over uint32
    # thresholds (what jaxbeer samples from); "classic": low, then high from
    # the switch period; "trace": the given path.
    demand_kind: str = "table"
    demand_thresholds: list[int] = dataclasses.field(default_factory=lambda: [2**32 - 1])
    demand_offset: int = 0
    classic_low: int = 4
    classic_high: int = 8
    classic_switch: int = 4
    seasonal_mean: float = 0.0
    seasonal_amplitude: float = 0.0
    seasonal_period: float = 1.0
    demand_trace: list[int] = dataclasses.field(default_factory=list)
    # Ring buffer sizes: slot i of a pipeline arrives i periods from now.
    shipment_buffer: int = 0
    order_buffer: int = 0

    def __post_init__(self):
        if not self.shipment_buffer:
            self.shipment_buffer = max(self.shipment_lead_max) + 1
        if not self.order_buffer:
            self.order_buffer = max(self.order_lead_max, default=0) + 1

    @property
    def num_agents(self) -> int:
        """Echelons in the chain, one per holding cost."""
        return len(self.holding_cost)

    @classmethod
    def from_jaxbeer(cls, env: BeerGame, params: EnvParams) -> "ReferenceSettings":
        """The settings of a ``jaxbeer`` game (``env, params = jaxbeer.make(...)``): every field by its
        own name from the env's static config or its params, as plain Python numbers."""
        convert = {
            "list[int]": lambda x: [int(v) for v in np.asarray(x).ravel()],
            "list[float]": lambda x: [float(np.float32(v)) for v in np.asarray(x).ravel()],
            "int": int,
            "float": float,
            "bool": bool,
            "str": str,
        }
        values = {}
        for field in dataclasses.fields(cls):
            source = params if hasattr(params, field.name) else env.config
            values[field.name] = convert[field.type](getattr(source, field.name))
        kind = env.config.demand_kind
        values["demand_kind"] = kind if kind in ("classic", "trace", "seasonal") else "table"
        return cls(**values)

    def demand_from_word(self, word: int, period: int) -> int:
        """Customer demand of ``period`` from one uniform 32-bit ``word`` (jaxbeer's mapping)."""
        if self.demand_kind == "classic":
            return self.classic_low if period < self.classic_switch else self.classic_high
        if self.demand_kind == "trace":
            return self.demand_trace[min(period, len(self.demand_trace) - 1)]
        # Thresholds are sorted: the count of those <= word is a bisection.
        drawn = self.demand_offset + bisect.bisect_right(self.demand_thresholds, word)
        if self.demand_kind == "seasonal":  # NumPy's sin may differ from XLA's in the last bit
            phase = np.float32(2.0 * np.pi) * np.float32(period) / np.float32(self.seasonal_period)
            base = np.round(np.float32(self.seasonal_mean) + np.float32(self.seasonal_amplitude) * np.sin(phase))
            drawn += int(base)
        return max(drawn, 0)


class ReferenceBeerGame:
    """One beer game. ``reset() -> obs``; ``step(action) -> obs, reward, terminated, truncated, info``."""

    def __init__(self, settings: ReferenceSettings, seed: int = 0):
        self.s = settings
        self.rng = np.random.default_rng(seed)
        self.num_agents = settings.num_agents
        self.obs_dim = NUM_BASE_FEATURES + 3 * settings.obs_history
        self.holding_cost = np.array(settings.holding_cost, np.float32)
        self.backlog_cost = np.array(settings.backlog_cost, np.float32)
        self.reward_scale = np.float32(settings.reward_scale)
        self.obs_scale = np.float32(settings.obs_scale)

    # ----------------------------------------------------------- randomness
    def _draw_demand(self, period: int) -> int:
        return self.s.demand_from_word(int(self.rng.integers(0, 2**32)), period)

    def _draw_leads(self, low: Sequence[int], high: Sequence[int]) -> list[int]:
        return [lo if lo == hi else int(self.rng.integers(lo, hi + 1)) for lo, hi in zip(low, high)]

    # ----------------------------------------------------------------- reset
    def reset(
        self,
        demand: Sequence[int] | None = None,
        shipment_leads: Sequence[Sequence[int]] | np.ndarray | None = None,
        order_leads: Sequence[Sequence[int]] | np.ndarray | None = None,
    ) -> np.ndarray:
        """Start an episode. ``demand``: ``d_0 .. d_horizon`` (length >= horizon + 1);
        ``shipment_leads[t]``/``order_leads[t]``: the leads drawn in period t."""
        s, num_agents = self.s, self.num_agents
        if demand is not None and len(demand) < s.horizon + 1:
            raise ValueError(f"demand must hold horizon+1={s.horizon + 1} periods, got {len(demand)}")
        self.demand_path = None if demand is None else [int(d) for d in demand]
        self.shipment_leads = None if shipment_leads is None else np.asarray(shipment_leads, np.int64)
        self.order_leads = None if order_leads is None else np.asarray(order_leads, np.int64)

        self.period = 0
        self.net_inventory = list(s.initial_inventory)
        self.last_order = list(s.initial_order)
        # Shipments in transit to echelon k: initial_shipment in the first lead_min slots.
        self.shipment_pipe = [
            [s.initial_shipment[k] if i < s.shipment_lead_min[k] else 0 for i in range(s.shipment_buffer)]
            for k in range(num_agents)
        ]
        # Orders in transit to echelon k; the retailer's slot 0 is this period's customer demand.
        self.order_pipe = [[0] * s.order_buffer for _ in range(num_agents)]
        self.order_pipe[0][0] = self._demand(0)
        for k in range(1, num_agents):
            for i in range(s.order_buffer):
                if i < s.order_lead_min[k - 1]:
                    self.order_pipe[k][i] = s.initial_order[k - 1]
        # On order: incoming shipments plus own orders still travelling upstream.
        self.on_order = [
            sum(self.shipment_pipe[k]) + (sum(self.order_pipe[k + 1]) if k + 1 < num_agents else 0)
            for k in range(num_agents)
        ]
        self.history = []  # newest first: per period, per echelon (arriving order, arriving shipment, order)
        return self.observation()

    def _demand(self, period: int) -> int:
        if self.demand_path is not None:
            return self.demand_path[period]
        return self._draw_demand(period)

    def _leads(self) -> tuple[list[int], list[int]]:
        s, t = self.s, self.period
        if self.shipment_leads is not None:
            ship = [int(v) for v in self.shipment_leads[t]]
        else:
            ship = self._draw_leads(s.shipment_lead_min, s.shipment_lead_max)
        if self.order_leads is not None:
            order = [int(v) for v in self.order_leads[t]]
        else:
            order = self._draw_leads(s.order_lead_min, s.order_lead_max)
        # Clipped into what the pipelines hold, as jaxbeer does inside jit.
        ship = [min(max(v, 1), s.shipment_buffer - 1) for v in ship]
        order = [min(max(v, 0), s.order_buffer - 1) for v in order]
        return ship, order

    # ------------------------------------------------------------------ step
    def orders_from_action(self, action: Sequence[int]) -> list[int]:
        """Order quantities from actions (absolute, or the d+x rule), clipped as jaxbeer clips them."""
        s = self.s
        if s.action_mode == "absolute":
            orders = [int(a) for a in action]
        else:  # "d+x": what arrived (known before deciding) plus x
            orders = [self.order_pipe[k][0] + min(max(int(a), s.x_low), s.x_high) for k, a in enumerate(action)]
        return [min(max(q, 0), s.max_order) for q in orders]

    def step(self, action: Sequence[int]) -> tuple[np.ndarray, np.ndarray, bool, bool, dict[str, Any]]:
        """One period: ``(obs, reward, terminated, truncated, info)``; never terminated, as in jaxbeer."""
        s, num_agents = self.s, self.num_agents
        shipment_lead, order_lead = self._leads()
        demand = self.order_pipe[0][0]

        # 2. Every echelon orders at once; an order travels upstream (lead 0: it arrives now).
        orders = self.orders_from_action(action)
        for k in range(1, num_agents):
            self.order_pipe[k][order_lead[k - 1]] += orders[k - 1]
        arriving_order = [self.order_pipe[k][0] for k in range(num_agents)]
        arriving_shipment = [self.shipment_pipe[k][0] for k in range(num_agents)]

        # 3. Receive, ship downstream, update inventory.
        shipped, filled = [], []
        for k in range(num_agents):
            net = self.net_inventory[k]
            on_hand, backlog = max(net, 0), max(-net, 0)
            shipped.append(min(on_hand + arriving_shipment[k], backlog + arriving_order[k]))
            filled.append(min(max(on_hand + arriving_shipment[k] - backlog, 0), arriving_order[k]))
            self.net_inventory[k] = net + arriving_shipment[k] - arriving_order[k]
            self.on_order[k] += orders[k] - arriving_shipment[k]
        for k in range(num_agents):
            # Echelon k receives what k+1 shipped; the manufacturer receives its own production.
            inflow = shipped[k + 1] if k + 1 < num_agents else orders[k]
            self.shipment_pipe[k][shipment_lead[k]] += inflow

        # 4. Cost, in float32 as jaxbeer computes it.
        net = np.array(self.net_inventory)
        holding = self.holding_cost * np.maximum(net, 0).astype(np.float32)
        backlog_cost = self.backlog_cost * np.maximum(-net, 0).astype(np.float32)
        cost = holding + backlog_cost
        agent_cost = np.full(num_agents, cost.sum(dtype=np.float32)) if s.team_reward else cost
        reward = -agent_cost * self.reward_scale

        # 5. Advance the pipelines and the clock; next period's demand enters.
        self.period += 1
        for k in range(num_agents):
            self.shipment_pipe[k] = self.shipment_pipe[k][1:] + [0]
            self.order_pipe[k] = self.order_pipe[k][1:] + [0]
        self.order_pipe[0][0] = self._demand(self.period)
        self.last_order = orders
        if s.obs_history > 0:
            newest = [(arriving_order[k], arriving_shipment[k], orders[k]) for k in range(num_agents)]
            self.history = ([newest] + self.history)[: s.obs_history]

        obs = self.observation()
        truncated = self.period >= s.horizon
        info = {
            "cost": cost,
            "holding": holding,
            "backlog": backlog_cost,
            "orders": np.array(orders, np.int32),
            "shipped": np.array(shipped, np.int32),
            "filled": np.array(filled, np.int32),
            "arriving_order": np.array(arriving_order, np.int32),
            "net_inventory": np.array(self.net_inventory, np.int32),
            "demand": np.int32(demand),
            "final_obs": obs,
        }
        return obs, reward, False, truncated, info

    # ----------------------------------------------------------- observation
    def observation(self) -> np.ndarray:
        """float32[A, obs_dim]: counts times ``obs_scale``, then the elapsed fraction, then history."""
        s = self.s
        counts = [
            [max(net, 0), max(-net, 0), on_order, ship[0], order[0], last]
            for net, on_order, ship, order, last in zip(
                self.net_inventory, self.on_order, self.shipment_pipe, self.order_pipe, self.last_order
            )
        ]
        parts = [
            np.array(counts, np.float32) * self.obs_scale,
            np.full((self.num_agents, 1), np.float32(self.period) * np.float32(1.0 / s.horizon), np.float32),
        ]
        if s.obs_history > 0:
            history = np.zeros((self.num_agents, s.obs_history, 3), np.float32)
            for h, per_agent in enumerate(self.history):
                history[:, h, :] = per_agent
            parts.append(history.reshape(self.num_agents, -1) * self.obs_scale)
        return np.concatenate(parts, axis=1)

    def state(self) -> dict:
        """The state in jaxbeer's ``EnvState`` layout (for comparisons)."""
        history = np.zeros((self.num_agents, self.s.obs_history, 3), np.int32)
        for h, per_agent in enumerate(self.history):
            history[:, h, :] = per_agent
        return {
            "net_inventory": np.array(self.net_inventory, np.int32),
            "on_order": np.array(self.on_order, np.int32),
            "shipment_pipe": np.array(self.shipment_pipe, np.int32),
            "order_pipe": np.array(self.order_pipe, np.int32),
            "last_order": np.array(self.last_order, np.int32),
            "period": np.int32(self.period),
            "history": history,
        }

    # ------------------------------------------------------------- benchmark
    def steps_per_second(self, num_steps: int, seed: int = 0) -> float:
        """Env steps per second with uniform random actions, demand and leads drawn here."""
        rng = np.random.default_rng(seed)
        low = 0 if self.s.action_mode == "absolute" else self.s.x_low
        high = self.s.max_order if self.s.action_mode == "absolute" else self.s.x_high
        actions = rng.integers(low, high + 1, size=(num_steps, self.num_agents))
        self.reset()
        start = time.perf_counter()
        for t in range(num_steps):
            _, _, _, truncated, _ = self.step(actions[t])
            if truncated:
                self.reset()
        return num_steps / (time.perf_counter() - start)


def make(name: str = "basic", seed: int = 0, **overrides: Any) -> ReferenceBeerGame:
    """The reference game of jaxbeer scenario ``name`` (same overrides as ``jaxbeer.make``)."""
    import jaxbeer  # only the scenario tables; the game itself does not use JAX

    env, params = jaxbeer.make(name, **overrides)
    return ReferenceBeerGame(ReferenceSettings.from_jaxbeer(env, params), seed=seed)


if __name__ == "__main__":
    game = make("seed-default")
    print(f"reference_numpy seed-default: {game.steps_per_second(20_000):,.0f} env steps/s (one game, random actions)")
