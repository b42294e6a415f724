"""Greedy evaluation of a learned team against heuristic teams on the same episodes.

A learner exposes ``act(policy_params, obs[A, F], key) -> int32[A]`` greedy
action indices. ``team.team_policy`` turns that, with the team's heuristic
seats, into a ``jaxbeer`` policy, so ``jaxbeer.evaluate`` (the one evaluation
path) scores learned and heuristic teams alike. Every row of a table uses the
same evaluation key, hence the same demand paths.
"""

from __future__ import annotations

from typing import Any, Sequence

import jax
import numpy as np

import jaxbeer
from algorithms.common.game import Game
from algorithms.common.team import Act, Team, team_policy
from jaxbeer import policies


def evaluate_learned(
    game: Game, act: Act, policy_params: Any, key: jax.Array, num_episodes: int, num_seeds: int | None = None
) -> list[dict[str, Any]]:
    """Summaries (``jaxbeer.rollouts.summarise``) of the greedy team of ``game``, one per seed.

    With ``num_seeds`` the leaves of ``policy_params`` carry a leading seed axis.
    """
    policy = team_policy(game.env, game.team, act, policy_params)
    if num_seeds is None:
        return [jaxbeer.evaluate(game.env, game.params, policy, key, num_episodes)]
    return jaxbeer.evaluate_batch(game.env, game.params, policy, key, num_episodes)


def comparison_teams(team: Team) -> dict[str, Team]:
    """Heuristic teams to compare a learned team with, by row label."""
    rows: dict[str, Team] = {}
    if team.num_learners < team.num_agents:
        for kind in policies.HEURISTIC_NAMES:
            rows[f"{kind} in learner seats, same co-players"] = team.replace_learners(kind)
    for kind in policies.HEURISTIC_NAMES:
        rows[f"all {kind}"] = Team(
            kinds=(kind,) * team.num_agents, learner_kind=team.learner_kind, base_stock_levels=team.base_stock_levels
        )
    return rows


def seed_labels(num_seeds: int | None) -> tuple[str, ...]:
    """How rows name a run's seeds: nothing for a lone seed, ``seed i`` for several."""
    return ("",) if num_seeds is None or num_seeds == 1 else tuple(f"seed {i}" for i in range(num_seeds))


def cost_table(
    game: Game,
    act: Act,
    policy_params: Any,
    key: jax.Array,
    num_episodes: int,
    num_seeds: int | None = None,
    labels: Sequence[str] | None = None,
) -> list[dict[str, Any]]:
    """Rows ``{label, kinds, team_cost_mean, team_cost_se, agent_cost_mean}``, learned team first; ``labels``
    name what each seed's row is (a sweep's configuration), by default its seed."""
    env, params, team = game.env, game.params, game.team
    labels = seed_labels(num_seeds) if labels is None else labels
    rows = []
    for seed, summary in enumerate(evaluate_learned(game, act, policy_params, key, num_episodes, num_seeds)):
        label = "learned (greedy)" + (f", {labels[seed]}" if labels[seed] else "")
        rows.append(row(label, team.kinds, summary))
    for label, heuristic_team in comparison_teams(team).items():
        summary = jaxbeer.evaluate(env, params, heuristic_team.heuristics(), key, num_episodes)
        rows.append(row(label, heuristic_team.kinds, summary))
    return rows


def row(label: str, kinds: tuple[str, ...], summary: dict[str, Any]) -> dict[str, Any]:
    """One team's table row: its label, seat kinds and the costs of ``summary`` as plain Python values."""
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
