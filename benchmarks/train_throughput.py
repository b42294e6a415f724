"""Training throughput of every learner in env steps/s and FLOP/s, against this CPU's matmul peak in the same run.

    python -m benchmarks.train_throughput                      # IPPO, basic, its defaults
    python -m benchmarks.train_throughput --algorithm all      # every registered learner at its defaults
    python -m benchmarks.train_throughput --algorithm mappo --hidden-sizes 32 32 --updates 5

For each learner, after compiling ahead of time (and, where it has a replay
buffer, after the warm-up updates that fill it to ``learning_starts``, so the
timed updates take gradient steps):

* ``train``: ``--updates`` full updates in one compiled ``lax.scan``, the
  program the host loop runs (PPO: rollout + GAE + epochs; value-based: one
  period of every game, then a gradient step);
* ``env``: the same number of vectorised team steps with random actions and
  no network, i.e. the env's share of the training time;
* FLOPs per update from XLA's cost analysis, each loop body counted as often
  as it runs (``benchmarks/flops.py`` says why the raw figure counts it
  once), and the dot FLOPs read off the jaxpr;
* the references, timed just before the learner: a ``--peak-size`` square
  float32 matmul (the CPU's matmul peak as XLA reaches it) and every distinct
  dot of the learner's update timed alone at its own shapes ("own dots"),
  weighted by how often the update runs it.

GFLOP/s is FLOPs per update x updates per second. The machines here are
shared, so the fractions of the two references measured in the same run are
the figures to compare. Results go to
``benchmarks/results/train_throughput-<algorithm>-<scenario>-<backend>-<time>.json``
with the machine (CPU, cores, load average, jax version, XLA flags).
"""

from __future__ import annotations

import dataclasses
import math
import sys
import time
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from algorithms import registry
from algorithms.common import vector_env
from algorithms.common.config import ConfigError, check_int_flag, exit_with_usage_error, parse_checked_flags
from benchmarks import flops, harness

ALL = "all"
PPO_FLAGS = ("num_steps", "update_epochs", "num_minibatches")
TIMED_ENV_STEPS = 3 * 4096 * 64  # what --updates 0 aims for: three IPPO updates at its defaults
MAX_AUTO_UPDATES = 1000  # ... capped, for the value-based learners' one-period updates


@dataclasses.dataclass
class Args:
    """Flags of ``python -m benchmarks.train_throughput``."""

    algorithm: str = "ippo"
    """A registered learner (ippo, mappo, iql, vdn, qmix, maddpg), or all of them in turn."""
    scenario: str = "basic"
    """jaxbeer scenario trained on."""
    num_envs: int = 0
    """Parallel games per seed; 0 keeps each learner's default (4096 for PPO, 16 for the value-based ones)."""
    num_steps: int = 0
    """PPO rollout length; 0 keeps the default."""
    hidden_sizes: tuple[int, ...] = ()
    """MLP widths; empty keeps each learner's default."""
    update_epochs: int = 0
    """PPO epochs; 0 keeps the default."""
    num_minibatches: int = 0
    """PPO minibatches per epoch; 0 keeps the default."""
    pqn: bool = False
    """The value-based learners: time PQN's update (``--pqn --layer-norm``) instead of the replay one; the
    three rollout flags above then set its rollout, epochs and minibatches."""
    updates: int = 0
    """Updates per timed call; 0: enough for 786k env steps (3 IPPO updates), at most 1000."""
    repeats: int = 3
    """Timed calls; the median is reported."""
    base_stock_episodes: int = 0
    """Episodes for the learners' base-stock reference (0: their default). It only sets the reward scale, so
    throughput does not depend on it; it is optimised once per scenario, then cached."""
    peak_size: int = 2048
    """Side of the square float32 matmul timed as the CPU's peak."""
    out: str = ""
    """JSON path; empty: benchmarks/results/train_throughput-<algorithm>-<scenario>-<backend>-<time>.json."""

    def validate(self) -> None:
        """Raise ``ConfigError`` naming the flag and what it allows."""
        known = [*registry.ALGORITHMS, ALL]
        if self.algorithm not in known:
            raise ConfigError(f"--algorithm must be one of {known}, got {self.algorithm!r}")
        for name in ("repeats", "peak_size"):
            check_int_flag(name, getattr(self, name), 1)
        for name in ("num_envs", "updates", "base_stock_episodes", *PPO_FLAGS):
            check_int_flag(name, getattr(self, name), 0)

    @property
    def algorithms(self) -> list[str]:
        """The learners this run measures, in registry order."""
        return list(registry.ALGORITHMS) if self.algorithm == ALL else [self.algorithm]


def learner_config(args: Args, name: str) -> Any:
    """``name``'s config at its defaults with this run's overrides, validated (``ConfigError`` on a bad one)."""
    algorithm = registry.get(name)
    defaults = algorithm.config()
    overrides: dict[str, Any] = {"scenario": args.scenario, "plots": False, "progress": False}
    if args.num_envs:
        overrides["num_envs"] = args.num_envs
    if args.hidden_sizes:
        overrides["hidden_sizes"] = tuple(args.hidden_sizes)
    if args.base_stock_episodes:
        overrides["base_stock_episodes"] = args.base_stock_episodes
    if args.pqn:
        if not hasattr(defaults, "pqn"):
            raise ConfigError(f"--pqn applies to the value-based learners, not to {name}")
        overrides.update(pqn=True, layer_norm=True)
    for flag in PPO_FLAGS:
        if getattr(args, flag):
            if not hasattr(defaults, flag) or (hasattr(defaults, "pqn") and not args.pqn):
                raise ConfigError(f"--{flag.replace('_', '-')} applies to the PPO learners and PQN, not to {name}")
            overrides[flag] = getattr(args, flag)
    config = algorithm.config(**overrides)
    steps_per_update = getattr(config, "env_steps_per_update", config.num_envs * getattr(config, "num_steps", 1))
    config.total_timesteps = max(config.total_timesteps, steps_per_update)
    config.validate()
    return config


def updates_to_time(args: Args, env_steps_per_update: int) -> int:
    """``--updates``, or for 0 the count that reaches ``TIMED_ENV_STEPS`` (at most ``MAX_AUTO_UPDATES``)."""
    if args.updates:
        return args.updates
    return max(1, min(MAX_AUTO_UPDATES, math.ceil(TIMED_ENV_STEPS / env_steps_per_update)))


def env_only_program(learner, num_envs: int, periods: int):
    """``periods`` vectorised team steps of every game with random actions and no network."""
    game = learner.game
    num_actions = game.env.config.num_actions

    def env_only(carry):
        def period(carry, _):
            env_state, key = carry
            key, action_key, step_key = jax.random.split(key, 3)
            action = jax.random.randint(action_key, (num_envs, game.env.num_agents), 0, num_actions)
            step = vector_env.vector_step(game.env, game.team, step_key, env_state, action, game.params)
            return (step.state, key), jnp.sum(step.cost)

        carry, costs = jax.lax.scan(period, carry, None, length=periods)
        return carry, costs.sum()

    return env_only


def measure(name: str, config: Any, args: Args) -> dict:
    """One learner's row: env steps/s, FLOPs per update, GFLOP/s and the fractions of both references."""
    learner = registry.get(name).make_learner(config)
    key = jax.random.PRNGKey(0)

    def train_updates(state, count):
        return jax.lax.scan(lambda s, _: learner.update(s), state, None, length=count)[0]

    state = jax.jit(learner.init)(key)
    warmup = 0
    learning_starts = getattr(config, "learning_starts", 0)
    if learning_starts:  # time gradient steps, not only the filling of the replay buffer
        warmup = math.ceil(learning_starts / learner.env_steps_per_update) + 1
        state = jax.jit(train_updates, static_argnums=1)(state, warmup)
    state = jax.block_until_ready(state)
    count = updates_to_time(args, learner.env_steps_per_update)
    start = time.perf_counter()
    train = jax.jit(train_updates, static_argnums=1).lower(state, count).compile()
    compile_seconds = time.perf_counter() - start

    env_steps = count * learner.env_steps_per_update
    env_carry = (state.env_state, key)
    env_compiled = jax.jit(env_only_program(learner, config.num_envs, env_steps // config.num_envs))
    env_compiled = env_compiled.lower(env_carry).compile()

    flop_count = flops.count_flops(learner.update, state)
    peak = flops.matmul_rate(args.peak_size)
    own_dots = flops.dot_rates(flop_count.dot_runs)
    train_seconds = float(np.median(harness.time_calls(lambda: train(state), args.repeats)))
    env_seconds = float(np.median(harness.time_calls(lambda: env_compiled(env_carry), args.repeats)))

    updates_per_s = count / train_seconds
    flop_per_s = flop_count.xla * updates_per_s
    settings = {
        field: getattr(config, field)
        for field in ("num_envs", *PPO_FLAGS, "hidden_sizes", "share_params", "batch_size", "gradient_steps")
        if hasattr(config, field)
    }
    return {
        "algorithm": name,
        "scenario": args.scenario,
        "settings": {k: list(v) if isinstance(v, tuple) else v for k, v in settings.items()},
        "env_steps_per_update": learner.env_steps_per_update,
        "warmup_updates": warmup,
        "updates_timed": count,
        "env_steps_timed": env_steps,
        "compile_seconds": compile_seconds,
        "train_seconds": train_seconds,
        "env_steps_per_s": env_steps / train_seconds,
        "updates_per_s": updates_per_s,
        "env_only_seconds": env_seconds,
        "share_env_step": env_seconds / train_seconds,
        "flops_per_update": flop_count.xla,
        "flops_per_env_step": flop_count.xla / learner.env_steps_per_update,
        "dot_flops_per_update": flop_count.dots,
        "xla_flops_timed_program_loops_once": flops.xla_flops(train),
        "loops_counted_once": flop_count.loops_counted_once,
        "flop_per_s": flop_per_s,
        "dot_flop_per_s": flop_count.dots * updates_per_s,
        "peak": peak,
        "fraction_of_peak": flop_per_s / peak["flop_per_s"],
        "own_dots": own_dots,
        "dot_fraction_of_own_dots": flop_count.dots * updates_per_s / own_dots["flop_per_s"],
        "own_dots_alone_share_of_update": own_dots["seconds_per_update_if_alone"] / (train_seconds / count),
    }


def print_table(rows: list[dict]) -> None:
    """One line per learner; the own-dots columns compare dot FLOP/s with the same dots timed alone."""
    print(
        f"{'learner':<7} {'envs':>5} {'env steps/s':>12} {'GFLOP/upd':>10} {'GFLOP/s':>8} {'peak GF/s':>9} "
        f"{'% peak':>7} {'dot GF/s':>8} {'own dots GF/s':>13} {'% own':>6} {'env %':>6}"
    )
    for row in rows:
        print(
            f"{row['algorithm']:<7} {row['settings']['num_envs']:>5} {row['env_steps_per_s']:>12,.0f} "
            f"{row['flops_per_update'] / 1e9:>10.3f} {row['flop_per_s'] / 1e9:>8.2f} "
            f"{row['peak']['flop_per_s'] / 1e9:>9.1f} {100 * row['fraction_of_peak']:>6.1f}% "
            f"{row['dot_flop_per_s'] / 1e9:>8.2f} {row['own_dots']['flop_per_s'] / 1e9:>13.2f} "
            f"{100 * row['dot_fraction_of_own_dots']:>5.0f}% {100 * row['share_env_step']:>5.1f}%"
        )


def main(argv: list[str] | None = None) -> dict:
    """Measure the chosen learners and write one JSON; exit 2 with one line on a bad flag, before any compile."""
    args = parse_checked_flags(Args, argv, __doc__.splitlines()[0])
    try:
        configs = {name: learner_config(args, name) for name in args.algorithms}
    except ConfigError as error:
        exit_with_usage_error(str(error))
    out = Path(args.out) if args.out else harness.default_output(f"train_throughput-{args.algorithm}-{args.scenario}")
    payload = {"benchmark": "train_throughput", "config": dataclasses.asdict(args), "rows": []}
    for name, config in configs.items():
        payload["rows"].append(measure(name, config, args))
        print(f"  {name}: {payload['rows'][-1]['env_steps_per_s']:,.0f} env steps/s", file=sys.stderr, flush=True)
        payload["machine"] = harness.machine_info()  # the load average of the latest learner's run
        harness.write_json(out, payload)  # after each learner, so an interrupted run keeps what it measured
    print_table(payload["rows"])
    harness.write_result(out, payload)
    return payload


if __name__ == "__main__":
    main()
