"""The game a learner plays, built from its config: env, team, base-stock reference and reward scale.

``make_game`` checks the scenario and ``--agents`` on the cheap first half of
the work (building the env traces nothing), before the optimiser runs, so a
bad flag still fails in a fraction of a second.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax.numpy as jnp

import jaxbeer
from algorithms.common.config import CommonConfig, ConfigError
from algorithms.common.reference import base_stock_reference
from algorithms.common.team import Team, parse_agents
from jaxbeer.env import BeerGame
from jaxbeer.params import EnvParams


@dataclasses.dataclass(frozen=True)
class Game:
    """Everything a learner needs to know about the game it plays."""

    env: BeerGame
    params: EnvParams  # with the training reward scale
    team: Team
    reference: dict  # optimised base-stock levels and their optimizer cost (see base_stock_reference)
    reward_scale: float


def make_env(config: CommonConfig, reward_scale: float = 1.0) -> tuple[BeerGame, EnvParams]:
    """The scenario with the config's action mode, history, reward sharing and scale."""
    overrides: dict[str, Any] = dict(
        action_mode=config.action_mode,
        obs_history=config.obs_history,
        team_reward=config.team_reward,
        reward_scale=float(reward_scale),
    )
    if config.horizon:
        overrides["horizon"] = config.horizon
    if config.x_range:
        overrides["x_low"], overrides["x_high"] = config.x_range
    try:
        return jaxbeer.make(config.scenario, **overrides)
    except ValueError as error:
        raise ConfigError(str(error)) from error


def check_game(config: CommonConfig) -> tuple[BeerGame, EnvParams, tuple[str, ...]]:
    """The cheap half of ``make_game``: the env and one kind per seat, or a ``ConfigError`` naming the flag.
    The host loop calls it before it claims a run directory, so a refused run leaves nothing behind."""
    env, params = make_env(config)
    return env, params, parse_agents(config.agents, env.num_agents, config.learner_kind)


def make_game(config: CommonConfig) -> Game:
    """Env, team and base-stock reference for ``config`` (the optimizer runs once per scenario, then cached)."""
    env, params, kinds = check_game(config)
    reference = base_stock_reference(env, params, config.scenario, config.base_stock_episodes)
    scale = config.reward_scale or auto_reward_scale(reference["team_cost"], env.config.horizon, config.gamma)
    params = params.replace(reward_scale=jnp.float32(scale))
    team = Team(kinds=kinds, learner_kind=config.learner_kind, base_stock_levels=tuple(reference["levels"]))
    return Game(env=env, params=params, team=team, reference=reference, reward_scale=scale)


def auto_reward_scale(reference_team_cost: float, horizon: int, gamma: float) -> float:
    """Scale so a base-stock-quality team sees discounted returns near -1."""
    per_period = max(reference_team_cost / horizon, 1e-6)
    return float((1.0 - gamma) / per_period) if gamma < 1.0 else float(1.0 / (per_period * horizon))
