"""Settings every learner shares, and the tyro command line built from them.

An algorithm subclasses ``CommonConfig`` with its own hyperparameters and
extends ``validate``. ``parse_config`` turns ``sys.argv`` into a validated
config; a bad flag prints one line on stderr and exits with status 2, before
anything is traced or compiled.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import sys
from pathlib import Path
from typing import Any, ClassVar, Sequence, TypeVar

import tyro

from jaxbeer.params import ACTION_MODES
from jaxbeer.scenarios import SCENARIOS

ConfigT = TypeVar("ConfigT", bound="CommonConfig")
LEARNER_ACTION_MODES = ACTION_MODES + ("order_up_to",)


class ConfigError(ValueError):
    """A setting out of its allowed range; the CLI turns it into exit status 2."""


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
    horizon: int = 0
    """Periods per episode; 0 keeps the scenario's own horizon."""
    action_mode: str = "relative"
    """How a learner's action becomes an order. relative: arriving order + x, x in the scenario's range
    (the study's d+x rule); absolute: the order itself, 0..max_order; order_up_to: a target inventory
    position S in 0..max_order, order = max(0, S - inventory position)."""
    obs_history: int = 0
    """Past periods of (arriving order, arriving shipment, own order) in each observation."""
    team_reward: bool = True
    """Reward every learner with the team cost (False: its own echelon's cost)."""
    reward_scale: float = 0.0
    """Reward = -cost * reward_scale; 0 picks (1-gamma) / base-stock cost per period, so returns are O(1)."""
    gamma: float = 0.99
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
    stop_after_chunks: int = 0
    """Stop after this many chunks of this invocation (0: run to the end); for schedulers and tests."""
    plots: bool = True
    """Write learning-curve and trajectory PNGs at the end."""
    progress: bool = True
    """Show a tqdm progress bar."""

    def validate(self) -> None:
        """Raise ``ConfigError`` naming the field and its allowed range."""
        if self.scenario not in SCENARIOS:
            raise ConfigError(f"--scenario must be one of {list(SCENARIOS)}, got {self.scenario!r}")
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
        ):
            check_int(name, getattr(self, name), low)
        if self.action_mode not in LEARNER_ACTION_MODES:
            raise ConfigError(f"--action-mode must be one of {list(LEARNER_ACTION_MODES)}, got {self.action_mode!r}")
        if not (0.0 <= self.reward_scale < float("inf")):
            raise ConfigError(f"--reward-scale must be >= 0 (0 = automatic), got {self.reward_scale}")
        if not (0.0 < self.gamma <= 1.0):
            raise ConfigError(f"--gamma must be in (0, 1], got {self.gamma}")
        if len(self.hidden_sizes) < 1 or any(int(h) < 1 for h in self.hidden_sizes):
            raise ConfigError(f"--hidden-sizes must be one or more integers >= 1, got {self.hidden_sizes}")
        from algorithms.common.team import make_env, parse_agents  # team imports this module

        env, _ = make_env(self)
        parse_agents(self.agents, env.num_agents, self.learner_kind)
        if self.resume:
            resume = Path(self.resume)
            if not (resume / "config.json").is_file():
                raise ConfigError(f"--resume: {self.resume!r} is not a run directory (no config.json in it)")
            if not (resume / "checkpoint.msgpack").is_file():
                raise ConfigError(f"--resume: {self.resume!r} has no checkpoint.msgpack to resume from")

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls: type[ConfigT], values: dict[str, Any]) -> ConfigT:
        known = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ConfigError(f"saved config has fields {unknown} that {cls.__name__} does not know")
        fixed = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
        return cls(**fixed)


def check_int(name: str, value: Any, low: int, high: int | None = None) -> None:
    flag = "--" + name.replace("_", "-")
    if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
        allowed = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise ConfigError(f"{flag} must be an integer {allowed}, got {value!r}")


def parse_config(
    config_cls: type[ConfigT], argv: Sequence[str] | None = None, description: str | None = None
) -> ConfigT:
    """Parse and validate; on any error print one line and exit with status 2.

    With ``--resume DIR`` the run's saved settings replace the defaults; only
    ``--stop-after-chunks`` and ``--progress`` of this invocation still apply.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    config = parse_flags(config_cls, argv, description)
    try:
        if config.resume:
            resume_dir = config.resume
            config.validate()
            saved = json.loads((Path(resume_dir) / "config.json").read_text())["config"]
            saved.update(
                resume=resume_dir,
                run_dir=resume_dir,
                stop_after_chunks=config.stop_after_chunks,
                progress=config.progress,
            )
            config = config_cls.from_json(saved)
        config.validate()
    except (ConfigError, ValueError) as error:
        exit_with_usage_error(str(error))
    return config


def exit_with_usage_error(message: str) -> None:
    print(f"error: {message.splitlines()[0] if message else 'invalid arguments'}", file=sys.stderr)
    raise SystemExit(2)


def parse_flags(config_cls, argv, description=None):
    """``tyro.cli`` without validation; tyro's framed, multi-line errors become one line and exit 2."""
    captured_out, captured_err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stderr(captured_err), contextlib.redirect_stdout(captured_out):
            return tyro.cli(config_cls, args=argv, description=description)
    except SystemExit as stop:
        if stop.code in (0, None):  # --help
            sys.stdout.write(captured_out.getvalue())
            sys.stderr.write(captured_err.getvalue())
            raise
        exit_with_usage_error(_first_message(captured_err.getvalue() + captured_out.getvalue()))


_FRAME_CHARS = "\u2500\u2502\u256d\u256e\u256f\u2570|+-=_ "


def _first_message(text: str) -> str:
    """The first line of tyro's error box that says something (rich draws ASCII frames off a terminal)."""
    lines = []
    for raw in text.splitlines():
        line = raw.strip().strip("\u2502|").strip()
        if not line or all(ch in _FRAME_CHARS for ch in line) or line[0] in "\u256d\u2570+":
            continue
        if line.startswith(("usage:", "For full helptext", "Argument helptext")):
            continue
        words = line.split()
        if len(words) <= 4 and all(w.isalpha() for w in words) and line[0].isupper():
            continue  # the box title, e.g. "Value error"
        lines.append(line)
    if not lines:
        return "invalid arguments (see --help)"
    if lines[0].endswith(":") and len(lines) > 1:  # "Missing from prog:" then the option
        return f"{lines[0]} {lines[1]}"
    return lines[0]
