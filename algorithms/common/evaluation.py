"""Greedy evaluation of a learned team against heuristic teams on the same episodes.

A learner exposes ``act(policy_params, obs[A, F], key) -> int32[A]`` action
indices (greedy). ``team_policy`` turns that into a ``jaxbeer`` policy (key,
state, params) -> absolute orders, with the team's heuristic echelons merged
in, so ``jaxbeer.evaluate.episode_sums`` scores it like any heuristic. Every
row of a table uses the same evaluation key, hence the same demand paths.
"""

from __future__ import annotations

import functools
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from algorithms.common.team import HEURISTIC_KINDS, Team
from jaxbeer import policies
from jaxbeer.env import BeerGame
from jaxbeer.evaluate import episode_sums, summarise
from jaxbeer.params import EnvParams

Act = Callable[[Any, jax.Array, jax.Array], jax.Array]


def team_policy(env: BeerGame, team: Team, act: Act | None, policy_params: Any):
    """A ``jaxbeer`` policy for the whole team (``act`` may be None for an all-heuristic team)."""

    def policy(key, state, params):
        act_key, order_key = jax.random.split(key)
        if act is None or team.num_learners == 0:
            return team.heuristic_orders(order_key, state, params)
        action_index = act(policy_params, env.get_obs(state, params), act_key)
        return team.orders(env, order_key, state, action_index, params)

    return policy


@functools.partial(jax.jit, static_argnums=(0, 1, 2, 6))
def _learned_sums(env, team, act, policy_params, params, key, num_episodes):
    keys = jax.random.split(key, num_episodes)
    return jax.vmap(lambda k: episode_sums(env, params, team_policy(env, team, act, policy_params), k))(keys)


@functools.partial(jax.jit, static_argnums=(0, 1, 2, 6))
def _learned_sums_per_seed(env, team, act, policy_params, params, key, num_episodes):
    return jax.vmap(lambda p: _learned_sums(env, team, act, p, params, key, num_episodes))(policy_params)


def evaluate_learned(
    env: BeerGame,
    params: EnvParams,
    team: Team,
    act: Act,
    policy_params: Any,
    key: jax.Array,
    num_episodes: int,
    num_seeds: int | None = None,
) -> list[dict[str, Any]]:
    """Summaries (``jaxbeer.evaluate.summarise``) of the greedy team, one per seed.

    With ``num_seeds`` the leaves of ``policy_params`` carry a leading seed axis.
    """
    if num_seeds is None:
        return [summarise(_learned_sums(env, team, act, policy_params, params, key, num_episodes), env.config.horizon)]
    sums = jax.device_get(_learned_sums_per_seed(env, team, act, policy_params, params, key, num_episodes))
    return [summarise(jax.tree.map(lambda x, s=s: x[s], sums), env.config.horizon) for s in range(num_seeds)]


def _coded_heuristics(levels: jax.Array, codes: jax.Array):
    """An all-heuristic team whose kinds are data (``codes[k]`` indexes ``HEURISTIC_KINDS``),
    so every heuristic row of a table runs through one compiled program."""
    heuristics = (policies.base_stock(levels), policies.sterman(), policies.pass_through())

    def policy(key, state, params):
        orders = [h(key, state, params) for h in heuristics]
        return jnp.select([codes == i for i in range(len(orders) - 1)], orders[:-1], orders[-1])

    return policy


@functools.partial(jax.jit, static_argnums=(0, 5))
def _heuristic_sums(env, levels, codes, params, key, num_episodes):
    keys = jax.random.split(key, num_episodes)
    return jax.vmap(lambda k: episode_sums(env, params, _coded_heuristics(levels, codes), k))(keys)


def evaluate_heuristic(
    env: BeerGame, params: EnvParams, team: Team, key: jax.Array, num_episodes: int
) -> dict[str, Any]:
    """Summary of a team whose echelons are all heuristics."""
    if team.num_learners:
        raise ValueError(f"evaluate_heuristic needs an all-heuristic team, got {team.kinds}")
    codes = jnp.asarray([HEURISTIC_KINDS.index(kind) for kind in team.kinds], jnp.int32)
    levels = jnp.asarray(team.base_stock_levels, jnp.int32)
    return summarise(_heuristic_sums(env, levels, codes, params, key, num_episodes), env.config.horizon)


def comparison_teams(team: Team) -> dict[str, Team]:
    """Heuristic teams to compare a learned team with, by row label."""
    rows: dict[str, Team] = {}
    if team.num_learners < team.num_agents:
        for kind in HEURISTIC_KINDS:
            rows[f"{kind} in learner seats, same co-players"] = team.replace_learners(kind)
    for kind in HEURISTIC_KINDS:
        rows[f"all {kind}"] = Team(
            kinds=(kind,) * team.num_agents, learner_kind=team.learner_kind, base_stock_levels=team.base_stock_levels
        )
    return rows


def cost_table(
    env: BeerGame,
    params: EnvParams,
    team: Team,
    act: Act,
    policy_params: Any,
    key: jax.Array,
    num_episodes: int,
    num_seeds: int | None = None,
) -> list[dict[str, Any]]:
    """Rows ``{label, kinds, team_cost_mean, team_cost_se, agent_cost_mean}``, learned team first."""
    rows = []
    for seed, summary in enumerate(
        evaluate_learned(env, params, team, act, policy_params, key, num_episodes, num_seeds)
    ):
        label = "learned (greedy)" if num_seeds is None or num_seeds == 1 else f"learned (greedy), seed {seed}"
        rows.append(row(label, team.kinds, summary))
    for label, heuristic_team in comparison_teams(team).items():
        rows.append(
            row(label, heuristic_team.kinds, evaluate_heuristic(env, params, heuristic_team, key, num_episodes))
        )
    return rows


def row(label: str, kinds: tuple[str, ...], summary: dict[str, Any]) -> dict[str, Any]:
    return {
        "label": label,
        "kinds": list(kinds),
        "team_cost_mean": summary["team_cost_mean"],
        "team_cost_se": summary["team_cost_se"],
        "agent_cost_mean": [float(v) for v in np.asarray(summary["agent_cost_mean"])],
        "num_episodes": summary["num_episodes"],
    }


def format_table(rows: list[dict[str, Any]], reference_label: str = "all base_stock") -> str:
    """Plain-text table; the gap column is relative to ``reference_label``'s team cost."""
    reference = next((r["team_cost_mean"] for r in rows if r["label"] == reference_label), None)
    width = max(len(r["label"]) for r in rows)
    num_agents = len(rows[0]["agent_cost_mean"])
    header = f"{'team':<{width}}  {'team cost':>10}  {'± se':>7}  {'vs base-stock':>13}  " + "  ".join(
        f"{'echelon ' + str(k):>10}" for k in range(num_agents)
    )
    lines = [header, "-" * len(header)]
    for r in rows:
        gap = f"{100.0 * (r['team_cost_mean'] / reference - 1.0):+12.1f}%" if reference else f"{'':>13}"
        lines.append(
            f"{r['label']:<{width}}  {r['team_cost_mean']:>10.1f}  {r['team_cost_se']:>7.1f}  {gap}  "
            + "  ".join(f"{c:>10.1f}" for c in r["agent_cost_mean"])
        )
    return "\n".join(lines)
