"""The game a learner plays: env from the config, who plays which echelon, one vectorised step.

A team is one kind per echelon (retailer first): the learner's kind (``ppo``,
``iql``, ...) or a heuristic from ``jaxbeer.policies`` (``base_stock``,
``sterman``, ``pass_through``). Learners pick actions; heuristics order
absolute quantities; ``Team.orders`` merges the two per echelon so the whole
mixed team runs inside one jitted rollout.

``step`` does the auto-reset itself (instead of ``env.step``'s) so the
pre-reset state is still at hand: a centralised critic needs the global state
of the last period of a truncated episode, not only ``final_obs``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

import jaxbeer
from algorithms.common.config import CommonConfig, ConfigError
from jaxbeer import policies
from jaxbeer.env import BeerGame, EnvState
from jaxbeer.params import EnvParams

HEURISTIC_KINDS = ("base_stock", "sterman", "pass_through")


def parse_agents(spec: str, num_agents: int, learner_kind: str) -> tuple[str, ...]:
    """``'ppo,sterman,sterman,sterman'`` -> one kind per echelon; empty: all learners."""
    allowed = (learner_kind,) + HEURISTIC_KINDS
    if not spec.strip():
        return (learner_kind,) * num_agents
    kinds = tuple(part.strip() for part in spec.split(","))
    unknown = [kind for kind in kinds if kind not in allowed]
    if unknown:
        raise ConfigError(f"--agents: unknown agent kind {unknown[0]!r}; allowed kinds: {list(allowed)}")
    if len(kinds) != num_agents:
        raise ConfigError(
            f"--agents must name exactly {num_agents} kinds (one per echelon, retailer first), "
            f"got {len(kinds)}: {spec!r}"
        )
    if learner_kind not in kinds:
        raise ConfigError(f"--agents must include at least one {learner_kind!r} echelon, got {spec!r}")
    return kinds


def make_env(config: CommonConfig, reward_scale: float = 1.0) -> tuple[BeerGame, EnvParams]:
    """The scenario with the config's action mode, history, reward sharing and scale.

    ``order_up_to`` is not an env mode: the env is built in absolute mode (so
    ``env.config.num_actions`` = max_order + 1 targets) and ``Team.orders`` turns targets into orders.
    """
    env_mode = "absolute" if config.action_mode == "order_up_to" else config.action_mode
    overrides: dict[str, Any] = dict(
        action_mode=env_mode,
        obs_history=config.obs_history,
        team_reward=config.team_reward,
        reward_scale=float(reward_scale),
    )
    if config.horizon:
        overrides["horizon"] = config.horizon
    try:
        return jaxbeer.make(config.scenario, **overrides)
    except ValueError as error:
        raise ConfigError(str(error)) from error


@dataclasses.dataclass(frozen=True)
class Team:
    """Static description of who plays each echelon; hashable so it can be closed over in jit."""

    kinds: tuple[str, ...]
    learner_kind: str
    base_stock_levels: tuple[int, ...]
    order_up_to: bool = False  # learners' action index is a target inventory position, not an env action

    @property
    def num_agents(self) -> int:
        return len(self.kinds)

    @property
    def learner_mask(self) -> np.ndarray:
        """bool[A]: True where the echelon learns."""
        return np.array([kind == self.learner_kind for kind in self.kinds])

    @property
    def learner_indices(self) -> np.ndarray:
        return np.flatnonzero(self.learner_mask)

    @property
    def num_learners(self) -> int:
        return int(self.learner_mask.sum())

    def heuristic_orders(self, key: jax.Array, state: EnvState, params: EnvParams) -> jax.Array:
        """int32[A]: each heuristic echelon's order (learner echelons get 0)."""
        orders = jnp.zeros((self.num_agents,), jnp.int32)
        for kind, policy in (
            ("base_stock", policies.base_stock(self.base_stock_levels)),
            ("sterman", policies.sterman()),
            ("pass_through", policies.pass_through()),
        ):
            mask = np.array([k == kind for k in self.kinds])
            if mask.any():
                orders = jnp.where(mask, policy(key, state, params), orders)
        return orders

    def orders(
        self, env: BeerGame, key: jax.Array, state: EnvState, action_index: jax.Array, params: EnvParams
    ) -> jax.Array:
        """Absolute orders int32[A]: learners' action indices mapped through the action space,
        heuristics' own orders elsewhere. ``action_index`` is int32[A] in ``[0, num_actions)``."""
        if self.order_up_to:
            learned = jnp.clip(action_index - policies.inventory_position(state), 0, env.config.max_order)
        else:
            learned = env.action_to_orders(state, action_index + env.config.action_low, params)
        if self.num_learners == self.num_agents:
            return learned
        return jnp.where(self.learner_mask, learned, self.heuristic_orders(key, state, params))

    def replace_learners(self, kind: str) -> "Team":
        """The same co-players with every learner echelon played by ``kind`` (a heuristic)."""
        return dataclasses.replace(self, kinds=tuple(kind if k == self.learner_kind else k for k in self.kinds))


class Step(NamedTuple):
    """One period of one game. Under ``vmap`` every field gains a leading env axis."""

    obs: jax.Array  # float32[A, F], the next observation (of a new episode after truncation)
    state: EnvState  # the next state (reset after truncation)
    reward: jax.Array  # float32[A]
    terminated: jax.Array  # bool[], always False in the beer game
    truncated: jax.Array  # bool[], True at the horizon
    final_obs: jax.Array  # float32[A, F], the observation after this period, before any reset
    final_state: EnvState  # the state after this period, before any reset (for global-state critics)
    cost: jax.Array  # float32[A], unscaled cost of this period
    orders: jax.Array  # int32[A], the orders placed


def step(
    env: BeerGame, team: Team, key: jax.Array, state: EnvState, action_index: jax.Array, params: EnvParams
) -> Step:
    """One period with the team's merged orders; auto-resets at truncation. Unbatched (vmap it)."""
    policy_key, step_key, reset_key = jax.random.split(key, 3)
    orders = team.orders(env, policy_key, state, action_index, params)
    obs, next_state, reward, terminated, truncated, info = env.step_orders(
        step_key, state, orders, params, auto_reset=False
    )
    done = jnp.logical_or(terminated, truncated)
    reset_obs, reset_state = env.reset(reset_key, params)
    new_state = jax.tree.map(lambda r, s: jnp.where(done, r, s), reset_state, next_state)
    new_obs = jnp.where(done, reset_obs, obs)
    return Step(
        obs=new_obs,
        state=new_state,
        reward=reward,
        terminated=terminated,
        truncated=truncated,
        final_obs=obs,
        final_state=next_state,
        cost=info["cost"],
        orders=info["orders"],
    )


def reset(
    env: BeerGame, key: jax.Array, params: EnvParams, num_envs: int, stagger: bool = False
) -> tuple[jax.Array, EnvState]:
    """obs float32[E, A, F] and a batched state for ``num_envs`` games.

    Every episode has the same horizon, so games reset together forever after
    and each update would see one narrow window of the episode (periods 0-7,
    then 8-15, ...), a batch that swings the policy back and forth. ``stagger``
    starts game ``i`` at a uniform random period, so its first episode is
    shorter and later ones are spread over the horizon. Exclude those first,
    partial episodes from statistics (``metrics.initial_running_cost``).
    """
    reset_key, period_key = jax.random.split(key)
    obs, state = jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(reset_key, num_envs), params)
    if stagger:
        periods = jax.random.randint(period_key, (num_envs,), 0, env.config.horizon, jnp.int32)
        state = state.replace(period=periods)
        obs = jax.vmap(env.get_obs, in_axes=(0, None))(state, params)
    return obs, state


def vector_step(
    env: BeerGame, team: Team, key: jax.Array, state: EnvState, action_index: jax.Array, params: EnvParams
) -> Step:
    """``step`` over a batch of games: ``action_index`` int32[E, A]."""
    keys = jax.random.split(key, action_index.shape[0])
    return jax.vmap(step, in_axes=(None, None, 0, 0, 0, None))(env, team, keys, state, action_index, params)


# ------------------------------------------------------- base-stock reference
def cache_path() -> Path:
    """JSON cache of optimised base-stock levels; ``PLOOTO_CACHE_DIR`` moves it (tests do)."""
    root = Path(os.environ.get("PLOOTO_CACHE_DIR", Path("runs") / ".cache"))
    return root / "base_stock_levels.json"


def _reference_key(env: BeerGame, params: EnvParams, scenario: str, num_episodes: int) -> str:
    # Heuristics order absolute quantities, so action mode, history and reward
    # settings do not change the optimum; costs, leads, demand and horizon do.
    relevant = dataclasses.replace(
        env.config, action_mode="absolute", obs_history=0, team_reward=False, x_low=0, x_high=0
    )
    fields = {
        name: np.asarray(getattr(params, name)).tolist()
        for name in (
            "holding_cost",
            "backlog_cost",
            "shipment_lead_min",
            "shipment_lead_max",
            "order_lead_min",
            "order_lead_max",
            "initial_inventory",
            "initial_order",
            "initial_shipment",
            "demand_thresholds",
            "demand_offset",
            "demand_trace",
            "classic_low",
            "classic_high",
            "classic_switch",
        )
    }
    blob = json.dumps([repr(relevant), fields, num_episodes], sort_keys=True)
    return f"{scenario}-{hashlib.sha256(blob.encode()).hexdigest()[:16]}"


def base_stock_reference(
    env: BeerGame, params: EnvParams, scenario: str, num_episodes: int = 100, seed: int = 12345
) -> dict[str, Any]:
    """Optimised base-stock levels for this game, computed once and cached on disk.

    Returns ``{"levels": [...], "team_cost": optimiser's mean cost, "key": cache key}``.
    """
    key = _reference_key(env, params, scenario, num_episodes)
    path = cache_path()
    cache = json.loads(path.read_text()) if path.is_file() else {}
    if key in cache:
        return cache[key]
    start = time.perf_counter()
    levels, cost = jaxbeer.optimize_base_stock(env, params, jax.random.PRNGKey(seed), num_episodes=num_episodes)
    entry = {
        "levels": [int(v) for v in levels],
        "team_cost": float(cost),
        "key": key,
        "optimiser_seconds": round(time.perf_counter() - start, 2),
    }
    remember_reference(entry)
    return entry


def remember_reference(entry: dict) -> None:
    """Put a reference (e.g. the one saved in a run's config.json) into the cache, so reloading a
    run elsewhere reuses the run's own levels instead of re-running the optimiser."""
    path = cache_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    cache = json.loads(path.read_text()) if path.is_file() else {}  # another run may have written meanwhile
    if cache.get(entry["key"]) == entry:
        return
    cache[entry["key"]] = entry
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(cache, indent=1, sort_keys=True))
    os.replace(tmp, path)


@dataclasses.dataclass(frozen=True)
class Game:
    """Everything a learner needs to know about the game it plays."""

    env: BeerGame
    params: EnvParams  # with the training reward scale
    team: Team
    reference: dict  # optimised base-stock levels and their optimiser cost (see base_stock_reference)
    reward_scale: float


def make_game(config: CommonConfig) -> Game:
    """Env, team and base-stock reference for ``config`` (the optimiser runs once per scenario, then cached)."""
    env, params = make_env(config)
    kinds = parse_agents(config.agents, env.num_agents, config.learner_kind)
    reference = base_stock_reference(env, params, config.scenario, config.base_stock_episodes)
    scale = config.reward_scale or auto_reward_scale(reference["team_cost"], env.config.horizon, config.gamma)
    params = params.replace(reward_scale=jnp.float32(scale))
    team = Team(
        kinds=kinds,
        learner_kind=config.learner_kind,
        base_stock_levels=tuple(reference["levels"]),
        order_up_to=config.action_mode == "order_up_to",
    )
    return Game(env=env, params=params, team=team, reference=reference, reward_scale=scale)


def auto_reward_scale(reference_team_cost: float, horizon: int, gamma: float) -> float:
    """Scale so a base-stock-quality team sees discounted returns near -1."""
    per_period = max(reference_team_cost / horizon, 1e-6)
    return float((1.0 - gamma) / per_period) if gamma < 1.0 else float(1.0 / (per_period * horizon))
