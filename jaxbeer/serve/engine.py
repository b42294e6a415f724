"""The classroom game on top of ``jaxbeer``: who plays which seat, one week of one game, and the debrief.

A game is one episode of a scenario, drawn from one episode key: its reset
and every period's key come from ``rollouts.episode_keys``, and every period
is ``rollouts.play_period`` with a policy that plays the humans' orders in
their seats and the co-players' in the others. So the ghost base-stock team
and the all-agents team, played by ``rollouts.episode_sums`` from the same
key, meet the same demand path (and the same lead times), and a recorded game
replays exactly through ``jaxbeer``'s own evaluation.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import re
import threading
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import serialization

import jaxbeer
from jaxbeer import policies, rollouts
from jaxbeer.env import BeerGame, EnvState
from jaxbeer.params import EnvParams
from jaxbeer.play import echelon_name
from jaxbeer.policies import Policy

HEURISTIC_CO_PLAYERS = {
    "base_stock": "base-stock",
    "sterman": "Sterman (anchor and adjust)",
    "pass_through": "pass-through",
}
RUN_PREFIX = "run:"
MAX_WEEKS = 200


class SetupError(ValueError):
    """A bad game or class setting; the message names the field and what it allows."""


class OrderError(ValueError):
    """A bad order; the message is shown beside the order field."""


WHOLE_NUMBER = re.compile(r"[+-]?[0-9]{1,15}(\.0*)?")  # 15 digits: far above any order, far below int's limit
DECIMAL = re.compile(r"[+-]?[0-9]*\.[0-9]+")


def whole_number(value: Any) -> int | None:
    """``value`` as an int when it is one (``7``, ``"7"``, ``" 7 "``, ``"7.0"``, ``7.0``), else ``None``:
    never a bool, a fraction, ``"1_6"``, ``"1e3"`` or a non-finite float."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if math.isfinite(value) and value.is_integer() else None
    if isinstance(value, str) and len(value) <= 64 and WHOLE_NUMBER.fullmatch(value.strip()):
        return int(value.strip().split(".")[0])
    return None


def parse_order(text: Any, max_order: int) -> int:
    """The order typed into the field, as an int in ``[0, max_order]``, or ``OrderError`` saying why not."""
    allowed = f"a whole number of cases from 0 to {max_order}"
    if text is None or (isinstance(text, str) and not text.strip()):
        raise OrderError(f"Enter an order: {allowed}.")
    if isinstance(text, str) and re.fullmatch(r"\+?[0-9]{16,}", text.strip()):
        raise OrderError(f"{text.strip()[:20]}… is above this scenario's largest order; enter {allowed}.")
    number = whole_number(text)
    if number is None:
        shown = str(text).strip()[:20]
        if (isinstance(text, float) and math.isfinite(text)) or DECIMAL.fullmatch(shown):
            raise OrderError(f"Orders are whole cases: {shown} is not a whole number; enter {allowed}.")
        raise OrderError(f"{shown!r} is not a number; enter {allowed}.")
    if number < 0:
        raise OrderError(f"An order cannot be negative ({number}); enter {allowed}.")
    if number > max_order:
        raise OrderError(f"{number} is above this scenario's largest order; enter {allowed}.")
    return number


@functools.cache
def scenario_horizon(name: str) -> int:
    """A scenario's own horizon (the most weeks a game of it may have); built once per scenario."""
    return jaxbeer.make(name)[0].config.horizon


# ------------------------------------------------------------------ compiled pieces
def _mixed_orders(params, key: jax.Array, state: EnvState, env_params: EnvParams) -> jax.Array:
    """The humans' orders in their seats, the co-players' elsewhere."""
    human_orders, is_human, agents = params
    return jnp.where(is_human, human_orders, agents(key, state, env_params))


@functools.partial(jax.jit, static_argnames="env")
def _start(env: BeerGame, params: EnvParams, episode_key: jax.Array) -> EnvState:
    reset_key, _ = rollouts.episode_keys(episode_key, env.config.horizon)
    return env.reset(reset_key, params)[1]


@functools.partial(jax.jit, static_argnames="env")
def _week(env, params, agents: Policy, state: EnvState, episode_key, human_orders, is_human):
    _, period_keys = rollouts.episode_keys(episode_key, env.config.horizon)
    policy = Policy(params=(human_orders, is_human, agents), apply=_mixed_orders)
    next_state, _, info = rollouts.play_period(env, params, policy, state, period_keys[state.period])
    kept = ("orders", "shipped", "filled", "arriving_order", "net_inventory", "cost", "holding", "backlog", "demand")
    return next_state, {name: info[name] for name in kept}


_episode_sums = jax.jit(rollouts.episode_sums, static_argnames="env")


def episode_key(seed: int) -> jax.Array:
    """The key a game with this seed draws its episode from (a replay uses the same)."""
    return jax.random.key(seed)


# ------------------------------------------------------------------ tables
class Table(NamedTuple):
    """Everything fixed for the games of one setup: the env, the co-players, the ghost team."""

    env: BeerGame
    params: EnvParams
    agents: Policy  # the co-player in every seat; the humans' seats are overridden per week
    ghost: Policy  # base-stock in every seat
    ghost_levels: tuple[int, ...]
    co_player_label: str
    state_template: EnvState  # zeros of the state's shapes, to restore a stored state into


class Catalog:
    """The co-players a server offers (the heuristics and the run directories it was given) and the
    tables of the setups played so far (loaded once each, so their programs compile once)."""

    def __init__(self, run_dirs: list[Path] | tuple[Path, ...] = ()):
        self.runs: dict[str, Path] = {}
        for path in run_dirs:
            path = Path(path)
            found = [path] if (path / "config.json").is_file() else sorted(p.parent for p in path.glob("*/config.json"))
            for run in found:
                self.runs[f"{RUN_PREFIX}{run.name}"] = run
        self._tables: dict[tuple[str, int, str], Table] = {}
        self._loaded: dict[str, Any] = {}
        self._levels: dict[tuple[str, int], tuple[int, ...]] = {}
        self._lock = threading.Lock()

    def co_players(self) -> dict[str, str]:
        """value -> label, for the setup forms."""
        return {**HEURISTIC_CO_PLAYERS, **{name: f"trained: {path.name}" for name, path in self.runs.items()}}

    def check_setup(self, scenario: Any, weeks: Any, co_player: Any) -> tuple[str, int, str]:
        """The checked ``(scenario, weeks, co_player)`` of a form, or ``SetupError`` naming the field."""
        if scenario not in jaxbeer.scenario_names():
            raise SetupError(f"scenario must be one of {', '.join(jaxbeer.scenario_names())}")
        horizon = scenario_horizon(scenario)
        try:
            weeks = int(weeks)
        except (TypeError, ValueError):
            raise SetupError(f"weeks must be a whole number from 1 to {min(horizon, MAX_WEEKS)}") from None
        if not 1 <= weeks <= min(horizon, MAX_WEEKS):
            raise SetupError(f"weeks must be a whole number from 1 to {min(horizon, MAX_WEEKS)}, got {weeks}")
        if co_player not in self.co_players():
            raise SetupError(f"co-players must be one of {', '.join(self.co_players())}")
        if co_player in self.runs:
            loaded = self._load(co_player)
            trained = loaded.config.scenario
            if trained != scenario:
                raise SetupError(
                    f"co-players: {self.runs[co_player].name} was trained on {trained!r}, not {scenario!r}"
                )
            if weeks > loaded.env.config.horizon:
                raise SetupError(f"weeks must be at most {loaded.env.config.horizon} with this trained run")
        return scenario, weeks, co_player

    def table(self, scenario: str, weeks: int, co_player: str) -> Table:
        """The table of a checked setup (built on first use)."""
        with self._lock:
            key = (scenario, weeks, co_player)
            if key not in self._tables:
                self._tables[key] = self._build(scenario, weeks, co_player)
            return self._tables[key]

    def _load(self, co_player: str):
        if co_player not in self._loaded:
            from algorithms.registry import PolicyLoadError, load_policy  # the learners only when a run is played

            try:
                self._loaded[co_player] = load_policy(self.runs[co_player])
            except PolicyLoadError as error:
                raise SetupError(f"co-players: {error}") from None
        return self._loaded[co_player]

    def _build(self, scenario: str, weeks: int, co_player: str) -> Table:
        if co_player in self.runs:
            loaded = self._load(co_player)
            # The run's own env and parameters (its history length, action mode, leads), only shorter.
            env = BeerGame(dataclasses.replace(loaded.env.config, horizon=weeks))
            params, agents, label = (
                loaded.params,
                loaded.policy,
                f"trained {loaded.algorithm} ({self.runs[co_player].name})",
            )
        else:
            env, params = jaxbeer.make(scenario, horizon=weeks)
            label = HEURISTIC_CO_PLAYERS[co_player]
            agents = None
        levels = self._ghost_levels(scenario, weeks, env, params)
        if agents is None:
            settings = {"base_stock": {"levels": list(levels)}} if co_player == "base_stock" else {}
            agents = policies.heuristic_team([co_player] * env.num_agents, **settings)
        ghost = policies.base_stock(levels, env.num_agents)
        shapes = jax.eval_shape(lambda: _start(env, params, episode_key(0)))
        template = jax.tree.map(lambda leaf: np.zeros(leaf.shape, leaf.dtype), shapes)
        # Compile the week now, when the game is set up, rather than at its first order.
        nobody = jnp.zeros((env.num_agents,), jnp.int32)
        _week(env, params, agents, template, episode_key(0), nobody, nobody.astype(jnp.bool_))
        return Table(env, params, agents, ghost, levels, label, template)

    def _ghost_levels(self, scenario: str, weeks: int, env: BeerGame, params: EnvParams) -> tuple[int, ...]:
        literature = jaxbeer.literature_levels(scenario)
        if literature is not None:
            return tuple(int(level) for level in literature)
        if (scenario, weeks) not in self._levels:
            levels, _ = jaxbeer.optimize_base_stock(env, params, jax.random.key(0))
            self._levels[(scenario, weeks)] = tuple(int(level) for level in np.asarray(levels))
        return self._levels[(scenario, weeks)]


# ------------------------------------------------------------------ one game
def start_state(table: Table, seed: int) -> EnvState:
    return _start(table.env, table.params, episode_key(seed))


def state_to_bytes(state: EnvState) -> bytes:
    return serialization.to_bytes(state)


def state_from_bytes(table: Table, blob: bytes) -> EnvState:
    return serialization.from_bytes(table.state_template, blob)


def decision_view(state: EnvState) -> dict[str, list[int]]:
    """What each echelon sees before it orders: per echelon lists, retailer first."""
    net = np.asarray(state.net_inventory)
    return {
        "incoming_order": np.asarray(state.order_pipe[:, 0]).tolist(),
        "arriving_shipment": np.asarray(state.shipment_pipe[:, 0]).tolist(),
        "on_hand": np.maximum(net, 0).tolist(),
        "backlog": np.maximum(-net, 0).tolist(),
        "on_order": np.asarray(state.on_order).tolist(),
    }


def play_week(table: Table, seed: int, state: EnvState, human_orders: list[int], is_human: list[bool]):
    """One week: ``(next_state, record)``; the record is plain JSON (per echelon lists, retailer first)."""
    before = decision_view(state)
    next_state, info = _week(
        table.env,
        table.params,
        table.agents,
        state,
        episode_key(seed),
        jnp.asarray(human_orders, jnp.int32),
        jnp.asarray(is_human, jnp.bool_),
    )
    info = jax.device_get(info)
    record = {
        "week": int(np.asarray(state.period)),
        "demand": int(info["demand"]),
        "incoming_order": [int(x) for x in info["arriving_order"]],
        "arriving_shipment": before["arriving_shipment"],
        "order": [int(x) for x in info["orders"]],
        "shipped": [int(x) for x in info["shipped"]],
        "filled": [int(x) for x in info["filled"]],
        "net_inventory": [int(x) for x in info["net_inventory"]],
        "on_order": np.asarray(next_state.on_order).tolist(),
        "cost": [float(x) for x in info["cost"]],
        "holding": [float(x) for x in info["holding"]],
        "backlog_cost": [float(x) for x in info["backlog"]],
    }
    return next_state, record


# ------------------------------------------------------------------ debrief
def sums_of_records(records: list[dict]) -> dict[str, np.ndarray]:
    """``rollouts.episode_sums`` of a played game, from its records (one episode: a leading axis of 1)."""
    orders = np.array([r["order"] for r in records], np.float64)
    demand = np.array([r["demand"] for r in records], np.float64)
    sums = {
        "cost": np.array([r["cost"] for r in records], np.float64).sum(0),
        "orders": orders.sum(0),
        "orders_sq": (orders**2).sum(0),
        "filled": np.array([r["filled"] for r in records], np.float64).sum(0),
        "arriving_order": np.array([r["incoming_order"] for r in records], np.float64).sum(0),
        "demand": demand.sum(),
        "demand_sq": (demand**2).sum(),
    }
    return {name: value[None] for name, value in sums.items()}


def team_row(label: str, summary: dict) -> dict:
    bullwhip = [None if not np.isfinite(b) else round(float(b), 2) for b in summary["bullwhip"]]
    return {
        "label": label,
        "echelon_cost": [float(c) for c in summary["agent_cost_mean"]],
        "team_cost": float(summary["team_cost_mean"]),
        "bullwhip": bullwhip,
        "fill_rate": [float(f) for f in summary["fill_rate"]],
    }


def debrief(table: Table, seed: int, records: list[dict], team_label: str) -> dict:
    """The cost table of the played team, the ghost base-stock team and the all-agents team on the same
    demand path, with per-echelon bullwhip and fill rates."""
    horizon = table.env.config.horizon
    played = rollouts.summarise(sums_of_records(records), horizon)
    key = episode_key(seed)
    ghost, agents = (
        rollouts.summarise(
            jax.tree.map(lambda x: np.asarray(x)[None], _episode_sums(table.env, table.params, p, key)), horizon
        )
        for p in (table.ghost, table.agents)
    )
    return {
        "echelons": [echelon_name(k) for k in range(table.env.num_agents)],
        "rows": [
            team_row(team_label, played),
            team_row(f"ghost: base-stock {list(table.ghost_levels)}", ghost),
            team_row(f"all agents: {table.co_player_label}", agents),
        ],
    }
