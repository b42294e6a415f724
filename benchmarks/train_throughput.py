"""Training throughput of IPPO/MAPPO in env steps per second, compile excluded, with a time split.

    python -m benchmarks.train_throughput                      # IPPO, basic, 4096 envs
    python -m benchmarks.train_throughput --algorithm mappo --hidden-sizes 32 32 --updates 5

For each configuration it times, after compiling ahead of time:

* ``train``: ``--updates`` full updates (rollout + GAE + PPO epochs) in one
  compiled ``lax.scan``, the program the host loop runs;
* ``env``: the same number of vectorised team steps with random actions and
  no network, i.e. the env's share of a rollout.

``learner`` time is the difference. Results (median of ``--repeats``) go to
``benchmarks/results/train_throughput-<algorithm>-<scenario>-<time>.json``
with the machine's CPU count and load average, because the numbers depend on
what else the machine is doing.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from algorithms import registry
from algorithms.common import vector_env
from algorithms.common.config import ConfigError, check_int_flag, exit_with_usage_error, parse_flags
from benchmarks import harness


@dataclasses.dataclass
class Args:
    """Flags of ``python -m benchmarks.train_throughput``."""

    algorithm: str = "ippo"
    """ippo or mappo."""
    scenario: str = "basic"
    """jaxbeer scenario trained on."""
    num_envs: int = 4096
    """Parallel games per seed; 4096 is IPPO's and MAPPO's own default."""
    num_steps: int = 0
    """Rollout length; 0 keeps the algorithm's default."""
    hidden_sizes: tuple[int, ...] = ()
    """MLP widths; empty keeps the algorithm's default."""
    update_epochs: int = 0
    """0 keeps the algorithm's default."""
    num_minibatches: int = 0
    """0 keeps the algorithm's default."""
    updates: int = 3
    """Updates per timed call (one IPPO update at the defaults is 4096 x 64 env steps)."""
    repeats: int = 3
    """Timed calls; the median is reported."""
    out: str = ""
    """JSON path; empty: benchmarks/results/train_throughput-<algorithm>-<scenario>-<time>.json."""

    def validate(self) -> None:
        """Raise ``ConfigError`` naming the flag and what it allows."""
        if self.algorithm not in ("ippo", "mappo"):
            raise ConfigError(f"--algorithm must be one of ['ippo', 'mappo'], got {self.algorithm!r}")
        for name in ("num_envs", "updates", "repeats"):
            check_int_flag(name, getattr(self, name), 1)
        for name in ("num_steps", "update_epochs", "num_minibatches"):
            check_int_flag(name, getattr(self, name), 0)


def main(argv: list[str] | None = None) -> dict:
    """Time one configuration and write its JSON; exit 2 with one line on a bad flag."""
    args = parse_flags(Args, list(sys.argv[1:] if argv is None else argv), __doc__.splitlines()[0])
    overrides = {"scenario": args.scenario, "num_envs": args.num_envs}
    for name in ("num_steps", "update_epochs", "num_minibatches"):
        if getattr(args, name):
            overrides[name] = getattr(args, name)
    if args.hidden_sizes:
        overrides["hidden_sizes"] = tuple(args.hidden_sizes)
    try:
        args.validate()
        module = registry.get(args.algorithm)
        config = module.config(**overrides)
        config.total_timesteps = config.num_envs * config.num_steps * args.updates
        config.validate()
    except ConfigError as error:
        exit_with_usage_error(str(error))

    learner = module.make_learner(config)
    game = learner.game
    key = jax.random.PRNGKey(0)

    def train_updates(state):
        return jax.lax.scan(lambda s, _: learner.update(s), state, None, length=args.updates)

    state = jax.jit(learner.init)(key)
    start = time.perf_counter()
    train = jax.jit(train_updates).lower(state).compile()
    compile_seconds = time.perf_counter() - start

    num_actions = game.env.config.num_actions

    def env_only(carry):
        def period(carry, _):
            env_state, key = carry
            key, action_key, step_key = jax.random.split(key, 3)
            action = jax.random.randint(action_key, (config.num_envs, game.env.num_agents), 0, num_actions)
            step = vector_env.vector_step(game.env, game.team, step_key, env_state, action, game.params)
            return (step.state, key), jnp.sum(step.cost)

        carry, costs = jax.lax.scan(period, carry, None, length=args.updates * config.num_steps)
        return carry, costs.sum()

    env_carry = (state.env_state, key)
    env_compiled = jax.jit(env_only).lower(env_carry).compile()

    train_seconds = float(np.median(harness.time_calls(lambda: train(state), args.repeats)))
    env_seconds = float(np.median(harness.time_calls(lambda: env_compiled(env_carry), args.repeats)))
    env_steps = args.updates * learner.env_steps_per_update
    result = {
        "benchmark": "train_throughput",
        "algorithm": args.algorithm,
        "scenario": args.scenario,
        "num_envs": config.num_envs,
        "num_steps": config.num_steps,
        "update_epochs": config.update_epochs,
        "num_minibatches": config.num_minibatches,
        "hidden_sizes": list(config.hidden_sizes),
        "share_params": config.share_params,
        "updates_timed": args.updates,
        "env_steps_timed": env_steps,
        "compile_seconds": compile_seconds,
        "train_seconds": train_seconds,
        "env_steps_per_s": env_steps / train_seconds,
        "env_only_seconds": env_seconds,
        "env_only_steps_per_s": env_steps / env_seconds,
        "share_env_step": env_seconds / train_seconds,
        "share_learner": 1.0 - env_seconds / train_seconds,
        "machine": harness.machine_info(),
    }
    out = Path(args.out) if args.out else harness.default_output(f"train_throughput-{args.algorithm}-{args.scenario}")
    harness.write_json(out, result)
    print(
        f"{args.algorithm} {args.scenario} envs={config.num_envs} steps={config.num_steps} "
        f"hidden={list(config.hidden_sizes)} epochs={config.update_epochs} mb={config.num_minibatches}: "
        f"{result['env_steps_per_s']:,.0f} env steps/s (compile {compile_seconds:.1f}s excluded); "
        f"env step {100 * result['share_env_step']:.1f}% / learner {100 * result['share_learner']:.1f}% "
        f"(load avg {result['machine']['load_average'][0]:.1f} on {result['machine']['cpu_cores']} CPUs) -> {out}"
    )
    return result


if __name__ == "__main__":
    main()
