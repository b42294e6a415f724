"""A PPO update of an earlier revision against today's, compiled side by side and timed in alternation.

    python -m benchmarks.ab_update --before 07d353c --pairs 7
    python -m benchmarks.ab_update --before 07d353c --algorithm mappo --num-envs 1024

Separate processes run in turn swing by 0.6-1.3x on these shared machines, so
both updates live in one process: the earlier ``algorithms/ippo.py`` and
``algorithms/common/networks.py`` are read from git (``git show REV:...``) and
imported under other names beside today's; the earlier ``ippo`` is given the
earlier networks, on today's rest of ``algorithms.common`` and ``jaxbeer``. That
measures changes made inside those two files; a change elsewhere is on both
sides. Each pair times one update of each, the order swapped every pair; the
figure is the median of the per-pair ratios ``before / after`` (above 1:
today's is faster).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Sequence

import jax
import numpy as np

from algorithms import ippo, mappo
from algorithms.common.config import ConfigError, check_int_flag, parse_checked_flags
from benchmarks import harness

ROOT = Path(__file__).resolve().parent.parent


@dataclasses.dataclass
class Args:
    """Flags of ``python -m benchmarks.ab_update``."""

    before: str = "HEAD"
    """The git revision whose algorithms/ippo.py is the 'before' side."""
    algorithm: str = "ippo"
    """ippo or mappo (MAPPO is IPPO's learner with the centralised critic)."""
    num_envs: int = 4096
    """Games of one update (IPPO's default)."""
    pairs: int = 7
    """Timed pairs of updates."""
    out: str = ""
    """JSON path; empty: benchmarks/results/ab_update-<algorithm>-<backend>-<time>.json."""

    def validate(self) -> None:
        """Raise ``ConfigError`` naming the flag and what it allows."""
        if self.algorithm not in ("ippo", "mappo"):
            raise ConfigError(f"--algorithm must be one of ['ippo', 'mappo'], got {self.algorithm!r}")
        check_int_flag("num_envs", self.num_envs, 16)
        check_int_flag("pairs", self.pairs, 1)
        if self.num_envs % 16:
            raise ConfigError(f"--num-envs must be a multiple of 16 (the default minibatches), got {self.num_envs}")


def earlier_module(revision: str, path: str, name: str) -> Any:
    """The file ``path`` as of ``revision``, imported as the module ``name``."""
    try:
        source = subprocess.run(
            ["git", "show", f"{revision}:{path}"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError) as error:
        raise ConfigError(f"--before {revision!r}: cannot read {path} from git ({error})") from error
    file = Path(tempfile.mkdtemp()) / f"{name}.py"
    file.write_text(source)
    spec = importlib.util.spec_from_file_location(name, file)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def earlier_ippo(revision: str) -> Any:
    """``algorithms/ippo.py`` as of ``revision`` as the module ``ippo_before``, on the networks of the same
    revision: every name it imported from ``algorithms.common.networks`` is rebound to the earlier one."""
    before = earlier_module(revision, "algorithms/ippo.py", "ippo_before")
    networks = earlier_module(revision, "algorithms/common/networks.py", "networks_before")
    for name, value in list(vars(before).items()):
        if getattr(value, "__module__", None) == "algorithms.common.networks" and hasattr(networks, name):
            setattr(before, name, getattr(networks, name))
    return before


def compiled_update(module: Any, args: Args):
    """The AOT-compiled update of ``module``'s learner and a state to run it on."""
    config_cls = mappo.Config if args.algorithm == "mappo" else ippo.Config
    config = config_cls(num_envs=args.num_envs, base_stock_episodes=4)
    critic = None
    if args.algorithm == "mappo":
        from algorithms.common.game import make_env

        env, _ = make_env(config)
        critic = module.Critic(*mappo.centralised_critic(env.num_agents, config.symlog_obs))
    learner = module.make_learner(config, critic=critic)
    state = jax.jit(learner.init)(jax.random.PRNGKey(0))
    return jax.jit(learner.update).lower(state).compile(), state, learner.env_steps_per_update


def main(argv: Sequence[str] | None = None) -> dict:
    """Time the pairs, print the ratio and write the JSON; exit 2 with one line on a bad flag."""
    args = parse_checked_flags(Args, argv, __doc__.splitlines()[0])
    before = earlier_ippo(args.before)
    sides = {"before": compiled_update(before, args), "after": compiled_update(ippo, args)}
    for update, state, _ in sides.values():
        jax.block_until_ready(update(state))  # warm
    seconds: dict[str, list[float]] = {"before": [], "after": []}
    for pair in range(args.pairs):
        for side in ("before", "after") if pair % 2 == 0 else ("after", "before"):
            update, state, _ = sides[side]
            start = time.perf_counter()
            jax.block_until_ready(update(state))
            seconds[side].append(time.perf_counter() - start)
    ratios = np.asarray(seconds["before"]) / np.asarray(seconds["after"])
    steps = sides["after"][2]
    payload = {
        "benchmark": "ab_update",
        "args": dataclasses.asdict(args),
        "machine": harness.machine_info(),
        "env_steps_per_update": steps,
        "seconds": seconds,
        "env_steps_per_s": {side: float(steps / np.median(s)) for side, s in seconds.items()},
        "speedup_median": float(np.median(ratios)),
        "speedup_range": [float(ratios.min()), float(ratios.max())],
    }
    print(
        f"{args.algorithm} update, {args.num_envs} games: after/before speed-up {payload['speedup_median']:.3f} "
        f"(median of {args.pairs} pairs, range {ratios.min():.2f}-{ratios.max():.2f}); "
        f"after {payload['env_steps_per_s']['after']:.0f} env steps/s"
    )
    harness.write_result(Path(args.out) if args.out else harness.default_output(f"ab_update-{args.algorithm}"), payload)
    return payload


if __name__ == "__main__":
    main()
