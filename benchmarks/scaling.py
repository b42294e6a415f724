"""Training env steps/s of one learner on 1, 2 and 4 devices, and the scaling efficiency.

    python -m benchmarks.scaling                                  # IPPO at its defaults, 1, 2 and 4 devices
    python -m benchmarks.scaling --algorithm qmix --devices 1 8 --num-envs 1024

Each count trains the learner's chunk exactly as the host loop compiles it (``sharding.state_shardings``,
the learners' constraints, XLA's collectives), the games split over the devices. Speed-up is steps/s on
N devices over steps/s on one; efficiency is the speed-up over N.

Where this machine has fewer devices than a count asks for (a CPU), that count runs in a subprocess with
``XLA_FLAGS=--xla_force_host_platform_device_count=N``, which cuts the same cores into N host devices. Such a
figure measures what the sharding costs (the collectives, the smaller programs), never a speed-up: the
cores do not multiply. On a GPU host the counts use real devices.

Results go to ``benchmarks/results/scaling-<algorithm>-<backend>-<time>.json``, with the machine.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Sequence

import jax

from algorithms import registry
from algorithms.common import loop, sharding
from algorithms.common.config import ConfigError, check_int_flag, parse_checked_flags
from benchmarks import harness
from benchmarks.train_throughput import Args as ThroughputArgs
from benchmarks.train_throughput import learner_config, updates_to_time

CHILD_FLAG = "--only-devices"


@dataclasses.dataclass
class Args:
    """Flags of ``python -m benchmarks.scaling``."""

    algorithm: str = "ippo"
    """A registered learner: ippo, mappo, iql, vdn or qmix."""
    scenario: str = "basic"
    """jaxbeer scenario trained on."""
    devices: tuple[int, ...] = (1, 2, 4)
    """Device counts to time; the first is the reference of the speed-up."""
    num_envs: int = 0
    """Parallel games (split over the devices); 0 keeps the learner's default. Every count must divide it."""
    num_steps: int = 0
    """PPO rollout length; 0 keeps the default."""
    hidden_sizes: tuple[int, ...] = ()
    """MLP widths; empty keeps the learner's default."""
    base_stock_episodes: int = 0
    """Episodes for the base-stock reference, which only sets the reward scale (0: the learner's default)."""
    updates: int = 0
    """Updates per timed call; 0: enough for about 786k env steps."""
    repeats: int = 3
    """Timed calls per count; the median is reported."""
    only_devices: int = 0
    """Internal: time this one count in this process and print its row as JSON (the parent's subprocesses)."""
    out: str = ""
    """JSON path; empty: benchmarks/results/scaling-<algorithm>-<backend>-<time>.json."""

    def validate(self) -> None:
        """Raise ``ConfigError`` naming the flag and what it allows."""
        if self.algorithm not in registry.ALGORITHMS:
            raise ConfigError(f"--algorithm must be one of {list(registry.ALGORITHMS)}, got {self.algorithm!r}")
        if not self.devices:
            raise ConfigError("--devices needs one or more device counts")
        for count in self.devices:
            check_int_flag("devices", count, 1)
        check_int_flag("repeats", self.repeats, 1)
        for name in ("num_envs", "num_steps", "base_stock_episodes", "updates", "only_devices"):
            check_int_flag(name, getattr(self, name), 0)


def measure(args: Args, num_devices: int) -> dict:
    """Steps/s of the learner's chunk on ``num_devices`` devices of this process, the games split over them."""
    overrides = {name: getattr(args, name) for name in ("num_envs", "num_steps", "hidden_sizes", "base_stock_episodes")}
    config = learner_config(
        ThroughputArgs(algorithm=args.algorithm, scenario=args.scenario, **overrides), args.algorithm
    )
    sharding.resolve(num_devices, 1, 1, config.num_envs)
    learner = registry.get(args.algorithm).make_learner(config)
    members = loop.seed_members(learner, 1)
    mesh = sharding.make_mesh(num_devices, 1)
    shape = jax.eval_shape(jax.vmap(learner.init), members.keys(0), members.arrays())
    shardings = sharding.state_shardings(mesh, shape, learner.games_axes)
    state = jax.jit(jax.vmap(learner.init), out_shardings=shardings)(members.keys(0), members.arrays())
    count = updates_to_time(ThroughputArgs(updates=args.updates), learner.env_steps_per_update)
    with jax.set_mesh(mesh):
        chunk = jax.jit(
            loop.chunk_function(learner, count, sharding.MEMBERS),
            in_shardings=(shardings,),
            out_shardings=(shardings, None),
        )
        compiled = chunk.lower(state).compile()
    hlo = compiled.as_text()
    seconds = harness.time_calls(lambda: compiled(state), args.repeats)
    env_steps = count * learner.env_steps_per_update
    return {
        "num_devices": num_devices,
        "device_kind": jax.devices()[0].device_kind,
        "forced_host_devices": "xla_force_host_platform_device_count" in os.environ.get("XLA_FLAGS", ""),
        "num_envs": config.num_envs,
        "updates_timed": count,
        "env_steps_timed": env_steps,
        "env_steps_per_s": harness.rate_summary(env_steps, seconds),
        "all_reduces_in_program": hlo.count(" all-reduce("),
    }


def in_subprocess(args: Args, num_devices: int) -> dict:
    """``measure`` in a fresh process whose CPU is cut into ``num_devices`` host devices."""
    env = dict(os.environ)
    env["XLA_FLAGS"] = f"{env.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count={num_devices}".strip()
    argv = [sys.executable, "-m", "benchmarks.scaling", "--algorithm", args.algorithm, "--scenario", args.scenario,
            "--num-envs", str(args.num_envs), "--num-steps", str(args.num_steps),
            "--base-stock-episodes", str(args.base_stock_episodes), "--updates", str(args.updates),
            "--repeats", str(args.repeats), CHILD_FLAG, str(num_devices)]  # fmt: skip
    if args.hidden_sizes:
        argv += ["--hidden-sizes", *map(str, args.hidden_sizes)]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"the {num_devices}-device run failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def with_scaling(rows: list[dict]) -> list[dict]:
    """Each row's speed-up over the first row's steps/s, and that speed-up per device relative to it."""
    reference = rows[0]["env_steps_per_s"]["median"]
    for row in rows:
        speedup = row["env_steps_per_s"]["median"] / reference
        row["speedup"] = speedup
        row["efficiency"] = speedup * rows[0]["num_devices"] / row["num_devices"]
    return rows


def main(argv: Sequence[str] | None = None) -> dict:
    args = parse_checked_flags(Args, argv, __doc__.splitlines()[0])
    if args.only_devices:
        print(json.dumps(measure(args, args.only_devices)))
        return {}
    available = len(jax.devices())

    def here(count):  # real devices serve any count they cover; a CPU is cut anew for each count
        return count == available or (count < available and jax.default_backend() != "cpu")

    rows = with_scaling([measure(args, n) if here(n) else in_subprocess(args, n) for n in args.devices])
    forced = any(r["forced_host_devices"] for r in rows)
    payload = {
        "benchmark": "scaling",
        "algorithm": args.algorithm,
        "scenario": args.scenario,
        "machine": harness.machine_info(),
        "note": "forced CPU host devices share the same cores: the figures show the sharding's overhead, not a speed-up"
        if forced
        else "real devices",
        "rows": rows,
    }
    print(f"{args.algorithm} on {args.scenario}; {payload['note']}")
    print(
        f"{'devices':>7}  {'env steps/s':>12}  {'spread':>7}  {'speed-up':>8}  {'efficiency':>10}  {'all-reduces':>11}"
    )
    for r in rows:
        rate = r["env_steps_per_s"]
        print(
            f"{r['num_devices']:>7}  {rate['median']:>12.4g}  {rate['spread_pct']:>6.1f}%  {r['speedup']:>8.2f}  "
            f"{r['efficiency']:>10.2f}  {r['all_reduces_in_program']:>11}"
        )
    harness.write_result(Path(args.out) if args.out else harness.default_output(f"scaling-{args.algorithm}"), payload)
    return payload


if __name__ == "__main__":
    main()
