"""Every KPI of the heuristic teams and of learned runs, with 95% intervals and the paired gap to base-stock.

    python -m benchmarks.kpis --scenario basic --episodes 1000
    python -m benchmarks.kpis --scenario basic --runs runs/ippo-basic-A runs/mappo-basic-B

Teams: optimised base-stock (``algorithms.common.reference``, the levels the learners are measured
against), Sterman's anchor-and-adjust and pass-through in every seat, then each ``--runs`` directory's
learned team as ``algorithms.load_policy`` rebuilds it. All play the same ``--episodes`` episodes (one
evaluation key), so each team's gap to base-stock is a paired difference on common random numbers. The
KPIs, their definitions and interval methods are ``jaxbeer.kpis``'; ``docs/evaluation.md`` explains them.

Writes ``kpis-<scenario>-<backend>-<time>.json`` (every KPI, per echelon and team, with its interval, and
every paired gap) and a markdown table beside it (``.md``), under ``benchmarks/results/`` unless ``--out``.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np

import jaxbeer
from algorithms.common.config import (
    ConfigError,
    check_int_flag,
    check_range_flag,
    exit_with_usage_error,
    parse_checked_flags,
    read_json_object,
)
from algorithms.common.files import write_atomically
from benchmarks import harness
from jaxbeer import kpis, policies
from jaxbeer.env import BeerGame
from jaxbeer.params import EnvParams
from jaxbeer.play import echelon_name

BASE_STOCK = "base_stock"
"""Label of the optimised base-stock team, the reference of every gap."""
HEURISTIC_TEAMS = (BASE_STOCK, "sterman", "pass_through")


@dataclasses.dataclass
class Args:
    """Flags of ``python -m benchmarks.kpis``."""

    scenario: str = "basic"
    """jaxbeer scenario of the heuristic teams; every --runs directory must have trained on it."""
    runs: tuple[str, ...] = ()
    """Run directories of learned teams to score beside the heuristics (none: heuristics only)."""
    episodes: int = 1000
    """Episodes every team plays, the same for all; 1000 puts a team cost's interval within about 1%."""
    seed: int = 2024
    """Seed of the evaluation episodes (algorithms.evaluate's default, not a training seed)."""
    which: str = "final"
    """Which policy of a run: final (its newest checkpoint) or best (its best chunk evaluation)."""
    policy_seed: int = 0
    """Which of a run's --num-seeds to score."""
    sla_periods: tuple[int, ...] = kpis.SLA_PERIODS
    """The k of the SLA-k KPIs: the share of ordered units shipped within k periods of arriving."""
    confidence: float = 0.95
    """Coverage of every interval."""
    reps: int = 2000
    """Bootstrap resamples of the ratio KPIs (bullwhip, fill rate, SLA-k); enough for 95% percentiles."""
    base_stock_episodes: int = 100
    """Episodes the base-stock optimiser scores each candidate on: the learners' default, so their cached
    levels are reused."""
    out: str = ""
    """JSON path (the markdown goes beside it); empty: benchmarks/results/kpis-<scenario>-<backend>-<time>.json."""

    def validate(self) -> None:
        """Raise ``ConfigError`` naming the flag and what it allows."""
        if self.scenario not in jaxbeer.scenario_names():
            raise ConfigError(f"--scenario must be one of {list(jaxbeer.scenario_names())}, got {self.scenario!r}")
        check_common_flags(self)
        for run in self.runs:
            check_run_dir(run)


def check_common_flags(args: Any) -> None:
    """The checks ``benchmarks.kpis`` and ``benchmarks.crossplay`` share (``ConfigError`` naming the flag)."""
    check_int_flag("episodes", args.episodes, 2)
    check_int_flag("seed", args.seed, 0)
    check_int_flag("policy_seed", args.policy_seed, 0)
    check_int_flag("base_stock_episodes", args.base_stock_episodes, 1)
    if args.which not in ("final", "best"):
        raise ConfigError(f"--which must be 'final' or 'best', got {args.which!r}")
    check_range_flag("confidence", args.confidence, 0.0, 1.0, low_inclusive=False, high_inclusive=False)
    if hasattr(args, "reps"):
        check_int_flag("reps", args.reps, 1)
    if hasattr(args, "sla_periods"):
        if not args.sla_periods or len(set(args.sla_periods)) != len(args.sla_periods):
            raise ConfigError(f"--sla-periods needs one or more distinct periods, got {list(args.sla_periods)}")
        for k in args.sla_periods:
            check_int_flag("sla_periods", k, 0)


def check_run_dir(run: str) -> None:
    """``ConfigError`` unless ``run`` holds a learner's config.json (the checkpoint is read later)."""
    if not (Path(run) / "config.json").is_file():
        raise ConfigError(f"--runs: {run!r} is not a run directory (no config.json in it)")


# ------------------------------------------------------------------ games
def dynamics(env: BeerGame, params: EnvParams) -> tuple:
    """What decides the episodes of a game, and nothing a learner alone chooses (action mode, history,
    reward): two games with equal ``dynamics`` play the same episodes from the same key."""
    config = dataclasses.replace(
        env.config, action_mode="absolute", x_low=0, x_high=0, obs_history=0, team_reward=False
    )
    arrays = {
        name: np.asarray(value).tolist()
        for name, value in dataclasses.asdict(params).items()
        if name not in ("reward_scale", "obs_scale")
    }
    return (config, tuple(sorted((name, repr(value)) for name, value in arrays.items())))


def run_scenarios(runs: Sequence[str]) -> dict[str, str]:
    """Each run directory's scenario, read from its config.json (cheap: nothing is built)."""
    scenarios = {}
    for run in runs:
        saved = read_json_object(Path(run) / "config.json")
        config = saved.get("config")
        if not isinstance(config, dict) or not isinstance(config.get("scenario"), str):
            raise ConfigError(f"{Path(run) / 'config.json'} names no scenario; it was not written by a learner")
        scenarios[run] = config["scenario"]
    return scenarios


def load_policies(runs: Sequence[str], which: str, policy_seed: int) -> dict:
    """``{run: algorithms.LoadedPolicy}``; ``ConfigError`` (one line) for a run that does not load."""
    from algorithms.registry import PolicyLoadError, load_policy  # imports every learner: after the cheap checks

    loaded = {}
    for run in runs:
        try:
            loaded[run] = load_policy(run, which, policy_seed)
        except PolicyLoadError as error:
            raise ConfigError(f"--runs: {error}") from None
    return loaded


def refuse_other_games(loaded: dict, env: BeerGame, params: EnvParams, game_label: str) -> None:
    """``ConfigError`` naming the runs whose game differs from ``env``/``params`` (``game_label``, e.g.
    "--scenario basic"): another horizon, costs, leads or demand give other episodes from the same key."""
    reference = dynamics(env, params)
    differing = [run for run, one in loaded.items() if dynamics(one.env, one.params) != reference]
    if differing:
        raise ConfigError(
            f"runs {differing} trained on another game than {game_label} (horizon, costs, leads or demand "
            "differ), so they cannot play the same episodes"
        )


def refuse_mixed_scenarios(scenarios: dict[str, str], scenario: str | None = None) -> None:
    """``ConfigError`` naming the runs unless every run (and ``scenario``, if given) has one scenario."""
    wanted = scenario if scenario is not None else next(iter(scenarios.values()), None)
    if any(name != wanted for name in scenarios.values()):
        listed = ", ".join(f"{run} ({name})" for run, name in scenarios.items())
        target = f" of --scenario {scenario}" if scenario is not None else ""
        raise ConfigError(f"runs trained on different scenarios cannot play the same episodes{target}: {listed}")


def base_stock_levels(env: BeerGame, params: EnvParams, scenario: str, optimiser_episodes: int) -> list[int]:
    """The optimised base-stock levels every learner is measured against (cached per game)."""
    from algorithms.common.reference import base_stock_reference

    return list(base_stock_reference(env, params, scenario, optimiser_episodes)["levels"])


def heuristic_team(kind: str, num_agents: int, levels: Sequence[int], **settings: Any) -> jaxbeer.Policy:
    """``kind`` in every seat, as ``policies.heuristic_team`` (one structure for all, so teams stack)."""
    return policies.heuristic_team([kind] * num_agents, base_stock={"levels": list(levels)}, **settings)


def stack(teams: Sequence[jaxbeer.Policy]) -> jaxbeer.Policy:
    """Policies with one ``apply`` as one batch: their parameters stacked on a leading axis."""
    return jax.tree.map(lambda *leaves: jnp.stack(leaves), *teams)


# ------------------------------------------------------------- formatting
def interval_text(interval: dict[str, Any], index: int | None = None, digits: int = 1, signed: bool = False) -> str:
    """``estimate [low, high]`` of a ``kpis.to_json`` entry (element ``index`` of a per-echelon KPI)."""

    def pick(part):
        value = interval[part] if index is None else interval[part][index]
        return float("nan") if value is None else value

    sign = "+" if signed else ""
    estimate, low, high = pick("estimate"), pick("low"), pick("high")
    return f"{estimate:{sign}.{digits}f} [{low:{sign}.{digits}f}, {high:{sign}.{digits}f}]"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A GitHub markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def kpi_markdown(payload: dict[str, Any]) -> str:
    """The team table and the per-echelon table of a ``benchmarks.kpis`` payload."""
    teams, sla = payload["teams"], payload["config"]["sla_periods"]
    level = int(round(100 * payload["config"]["confidence"]))
    team_header = [
        "team",
        "team cost",
        "gap vs base-stock (paired)",
        "holding cost",
        "backlog cost",
        "customer fill rate",
        *(f"customer SLA-{k}" for k in sla),
        "mean on hand",
        "mean backlog",
    ]
    team_rows = []
    for team in teams:
        report, gap = team["kpis"], team["gap_vs_base_stock"]
        team_rows.append(
            [
                team["label"],
                interval_text(report["team_cost"]),
                interval_text(gap["team_cost"], signed=True),
                interval_text(report["team_holding_cost"]),
                interval_text(report["team_backlog_cost"]),
                interval_text(report["fill_rate"], 0, digits=3),
                *(interval_text(report[f"sla_{k}"], 0, digits=3) for k in sla),
                interval_text(report["team_mean_on_hand"], digits=2),
                interval_text(report["team_mean_backlog"], digits=2),
            ]
        )
    echelon_header = [
        "team",
        "echelon",
        "cost",
        "holding cost",
        "backlog cost",
        "bullwhip",
        "fill rate",
        *(f"SLA-{k}" for k in sla),
        "mean on hand",
        "mean backlog",
    ]
    echelon_rows = []
    for team in teams:
        report = team["kpis"]
        for echelon, name in enumerate(payload["echelons"]):
            echelon_rows.append(
                [
                    team["label"],
                    name,
                    interval_text(report["cost"], echelon),
                    interval_text(report["holding_cost"], echelon),
                    interval_text(report["backlog_cost"], echelon),
                    interval_text(report["bullwhip"], echelon, digits=2),
                    interval_text(report["fill_rate"], echelon, digits=3),
                    *(interval_text(report[f"sla_{k}"], echelon, digits=3) for k in sla),
                    interval_text(report["mean_on_hand"], echelon, digits=2),
                    interval_text(report["mean_backlog"], echelon, digits=2),
                ]
            )
    return "\n".join(
        [
            f"# KPIs on {payload['scenario']}: {payload['episodes']} episodes (seed {payload['seed']}), "
            f"estimate [{level}% interval]",
            "",
            f"Base-stock levels {payload['base_stock_levels']}. Costs are per episode ({payload['horizon']} "
            "periods); on hand and backlog are units per period. The gap is the team's cost minus base-stock's "
            "on the same episodes (negative: cheaper).",
            "",
            "## Team",
            "",
            markdown_table(team_header, team_rows),
            "",
            "## Per echelon",
            "",
            markdown_table(echelon_header, echelon_rows),
            "",
        ]
    )


def write_outputs(json_path: Path, payload: dict[str, Any], markdown: str) -> None:
    """The JSON (machine info included) and its markdown beside it, each written atomically."""
    harness.write_result(json_path, payload)
    markdown_path = json_path.with_suffix(".md")
    write_atomically(markdown_path, markdown)
    print(f"wrote {markdown_path}")


# ------------------------------------------------------------------- main
def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Score every team, print the team table, write the JSON and markdown; returns the payload."""
    args = parse_checked_flags(Args, argv, __doc__.splitlines()[0])
    env, params = jaxbeer.make(args.scenario)
    try:
        refuse_mixed_scenarios(run_scenarios(args.runs), args.scenario)
        loaded = load_policies(args.runs, args.which, args.policy_seed)
        refuse_other_games(loaded, env, params, f"--scenario {args.scenario}")
    except ConfigError as error:
        exit_with_usage_error(str(error))
    levels = base_stock_levels(env, params, args.scenario, args.base_stock_episodes)
    key = jax.random.PRNGKey(args.seed)
    sla = tuple(args.sla_periods)

    # The heuristic teams share one apply, so they are one batch: one compiled, vmapped call.
    heuristics = stack([heuristic_team(kind, env.num_agents, levels) for kind in HEURISTIC_TEAMS])
    batch = kpis.episode_kpis_batch(env, params, heuristics, key, args.episodes, sla)
    episodes = {kind: kpis.select(batch, index) for index, kind in enumerate(HEURISTIC_TEAMS)}
    kinds = {kind: [kind] * env.num_agents for kind in HEURISTIC_TEAMS}
    for run, one in loaded.items():
        label = f"{one.algorithm} {Path(run).name}"
        episodes[label] = kpis.episode_kpis(one.env, one.params, one.policy, key, args.episodes, sla)
        kinds[label] = list(one.kinds)

    horizon = env.config.horizon
    settings = dict(sla_periods=sla, confidence=args.confidence, reps=args.reps, seed=args.seed)
    teams = []
    for label, team_episodes in episodes.items():
        print(f"  {label}: intervals ...", file=sys.stderr, flush=True)
        report = kpis.summarise_kpis(team_episodes, horizon, **settings)
        gap = kpis.paired_differences(team_episodes, episodes[BASE_STOCK], horizon, **settings)
        teams.append(
            {
                "label": label,
                "kinds": kinds[label],
                "kpis": kpis.to_json(report),
                "gap_vs_base_stock": kpis.to_json(gap),
            }
        )

    payload = {
        "benchmark": "kpis",
        "scenario": args.scenario,
        "episodes": args.episodes,
        "seed": args.seed,
        "horizon": horizon,
        "echelons": [echelon_name(k) for k in range(env.num_agents)],
        "base_stock_levels": levels,
        "config": {**dataclasses.asdict(args), "sla_periods": list(sla)},
        "machine": harness.machine_info(),
        "teams": teams,
    }
    markdown = kpi_markdown(payload)
    print(markdown)
    write_outputs(Path(args.out) if args.out else harness.default_output(f"kpis-{args.scenario}"), payload, markdown)
    return payload


if __name__ == "__main__":
    main()
