"""``--sweep FILE``: many configurations times seeds, vmapped in as few compiled programs as shapes allow.

The file (TOML or JSON) names its configurations either as a grid, every combination of its lists, or as
a list of tables, each overriding the command line's settings:

    seeds = 4                     # per configuration (default: --num-seeds)
    [grid]
    lr = [3e-4, 1e-3]
    ent_coef = [0.0, 0.01]
    hidden_sizes = [[64], [128]]  # changes shapes: one compiled program per width

    # or
    [[configurations]]
    lr = 1e-3
    [[configurations]]
    lr = 3e-4
    clip_eps = 0.1

Settings the learner carries as data (its config's ``traced_settings``: for PPO the learning rate, the
entropy coefficients, the clip range, ...) become one more vmapped axis beside the seeds. Every other
setting changes the program, so the configurations are grouped by those settings, and each group is one
run of the host loop in ``<run dir>/group-NN``, resumable like any run; running the same command again
continues where it stopped and keeps the groups that finished. At the end ``sweep.json``, ``sweep.md``
and ``sweep.png`` hold one row per configuration: the greedy team's cost on the final fresh episodes,
its gap to the optimised base-stock team on the same episodes, and their t-intervals over the seeds.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import sys
from pathlib import Path
from typing import Any, Callable, NamedTuple

import numpy as np

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: the same parser, backported
    import tomli as tomllib

from algorithms.common import checkpoint, loop, sharding
from algorithms.common.config import OUTPUT_ONLY_FIELDS, CommonConfig, ConfigError, read_json_object
from algorithms.common.files import write_atomically, write_json
from algorithms.common.game import check_game
from algorithms.common.loop import CONFIG_FILE, RESULTS_FILE, Members, run
from jaxbeer.kpis import mean_interval

RESULTS_JSON, RESULTS_TABLE, RESULTS_PLOT = "sweep.json", "sweep.md", "sweep.png"
# Settings a sweep may not vary: where and how the run is driven, and its seeds (the file's ``seeds``).
NOT_SWEPT = (*OUTPUT_ONLY_FIELDS, "num_seeds", "seed")


class Group(NamedTuple):
    """Configurations that share every shape-changing setting: one compiled program, one run directory."""

    directory: Path
    static: dict[str, Any]  # the shape-changing settings of the group, as overrides of the command line
    configurations: list[int]  # indices into the sweep's configurations
    members: Members


class Plan(NamedTuple):
    configurations: list[dict[str, Any]]  # each configuration's overrides, in the file's order
    seeds: int
    groups: list[Group]


def read(path: str | Path) -> dict[str, Any]:
    """The sweep file as a dict; TOML unless its name ends in ``.json``. A ``ConfigError`` names the file."""
    path = Path(path)
    try:
        text = path.read_text()
        values = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
    except (OSError, UnicodeDecodeError, ValueError) as error:  # TOMLDecodeError and JSONDecodeError too
        raise ConfigError(f"--sweep: {path} cannot be read ({error})") from None
    if not isinstance(values, dict):
        raise ConfigError(f"--sweep: {path} must hold a table (JSON object), got {type(values).__name__}")
    return values


def configurations(values: dict[str, Any], config: CommonConfig, source: str) -> tuple[list[dict[str, Any]], int]:
    """(each configuration's overrides, seeds per configuration), every one validated as a whole config."""
    unknown = sorted(set(values) - {"grid", "configurations", "seeds"})
    if unknown:
        raise ConfigError(f"--sweep: {source} has unknown keys {unknown}; allowed: grid, configurations, seeds")
    if ("grid" in values) == ("configurations" in values):
        raise ConfigError(f"--sweep: {source} needs exactly one of 'grid' (a table of lists) or 'configurations'")
    seeds = values.get("seeds", config.num_seeds)
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
        raise ConfigError(f"--sweep: {source}: seeds must be an integer >= 1, got {seeds!r}")
    if "grid" in values:
        grid = values["grid"]
        if not isinstance(grid, dict) or not grid:
            raise ConfigError(f"--sweep: {source}: grid must be a non-empty table of lists")
        for name, options in grid.items():
            if not isinstance(options, list) or not options:
                raise ConfigError(f"--sweep: {source}: grid.{name} must be a non-empty list, got {options!r}")
        names = list(grid)
        overrides = [dict(zip(names, combination)) for combination in itertools.product(*grid.values())]
    else:
        overrides = values["configurations"]
        if not isinstance(overrides, list) or not overrides or not all(isinstance(o, dict) for o in overrides):
            raise ConfigError(f"--sweep: {source}: configurations must be a non-empty list of tables")
    known = {f.name for f in dataclasses.fields(config)}
    checked = []
    for index, override in enumerate(overrides):
        override = {name.replace("-", "_"): value for name, value in override.items()}
        for name in override:
            if name not in known:
                raise ConfigError(
                    f"--sweep: {source}, configuration {index}: {name!r} is not a setting of this learner"
                )
            if name in NOT_SWEPT:
                raise ConfigError(
                    f"--sweep: {source}, configuration {index}: {name!r} cannot be swept "
                    "(seeds come from the file's 'seeds'; the rest says where and how the sweep runs)"
                )
        override = {name: tuple(value) if isinstance(value, list) else value for name, value in override.items()}
        try:
            dataclasses.replace(config, **override, sweep="").validate()
        except (ValueError, TypeError) as error:
            raise ConfigError(f"--sweep: {source}, configuration {index} ({label(override)}): {error}") from None
        if override in checked:
            raise ConfigError(
                f"--sweep: {source}: configurations {checked.index(override)} and {index} are the same "
                f"({label(override)})"
            )
        checked.append(override)
    return checked, seeds


def plan(config: CommonConfig, traced: tuple[str, ...]) -> Plan:
    """The configurations of ``config.sweep`` grouped into compiled programs; nothing is traced."""
    overrides, seeds = configurations(read(config.sweep), config, config.sweep)
    keys: dict[tuple, list[int]] = {}
    for index, override in enumerate(overrides):
        static = tuple(sorted((k, v) for k, v in override.items() if k not in traced))
        keys.setdefault(static, []).append(index)
    groups = []
    for number, (static, indices) in enumerate(keys.items()):
        base = dataclasses.replace(config, **dict(static))
        members = Members(
            seed_index=tuple(s for _ in indices for s in range(seeds)),
            hyperparameters={
                name: tuple(float(overrides[i].get(name, getattr(base, name))) for i in indices for _ in range(seeds))
                for name in traced
            },
            labels=tuple(f"{label(overrides[i])}, seed {s}" for i in indices for s in range(seeds)),
        )
        groups.append(Group(Path(config.run_dir) / f"group-{number:02d}", dict(static), indices, members))
    return Plan(overrides, seeds, groups)


def label(override: dict[str, Any]) -> str:
    """``lr=0.001, hidden_sizes=128x128``; ``defaults`` for an empty override."""

    def show(value):
        if isinstance(value, tuple):
            return "x".join(str(v) for v in value)
        return repr(value) if isinstance(value, float) else str(value)  # repr: distinct floats, distinct labels

    return ", ".join(f"{name}={show(value)}" for name, value in override.items()) or "defaults"


def run_sweep(config: CommonConfig, make_learner: Callable[[Any], Any], algorithm: str) -> Path:
    """Train every group (continuing those a previous invocation left), then write the sweep's results."""
    traced = tuple(getattr(type(config), "traced_settings", ()))
    sweep_plan = plan(config, traced)
    states = {}
    for group in sweep_plan.groups:  # every check before anything is built or traced
        group_config = group_run_config(config, group, resume=False)
        sharding.resolve(config.num_devices, config.seed_devices, len(group.members.labels), group_config.num_envs)
        check_game(group_config)
        states[group.directory] = group_state(group, group_config)
        if states[group.directory] == "other" and not config.overwrite:
            raise ConfigError(
                f"--sweep: {group.directory} holds a run of other configurations or settings; "
                "choose another --run-dir, or replace it with --overwrite"
            )
    out = Path(config.run_dir)
    loop.claim_on_writer(out, fresh=False, overwrite=False)  # the lock: one sweep per directory at a time
    print(
        f"[{algorithm}] sweep {config.sweep}: {len(sweep_plan.configurations)} configurations x "
        f"{sweep_plan.seeds} seeds in {len(sweep_plan.groups)} compiled program(s), one per group of "
        f"shape-changing settings:",
        file=sys.stderr,
    )
    for group in sweep_plan.groups:
        print(
            f"  {group.directory.name}: {label(group.static)}, {len(group.configurations)} configuration(s)",
            file=sys.stderr,
        )
    for group in sweep_plan.groups:
        state = states[group.directory]
        if state == "finished":
            print(f"[{algorithm}] {group.directory.name} finished earlier; kept", file=sys.stderr)
            continue
        group_config = group_run_config(config, group, resume=state == "started")
        run(group_config, make_learner(group_config), algorithm, group.members)
        if config.stop_after_chunks and not (group.directory / RESULTS_FILE).is_file():
            print(f"[{algorithm}] sweep stopped; run the same command again to continue", file=sys.stderr)
            return out
    if sharding.is_writer():
        write_results(out, sweep_plan, config.sweep)
    return out


def group_run_config(config: CommonConfig, group: Group, resume: bool) -> CommonConfig:
    """The config of one group's run: the command line with the group's shape settings, its members as
    seeds. A group that never finished a chunk has nothing to keep, so a fresh one may overwrite it."""
    return dataclasses.replace(
        config,
        **group.static,
        num_seeds=len(group.members.labels),
        run_dir=str(group.directory),
        resume=str(group.directory) if resume else "",
        overwrite=not resume,
        sweep="",
    )


def group_state(group: Group, group_config: CommonConfig) -> str:
    """``new`` (nothing to keep), ``finished``, ``started`` (a checkpoint to resume), or ``other``: the
    directory holds a run of other members or other training settings than this sweep's."""
    path = group.directory / CONFIG_FILE
    if not path.is_file() or not checkpoint.saved_checkpoints(group.directory):
        return "new"
    saved = read_json_object(path)

    def training(values):
        return {k: v for k, v in values.items() if k not in OUTPUT_ONLY_FIELDS}

    planned = json.loads(json.dumps(group_config.to_json()))  # tuples as the saved JSON holds them
    if saved.get("members") != group.members.to_json() or training(saved.get("config", {})) != training(planned):
        return "other"
    return "finished" if (group.directory / RESULTS_FILE).is_file() else "started"


def rows(sweep_plan: Plan) -> list[dict[str, Any]]:
    """One row per configuration from its group's ``results.json``: cost and gap, with t-intervals over seeds."""
    out = []
    for group in sweep_plan.groups:
        table = {row["label"]: row for row in read_json_object(group.directory / RESULTS_FILE)["rows"]}
        base_stock = table["all base_stock"]["team_cost_mean"]
        for index in group.configurations:
            override = sweep_plan.configurations[index]
            costs = np.array(
                [
                    table[f"learned (greedy), {label(override)}, seed {s}"]["team_cost_mean"]
                    for s in range(sweep_plan.seeds)
                ]
            )
            cost = mean_interval(costs)
            gap = mean_interval(costs / base_stock - 1.0)
            out.append(
                {
                    "configuration": index,
                    "label": label(override),
                    "settings": {k: list(v) if isinstance(v, tuple) else v for k, v in override.items()},
                    "group": group.directory.name,
                    "team_cost_per_seed": costs.tolist(),
                    "team_cost": _interval(cost),
                    "gap_vs_base_stock": _interval(gap),
                    "base_stock_team_cost": base_stock,
                }
            )
    return out


def _interval(interval) -> dict[str, float | None]:
    def plain(x):
        return None if not np.isfinite(x) else float(x)

    return {"mean": plain(interval.estimate), "low": plain(interval.low), "high": plain(interval.high)}


def write_results(out: Path, sweep_plan: Plan, source: str) -> None:
    """``sweep.json``, ``sweep.md`` and ``sweep.png`` in ``out``, and the table on stdout."""
    table_rows = rows(sweep_plan)
    groups = [
        {
            "directory": g.directory.name,
            "static": {k: list(v) if isinstance(v, tuple) else v for k, v in g.static.items()},
            "configurations": g.configurations,
        }
        for g in sweep_plan.groups
    ]
    write_json(
        out / RESULTS_JSON, {"sweep": str(source), "seeds": sweep_plan.seeds, "groups": groups, "rows": table_rows}
    )
    table = markdown(table_rows, sweep_plan.seeds)
    write_atomically(out / RESULTS_TABLE, table + "\n")
    plot(table_rows, out / RESULTS_PLOT)
    print(table)


def markdown(table_rows: list[dict[str, Any]], seeds: int) -> str:
    def interval(values, scale=1.0, fmt="{:.1f}"):
        mean = fmt.format(values["mean"] * scale)
        if values["low"] is None:
            return mean
        return f"{mean} [{fmt.format(values['low'] * scale)}, {fmt.format(values['high'] * scale)}]"

    lines = [
        f"| configuration | program | team cost (95% t-interval over {seeds} seeds) | gap vs base-stock (%) |",
        "|---|---|---|---|",
    ]
    for row in table_rows:
        lines.append(
            f"| {row['label']} | {row['group']} | {interval(row['team_cost'])} | "
            f"{interval(row['gap_vs_base_stock'], 100.0, '{:+.1f}')} |"
        )
    return "\n".join(lines)


def plot(table_rows: list[dict[str, Any]], path: Path) -> Path:
    """Each configuration's team cost with its interval over seeds, beside the base-stock team's."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    means = np.array([r["team_cost"]["mean"] for r in table_rows])
    lows = np.array([np.nan if r["team_cost"]["low"] is None else r["team_cost"]["low"] for r in table_rows])
    highs = np.array([np.nan if r["team_cost"]["high"] is None else r["team_cost"]["high"] for r in table_rows])
    errors = np.nan_to_num(np.stack([means - lows, highs - means]))
    positions = np.arange(len(table_rows))
    fig, ax = plt.subplots(figsize=(7, 1.2 + 0.4 * len(table_rows)))
    ax.errorbar(means, positions, xerr=errors, fmt="o", capsize=3, label="greedy team, mean over seeds (95% CI)")
    for seed_costs, y in zip((r["team_cost_per_seed"] for r in table_rows), positions):
        ax.plot(seed_costs, [y] * len(seed_costs), "x", color="0.5", markersize=4)
    ax.axvline(table_rows[0]["base_stock_team_cost"], color="k", linestyle="--", label="optimised base-stock")
    ax.set_yticks(positions, [r["label"] for r in table_rows])
    ax.invert_yaxis()
    ax.set_xlabel("team cost per episode (fresh evaluation episodes)")
    ax.grid(True, axis="x", alpha=0.3)
    ax.legend(loc="best", fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
