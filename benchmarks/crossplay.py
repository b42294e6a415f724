"""Cross-play: each learned policy in its seats, beside co-players it never trained with.

    python -m benchmarks.crossplay --runs runs/ippo-basic-A runs/mappo-basic-B --episodes 1000
    python -m benchmarks.crossplay --runs DIR... --seats 0      # only the learned retailer, co-players elsewhere

Rows are the learned runs (``algorithms.load_policy``); columns the co-players:

* ``base_stock``: the optimised base-stock levels (``algorithms.common.reference``);
* ``sterman a=.. b=..``: Sterman's anchor-and-adjust with the fitted weights of ``jaxbeer.policies.sterman``
  (``alpha=-0.5``, ``beta=-0.2``) and a grid of ``alpha``, ``beta`` one ``--sterman-step`` either side;
* ``pass_through``, ``uniform_random`` (orders uniform in ``0..--random-high``);
* ``run <name>``: the learned team of every other run, seat for seat.

A cell's team puts the row's learned policy in its seats (``--seats learned``: every seat it learned;
or a list of echelon indices, each one it learned) and the co-player in the others. The team is one
``jaxbeer.Policy`` whose parameters are (learned weights, co-player parameters, seat mask), so every
heuristic co-player of a row (base-stock, the Sterman grid, pass-through: one ``heuristic_team`` structure)
is one ``vmap`` of one compiled rollout, not one compile each. Seats combine through
``policies.orders_with_actions``, as in the learners' own teams and the adapters.

Every cell plays the same ``--episodes`` episodes as the all-base-stock team, so its gap to that team
is a paired difference with the t-interval of ``jaxbeer.kpis.paired_differences``. Runs trained on
different scenarios (or games) cannot share episodes and are refused, naming them. Writes
``crossplay-<scenario>-<backend>-<time>.json``, ``.md`` and ``.png`` (heatmaps of team cost and gap) under
``benchmarks/results/`` unless ``--out``.
"""

from __future__ import annotations

import dataclasses
import itertools
import sys
from pathlib import Path
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from algorithms.common.config import ConfigError, check_int_flag, check_range_flag, exit_with_usage_error
from algorithms.common.team import TeamOrders
from benchmarks import harness
from benchmarks import kpis as kpi_tables
from jaxbeer import kpis, policies
from jaxbeer.cli import parse_flags
from jaxbeer.env import EnvState
from jaxbeer.params import EnvParams

STERMAN_FITTED = (-0.5, -0.2)
"""``(alpha, beta)`` of ``jaxbeer.policies.sterman``'s defaults, the centre of the grid."""
TEAM_COST = ("team_cost",)


@dataclasses.dataclass
class Args:
    """Flags of ``python -m benchmarks.crossplay``."""

    runs: tuple[str, ...]
    """Run directories of learned teams (all on one scenario); each is a row, and a co-player of the others."""
    seats: str = "learned"
    """Seats a learned policy plays: 'learned' (every seat it learned) or echelon indices, e.g. '0' or '0,1'."""
    episodes: int = 1000
    """Episodes every cell plays, the same for all cells and for the all-base-stock reference."""
    seed: int = 2024
    """Seed of the evaluation episodes (algorithms.evaluate's default, not a training seed)."""
    which: str = "final"
    """Which policy of a run: final (its newest checkpoint) or best (its best chunk evaluation)."""
    policy_seed: int = 0
    """Which of a run's --num-seeds plays."""
    sterman_step: float = 0.1
    """Spacing of the 3x3 Sterman grid around the fitted (alpha, beta); 0 keeps only the fitted pair."""
    random_high: int = 0
    """uniform_random co-players order uniformly in 0..this; 0: twice the mean demand (mean order = demand)."""
    confidence: float = 0.95
    """Coverage of the gap's interval."""
    base_stock_episodes: int = 100
    """Episodes the base-stock optimiser scores each candidate on: the learners' default, so their cached
    levels are reused."""
    out: str = ""
    """JSON path (.md and .png go beside it); empty: benchmarks/results/crossplay-<scenario>-<backend>-<time>.json."""

    def validate(self) -> None:
        """Raise ``ConfigError`` naming the flag and what it allows."""
        if not self.runs:
            raise ConfigError("--runs needs one or more run directories")
        kpi_tables.check_common_flags(self)
        check_range_flag("sterman_step", self.sterman_step, 0.0)
        check_int_flag("random_high", self.random_high, 0)
        parse_seats(self.seats)
        for run in self.runs:
            kpi_tables.check_run_dir(run)


def parse_seats(spec: str) -> tuple[int, ...] | None:
    """``--seats``: None for 'learned', else the echelon indices (``ConfigError`` for anything else)."""
    if spec.strip() == "learned":
        return None
    try:
        seats = tuple(int(part) for part in spec.split(","))
    except ValueError:
        raise ConfigError(f"--seats must be 'learned' or comma-separated echelon indices, got {spec!r}") from None
    if len(set(seats)) != len(seats) or any(seat < 0 for seat in seats):
        raise ConfigError(f"--seats must name distinct echelon indices >= 0, got {spec!r}")
    return seats


# ------------------------------------------------------------ the team
@dataclasses.dataclass(frozen=True)
class CrossPlayOrders:
    """``apply`` of a cross-play team: a learned team's greedy actions in the masked seats, the co-player's
    orders elsewhere. Params: ``(learned weights, co-player params, seat mask bool[A])``.

    The key splits as ``TeamOrders`` splits it (act, then orders), and the co-player gets the second half
    as a learned team's heuristic seats do, so with the run's own co-players and mask this team orders
    exactly what the run's policy orders. A frozen dataclass, so equal teams share one compiled rollout.
    """

    learned: TeamOrders
    co_player: policies.PolicyFn

    def __call__(self, params: Any, key: jax.Array, state: EnvState, env_params: EnvParams) -> jax.Array:
        """Orders int32[A] of one game."""
        learned_params, co_player_params, seat_mask = params
        act_key, order_key = jax.random.split(key)
        env = self.learned.env
        action_index = self.learned.act(learned_params, env.get_obs(state, env_params), act_key)
        others = self.co_player(co_player_params, order_key, state, env_params)
        return policies.orders_with_actions(env, state, env_params, action_index, seat_mask, others)


def cross_play_team(
    learned: policies.Policy, co_player: policies.Policy, seat_mask: np.ndarray, batch_size: int | None = None
) -> policies.Policy:
    """The learned team (a ``team_policy`` from ``algorithms.load_policy``) in ``seat_mask``'s seats (bool[A]),
    the co-player in the rest, as one policy. With ``batch_size``, ``co_player`` is a batch of that many (a
    leading axis on its params) and so is the result: the learned weights are shared by every member, and
    ``seat_mask`` is one mask for all or one per member (bool[batch_size, A])."""
    if not isinstance(learned.apply, TeamOrders):
        raise TypeError("cross_play_team needs a learned team as algorithms.load_policy returns it")
    batch = () if batch_size is None else (batch_size,)

    def broadcast(leaf):
        return jnp.broadcast_to(leaf, batch + jnp.shape(leaf))

    params = (
        jax.tree.map(broadcast, learned.params),
        co_player.params,
        jnp.broadcast_to(jnp.asarray(seat_mask, jnp.bool_), batch + np.shape(seat_mask)[-1:]),
    )
    return policies.Policy(params=params, apply=CrossPlayOrders(learned.apply, co_player.apply))


def seat_mask(loaded: Any, seats: tuple[int, ...] | None, run: str) -> np.ndarray:
    """bool[A]: the seats the run's learned policy plays; ``ConfigError`` naming the run for a seat it did
    not learn or that does not exist."""
    learned = np.asarray(loaded.policy.apply.team.learner_mask)
    if seats is None:
        return learned
    wrong = [seat for seat in seats if seat >= learned.size or not learned[seat]]
    if wrong:
        raise ConfigError(
            f"--seats {','.join(map(str, seats))}: run {run} did not learn seat(s) {wrong} "
            f"(its seats: {list(loaded.kinds)})"
        )
    return np.isin(np.arange(learned.size), seats)


def heuristic_co_players(num_agents: int, levels: Sequence[int], step: float) -> dict[str, policies.Policy]:
    """Base-stock, the Sterman grid and pass-through, each in every seat, by column label; one structure."""
    alpha, beta = STERMAN_FITTED
    offsets = (-step, 0.0, step) if step > 0 else (0.0,)
    teams = {"base_stock": kpi_tables.heuristic_team("base_stock", num_agents, levels)}
    for d_alpha, d_beta in itertools.product(offsets, offsets):
        a, b = round(alpha + d_alpha, 6), round(beta + d_beta, 6)
        teams[f"sterman a={a:g} b={b:g}"] = kpi_tables.heuristic_team(
            "sterman", num_agents, levels, sterman={"alpha": a, "beta": b}
        )
    teams["pass_through"] = kpi_tables.heuristic_team("pass_through", num_agents, levels)
    return teams


# ---------------------------------------------------------------- output
def heatmaps(payload: dict[str, Any], path: Path) -> Path:
    """Two heatmaps, rows = learned runs, columns = co-players: team cost and the paired gap to base-stock."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib import colors, patheffects

    # Dark text with a light halo stays legible on every colour of both maps.
    halo = [patheffects.withStroke(linewidth=2.5, foreground="white")]

    rows, columns = payload["rows"], payload["columns"]
    cells = {(cell["run"], cell["co_player"]): cell for cell in payload["cells"]}
    panels = (
        ("team cost per episode (log colour scale)", "team_cost", "viridis"),
        ("gap vs all base-stock (paired, same episodes)", "gap_vs_base_stock", "RdBu_r"),
    )
    fig, axes = plt.subplots(2, 1, figsize=(max(7.0, 0.9 * len(columns) + 3), 2.2 * len(rows) + 3.5))
    for ax, (title, field, cmap) in zip(axes, panels):
        values = np.array([[cells[(r, c)][field]["estimate"] for c in columns] for r in rows], np.float64)
        if field == "team_cost" and np.nanmin(values) > 0:
            # Costs span orders of magnitude (Sterman co-players cost 30x base-stock), so a linear scale
            # would paint every good cell the same colour.
            norm = colors.LogNorm(vmin=np.nanmin(values), vmax=np.nanmax(values))
        else:
            limit = max(float(np.nanmax(np.abs(values))), 1e-9)
            norm = colors.Normalize(vmin=-limit if field == "gap_vs_base_stock" else None, vmax=limit)
        image = ax.imshow(values, cmap=cmap, aspect="auto", norm=norm)
        for (i, j), value in np.ndenumerate(values):
            ax.text(j, i, f"{value:.0f}", ha="center", va="center", fontsize=8, color="k", path_effects=halo)
        ax.set_xticks(range(len(columns)), columns, rotation=40, ha="right", fontsize=8)
        ax.set_yticks(range(len(rows)), [payload["row_labels"][r] for r in rows], fontsize=8)
        ax.set_title(title, fontsize=10)
        fig.colorbar(image, ax=ax)
    fig.suptitle(f"cross-play on {payload['scenario']}, {payload['episodes']} episodes", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def crossplay_markdown(payload: dict[str, Any]) -> str:
    """Team cost and gap tables of a crossplay payload, rows = runs, columns = co-players."""
    rows, columns = payload["rows"], payload["columns"]
    cells = {(cell["run"], cell["co_player"]): cell for cell in payload["cells"]}
    level = int(round(100 * payload["config"]["confidence"]))
    header = ["learned run (seats)", *columns]
    cost_rows = [
        [payload["row_labels"][r], *(kpi_tables.interval_text(cells[(r, c)]["team_cost"]) for c in columns)]
        for r in rows
    ]
    gap_rows = [
        [
            payload["row_labels"][r],
            *(kpi_tables.interval_text(cells[(r, c)]["gap_vs_base_stock"], signed=True) for c in columns),
        ]
        for r in rows
    ]
    return "\n".join(
        [
            f"# Cross-play on {payload['scenario']}: {payload['episodes']} episodes (seed {payload['seed']})",
            "",
            f"All base-stock (levels {payload['base_stock_levels']}) costs "
            f"{kpi_tables.interval_text(payload['base_stock_team_cost'])} per episode on these episodes. "
            f"Cells: estimate [{level}% interval].",
            "",
            "## Team cost",
            "",
            kpi_tables.markdown_table(header, cost_rows),
            "",
            "## Gap vs all base-stock (paired difference on the same episodes; negative: cheaper)",
            "",
            kpi_tables.markdown_table(header, gap_rows),
            "",
        ]
    )


# ------------------------------------------------------------------ main
def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Play every cell, print the tables, write the JSON, markdown and heatmap; returns the payload."""
    args = parse_flags(Args, list(sys.argv[1:] if argv is None else argv), __doc__.splitlines()[0])
    try:
        args.validate()
        scenarios = kpi_tables.run_scenarios(args.runs)
        kpi_tables.refuse_mixed_scenarios(scenarios)
        loaded = kpi_tables.load_policies(args.runs, args.which, args.policy_seed)
        first = args.runs[0]
        kpi_tables.refuse_other_games(loaded, loaded[first].env, loaded[first].params, f"run {first}")
        seats = parse_seats(args.seats)
        masks = {run: seat_mask(one, seats, run) for run, one in loaded.items()}
    except ConfigError as error:
        exit_with_usage_error(str(error))

    scenario = scenarios[first]
    env, params = loaded[first].env, loaded[first].params
    levels = kpi_tables.base_stock_levels(env, params, scenario, args.base_stock_episodes)
    key = jax.random.PRNGKey(args.seed)
    horizon, episodes = env.config.horizon, args.episodes
    heuristics = heuristic_co_players(env.num_agents, levels, args.sterman_step)
    # The all-base-stock reference rides in the heuristic batch as one more member, with no learned seat,
    # so it needs no compile of its own (base-stock ignores its key, so it orders as the plain team would).
    co_players = kpi_tables.stack([*heuristics.values(), heuristics["base_stock"]])
    no_learned_seat = np.zeros((1, env.num_agents), bool)
    random_high = args.random_high or max(1, int(round(2 * float(params.demand_mean))))
    columns = [*heuristics, "uniform_random", *(f"run {Path(run).name}" for run in args.runs)]
    results, reference_episodes = {}, None
    for run, one in loaded.items():
        print(f"  {run}: cross-play ...", file=sys.stderr, flush=True)
        members = np.concatenate([np.broadcast_to(masks[run], (len(heuristics), env.num_agents)), no_learned_seat])
        teams = cross_play_team(one.policy, co_players, members, batch_size=len(members))
        batch = kpis.episode_kpis_batch(env, params, teams, key, episodes, (0,))
        results[run] = {label: kpis.select(batch, index) for index, label in enumerate(heuristics)}
        if reference_episodes is None:
            reference_episodes = kpis.select(batch, len(heuristics))
        random_team = cross_play_team(one.policy, policies.uniform_random(random_high), masks[run])
        results[run]["uniform_random"] = kpis.episode_kpis(env, params, random_team, key, episodes, (0,))
        for other_run, other in loaded.items():
            team = cross_play_team(one.policy, other.policy, masks[run])
            results[run][f"run {Path(other_run).name}"] = kpis.episode_kpis(env, params, team, key, episodes, (0,))

    settings = dict(sla_periods=(0,), confidence=args.confidence, names=TEAM_COST)
    cells = []
    for run, row in results.items():
        for label, cell_episodes in row.items():
            cost = kpis.summarise_kpis(cell_episodes, horizon, **settings)["team_cost"]
            gap = kpis.paired_differences(cell_episodes, reference_episodes, horizon, **settings)["team_cost"]
            cells.append(
                {
                    "run": run,
                    "co_player": label,
                    "team_cost": kpis.to_json({"x": cost})["x"],
                    "gap_vs_base_stock": kpis.to_json({"x": gap})["x"],
                }
            )
    reference_cost = kpis.summarise_kpis(reference_episodes, horizon, **settings)
    payload = {
        "benchmark": "crossplay",
        "scenario": scenario,
        "episodes": episodes,
        "seed": args.seed,
        "horizon": horizon,
        "base_stock_levels": levels,
        "base_stock_team_cost": kpis.to_json(reference_cost)["team_cost"],
        "random_high": random_high,
        "rows": list(loaded),
        "row_labels": {
            run: f"{one.algorithm} {Path(run).name} (seats {np.flatnonzero(masks[run]).tolist()})"
            for run, one in loaded.items()
        },
        "seats": {run: np.flatnonzero(mask).tolist() for run, mask in masks.items()},
        "kinds": {run: list(one.kinds) for run, one in loaded.items()},
        "columns": columns,
        "config": dataclasses.asdict(args),
        "machine": harness.machine_info(),
        "cells": cells,
    }
    markdown = crossplay_markdown(payload)
    print(markdown)
    json_path = Path(args.out) if args.out else harness.default_output(f"crossplay-{scenario}")
    kpi_tables.write_outputs(json_path, payload, markdown)
    png = heatmaps(payload, json_path.with_suffix(".png"))
    print(f"wrote {png}")
    return payload


if __name__ == "__main__":
    main()
