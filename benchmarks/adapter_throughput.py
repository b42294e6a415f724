"""Env steps per second through the adapters, beside the pure env at the same batch size.

    python -m benchmarks.adapter_throughput                 # 1024 games, basic
    python -m benchmarks.adapter_throughput --num-games 1024 --steps 200 --repeats 5

One "env step" is one period of one game. Rows:

* ``pure jax, N games``: ``benchmarks.env_throughput``'s compiled scan of
  ``vmap(env.step)`` with random actions (no Python per period);
* ``gymnasium vector env, N games``: ``BeerGameVectorEnv.step`` from Python,
  one call per period for all N games (the seat plays random actions,
  base-stock co-players, as ``jaxbeer/BeerGame-v0`` does by default);
* ``gymnasium single env``, ``pettingzoo parallel env``: one game, one Python
  call per period, random actions;
* ``jaxmarl env, N games``: ``jit(vmap(env.step))`` of the JaxMARL adapter in a
  ``lax.scan``, as JaxMARL's own training loops call it.

The Python-driven rows include the host round trip of every period (actions
in, observations, rewards and info out as NumPy arrays), which is what their
users pay. An adapter whose library is not installed is left out, with a line
that says so. The first call of every row compiles and is not timed.
"""

from __future__ import annotations

import dataclasses
import itertools
import sys
import time
from pathlib import Path
from typing import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

import jaxbeer
from algorithms.common.config import ConfigError, check_int_flag, parse_checked_flags
from benchmarks import harness
from benchmarks.env_throughput import make_rollout


@dataclasses.dataclass
class Args:
    """Flags of ``python -m benchmarks.adapter_throughput``."""

    num_games: int = 1024
    """Games of the vectorised rows (pure jax, Gymnasium vector env, JaxMARL)."""
    scenario: str = "basic"
    """jaxbeer scenario."""
    steps: int = 200
    """Periods per timed call (the single-game rows play ``steps`` periods too)."""
    repeats: int = 3
    """Timed calls per row; the median and the spread are reported."""
    seed: int = 0
    """Root of every key and of the random actions."""
    out: str = ""
    """JSON path; empty: benchmarks/results/adapter_throughput-<backend>-<time>.json."""

    def validate(self) -> None:
        """Raise ``ConfigError`` naming the flag and what it allows."""
        check_int_flag("num_games", self.num_games, 1)
        check_int_flag("steps", self.steps, 1)
        check_int_flag("repeats", self.repeats, 1)
        check_int_flag("seed", self.seed, 0)
        if self.scenario not in jaxbeer.scenario_names():
            raise ConfigError(f"--scenario must be one of {list(jaxbeer.scenario_names())}, got {self.scenario!r}")


def _python_loop(step: Callable[[], object], steps: int) -> Callable[[], object]:
    def run():
        for _ in range(steps):
            result = step()
        return result

    return run


def pure_row(args: Args) -> Callable[[], object]:
    """The compiled scan of ``benchmarks.env_throughput`` at ``num_games``."""
    env, params = jaxbeer.make(args.scenario)
    key = jax.random.PRNGKey(args.seed)
    obs, state = jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(key, args.num_games), params)
    run = make_rollout(env, params, args.num_games, args.steps, "random")
    return lambda: run(key, state, obs)


def gymnasium_vector_row(args: Args) -> Callable[[], object]:
    """``BeerGameVectorEnv.step`` once per period."""
    from jaxbeer.adapters.gymnasium_env import BeerGameVectorEnv

    vector = BeerGameVectorEnv(num_envs=args.num_games, scenario=args.scenario)
    vector.reset(seed=args.seed)
    vector.action_space.seed(args.seed)
    actions = itertools.cycle([vector.action_space.sample() for _ in range(8)])
    return _python_loop(lambda: vector.step(next(actions)), args.steps)


def gymnasium_single_row(args: Args) -> Callable[[], object]:
    """``BeerGameEnv.step`` once per period, resetting at the horizon."""
    from jaxbeer.adapters.gymnasium_env import BeerGameEnv

    env = BeerGameEnv(scenario=args.scenario)
    env.reset(seed=args.seed)
    env.action_space.seed(args.seed)

    def step():
        _, _, terminated, truncated, _ = env.step(env.action_space.sample())
        if terminated or truncated:
            env.reset()

    return _python_loop(step, args.steps)


def pettingzoo_row(args: Args) -> Callable[[], object]:
    """``BeerGameParallelEnv.step`` once per period, resetting when every agent is done."""
    from jaxbeer.adapters.pettingzoo_env import BeerGameParallelEnv

    env = BeerGameParallelEnv(scenario=args.scenario)
    env.reset(seed=args.seed)
    rng = np.random.default_rng(args.seed)
    num_actions = env.action_space(env.possible_agents[0]).n

    def step():
        if not env.agents:
            env.reset()
        env.step({agent: int(rng.integers(num_actions)) for agent in env.agents})

    return _python_loop(step, args.steps)


def jaxmarl_row(args: Args) -> Callable[[], object]:
    """``jit(vmap(env.step))`` of the JaxMARL adapter in a ``lax.scan``."""
    from jaxbeer.adapters.jaxmarl_env import BeerGameMAEnv

    env = BeerGameMAEnv(scenario=args.scenario)
    num_actions = env.action_space(env.agents[0]).n
    key = jax.random.PRNGKey(args.seed)
    _, state = jax.vmap(env.reset)(jax.random.split(key, args.num_games))

    @jax.jit
    def run(key, state):
        def period(carry, period_key):
            state, _ = carry
            step_key, action_key = jax.random.split(period_key)
            indices = jax.random.randint(action_key, (args.num_games, len(env.agents)), 0, num_actions)
            actions = {agent: indices[:, i] for i, agent in enumerate(env.agents)}
            keys = jax.random.split(step_key, args.num_games)
            _, state, rewards, _, _ = jax.vmap(env.step)(keys, state, actions)
            return (state, rewards[env.agents[0]]), None

        zero = jnp.zeros((args.num_games,), jnp.float32)
        (state, reward), _ = jax.lax.scan(period, (state, zero), jax.random.split(key, args.steps))
        return state, reward

    return lambda: run(key, state)


ROWS: dict[str, tuple[Callable[[Args], Callable[[], object]], bool, str]] = {
    # label: (make the timed call, vectorised over num_games, the module it needs)
    "pure jax": (pure_row, True, "jax"),
    "gymnasium vector env": (gymnasium_vector_row, True, "gymnasium"),
    "jaxmarl env": (jaxmarl_row, True, "jaxmarl"),
    "gymnasium single env": (gymnasium_single_row, False, "gymnasium"),
    "pettingzoo parallel env": (pettingzoo_row, False, "pettingzoo"),
}


def main(argv: Sequence[str] | None = None) -> dict:
    """Time every row whose library is installed, print the table and write the JSON; returns the payload."""
    args = parse_checked_flags(Args, argv, __doc__.splitlines()[0])
    rows, skipped = [], []
    for label, (make, vectorised, module) in ROWS.items():
        try:
            __import__(module)
        except ImportError:
            skipped.append(label)
            print(f"  {label}: left out, {module} is not installed", file=sys.stderr)
            continue
        num_games = args.num_games if vectorised else 1
        start = time.perf_counter()
        run = make(args)
        seconds = harness.time_calls(run, args.repeats)
        rows.append(
            {
                "row": label,
                "num_games": num_games,
                "steps": args.steps,
                "setup_and_compile_s": time.perf_counter() - start - sum(seconds),
                "env_steps_per_s": harness.rate_summary(num_games * args.steps, seconds),
            }
        )
        print(f"  {label}: {rows[-1]['env_steps_per_s']['median']:,.0f} steps/s", file=sys.stderr, flush=True)
    print(f"{'row':<26} {'games':>6} {'median steps/s':>16} {'min':>12} {'max':>12}")
    for row in rows:
        rate = row["env_steps_per_s"]
        print(
            f"{row['row']:<26} {row['num_games']:>6} {rate['median']:>16,.0f} {rate['min']:>12,.0f} "
            f"{rate['max']:>12,.0f}"
        )
    payload = {
        "benchmark": "adapter_throughput",
        "scenario": args.scenario,
        "config": dataclasses.asdict(args),
        "machine": harness.machine_info(),
        "results": rows,
        "left_out": skipped,
    }
    harness.write_result(Path(args.out) if args.out else harness.default_output("adapter_throughput"), payload)
    return payload


if __name__ == "__main__":
    main()
