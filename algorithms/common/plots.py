"""Learning-curve and trajectory PNGs of a run (matplotlib, headless)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jax
import numpy as np

import jaxbeer
from algorithms.common import runlog
from algorithms.common.evaluation import comparison_teams
from algorithms.common.game import Game
from algorithms.common.team import Act, team_policy

LEARNING_CURVE = "learning_curve.png"
TRAJECTORY = "trajectory.png"


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def learning_curve(log_path: Path, out_path: Path, reference_cost: float | None = None) -> Path:
    """Training episode team cost and greedy evaluation cost against env steps."""
    plt = _pyplot()
    records = runlog.read(log_path, warn=False)  # a damaged line was reported when the log was read before
    records = [r for r in records if "env_steps" in r]
    steps = np.array([r["env_steps"] for r in records], np.float64)

    def series(key):
        return np.array([np.nan if r.get(key) is None else r[key] for r in records], np.float64)

    fig, ax = plt.subplots(figsize=(7, 4.2))
    ax.plot(steps, series("episode_team_cost"), marker="o", label="training episodes (sampled actions)")
    ax.plot(steps, series("eval_team_cost"), marker="s", label="greedy policy, evaluation episodes")
    reference = (
        reference_cost
        if reference_cost is not None
        else (records[-1].get("base_stock_eval_team_cost") if records else None)
    )
    if reference is not None:
        ax.axhline(reference, color="k", linestyle="--", label="optimised base-stock")
    ax.set_xlabel("env steps per seed")
    ax.set_ylabel("team cost per episode")
    ax.set_yscale("log")
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out_path, dpi=110)
    plt.close(fig)
    return out_path


def trajectory(game: Game, act: Act, policy_params: Any, key: jax.Array, out_path: Path) -> Path:
    """Net inventory and orders per echelon over one episode: learned team beside base-stock, same demand."""
    plt = _pyplot()
    base_team = comparison_teams(game.team)["all base_stock"]
    learned = jaxbeer.rollout(game.env, game.params, team_policy(game.env, game.team, act, policy_params), key, 1)
    reference = jaxbeer.rollout(game.env, game.params, base_team.heuristics(), key, 1)
    num_agents = game.env.num_agents
    names = ["retailer", "wholesaler", "distributor", "manufacturer"] + [f"echelon {k}" for k in range(4, num_agents)]
    fig, axes = plt.subplots(num_agents, 2, figsize=(11, 2.2 * num_agents), sharex=True, squeeze=False)
    periods = np.arange(game.env.config.horizon)
    for k in range(num_agents):
        for column, field in enumerate(("net_inventory", "orders")):
            ax = axes[k, column]
            ax.step(periods, np.asarray(learned[field][0, :, k]), where="post", label=f"learned ({game.team.kinds[k]})")
            ax.step(
                periods,
                np.asarray(reference[field][0, :, k]),
                where="post",
                linestyle="--",
                label=f"base-stock (S={game.team.base_stock_levels[k]})",
            )
            if field == "orders" and k == 0:
                ax.step(
                    periods,
                    np.asarray(learned["demand"][0]),
                    where="post",
                    color="grey",
                    alpha=0.5,
                    label="customer demand",
                )
            ax.set_ylabel(names[k])
            ax.grid(True, alpha=0.3)
            if k == 0:
                ax.set_title("net inventory (on hand - backlog)" if field == "net_inventory" else "orders placed")
                ax.legend(fontsize=7)
    for column in range(2):
        axes[-1, column].set_xlabel("period")
    fig.tight_layout()
    fig.savefig(out_path, dpi=100)
    plt.close(fig)
    return out_path


def write_all(run_dir: Path, game: Game, act: Act, policy_params: Any, key: jax.Array) -> list[Path]:
    """Both PNGs into the run directory; ``policy_params`` of one seed."""
    return [
        learning_curve(run_dir / "log.jsonl", run_dir / LEARNING_CURVE),
        trajectory(game, act, policy_params, key, run_dir / TRAJECTORY),
    ]
