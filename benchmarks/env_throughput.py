"""Env steps per second of ``jit(vmap(env.step))`` inside ``lax.scan``, compile time excluded.

    python -m benchmarks.env_throughput                      # 1, 64, 1024, 4096, 16384 games
    python -m benchmarks.env_throughput --num-games 4096 --repeats 9 --scenario seed-default

One "env step" is one period of one game. Each timed call runs ``--steps``
periods of every game from the same start, so every repeat does the same work;
the first call compiles and is not timed. The figure is the median over
``--repeats`` calls, with the min and max beside it.

Policies in the loop:

* ``random``: uniform random actions, drawn cheaply. Per period one threefry
  block per game gives its key for ``env.step`` and one more gives a 32-bit
  word, cut into 8-bit fields, one per agent, mapped onto the action range by
  multiply-shift (a randint per agent per period would cost more than the env
  itself).
* ``base-stock``: absolute orders from ``jaxbeer.policies.base_stock`` through
  ``env.step_orders``, which is what ``jaxbeer.optimize_base_stock`` runs.

The scan carries the observation and the reward, so neither can be removed as
dead code: a learner reads both every period. ``--harness-rng jax`` draws the
per-game keys and action words with ``jax.random.bits`` instead of the fused
threefry counter stream (``step_words``), to show what the harness costs.

``--profile`` also traces one more call of each configuration with
``jax.profiler`` and reports where its time went: the share of each compiled
XLA op (a fusion, a copy) and the jax operation it came from.

Results go to a JSON file in ``benchmarks/results/`` (with the machine: CPU
model, cores, jax version, device) and a table on stdout. On a shared machine
the absolute numbers move with the load; compare figures taken in one run.
"""

from __future__ import annotations

import dataclasses
import math
import re
import sys
from pathlib import Path
from typing import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

import jaxbeer
from algorithms.common.config import ConfigError, check_int_flag, parse_checked_flags
from benchmarks import harness
from jaxbeer.demand import threefry2x32, threefry_key_words

DEFAULT_NUM_GAMES = (1, 64, 1024, 4096, 16384)
POLICIES = ("random", "base-stock")
HARNESS_RNGS = ("fused", "jax")
JAXBEER_DIR = Path(jaxbeer.__file__).resolve().parent


# ------------------------------------------------------- per-game randomness
def step_words(
    root_key: jax.Array, period: jax.Array, num_games: int, action_rows: int, harness_rng: str = "fused"
) -> tuple[jax.Array, jax.Array]:
    """One period's randomness for the harness: per-game env keys, uint32[2, num_games]
    (key-major: row 0 and row 1 are the two key words), and action words,
    uint32[action_rows, num_games].

    ``fused``: Threefry-2x32 of ``root_key`` in counter mode with counter
    ``(period, i)``, written out in plain ops so XLA fuses it into one
    vectorised loop. Game ``g``'s key is the cipher output for ``i = g`` (both
    halves, as ``jax.random.split`` makes keys); action words are the xor of the
    halves for ``i = num_games * (1 + row) + g`` (as ``jax.random.bits`` does).
    ``jax``: ``jax.random.split``/``bits`` of ``fold_in(root_key, period)``
    (JAX's own lowering: a rolled loop on CPU).
    """
    if harness_rng == "jax":
        key_for_period = jax.random.fold_in(root_key, period)
        keys_key, words_key = jax.random.split(key_for_period)
        game_keys = jax.random.split(keys_key, num_games).T
        return game_keys, jax.random.bits(words_key, (action_rows, num_games), jnp.uint32)
    key_words = threefry_key_words(root_key)
    if key_words is None:
        raise ValueError("harness_rng='fused' needs a threefry key")
    # Keys and words are hashed separately, each over whole rows, so XLA emits
    # straight vectorised loops (slicing one joint hash would not vectorise).
    game = jnp.arange(num_games, dtype=jnp.uint32)
    high, low = threefry2x32(key_words[0], key_words[1], jnp.broadcast_to(period.astype(jnp.uint32), game.shape), game)
    counts = game[None, :] + jnp.uint32(num_games) * jnp.arange(1, 1 + action_rows, dtype=jnp.uint32)[:, None]
    word_high, word_low = threefry2x32(
        key_words[0], key_words[1], jnp.broadcast_to(period.astype(jnp.uint32), counts.shape), counts
    )
    return jnp.stack([high, low]), word_high ^ word_low


def actions_from_words(words: jax.Array, num_agents: int, num_actions: int, action_low: int) -> jax.Array:
    """int32[N, A] actions from uint32 words[N, ceil(A/4)]: one 8-bit field per agent.

    ``(field * num_actions) >> 8`` maps 0..255 onto the action range; the
    small non-uniformity when ``num_actions`` does not divide 256 does not
    matter for throughput.
    """
    agent = np.arange(num_agents)
    fields = (words[:, agent // 4] >> jnp.asarray(8 * (agent % 4), jnp.uint32)) & jnp.uint32(0xFF)
    scaled = (fields * jnp.uint32(num_actions)) >> jnp.uint32(8)
    return scaled.astype(jnp.int32) + action_low


def default_levels(env: jaxbeer.BeerGame, params: jaxbeer.EnvParams, scenario: str) -> np.ndarray:
    """Literature base-stock levels, or mean demand times the longest replenishment time."""
    levels = jaxbeer.literature_levels(scenario)
    if levels is not None and levels.shape == (env.num_agents,):
        return levels
    lead = np.asarray(params.shipment_lead_max) + np.append(np.asarray(params.order_lead_max), 0)
    return np.round(float(params.demand_mean) * (lead + 1)).astype(np.int32)


def make_rollout(
    env: jaxbeer.BeerGame,
    params: jaxbeer.EnvParams,
    num_games: int,
    steps: int,
    policy: str,
    levels: np.ndarray | None = None,
    harness_rng: str = "fused",
) -> jax.stages.Wrapped:
    """A jitted ``run(key, state, obs) -> (state, obs, reward)`` over ``steps`` periods of ``num_games`` games."""
    cfg = env.config
    # Keys are key-major, [2, num_games], so each key word is one contiguous
    # row; vmap reads them along axis 1. One action word per game per 4 agents.
    action_rows = math.ceil(cfg.num_agents / 4) if policy == "random" else 0
    step_random = jax.vmap(env.step, in_axes=(1, 0, 0, None))
    step_orders = jax.vmap(env.step_orders, in_axes=(1, 0, 0, None))
    order_up_to = jaxbeer.policies.base_stock(levels if levels is not None else np.zeros(cfg.num_agents, np.int32))
    base_stock_orders = jax.vmap(order_up_to, in_axes=(None, 0, None))

    def period(carry, _):
        # The words for this period were drawn at the end of the last one and
        # carried, so they sit in a buffer: XLA would otherwise copy the hash
        # into every fused consumer of the actions.
        root_key, counter, game_keys, words, state, _, _ = carry
        if policy == "random":
            actions = actions_from_words(words.T, cfg.num_agents, cfg.num_actions, cfg.action_low)
            obs, state, reward, _, _, _ = step_random(game_keys, state, actions, params)
        else:
            orders = base_stock_orders(None, state, params)
            obs, state, reward, _, _, _ = step_orders(game_keys, state, orders, params)
        counter = counter + 1
        game_keys, words = step_words(root_key, counter, num_games, action_rows, harness_rng)
        return (root_key, counter, game_keys, words, state, obs, reward), None

    @jax.jit
    def run(key, state, obs):
        reward = jnp.zeros((num_games, cfg.num_agents), jnp.float32)
        counter = jnp.uint32(0)
        carry = (key, counter, *step_words(key, counter, num_games, action_rows, harness_rng), state, obs, reward)
        (*_, state, obs, reward), _ = jax.lax.scan(period, carry, None, length=steps)
        return state, obs, reward

    return run


def _stack_frame_locations(compiled_hlo: str) -> dict[int, str]:
    """``stack_frame_id`` -> ``"file:line (function)"`` of the frame nearest the op that is in a
    ``jaxbeer`` file (else the op's own frame), from the tables XLA prints before the module."""
    located = {}
    for frame, stack in harness.stack_frames(compiled_hlo).items():
        in_jaxbeer = [place for place in stack if Path(place[0]).is_relative_to(JAXBEER_DIR)]
        path, function, line = (in_jaxbeer or stack)[0]
        located[frame] = f"{Path(path).parent.name}/{Path(path).name}:{line} ({function})"
    return located


def profile_ops(compiled_hlo: str, call: Callable[[], object]) -> dict:
    """Where one traced ``call``'s time went: each compiled XLA op's share of the summed op time,
    largest first, with the jax operation and source line it came from.

    XLA:CPU records one trace event per op it runs, named as in ``compiled_hlo``. Events with
    other names (the executor, the host) and control-flow ops, whose spans contain their
    bodies' ops, are left out of the sum.
    """
    locations = _stack_frame_locations(compiled_hlo)
    sources = {}
    for line in compiled_hlo.splitlines():
        match = re.match(r"\s*(?:ROOT )?%([\w.\-]+) = .*? ([a-z][\w-]*)\(", line)
        if match and match.group(2) not in harness.CONTROL_FLOW_OPS:
            op_name = re.search(r'op_name="[^"]*/([^"/]+)"', line)
            frame = re.search(r"stack_frame_id=(\d+)", line)
            where = locations.get(int(frame.group(1)), "") if frame else ""
            sources[match.group(1)] = " ".join(filter(None, [op_name.group(1) if op_name else "", where]))
    microseconds, wall_seconds = harness.trace_op_microseconds(call, set(sources))
    total = sum(microseconds.values())
    if not total:
        raise RuntimeError(
            f"--profile found no per-op events in the trace (backend {jax.default_backend()}); it reads XLA:CPU's"
        )
    return {
        "wall_seconds": wall_seconds,
        "traced_op_seconds": total / 1e6,
        "num_ops": len(microseconds),
        "ops": [
            {"op": name, "share": spent / total, "source": sources[name]} for name, spent in microseconds.most_common()
        ],
    }


def measure(
    env: jaxbeer.BeerGame,
    params: jaxbeer.EnvParams,
    num_games: int,
    steps: int,
    repeats: int,
    policy: str,
    key: jax.Array,
    levels: np.ndarray | None = None,
    harness_rng: str = "fused",
    profile: bool = False,
) -> dict:
    """One table row: env steps/s of ``num_games`` games under ``policy`` and, with ``profile``, where the time
    went."""
    reset_key, run_key = jax.random.split(key)
    obs, state = jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(reset_key, num_games), params)
    run = make_rollout(env, params, num_games, steps, policy, levels, harness_rng)
    seconds = harness.time_calls(lambda: run(run_key, state, obs), repeats)
    row = {
        "num_games": num_games,
        "policy": policy,
        "steps": steps,
        "env_steps_per_s": harness.rate_summary(num_games * steps, seconds),
    }
    if profile:
        # Trace the very executable whose HLO names the ops, not a second compile behind run's cache.
        compiled = run.lower(run_key, state, obs).compile()
        row["profile"] = profile_ops(compiled.as_text(), lambda: compiled(run_key, state, obs))
    return row


# --------------------------------------------------------------------- main
@dataclasses.dataclass
class Args:
    """Flags of ``python -m benchmarks.env_throughput``."""

    num_games: tuple[int, ...] = DEFAULT_NUM_GAMES
    """Batch sizes (games stepped at once by one vmapped step)."""
    scenario: str = "seed-default"
    """jaxbeer scenario (seed-default: Poisson(8) demand)."""
    steps: int = 1000
    """Periods per timed call."""
    repeats: int = 5
    """Timed calls per figure; the median and the spread are reported."""
    policies: tuple[str, ...] = POLICIES
    """random and/or base-stock."""
    harness_rng: str = "fused"
    """fused (threefry counter stream in plain ops) or jax (jax.random.split/bits)."""
    seed: int = 0
    """Root of the keys of the starting states, of every game's demand and leads, and of the random actions."""
    profile: bool = False
    """Also trace one call per configuration and report the time per compiled XLA op."""
    out: str = ""
    """JSON path; empty: benchmarks/results/env_throughput-<backend>-<time>.json."""

    def validate(self) -> None:
        """Raise ``ConfigError`` naming the flag and what it allows."""
        if not self.num_games:
            raise ConfigError("--num-games needs at least one value")
        for value in self.num_games:
            check_int_flag("num_games", value, 1)
        check_int_flag("steps", self.steps, 1)
        check_int_flag("repeats", self.repeats, 1)
        if self.scenario not in jaxbeer.scenario_names():
            raise ConfigError(f"--scenario must be one of {list(jaxbeer.scenario_names())}, got {self.scenario!r}")
        unknown = [p for p in self.policies if p not in POLICIES]
        if unknown or not self.policies:
            raise ConfigError(f"--policies must be among {list(POLICIES)}, got {list(self.policies)}")
        if self.harness_rng not in HARNESS_RNGS:
            raise ConfigError(f"--harness-rng must be one of {list(HARNESS_RNGS)}, got {self.harness_rng!r}")


def parse_args(argv: Sequence[str] | None) -> Args:
    """tyro flags; a bad flag or value prints one line and exits with status 2."""
    return parse_checked_flags(Args, argv, __doc__.splitlines()[0])


def print_table(rows: list[dict]) -> None:
    """One line per (policy, game count); the spread shows how far to trust the median on a shared machine."""
    print(f"{'policy':<11} {'games':>7} {'median steps/s':>16} {'min':>12} {'max':>12} {'spread':>7}")
    for row in rows:
        rate = row["env_steps_per_s"]
        print(
            f"{row['policy']:<11} {row['num_games']:>7} {rate['median']:>16,.0f} {rate['min']:>12,.0f} "
            f"{rate['max']:>12,.0f} {rate['spread_pct']:>6.0f}%"
        )


def main(argv: Sequence[str] | None = None) -> dict:
    """Measure every policy at every game count, print the table and write the JSON, whose payload it returns."""
    args = parse_args(argv)
    env, params = jaxbeer.make(args.scenario)
    levels = default_levels(env, params, args.scenario)
    key = jax.random.PRNGKey(args.seed)
    rows = []
    for policy in args.policies:
        for num_games in args.num_games:
            key, sub = jax.random.split(key)
            rows.append(
                measure(
                    env,
                    params,
                    num_games,
                    args.steps,
                    args.repeats,
                    policy,
                    sub,
                    levels,
                    args.harness_rng,
                    args.profile,
                )
            )
            rate = rows[-1]["env_steps_per_s"]
            print(f"  {policy} {num_games} games: {rate['median']:,.0f} steps/s", file=sys.stderr, flush=True)
            for op in rows[-1].get("profile", {}).get("ops", [])[:8]:
                print(f"    {100 * op['share']:5.1f}%  {op['op']:<32} {op['source']}", file=sys.stderr)
    payload = {
        "benchmark": "env_throughput",
        "scenario": args.scenario,
        "config": {
            "steps": args.steps,
            "repeats": args.repeats,
            "harness_rng": args.harness_rng,
            "seed": args.seed,
            "profile": args.profile,
            "base_stock_levels": levels.tolist(),
            "env_config": {k: v for k, v in vars(env.config).items()},
        },
        "machine": harness.machine_info(),
        "results": rows,
    }
    out = Path(args.out) if args.out else harness.default_output("env_throughput")
    print_table(rows)
    harness.write_result(out, payload)
    return payload


if __name__ == "__main__":
    main()
