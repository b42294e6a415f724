"""Settings every learner shares, and the tyro command line built from them.

An algorithm subclasses ``CommonConfig`` with its own hyperparameters and
extends ``validate``. ``parse_config`` turns ``sys.argv`` into a validated
config; a bad flag prints one line on stderr and exits with status 2, before
anything is traced or compiled.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path
from typing import Any, ClassVar, Sequence, TypeVar

import jaxbeer
from algorithms.common import tensorboard
from jaxbeer.cli import exit_with_usage_error, parse_flags
from jaxbeer.params import ACTION_MODES
from jaxbeer.validation import check_int, check_range

ConfigT = TypeVar("ConfigT", bound="CommonConfig")
T = TypeVar("T")


class ConfigError(ValueError):
    """A setting out of its allowed range; the CLI turns it into exit status 2."""


def flag(name: str) -> str:
    """The command-line spelling of a config field: ``num_envs`` -> ``--num-envs``."""
    return "--" + name.replace("_", "-")


def check_int_flag(name: str, value: Any, low: int | None = None, high: int | None = None) -> int:
    """``jaxbeer.validation.check_int`` for the field ``name``, as a ``ConfigError`` naming its flag."""
    return check_int(flag(name), value, low, high, error=ConfigError)


def check_range_flag(
    name: str, value: Any, low: float | None = None, high: float | None = None, **bounds: bool
) -> float:
    """``jaxbeer.validation.check_range`` for the field ``name``, as a ``ConfigError`` naming its flag."""
    return check_range(flag(name), value, low, high, error=ConfigError, **bounds)


@dataclasses.dataclass
class CommonConfig:
    """Settings of the game, the team, the budget and the host loop."""

    learner_kind: ClassVar[str] = "learner"
    """The name ``--agents`` uses for this algorithm's learning echelons (ppo, iql, vdn, qmix)."""

    scenario: str = "basic"
    """jaxbeer scenario: basic, uniform-0-8, normal-10-2, classic or seed-default."""
    agents: str = ""
    """Comma-separated kind per echelon, retailer first, e.g. 'ppo,sterman,sterman,sterman'.
    Kinds: the learner's own kind, base_stock, sterman, pass_through. Empty: every echelon learns."""
    num_envs: int = 4096
    """Parallel games per seed."""
    num_seeds: int = 1
    """Independent seeds trained at once (vmapped in one compiled program)."""
    total_timesteps: int = 40_000_000
    """Env steps (periods of one game) per seed; rounded down to whole updates."""
    num_chunks: int = 10
    """Host-loop chunks: log, evaluate and checkpoint after each."""
    seed: int = 0
    """Root of every random key: each seed's training key and the evaluation episodes derive from it."""
    horizon: int = 0
    """Periods per episode; 0 keeps the scenario's own horizon."""
    action_mode: str = "relative"
    """How a learner's action becomes an order. relative: arriving order + x, x in the scenario's range
    (the study's d+x rule); absolute: the order itself, 0..max_order; order_up_to: a target inventory
    position S in 0..max_order, order = max(0, S - inventory position)."""
    x_range: tuple[int, ...] = ()
    """With relative actions, the range of x as LOW HIGH (e.g. --x-range -2 2: five actions); empty keeps the
    scenario's. A narrow window makes neighbouring actions' values differ by more of the whole."""
    obs_history: int = 0
    """Past periods of (arriving order, arriving shipment, own order) in each observation."""
    team_reward: bool = True
    """Reward every learner with the team cost (False: its own echelon's cost)."""
    reward_scale: float = 0.0
    """Reward = -cost * reward_scale; 0 picks (1-gamma) / base-stock cost per period, so returns are O(1)."""
    gamma: float = 0.99
    """Discount factor of the returns; it also sets the automatic --reward-scale."""
    share_params: bool = True
    """One network for all learning echelons (with an agent-id one-hot) instead of one per echelon."""
    agent_id: bool = True
    """Append a one-hot of the echelon to each observation."""
    symlog_obs: bool = True
    """Feed networks sign(x)*log(1+|x|) of the observation (backlogs grow without bound)."""
    hidden_sizes: tuple[int, ...] = (64, 64)
    """Widths of the MLP torso."""
    eval_episodes: int = 1000
    """Fresh episodes for the greedy evaluation at chunk boundaries."""
    base_stock_episodes: int = 100
    """Episodes the base-stock optimiser scores each candidate on (result cached per scenario)."""
    run_dir: str = ""
    """Where log, checkpoint and plots go; empty: runs/<algo>-<scenario>-<time>."""
    resume: str = ""
    """Continue the run in this directory from its last checkpoint (its saved settings are used)."""
    overwrite: bool = False
    """Let a fresh run replace the files of an earlier run in --run-dir (without it, such a directory is refused)."""
    stop_after_chunks: int = 0
    """Stop after this many chunks of this invocation (0: run to the end); for schedulers and tests."""
    plots: bool = True
    """Write learning-curve and trajectory PNGs at the end."""
    progress: bool = True
    """Show a tqdm progress bar."""
    tensorboard: bool = False
    """Also write the numbers of each log.jsonl record to TensorBoard files in <run dir>/tensorboard."""
    num_devices: int | None = None
    """Devices to train on (default: all, of every host with --distributed). The seeds and the games are split
    among them; XLA averages the gradients across devices. A resumed run may take another count."""
    seed_devices: int = 0
    """Of --num-devices, how many split the seeds (a sweep's configurations too) rather than the games; each
    must divide evenly. 0: as many as divide both the devices and the seeds, since seeds need no communication."""
    sweep: str = ""
    """A TOML or JSON file of configurations to train, vmapped in one program per group of shape-changing
    settings (see docs/scale.md); each group is a run in --run-dir/group-NN, with a table and plot in --run-dir."""
    distributed: bool = False
    """Multi-host: call jax.distributed.initialize() from the cluster's environment (Slurm, Open MPI, TPU pods)."""
    coordinator_address: str = ""
    """Multi-host without a detected cluster: host:port of process 0 (with --num-processes and --process-id)."""
    num_processes: int = 1
    """Multi-host with --coordinator-address: how many processes take part."""
    process_id: int = 0
    """Multi-host with --coordinator-address: this process's index, 0 .. --num-processes - 1."""

    def validate(self) -> None:
        """Raise ``ConfigError`` naming the flag and its allowed range (the scenario's own checks and
        ``--agents`` run in ``game.make_game``, before anything is compiled)."""
        if self.scenario not in jaxbeer.scenario_names():
            raise ConfigError(f"--scenario must be one of {list(jaxbeer.scenario_names())}, got {self.scenario!r}")
        for name, low in (
            ("num_envs", 1),
            ("num_seeds", 1),
            ("total_timesteps", 1),
            ("num_chunks", 1),
            ("horizon", 0),
            ("obs_history", 0),
            ("eval_episodes", 1),
            ("base_stock_episodes", 1),
            ("stop_after_chunks", 0),
            ("seed", 0),
            ("seed_devices", 0),
            ("num_processes", 1),
            ("process_id", 0),
        ):
            check_int_flag(name, getattr(self, name), low)
        if self.action_mode not in ACTION_MODES:
            raise ConfigError(f"--action-mode must be one of {list(ACTION_MODES)}, got {self.action_mode!r}")
        check_range_flag("reward_scale", self.reward_scale, 0.0)
        check_range_flag("gamma", self.gamma, 0.0, 1.0, low_inclusive=False)
        if self.x_range:
            if len(self.x_range) != 2 or self.x_range[0] > self.x_range[1]:
                raise ConfigError(f"--x-range takes LOW HIGH with LOW <= HIGH, got {' '.join(map(str, self.x_range))}")
            if self.action_mode != "relative":
                raise ConfigError(f"--x-range applies to --action-mode relative, not {self.action_mode!r}")
        if len(self.hidden_sizes) < 1:
            raise ConfigError("--hidden-sizes needs one or more widths")
        for width in self.hidden_sizes:
            check_int_flag("hidden_sizes", width, 1)
        if self.tensorboard and not tensorboard.available():
            raise ConfigError(tensorboard.MISSING)
        if self.num_devices is not None:  # the upper bound, the devices here, is checked by sharding.resolve
            check_int_flag("num_devices", self.num_devices, 1)
        if self.sweep and self.resume:
            raise ConfigError("--sweep continues where it stopped when run again as it was; drop --resume")
        if self.sweep and not self.run_dir:
            raise ConfigError("--sweep needs --run-dir, so that the same command run again continues the sweep")
        if (self.distributed or self.coordinator_address) and not (self.run_dir or self.resume):
            raise ConfigError(
                "--distributed needs --run-dir (or --resume): every process must name the same directory, "
                "which a time-stamped default would not"
            )

    def to_json(self) -> dict[str, Any]:
        """The settings as a JSON object, saved in the run's config.json so ``--resume`` can rebuild them."""
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls: type[ConfigT], values: dict[str, Any], source: str = "saved config") -> ConfigT:
        """The config ``to_json`` saved; a missing or unknown field raises ``ConfigError`` naming ``source``
        rather than being filled in or dropped, and JSON's lists become tuples again.

        The exceptions: fields of ``OUTPUT_ONLY_FIELDS`` that a run written
        before they existed lacks take their defaults, since they change what
        is written, never what is trained; and fields of ``FIELDS_ADDED_LATER``
        take the value with which such a run trained."""
        known = {f.name for f in dataclasses.fields(cls)}
        defaults = {f.name: f.default for f in dataclasses.fields(cls) if f.name in OUTPUT_ONLY_FIELDS}
        defaults.update({name: value for name, value in FIELDS_ADDED_LATER.items() if name in known})
        values = {**{k: v for k, v in defaults.items() if k not in values}, **values}
        unknown, missing = sorted(set(values) - known), sorted(known - set(values))
        if unknown or missing:
            raise ConfigError(
                f"{source} does not match {cls.__module__}.{cls.__name__}: "
                f"unknown fields {unknown}, missing fields {missing}"
            )
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})


# Flags that belong to an invocation, not to a run: --resume keeps the run's settings and takes only these.
INVOCATION_FLAGS = (
    "resume",
    "run_dir",
    "stop_after_chunks",
    "progress",
    "num_devices",
    "seed_devices",
    "distributed",
    "coordinator_address",
    "num_processes",
    "process_id",
)
# Fields that change what a run writes or shows, or where it runs, never what it trains (a sweep's group
# runs carry their configuration as members); an older config.json may lack them.
OUTPUT_ONLY_FIELDS = (*INVOCATION_FLAGS, "overwrite", "plots", "tensorboard", "sweep")
# Training fields added after runs were written, each with the value that reproduces how those runs trained.
FIELDS_ADDED_LATER = {
    "anchor_base_stock": False,
    "x_range": (),
    # The value-based learners' replay levers and PQN, all off (PQN's own settings unused) in older runs.
    "dueling": False,
    "value_rescale": False,
    "layer_norm": False,
    "pqn": False,
    "num_steps": 16,
    "update_epochs": 2,
    "num_minibatches": 4,
    "td_lambda": 0.65,
}


def parse_config(
    config_cls: type[ConfigT],
    argv: Sequence[str] | None = None,
    description: str | None = None,
    algorithm: str | None = None,
) -> ConfigT:
    """Parse and validate; on any error print one line and exit with status 2.

    With ``--resume DIR`` the run's saved settings replace the defaults; only
    ``--stop-after-chunks`` and ``--progress`` of this invocation still apply,
    and any other flag that differs from the saved run is refused, so nothing
    is ignored silently. ``algorithm`` names the CLI, to refuse another
    algorithm's run directory.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    config = parse_flags(config_cls, argv, description)
    try:
        if config.resume:
            config = resumed_config(config_cls, config, algorithm)
        config.validate()
    except ValueError as error:
        exit_with_usage_error(str(error))
    return config


def parse_checked_flags(args_cls: type[T], argv: Sequence[str] | None, description: str | None = None) -> T:
    """A tool's flags (a dataclass with ``validate()``): ``parse_flags``, then its checks; either's error
    is one line and exit status 2, before anything compiles."""
    args = parse_flags(args_cls, list(sys.argv[1:] if argv is None else argv), description)
    try:
        args.validate()
    except ValueError as error:
        exit_with_usage_error(str(error))
    return args


def resumed_config(config_cls: type[ConfigT], flags: ConfigT, algorithm: str | None = None) -> ConfigT:
    """The config saved in the run directory ``flags.resume``, with this invocation's loop flags."""
    if flags.overwrite:
        raise ConfigError("--overwrite starts a new run; it cannot be combined with --resume")
    path = Path(flags.resume) / "config.json"
    if not path.is_file():
        raise ConfigError(f"--resume: {flags.resume!r} is not a run directory (no config.json in it)")
    description = read_json_object(path)
    saved_algorithm = description.get("algorithm")
    if algorithm is not None and saved_algorithm != algorithm:
        raise ConfigError(
            f"--resume: {flags.resume!r} is a {saved_algorithm!r} run, not {algorithm!r}; "
            f"resume it with python -m algorithms.{saved_algorithm} --resume {flags.resume}"
        )
    saved = description.get("config")
    if not isinstance(saved, dict):
        raise ConfigError(f"{path} has no 'config' object; it was not written by a learner")
    defaults = config_cls()
    conflicts = [
        f"{flag(name)} (saved {saved.get(name)!r}, given {getattr(flags, name)!r})"
        for name in (f.name for f in dataclasses.fields(config_cls))
        if name not in INVOCATION_FLAGS
        and getattr(flags, name) != getattr(defaults, name)
        and _as_saved(getattr(flags, name)) != saved.get(name)
    ]
    if conflicts:
        raise ConfigError(
            f"--resume continues {flags.resume} with its saved settings, so these flags cannot "
            f"change it: {', '.join(conflicts)}; start a new run (--run-dir) to change them"
        )
    saved.update({name: getattr(flags, name) for name in INVOCATION_FLAGS})
    saved["run_dir"] = flags.resume
    return config_cls.from_json(saved, source=str(path))


def _as_saved(value: Any) -> Any:
    """A flag's value as ``to_json`` writes it (tuples become lists in JSON)."""
    return list(value) if isinstance(value, tuple) else value


def read_json_object(path: Path) -> dict[str, Any]:
    """A JSON object from ``path``, or a ``ConfigError`` naming the file and what is wrong with it."""
    try:
        value = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise ConfigError(f"{path} cannot be read as JSON ({error})") from None
    if not isinstance(value, dict):
        raise ConfigError(f"{path} must hold a JSON object, got {type(value).__name__}")
    return value
