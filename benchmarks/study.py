"""The deep-Q beer-game study's table, with IPPO: one learned echelon beside heuristic co-players.

    python -m benchmarks.study                                  # 4 scenarios x 4 seats x 2 co-players: 32 runs
    python -m benchmarks.study --scenarios basic --resume       # one scenario; finished runs are kept
    python -m benchmarks.study --quick                          # the tiny version the test runs

Oroojlooyjadid et al. ("A deep Q-network for the beer game", MSOM 2022) train one
learned echelon in each of the four seats, the other three played either by
base-stock or by Sterman's anchor-and-adjust players. Their headline: beside
base-stock co-players the learned echelon costs about what a base-stock
echelon costs in its seat (base-stock is optimal there, so matching it is the
best it can do), and beside Sterman co-players it does clearly better than a
base-stock echelon would.

Each run here trains IPPO through its own host loop (``leaderboard.learner_config``
and ``leaderboard.train``) with a team such as ``base_stock,ppo,base_stock,base_stock``,
``--num-seeds`` seeds vmapped. The co-players' base-stock levels are the
optimised levels of the all-base-stock team (``algorithms.common.reference``),
and the *reference team* puts base-stock, at that seat's level, in the learned
seat beside the same co-players. The final greedy policy of every seed and the
reference team play the same ``--eval-episodes`` fresh episodes (the host loop's
final evaluation key, which neither training nor the chunk evaluations use),
so the gap is a paired difference of per-episode team costs on common random
numbers (``jaxbeer.kpis``), with its 95% t-interval over episodes. Across seeds
the table gives the IQM of the per-seed gaps with its stratified-bootstrap
interval (``benchmarks.aggregate.iqm_interval``).

Results in ``--out-dir``: ``study.md``, ``study.json`` (with the machine) and
``study.png`` (``study-quick.*`` with ``--quick``). The JSON is rewritten after
every run, so a killed study loses at most the run it was in; ``--resume``
keeps the finished runs of a JSON written with the same training settings
(the selection flags ``--scenarios``, ``--seats`` and ``--co-players`` may
differ: the JSON collects every finished run) and trains only the others.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path
from typing import Any, Sequence

import jax
import numpy as np

import jaxbeer
from algorithms import registry
from algorithms.common import loop
from algorithms.common.config import ConfigError, check_int_flag, exit_with_usage_error, parse_flags
from algorithms.common.files import write_json
from algorithms.common.team import team_policy
from benchmarks import harness
from benchmarks.leaderboard import learner_config, learning_curve, read_resumable, seed_interval, train
from jaxbeer import kpis, policies

ALGORITHM = "ippo"
SEATS = ("retailer", "wholesaler", "distributor", "manufacturer")
SCENARIOS = ("basic", "uniform-0-8", "normal-10-2", "classic")
CO_PLAYERS = ("base_stock", "sterman")
BASE_STOCK_MARGIN = 0.03
"""The study's claim beside base-stock co-players: the learned seat costs within 3% of a base-stock seat."""


@dataclasses.dataclass
class StudyArgs:
    """Flags of ``python -m benchmarks.study``."""

    scenarios: tuple[str, ...] = SCENARIOS
    """jaxbeer scenarios: the study's four by default."""
    seats: tuple[str, ...] = SEATS
    """The seats the learned echelon takes, one run each: retailer, wholesaler, distributor, manufacturer."""
    co_players: tuple[str, ...] = CO_PLAYERS
    """Heuristics that play the other three seats, one run each (any of jaxbeer.policies.HEURISTICS)."""
    total_timesteps: int = 4_000_000
    """Env steps per seed of each run. On basic, a learned wholesaler beside base-stock co-players reached the
    base-stock seat's cost after 1.5M steps at 1024 games; 4M leaves room for the harder seats and co-players."""
    num_envs: int = 1024
    """Games per seed. With one learned seat 1024 games beat IPPO's default 4096 at equal env steps: four times
    the updates (base-stock's cost at 1.5M steps where 4096 games needed 5M)."""
    num_seeds: int = 5
    """Seeds per run, vmapped; five so that the IQM over seeds (the mean of the middle three) drops a diverged seed."""
    num_chunks: int = 8
    """Host-loop chunks per run (chunk evaluations, checkpoints and learning-curve points)."""
    eval_episodes: int = 1000
    """Fresh episodes that score every seed and the reference team of a run, the same episodes for all."""
    seed: int = 0
    """Seed of every run (training keys, and the evaluation episodes through the host loop's keys)."""
    quick: bool = False
    """Tiny smoke version: basic and the retailer seat only, two updates of 16 games x 8 periods with a small
    network, two seeds, 50 episodes (seconds of compile per run instead of tens)."""
    out_dir: Path = Path("benchmarks/results")
    """Where study.md, .json and .png go (study-quick.* with --quick)."""
    runs_dir: Path = Path("runs/study")
    """Parent of every run's directory (<scenario>-<seat>-<co-players>)."""
    resume: bool = False
    """Keep the finished runs of the JSON in --out-dir written with the same training settings."""

    def validate(self) -> None:
        """Raise ``ConfigError`` naming the flag and what it allows, and IPPO's own checks of the run settings,
        so a bad budget fails before the first run rather than at it."""
        for name, given, allowed in (
            ("scenarios", self.scenarios, jaxbeer.scenario_names()),
            ("seats", self.seats, SEATS),
            ("co_players", self.co_players, policies.HEURISTIC_NAMES),
        ):
            unknown = [item for item in given if item not in allowed]
            if unknown or not given or len(set(given)) != len(given):
                flag = "--" + name.replace("_", "-")
                raise ConfigError(f"{flag} must be one or more distinct of {list(allowed)}, got {list(given)}")
        for name, low in (("num_seeds", 1), ("eval_episodes", 2), ("seed", 0)):
            check_int_flag(name, getattr(self, name), low)
        run_config(self, self.scenarios[0], self.seats[0], self.co_players[0], self.runs_dir).validate()


QUICK_IPPO = dict(num_steps=8, num_minibatches=2, update_epochs=1, hidden_sizes=(16,), base_stock_episodes=4)
"""IPPO settings of ``--quick`` runs beyond the study's flags: a smaller program to compile, and an optimiser
that scores base-stock candidates on 4 episodes instead of 100 (seconds instead of a minute)."""


def quick_args(args: StudyArgs) -> StudyArgs:
    """``--quick``: one scenario and seat, a budget of two updates (tiny, not a result)."""
    return dataclasses.replace(
        args,
        scenarios=("basic",),
        seats=("retailer",),
        num_envs=16,
        total_timesteps=2 * 16 * QUICK_IPPO["num_steps"],
        num_seeds=2,
        num_chunks=2,
        eval_episodes=50,
    )


def team_kinds(seat: str, co_players: str) -> tuple[str, ...]:
    """The team of a run, retailer first: IPPO's kind in ``seat``, ``co_players`` elsewhere."""
    learner = registry.get(ALGORITHM).config.learner_kind
    return tuple(learner if name == seat else co_players for name in SEATS)


def run_dir_of(args: StudyArgs, scenario: str, seat: str, co_players: str) -> Path:
    """Where one run trains."""
    return args.runs_dir / f"{scenario}-{seat}-{co_players}"


def run_config(args: StudyArgs, scenario: str, seat: str, co_players: str, run_dir: Path) -> Any:
    """IPPO's config for one run (its defaults, with the study's team, budget, seeds and evaluation)."""
    settings: dict[str, Any] = dict(
        scenario=scenario,
        agents=",".join(team_kinds(seat, co_players)),
        num_envs=args.num_envs,
        num_seeds=args.num_seeds,
        total_timesteps=args.total_timesteps,
        num_chunks=args.num_chunks,
        seed=args.seed,
        eval_episodes=args.eval_episodes,
    )
    if args.quick:
        settings.update(QUICK_IPPO)
    return learner_config(ALGORITHM, run_dir, **settings)[1]


def gap_summary(difference: kpis.Interval, reference_cost: float) -> dict[str, float]:
    """A paired team-cost difference (learned minus reference) with its interval, also relative to the
    reference team's mean cost (taken as fixed: on the same episodes its own noise is not in the difference)."""
    return {
        "difference": float(difference.estimate),
        "difference_low": float(difference.low),
        "difference_high": float(difference.high),
        "relative": float(difference.estimate) / reference_cost,
        "relative_low": float(difference.low) / reference_cost,
        "relative_high": float(difference.high) / reference_cost,
    }


def study_claim(co_players: str, paired_gap: dict[str, float]) -> bool | None:
    """Whether the run shows the study's headline: beside base-stock co-players the learned seat costs within
    ``BASE_STOCK_MARGIN`` of base-stock in that seat; beside Sterman co-players it is better than base-stock
    with the whole 95% interval below zero. ``None`` for other co-players (the study makes no claim)."""
    if co_players == "base_stock":
        return paired_gap["relative"] <= BASE_STOCK_MARGIN
    if co_players == "sterman":
        return paired_gap["relative_high"] < 0.0
    return None


def run_one(args: StudyArgs, scenario: str, seat: str, co_players: str) -> dict[str, Any]:
    """Train one run, then score its seeds and its reference team on the same fresh episodes; its row."""
    run_dir = run_dir_of(args, scenario, seat, co_players)
    module = registry.get(ALGORITHM)
    config = run_config(args, scenario, seat, co_players, run_dir)
    finished = train(module, config)

    _, config, learner, state = registry.load_run(run_dir)  # the final checkpoint, as a user would reload it
    game = learner.game
    learned = team_policy(game.env, game.team, learner.act, jax.vmap(learner.policy_params)(state))
    reference_team = game.team.replace_learners("base_stock")
    _, final_eval_key = loop.eval_keys(args.seed)  # the host loop's fresh episodes
    learned_episodes = kpis.episode_kpis_batch(
        game.env, game.params, learned, final_eval_key, args.eval_episodes, sla_periods=(0,)
    )
    reference_episodes = kpis.episode_kpis(
        game.env, game.params, reference_team.heuristics(), final_eval_key, args.eval_episodes, sla_periods=(0,)
    )
    horizon = game.env.config.horizon
    reference = kpis.summarise_kpis(reference_episodes, horizon, sla_periods=(0,), names=("team_cost", "cost"))
    reference_cost = float(reference["team_cost"].estimate)
    per_seed = [
        kpis.paired_differences(
            kpis.select(learned_episodes, s), reference_episodes, horizon, sla_periods=(0,), names=("team_cost", "cost")
        )
        for s in range(args.num_seeds)
    ]
    learned_costs = np.asarray(learned_episodes["cost"], np.float64).sum(axis=-1)  # [seeds, episodes]
    reference_costs = np.asarray(reference_episodes["cost"], np.float64).sum(axis=-1)
    # The seeds' mean team on each episode, against the reference on that episode: the interval is over episodes.
    paired_gap = gap_summary(kpis.mean_interval(learned_costs.mean(axis=0) - reference_costs), reference_cost)
    seed_gaps = [gap_summary(d["team_cost"], reference_cost) for d in per_seed]
    seat_index = SEATS.index(seat)
    return {
        "scenario": scenario,
        "seat": seat,
        "seat_index": seat_index,
        "co_players": co_players,
        "team": list(game.team.kinds),
        "reference_team": list(reference_team.kinds),
        "base_stock_levels": list(game.team.base_stock_levels),
        "num_seeds": args.num_seeds,
        "num_envs": config.num_envs,
        "env_steps_per_seed": int(finished.log[-1]["env_steps"]),
        "eval_episodes": args.eval_episodes,
        "learned_team_cost_per_seed": learned_costs.mean(axis=1).tolist(),
        "learned_team_cost_iqm": seed_interval(learned_costs.mean(axis=1)),
        "reference_team_cost": reference_cost,
        "reference_team_cost_low": float(reference["team_cost"].low),
        "reference_team_cost_high": float(reference["team_cost"].high),
        "paired_gap": paired_gap,
        "paired_gap_per_seed": seed_gaps,
        "gap_iqm_over_seeds": seed_interval([g["relative"] for g in seed_gaps]),
        # The learned seat's own cost against the base-stock seat's, per seed (the others' costs change too).
        "seat_cost_difference_per_seed": [float(d["cost"].estimate[seat_index]) for d in per_seed],
        "reference_seat_cost": float(reference["cost"].estimate[seat_index]),
        "study_claim_holds": study_claim(co_players, paired_gap),
        "curve": learning_curve(finished.log),
        "wall_seconds": finished.wall_seconds,
        "run_dir": str(run_dir),
    }


def row_order(args: StudyArgs):
    """Sort key of a row: the study's scenario order, then seat, then co-players."""
    scenarios = list(dict.fromkeys((*SCENARIOS, *args.scenarios)))
    return lambda r: (
        scenarios.index(r["scenario"]) if r["scenario"] in scenarios else len(scenarios),
        r["scenario"],
        r["seat_index"],
        r["co_players"],
    )


def percent(value: float) -> str:
    """A relative gap as a signed percentage."""
    return f"{100 * value:+.1f}%"


def markdown(rows: list[dict[str, Any]], args: StudyArgs, command: str, missing: int) -> str:
    """The study's table of the finished runs, after a paragraph on how they were run."""
    lines = [
        "# The deep-Q beer-game study, with IPPO" + (f" (partial: {missing} selected runs to go)" if missing else ""),
        "",
        f"Command: `{command}`. One IPPO echelon per run, the other seats played by the co-players, "
        f"{args.num_seeds} seeds per run (vmapped), {args.num_envs} games per seed, "
        + ("two updates per run (smoke test, not a result)" if args.quick else f"{args.total_timesteps:,} env steps")
        + f"; final greedy policies on {args.eval_episodes} fresh episodes. Reference: base-stock in the learned "
        "seat (its optimised level) beside the same co-players, on the same episodes. Paired gap: the seeds' mean "
        "team cost minus the reference's, per episode, relative to the reference's cost, with its 95% t-interval "
        "over episodes; IQM over seeds of each seed's paired gap with its 95% stratified-bootstrap interval. "
        f"Study's claim: within {100 * BASE_STOCK_MARGIN:.0f}% beside base-stock co-players; better than "
        "base-stock (the whole interval below 0) beside Sterman co-players."
        + (" `--resume` with the same flags trains the missing runs." if missing else ""),
        "",
        "| scenario | learned seat | co-players | learned team cost, IQM [95% CI] | reference team cost | "
        "paired gap [95% CI] | gap IQM over seeds [95% CI] | claim holds | env steps / seed | wall s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        cost, gap, over_seeds = r["learned_team_cost_iqm"], r["paired_gap"], r["gap_iqm_over_seeds"]
        claim = {True: "yes", False: "no", None: "—"}[r["study_claim_holds"]]
        lines.append(
            f"| {r['scenario']} | {r['seat']} | {r['co_players']} | "
            f"{cost['iqm']:.1f} [{cost['low']:.1f}, {cost['high']:.1f}] | {r['reference_team_cost']:.1f} | "
            f"{percent(gap['relative'])} [{percent(gap['relative_low'])}, {percent(gap['relative_high'])}] | "
            f"{percent(over_seeds['iqm'])} [{percent(over_seeds['low'])}, {percent(over_seeds['high'])}] | "
            f"{claim} | {r['env_steps_per_seed']:,} | {r['wall_seconds']:.0f} |"
        )
    for co_players in dict.fromkeys(r["co_players"] for r in rows):
        claims = [r["study_claim_holds"] for r in rows if r["co_players"] == co_players]
        if claims[0] is not None:
            lines.append("")
            lines.append(f"Beside {co_players} co-players the claim holds in {sum(claims)} of {len(claims)} runs.")
    return "\n".join(lines) + "\n"


def figure(rows: list[dict[str, Any]], path: Path) -> None:
    """One panel per scenario: each seat's paired gap (%) with its 95% interval, a bar per kind of co-player."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scenarios = list(dict.fromkeys(r["scenario"] for r in rows))
    kinds = list(dict.fromkeys(r["co_players"] for r in rows))
    width = 0.8 / len(kinds)
    fig, axes = plt.subplots(1, len(scenarios), figsize=(4.2 * len(scenarios), 4), squeeze=False)
    for ax, scenario in zip(axes[0], scenarios):
        for i, kind in enumerate(kinds):
            runs = [r for r in rows if (r["scenario"], r["co_players"]) == (scenario, kind)]
            gaps = np.array(
                [[100 * r["paired_gap"][p] for r in runs] for p in ("relative", "relative_low", "relative_high")]
            )
            positions = np.array([r["seat_index"] for r in runs]) + (i - (len(kinds) - 1) / 2) * width
            ax.bar(positions, gaps[0], width, yerr=np.abs(gaps[1:] - gaps[0]), capsize=3, label=f"beside {kind}")
        ax.axhline(0, color="black", lw=0.8)
        ax.axhline(100 * BASE_STOCK_MARGIN, color="grey", lw=0.8, linestyle="--", label="+3% (the study's margin)")
        ax.set_xticks(range(len(SEATS)))
        ax.set_xticklabels(SEATS, fontsize=8)
        ax.set_title(scenario)
        ax.grid(True, axis="y", alpha=0.3)
    axes[0, 0].set_ylabel("learned seat vs base-stock seat:\nteam cost gap (%), paired, 95% CI")
    axes[0, 0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: Sequence[str] | None = None) -> int:
    """Run or resume the study; exit 2 with one line on bad input, before anything compiles."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_flags(StudyArgs, argv)
    if args.quick:
        args = quick_args(args)
    # --resume changes what is trained, never the result, so the table names the command without it.
    command = " ".join(["python -m benchmarks.study", *(flag for flag in argv if flag != "--resume")])
    stem = "study-quick" if args.quick else "study"
    json_path = args.out_dir / f"{stem}.json"
    saved_args = json.loads(json.dumps(dataclasses.asdict(args), default=str))  # as it reads back
    earlier = None
    try:
        args.validate()
        if args.resume:
            earlier = read_resumable(json_path, saved_args, "study", free=("scenarios", "seats", "co_players"))
    except ValueError as error:  # ConfigError, and the scenario's own checks
        exit_with_usage_error(str(error))
    finished = {(r["scenario"], r["seat"], r["co_players"]): r for r in (earlier or {}).get("rows", [])}
    runs = [(s, seat, co) for s in args.scenarios for seat in args.seats for co in args.co_players]
    args.out_dir.mkdir(parents=True, exist_ok=True)
    started_on = harness.machine_info()  # once: the code this invocation imported, however long it runs

    def save_and_report() -> str:
        rows = sorted(finished.values(), key=row_order(args))
        missing = sum(run not in finished for run in runs)
        write_json(
            json_path,
            {
                "args": saved_args,
                "command": command,
                "machine": started_on,
                "algorithm": ALGORITHM,
                "evaluation": "each run's final greedy policies and its reference team on the same "
                "--eval-episodes episodes from algorithms.common.loop.eval_keys(seed)[1]",
                "complete": missing == 0,
                "rows": rows,
            },
        )
        table = markdown(rows, args, command, missing)
        (args.out_dir / f"{stem}.md").write_text(table)
        figure(rows, args.out_dir / f"{stem}.png")
        return table

    for index, run in enumerate(runs, 1):
        scenario, seat, co_players = run
        what = f"[study] run {index}/{len(runs)}: IPPO {seat} beside {co_players} on {scenario}"
        if run in finished:
            print(f"{what} (kept from {json_path})", file=sys.stderr)
            continue
        print(what, file=sys.stderr)
        finished[run] = {**run_one(args, scenario, seat, co_players), "git": started_on["git"]}
        save_and_report()  # after every run: a killed study loses at most the run it was in
    print(save_and_report())
    return 0


if __name__ == "__main__":
    sys.exit(main())
