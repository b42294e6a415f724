"""Policy-quality leaderboard: every learner on every scenario, against optimised base-stock.

    python -m benchmarks.leaderboard --budget-minutes 60
    python -m benchmarks.leaderboard --quick          # the tiny version CI runs

Cells are (scenario, setting, algorithm), with two settings: every echelon
learning, and a learned retailer with Sterman co-players. Each cell trains
``--num-seeds`` seeds at once (vmapped in one compiled program) through the
algorithm's own host loop, then evaluates the greedy policy of every seed on
``--eval-episodes`` fresh episodes; the same episodes score the optimised
base-stock team, Sterman and pass-through. A cell's figure is the
interquartile mean (IQM) over its seeds with a 95% stratified-bootstrap
interval (``benchmarks.aggregate.iqm_interval``, rliable's method): with five
seeds one diverged seed moves the mean a lot and the IQM little.

The budget is wall-clock training time, split evenly over the cells. Each
algorithm's throughput is first measured with a two-chunk probe on the first
scenario (compile excluded, timed past a replay buffer's warm-up), and a
cell's ``total_timesteps`` is that throughput times its share of the budget,
so learning-rate and exploration schedules still run to their end. Results in
``--out-dir``: ``leaderboard.md``, ``leaderboard.json``, ``leaderboard.png``
(gaps) and ``leaderboard-curves-<scenario>.png`` (chunk-evaluation cost
against wall-clock seconds, every cell of the scenario). The JSON is rewritten
after every cell (``"complete": false`` until the last), and ``--resume``
keeps the finished cells of an interrupted run with the same settings and
measures only the rest. The table and charts are redrawn after every cell;
``--report-only`` redraws them from the JSON alone.

Each algorithm trains with its own default number of games per seed (4096 for
IPPO/MAPPO, 16 for the value-based learners, whose replay ratio depends on
it) unless ``--num-envs`` sets one for all. The table reports the final
greedy policies; the JSON also keeps the policies of the chunk with the best
chunk-evaluation cost (``best_chunk_team_cost_mean``).

``learner_config``, ``train``, ``learning_curve``, ``seed_interval`` and
``read_resumable`` are shared with ``benchmarks.study``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import sys
import time
from pathlib import Path
from typing import Any, NamedTuple, Sequence

import numpy as np

from algorithms import registry
from algorithms.common import loop, runlog
from algorithms.common.config import ConfigError, check_int_flag, exit_with_usage_error, parse_flags
from algorithms.common.files import write_json
from benchmarks import harness
from benchmarks.aggregate import iqm_interval

ALGORITHMS = tuple(registry.ALGORITHMS)
SCENARIOS = ("basic", "classic", "normal-10-2")
SETTINGS = ("all learning", "learned retailer + sterman")


@dataclasses.dataclass
class LeaderboardArgs:
    """Flags of ``python -m benchmarks.leaderboard``."""

    budget_minutes: float = 60.0
    """Total training wall-clock time over all cells (compile and evaluation come on top); 60 minutes gives each
    of the 30 default cells two minutes of training."""
    algorithms: tuple[str, ...] = ALGORITHMS
    """Registered learners to rank."""
    scenarios: tuple[str, ...] = SCENARIOS
    """jaxbeer scenarios of the cells; the throughput probes run on the first."""
    settings: tuple[str, ...] = SETTINGS
    """Team settings to run: every echelon learning and/or a learned retailer with Sterman co-players."""
    num_seeds: int = 5
    """Seeds trained at once per cell (vmapped); the table gives their IQM and its bootstrap interval. With three
    seeds the IQM is their mean; with five it is the mean of the middle three, so one diverged seed drops out."""
    num_envs: int = 0
    """Games per seed for every algorithm; 0 keeps each algorithm's default."""
    eval_episodes: int = 1000
    """Fresh episodes that score every team of a cell, the same episodes for all."""
    seed: int = 0
    """Seed of every cell's run (training and evaluation keys)."""
    quick: bool = False
    """Tiny smoke version: basic only, 64 games, two updates (two chunks) per cell, 50 evaluation episodes."""
    out_dir: Path = Path("benchmarks/results")
    """Where leaderboard.md, .json, .png and -curves-<scenario>.png go (leaderboard-quick* with --quick)."""
    runs_dir: Path = Path("runs/leaderboard")
    """Parent of the run directory of every cell and throughput probe."""
    resume: bool = False
    """Keep the finished cells of the JSON in ``--out-dir`` when it was written with the same settings."""
    report_only: bool = False
    """Train nothing: redraw the table and chart from the finished cells of that JSON (same settings)."""


def validate(args: LeaderboardArgs) -> None:
    """Raise ``ConfigError`` naming the flag and what it allows."""
    if not args.budget_minutes > 0:
        raise ConfigError(f"--budget-minutes must be > 0, got {args.budget_minutes}")
    for name, given, allowed in (
        ("algorithms", args.algorithms, ALGORITHMS),
        ("scenarios", args.scenarios, SCENARIOS + ("uniform-0-8", "seed-default")),
        ("settings", args.settings, SETTINGS),
    ):
        unknown = [item for item in given if item not in allowed]
        if unknown or not given:
            raise ConfigError(f"--{name} must be one or more of {list(allowed)}, got {list(given)}")
    for name, low in (("num_seeds", 1), ("num_envs", 0), ("eval_episodes", 1)):
        check_int_flag(name, getattr(args, name), low)


# ------------------------------------------- one learner run, shared with benchmarks.study
def learner_config(algorithm: str, run_dir: Path, **settings: Any) -> tuple[registry.Algorithm, Any]:
    """The registered ``algorithm`` and its config: ``settings`` over its defaults, in ``run_dir``.

    A benchmark run trains from scratch in its own directory (an unfinished earlier one is replaced) and draws
    no progress bar or plots of its own; ``train`` runs it.
    """
    module = registry.get(algorithm)
    config = module.config(**settings, run_dir=str(run_dir), overwrite=True, progress=False, plots=False)
    return module, config


class FinishedRun(NamedTuple):
    """What a benchmark reads back from a run directory after the host loop has finished."""

    results: list[dict[str, Any]]
    """Rows of ``results.json``: the learned team per seed, then the heuristic teams, on fresh episodes."""
    log: list[dict[str, Any]]
    """Records of ``log.jsonl``, one per chunk."""
    wall_seconds: float
    """Wall-clock time of the whole run: compile, training, chunk evaluations and the final table."""


def train(module: registry.Algorithm, config: Any) -> FinishedRun:
    """Validate ``config`` and run it through the algorithm's own host loop; its results and log."""
    config.validate()
    start = time.perf_counter()
    run_dir = loop.run(config, module.make_learner(config), module.name)
    wall = time.perf_counter() - start
    results = json.loads((run_dir / loop.RESULTS_FILE).read_text())["rows"]
    return FinishedRun(results=results, log=runlog.read(run_dir / runlog.LOG_FILE), wall_seconds=wall)


def learning_curve(log: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Chunk-evaluation cost against time, from a run's ``log.jsonl`` records.

    Two clocks: ``wall_seconds``, the run's wall clock at each chunk's record (compile, chunk evaluations and
    checkpoints included; ``None`` for a log written before the host loop recorded it), and ``train_seconds``,
    the running sum of ``chunk_seconds`` (the compiled chunks alone: what the budget is spent on).
    """
    chunks = [record for record in log if "chunk_seconds" in record and "stopped" not in record]
    has_wall_clock = bool(chunks) and all("wall_seconds" in record for record in chunks)
    return {
        "wall_seconds": [record["wall_seconds"] for record in chunks] if has_wall_clock else None,
        "train_seconds": np.cumsum([record["chunk_seconds"] for record in chunks]).tolist(),
        "env_steps": [record["env_steps"] for record in chunks],
        "eval_team_cost": [record["eval_team_cost"] for record in chunks],
        "eval_team_cost_per_seed": [record["eval_team_cost_per_seed"] for record in chunks],
        "base_stock_eval_team_cost": chunks[-1]["base_stock_eval_team_cost"] if chunks else None,
    }


def seed_interval(per_seed: Sequence[float]) -> dict[str, float]:
    """``{"iqm", "low", "high"}``: the IQM over seeds and its 95% stratified-bootstrap interval."""
    return iqm_interval(np.asarray(per_seed, np.float64))


def read_resumable(
    json_path: Path, saved_args: dict[str, Any], tool: str, free: Sequence[str] = ()
) -> dict[str, Any] | None:
    """The payload of an earlier run's JSON if it was written with the same settings, ``None`` if there is none.

    Flags in ``free`` (and ``--resume``, ``--report-only``) may differ; any other differing flag raises
    ``ConfigError`` naming them, since its finished rows would not be comparable with new ones.
    """
    if not json_path.is_file():
        print(f"[{tool}] --resume: no {json_path} yet, starting from the first run", file=sys.stderr)
        return None
    earlier = json.loads(json_path.read_text())
    ignored = {"resume", "report_only", *free}
    differing = sorted(k for k in saved_args if k not in ignored and earlier["args"].get(k) != saved_args[k])
    if differing:
        raise ConfigError(
            f"--resume: {json_path} was written with different settings ({', '.join(differing)}); "
            "rerun without --resume or with the same flags"
        )
    return earlier


# ------------------------------------------------------------------ leaderboard cells
def cell_config(
    args: LeaderboardArgs, algorithm: str, scenario: str, setting: str, total_timesteps: int, run_dir: Path
) -> tuple[registry.Algorithm, Any]:
    """The algorithm and its config for one cell, with the leaderboard's seeds, evaluation and step budget."""
    kind = registry.get(algorithm).config.learner_kind
    settings: dict[str, Any] = dict(
        scenario=scenario,
        agents="" if setting == "all learning" else f"{kind},sterman,sterman,sterman",
        num_seeds=args.num_seeds,
        total_timesteps=int(total_timesteps),
        seed=args.seed,
        eval_episodes=args.eval_episodes,
    )
    if args.num_envs:
        settings["num_envs"] = args.num_envs
    if args.quick:
        settings.update(num_chunks=2, base_stock_episodes=20)  # two chunks: two points on each curve
    return learner_config(algorithm, run_dir, **settings)


def one_update_timesteps(module: registry.Algorithm, config: Any) -> int:
    """Env steps per seed of one update, read off the learner (configs differ per family)."""
    return module.make_learner(config).env_steps_per_update


PROBE_STEPS_PER_CHUNK = 16_384  # per seed: enough that per-chunk overhead does not set the figure


def measure_throughput(args: LeaderboardArgs, algorithm: str) -> float:
    """Env steps per second per seed (compile excluded) from the second of two probe chunks.

    The first chunk also covers a replay learner's ``learning_starts`` (steps without gradient
    updates), so the second times steady training; each chunk has at least
    ``PROBE_STEPS_PER_CHUNK`` env steps per seed.
    """
    run_dir = args.runs_dir / f"probe-{algorithm}"
    module, config = cell_config(args, algorithm, args.scenarios[0], "all learning", 10**9, run_dir)
    per_update = one_update_timesteps(module, config)
    warmup_steps = getattr(config, "learning_starts", 0)
    updates_per_chunk = max(1, math.ceil(max(warmup_steps, PROBE_STEPS_PER_CHUNK) / per_update))
    module, config = cell_config(
        args, algorithm, args.scenarios[0], "all learning", 2 * updates_per_chunk * per_update, run_dir
    )
    config = dataclasses.replace(config, num_chunks=2, eval_episodes=10)
    return float(train(module, config).log[-1]["steps_per_s"]) / args.num_seeds


def run_cell(
    args: LeaderboardArgs, algorithm: str, scenario: str, setting: str, steps_per_s: float, cell_seconds: float
) -> dict[str, Any]:
    """Train and evaluate one cell for its share of the budget; its row of the table and the JSON."""
    run_dir = args.runs_dir / f"{algorithm}-{scenario}-{setting.replace(' ', '-').replace('+', 'and')}"
    module, config = cell_config(args, algorithm, scenario, setting, 10**9, run_dir)
    per_update = one_update_timesteps(module, config)
    updates = 2 if args.quick else max(2, int(steps_per_s * cell_seconds // per_update))
    module, config = cell_config(args, algorithm, scenario, setting, updates * per_update, run_dir)
    results, log, wall = train(module, config)
    final = [r for r in results if r["label"].startswith("learned") and "best chunk" not in r["label"]]
    best = [r for r in results if r["label"].startswith("learned") and "best chunk" in r["label"]]
    learned = np.array([r["team_cost_mean"] for r in final])
    by_label = {r["label"]: r for r in results}
    base_stock = by_label["all base_stock"]["team_cost_mean"]
    gaps = learned / base_stock - 1.0
    row = {
        "scenario": scenario,
        "setting": setting,
        "algorithm": algorithm,
        "num_seeds": int(learned.size),
        "team_cost_mean": float(learned.mean()),
        "team_cost_se_over_seeds": float(learned.std(ddof=1) / np.sqrt(learned.size)) if learned.size > 1 else 0.0,
        "team_cost_per_seed": learned.tolist(),
        "team_cost_iqm": seed_interval(learned),
        # The best chunk's policy where it differs from the last; otherwise the final one.
        "best_chunk_team_cost_mean": float(np.mean([r["team_cost_mean"] for r in best]))
        if best
        else float(learned.mean()),
        "num_envs": config.num_envs,
        "base_stock_team_cost": base_stock,
        "gap_vs_base_stock": float(learned.mean() / base_stock - 1.0),
        "gap_vs_base_stock_per_seed": gaps.tolist(),
        "gap_vs_base_stock_iqm": seed_interval(gaps),
        "sterman_team_cost": by_label["all sterman"]["team_cost_mean"],
        "pass_through_team_cost": by_label["all pass_through"]["team_cost_mean"],
        "wall_seconds": wall,
        "env_steps_per_seed": int(log[-1]["env_steps"]),
        "train_steps_per_s_all_seeds": float(np.median([r["steps_per_s"] for r in log])),
        "curve": learning_curve(log),
        "run_dir": str(run_dir),
    }
    seat_label = "base_stock in learner seats, same co-players"
    if seat_label in by_label:
        row["base_stock_in_seat_team_cost"] = by_label[seat_label]["team_cost_mean"]
    return row


def resumable(json_path: Path, saved_args: dict[str, Any]) -> tuple[dict[tuple, dict], dict[str, float]]:
    """Finished cells and throughput probes of an earlier run with the same settings (else nothing)."""
    earlier = read_resumable(json_path, saved_args, "leaderboard")
    if earlier is None:
        return {}, {}
    rows = {(r["scenario"], r["setting"], r["algorithm"]): with_seed_summaries(r) for r in earlier["rows"]}
    return rows, dict(earlier.get("throughput_per_seed", {}))


def with_seed_summaries(row: dict[str, Any]) -> dict[str, Any]:
    """A cell of a leaderboard written before the IQMs and curves, with them added from what it kept: its
    per-seed costs, and its run directory's log where that is still on disk."""
    row = dict(row)
    if "team_cost_iqm" not in row:
        gaps = np.asarray(row["team_cost_per_seed"]) / row["base_stock_team_cost"] - 1.0
        row.update(
            team_cost_iqm=seed_interval(row["team_cost_per_seed"]),
            gap_vs_base_stock_per_seed=gaps.tolist(),
            gap_vs_base_stock_iqm=seed_interval(gaps),
        )
    if "curve" not in row:
        row["curve"] = learning_curve(runlog.read(Path(row["run_dir"]) / runlog.LOG_FILE, warn=False))
    return row


def format_interval(interval: dict[str, float], scale: float = 1.0, unit: str = "", sign: str = "") -> str:
    """``"1734.8 [1600.2, 1850.1]"``: an IQM and its interval, times ``scale``, with ``unit`` after each."""
    iqm, low, high = (f"{scale * interval[part]:{sign}.1f}{unit}" for part in ("iqm", "low", "high"))
    return f"{iqm} [{low}, {high}]"


def markdown(rows: list[dict[str, Any]], args: LeaderboardArgs, cell_seconds: float, total_cells: int) -> str:
    """The leaderboard table of the finished cells, after a paragraph on how they were run."""
    partial = len(rows) < total_cells
    lines = [
        "# Leaderboard" + (f" (partial: {len(rows)} of {total_cells} cells)" if partial else ""),
        "",
        f"Command: `python -m benchmarks.leaderboard --budget-minutes {args.budget_minutes:g}"
        + (" --quick" if args.quick else "")
        + "`. "
        f"{args.num_seeds} seeds per cell (vmapped), "
        + (f"{args.num_envs} games per seed, " if args.num_envs else "each algorithm's default games per seed, ")
        + (
            "two updates per cell (smoke test, not a result)"
            if args.quick
            else f"about {cell_seconds / 60:.1f} minutes of training per cell"
        )
        + f"; greedy policies on {args.eval_episodes} fresh episodes, the same "
        "episodes for every team of a cell. Team cost and gap: the interquartile mean (IQM) over seeds with its "
        "95% stratified-bootstrap interval; the gap is relative to the optimised base-stock team (all echelons "
        "base-stock). Learning curves against wall-clock seconds: `leaderboard"
        + ("-quick" if args.quick else "")
        + "-curves-<scenario>.png`."
        + (" The other cells have not run yet; `--resume` with the same flags runs them." if partial else ""),
        "",
        "| scenario | setting | algorithm | team cost, IQM [95% CI] | gap vs base-stock, IQM [95% CI] | base-stock | "
        "base-stock retailer, same co-players | Sterman | pass-through | env steps / seed | wall s |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        seat = r.get("base_stock_in_seat_team_cost")
        lines.append(
            f"| {r['scenario']} | {r['setting']} | {r['algorithm']} | {format_interval(r['team_cost_iqm'])} | "
            f"{format_interval(r['gap_vs_base_stock_iqm'], 100.0, '%', '+')} | "
            f"{r['base_stock_team_cost']:.1f} | {'—' if seat is None else f'{seat:.1f}'} | "
            f"{r['sterman_team_cost']:.1f} | {r['pass_through_team_cost']:.1f} | {r['env_steps_per_seed']:,} | "
            f"{r['wall_seconds']:.0f} |"
        )
    return "\n".join(lines) + "\n"


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def bar_chart(rows: list[dict[str, Any]], path: Path) -> None:
    """Each cell's IQM gap to optimised base-stock with its interval, one bar per algorithm, grouped by scenario
    and setting."""
    plt = _pyplot()
    groups = list(dict.fromkeys((r["scenario"], r["setting"]) for r in rows))
    algorithms = list(dict.fromkeys(r["algorithm"] for r in rows))
    width = 0.8 / max(1, len(algorithms))
    fig, ax = plt.subplots(figsize=(max(6, 2.2 * len(groups)), 4.5))
    for i, algorithm in enumerate(algorithms):
        by_group = {
            (r["scenario"], r["setting"]): r["gap_vs_base_stock_iqm"] for r in rows if r["algorithm"] == algorithm
        }
        gaps = np.array(
            [[100 * by_group[g][p] if g in by_group else np.nan for g in groups] for p in ("iqm", "low", "high")]
        )
        errors = np.abs(gaps[1:] - gaps[0])
        ax.bar(np.arange(len(groups)) + i * width, gaps[0], width, yerr=errors, capsize=2, label=algorithm)
    ax.axhline(0, color="black", lw=0.8)
    ax.set_xticks(np.arange(len(groups)) + width * (len(algorithms) - 1) / 2)
    ax.set_xticklabels([f"{s}\n{setting}" for s, setting in groups], fontsize=8)
    ax.set_ylabel("team cost gap vs optimised base-stock (%)\nIQM over seeds, 95% bootstrap interval")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


SETTING_LINES = {"all learning": "-", "learned retailer + sterman": "--"}


def curve_chart(rows: list[dict[str, Any]], scenario: str, path: Path) -> bool:
    """Learning curves of every cell of ``scenario``: the greedy team's chunk-evaluation cost (mean over seeds)
    against wall-clock seconds since the cell's run started, a colour per algorithm and a line style per
    setting, with the optimised base-stock team's cost on the same episodes as a horizontal line.

    Cells whose logs predate the host loop's wall clock are drawn against training seconds instead (all cells
    of the chart then are, so that one axis means one thing). Draws nothing (and returns False) when no cell
    has a curve: cells of an older leaderboard whose run directories are gone.
    """
    cells = [r for r in rows if r["scenario"] == scenario and r["curve"]["train_seconds"]]
    if not cells:
        return False
    clock = "wall_seconds" if all(r["curve"].get("wall_seconds") for r in cells) else "train_seconds"
    plt = _pyplot()
    colours = {a: f"C{i}" for i, a in enumerate(dict.fromkeys(r["algorithm"] for r in cells))}
    fig, ax = plt.subplots(figsize=(8, 4.8))
    for r in cells:
        curve = r["curve"]
        ax.plot(
            curve[clock],
            curve["eval_team_cost"],
            color=colours[r["algorithm"]],
            linestyle=SETTING_LINES.get(r["setting"], ":"),
            marker="o",
            markersize=3,
            label=f"{r['algorithm']}, {r['setting']}",
        )
    # Every cell of a scenario scores its chunk evaluations on the same episodes, so one base-stock line fits all.
    ax.axhline(cells[0]["curve"]["base_stock_eval_team_cost"], color="black", lw=1.0, label="optimised base-stock")
    ax.set_title(f"{scenario}: greedy team cost at chunk evaluations")
    ax.set_xlabel(
        "wall-clock seconds since the cell's run started (compile and chunk evaluations included)"
        if clock == "wall_seconds"
        else "training seconds since the cell started (compile and chunk evaluations excluded)"
    )
    ax.set_ylabel("team cost per episode")
    ax.set_yscale("log")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def main(argv: list[str] | None = None) -> int:
    """Run, resume or (``--report-only``) redraw the leaderboard; exit 2 with one line on bad input."""
    args = parse_flags(LeaderboardArgs, list(sys.argv[1:] if argv is None else argv))
    if args.quick:
        args = dataclasses.replace(args, scenarios=("basic",), num_envs=64, eval_episodes=50)
    try:
        validate(args)
    except ConfigError as error:
        exit_with_usage_error(str(error))
    cells = [(s, setting, a) for s in args.scenarios for setting in args.settings for a in args.algorithms]
    cell_seconds = 60.0 * args.budget_minutes / len(cells)
    stem = "leaderboard-quick" if args.quick else "leaderboard"
    json_path = args.out_dir / f"{stem}.json"
    saved_args = json.loads(json.dumps(dataclasses.asdict(args), default=str))  # as it reads back
    try:
        finished, throughput = resumable(json_path, saved_args) if args.resume or args.report_only else ({}, {})
    except ConfigError as error:
        exit_with_usage_error(str(error))
    rows: list[dict[str, Any]] = []
    # Taken once, before any cell: the code this invocation imported, not whatever the checkout holds by the
    # time a later cell ends (a long run outlives commits).
    started_on = harness.machine_info()

    def report() -> str:
        table = markdown(rows, args, cell_seconds, len(cells))
        (args.out_dir / f"{stem}.md").write_text(table)
        bar_chart(rows, args.out_dir / f"{stem}.png")
        for scenario in dict.fromkeys(r["scenario"] for r in rows):
            curve_chart(rows, scenario, args.out_dir / f"{stem}-curves-{scenario}.png")
        return table

    if args.report_only:
        rows.extend(finished[cell] for cell in cells if cell in finished)
        if not rows:
            exit_with_usage_error(f"--report-only: {json_path} has no finished cells for these flags")
        print(report())
        return 0

    def save(complete: bool) -> None:
        write_json(
            json_path,
            {
                "args": saved_args,
                "machine": started_on,
                "cell_seconds": cell_seconds,
                "throughput_per_seed": throughput,
                "complete": complete,
                "rows": rows,
            },
        )

    args.out_dir.mkdir(parents=True, exist_ok=True)
    if not args.quick:
        for algorithm in args.algorithms:
            if algorithm not in throughput:
                throughput[algorithm] = measure_throughput(args, algorithm)
                save(complete=False)
    for index, (scenario, setting, algorithm) in enumerate(cells, 1):
        if (scenario, setting, algorithm) in finished:
            rows.append(finished[(scenario, setting, algorithm)])
            print(
                f"[leaderboard] cell {index}/{len(cells)}: {algorithm} on {scenario}, {setting} (kept from "
                f"{json_path})",
                file=sys.stderr,
            )
            continue
        print(f"[leaderboard] cell {index}/{len(cells)}: {algorithm} on {scenario}, {setting}", file=sys.stderr)
        row = run_cell(args, algorithm, scenario, setting, throughput.get(algorithm, 0.0), cell_seconds)
        rows.append({**row, "git": started_on["git"]})  # cells kept by --resume keep their own revision
        save(complete=False)
        report()  # the table so far, for a look during a long run
    save(complete=True)
    print(report())
    return 0


if __name__ == "__main__":
    sys.exit(main())
