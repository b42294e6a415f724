"""Play a scenario with a heuristic policy and print its cost table.

    python -m jaxbeer.play --scenario classic --policy sterman --plot bullwhip.png

``--plot`` draws each echelon's inventory and orders over one episode (the
bullwhip picture) with matplotlib, a dependency of the project.
"""

from __future__ import annotations

import dataclasses
import pathlib
import sys
from typing import Literal, Optional

import jax
import numpy as np

import jaxbeer
from jaxbeer import policies
from jaxbeer.cli import exit_with_usage_error, parse_flags
from jaxbeer.validation import check_int

ECHELON_NAMES = ("retailer", "wholesaler", "distributor", "manufacturer")


@dataclasses.dataclass
class PlayArgs:
    """Flags of ``python -m jaxbeer.play``."""

    scenario: str = "classic"
    """One of the names in jaxbeer.scenario_names()."""
    policy: Literal["base_stock", "optimized_base_stock", "sterman", "pass_through", "random"] = "base_stock"
    """base_stock uses --levels, else the literature's levels, else the optimiser's."""
    levels: Optional[tuple[int, ...]] = None
    """Base-stock levels, one per echelon."""
    episodes: int = 200
    """Evaluation episodes."""
    horizon: Optional[int] = None
    """Periods per episode (default: the scenario's)."""
    seed: int = 0
    """Root of the keys of the base-stock optimiser, the evaluation episodes and the plotted episode."""
    plot: Optional[pathlib.Path] = None
    """Write the inventory-and-orders picture of one episode to this PNG."""


def echelon_name(k: int) -> str:
    """The classic chain's name of echelon ``k``; a scenario with more echelons numbers the rest."""
    return ECHELON_NAMES[k] if k < len(ECHELON_NAMES) else f"echelon {k}"


def make_policy(
    args: PlayArgs, env: jaxbeer.BeerGame, params: jaxbeer.EnvParams, key: jax.Array
) -> tuple[policies.Policy, np.ndarray | None]:
    """The chosen heuristic and, for base-stock, the levels it plays, so the summary line can show them."""
    if args.policy == "sterman":
        return policies.sterman(), None
    if args.policy == "pass_through":
        return policies.pass_through(), None
    if args.policy == "random":
        return policies.uniform_random(env.config.max_order), None
    levels = None if args.policy == "optimized_base_stock" else args.levels
    if levels is None and args.policy == "base_stock":
        levels = jaxbeer.literature_levels(args.scenario)
    if levels is None:
        levels, _ = jaxbeer.optimize_base_stock(env, params, key)
    policy = policies.base_stock(levels, env.num_agents)
    return policy, np.asarray(policy.params.levels)


def format_table(result: dict, num_agents: int) -> str:
    """Each echelon's cost, its standard error, bullwhip and fill rate, then the team's cost."""
    rows = [f"{'echelon':<14}{'cost':>12}{'± se':>10}{'bullwhip':>10}{'fill rate':>11}"]
    for k in range(num_agents):
        rows.append(
            f"{echelon_name(k):<14}{result['agent_cost_mean'][k]:>12.1f}{result['agent_cost_se'][k]:>10.1f}"
            f"{result['bullwhip'][k]:>10.2f}{result['fill_rate'][k]:>11.3f}"
        )
    rows.append(f"{'team':<14}{result['team_cost_mean']:>12.1f}{result['team_cost_se']:>10.1f}")
    return "\n".join(rows)


def plot_episode(infos: dict, path: pathlib.Path, title: str) -> None:
    """The bullwhip picture of the first episode in ``infos``: net inventory and orders per echelon, with demand."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    inventory = np.asarray(infos["net_inventory"][0])
    orders = np.asarray(infos["orders"][0])
    demand = np.asarray(infos["demand"][0])
    fig, (ax_inv, ax_ord) = plt.subplots(2, 1, figsize=(9, 6), sharex=True)
    for k in range(inventory.shape[1]):
        ax_inv.plot(inventory[:, k], label=echelon_name(k))
        ax_ord.plot(orders[:, k], label=echelon_name(k))
    ax_ord.plot(demand, "k--", label="customer demand")
    ax_inv.axhline(0, color="grey", lw=0.5)
    ax_inv.set_ylabel("net inventory (on hand − backlog)")
    ax_ord.set_ylabel("order placed")
    ax_ord.set_xlabel("period")
    ax_inv.set_title(title)
    ax_ord.legend(ncol=5, fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    """Play, print the cost table and, with ``--plot``, draw one episode; exit 2 with one line on bad input."""
    args = parse_flags(PlayArgs, sys.argv[1:] if argv is None else argv, __doc__.splitlines()[0])
    try:
        check_int("--episodes", args.episodes, 1)
        overrides = {} if args.horizon is None else {"horizon": args.horizon}
        env, params = jaxbeer.make(args.scenario, **overrides)
        optimize_key, eval_key, plot_key = jax.random.split(jax.random.key(args.seed), 3)
        policy, levels = make_policy(args, env, params, optimize_key)
    except ValueError as error:
        exit_with_usage_error(str(error))
    result = jaxbeer.evaluate(env, params, policy, eval_key, args.episodes)
    label = args.policy if levels is None else f"{args.policy} {levels.tolist()}"
    print(f"scenario {args.scenario}, policy {label}, {args.episodes} episodes of {env.config.horizon} periods")
    print(format_table(result, env.num_agents))
    if args.plot is not None:
        infos = jaxbeer.rollout(env, params, policy, plot_key, 1)
        plot_episode(infos, args.plot, f"{args.scenario}: {label}")
        print(f"wrote {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
