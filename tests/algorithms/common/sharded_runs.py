"""Runs for ``test_sharding.py`` on four forced CPU devices, in one subprocess (the device count is fixed
when JAX starts). It trains, writes what the test compares to ``<out>/report.json``, and asserts nothing
itself, so that the test shows each comparison by name.

    XLA_FLAGS=--xla_force_host_platform_device_count=4 python tests/algorithms/common/sharded_runs.py OUT
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import sys
from pathlib import Path

import jax
import numpy as np
from flax import serialization

from algorithms import ippo
from algorithms.common import checkpoint, evaluation, loop, sharding
from algorithms.common.config import parse_config

TINY = [
    "--num-envs", "16", "--num-steps", "8", "--num-minibatches", "2", "--total-timesteps", "1536",
    "--num-chunks", "3", "--hidden-sizes", "16", "--eval-episodes", "16", "--base-stock-episodes", "4",
    "--no-plots", "--no-progress",
]  # fmt: skip
# One program: lr and clip_eps are carried as data.
SWEEP = """\
seeds = 2
[grid]
lr = [1e-3, 3e-3]
clip_eps = [0.1, 0.3]
"""


def final_leaves(run_dir: Path) -> dict[str, np.ndarray]:
    """The last checkpoint's leaves by tree path."""
    payload = serialization.msgpack_restore(checkpoint.saved_checkpoints(run_dir)[0].read_bytes())
    return {name: np.asarray(payload["leaves"][str(i)]) for i, name in enumerate(payload["names"])}


def learned_cost(run_dir: Path, label: str = "learned (greedy)") -> float:
    rows = json.loads((run_dir / "results.json").read_text())["rows"]
    return next(r["team_cost_mean"] for r in rows if r["label"] == label)


def param_difference(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> float:
    """Largest absolute difference over the network parameters (the leaves under ``.params``)."""
    return max(float(np.max(np.abs(a[n] - b[n]))) for n in a if n.startswith(".params"))


def exit_of(argv: list[str]) -> tuple[int, str]:
    """(exit status, stderr) of the CLI in this process."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        try:
            ippo.main(argv)
        except SystemExit as stop:
            return int(stop.code), err.getvalue()
    return 0, err.getvalue()


def main(out: Path) -> None:
    report: dict = {"devices": len(jax.devices())}

    # One device against four, the same seed.
    ippo.main([*TINY, "--num-devices", "1", "--run-dir", str(out / "one")])
    ippo.main([*TINY, "--num-devices", "4", "--run-dir", str(out / "four")])
    one, four = final_leaves(out / "one"), final_leaves(out / "four")
    report["four_vs_one"] = {
        "param_max_abs_difference": param_difference(one, four),
        "cost_one": learned_cost(out / "one"),
        "cost_four": learned_cost(out / "four"),
        **layout(out / "four"),
    }

    # A sharded run stopped after one chunk and resumed, against the uninterrupted one ("four").
    ippo.main([*TINY, "--num-devices", "4", "--run-dir", str(out / "resumed"), "--stop-after-chunks", "1"])
    ippo.main(["--resume", str(out / "resumed"), "--no-progress"])  # the saved layout: 4 devices
    resumed = final_leaves(out / "resumed")
    report["resume"] = {
        # The running cost of an episode that started before the run is NaN by design.
        "identical_leaves": sorted(n for n in four if np.array_equal(four[n], resumed[n], equal_nan=True)),
        "all_leaves": sorted(four),
        "cost_resumed": learned_cost(out / "resumed"),
        "cost_uninterrupted": learned_cost(out / "four"),
    }

    # A sweep of 4 configurations x 2 seeds on a 2 x 2 mesh against each of the 8 trained on its own.
    (out / "sweep.toml").write_text(SWEEP)
    sweep_dir = out / "sweep"
    sweep_flags = [*TINY, "--num-devices", "4", "--seed-devices", "2", "--sweep", str(out / "sweep.toml"),
                   "--run-dir", str(sweep_dir)]  # fmt: skip
    ippo.main(sweep_flags)
    swept = json.loads((sweep_dir / "sweep.json").read_text())
    base = parse_config(ippo.Config, TINY)
    _, final_key = loop.eval_keys(base.seed)
    keys = loop.seed_keys(base.seed, swept["seeds"])
    alone = []
    # The configurations differ only in settings carried as data: one program trains each of them alone.
    # The last also trains from a plain config with its settings as constants, which checks that carrying
    # them as data changes nothing.
    shared = ippo.make_learner(base)
    shared_train = jax.jit(jax.vmap(loop.make_train(shared), in_axes=(0, None)))
    for index, row in enumerate(swept["rows"]):
        settings = row["settings"]
        if index == len(swept["rows"]) - 1:
            learner = ippo.make_learner(dataclasses.replace(base, **settings))
            states, _ = jax.jit(jax.vmap(loop.make_train(learner)))(keys)
        else:
            learner = shared
            states, _ = shared_train(keys, {**shared.hyperparameters, **settings})
        # Both seeds in one call: vmap never mixes them, each seed's training is its own.
        summaries = evaluation.evaluate_learned(
            learner.game, learner.act, jax.vmap(learner.policy_params)(states), final_key, base.eval_episodes, 2
        )
        costs = [summary["team_cost_mean"] for summary in summaries]
        alone.append({"label": row["label"], "swept": row["team_cost_per_seed"], "alone": costs})
    report["sweep"] = {
        "rows": alone,
        "groups": [g["static"] for g in swept["groups"]],
        "sweep_md": (sweep_dir / "sweep.md").is_file(),
        "sweep_png": (sweep_dir / "sweep.png").is_file(),
    }

    # Device counts that cannot work: each one exit status and one line.
    report["bad_num_devices"] = {
        value: exit_of([*TINY, "--num-devices", value, "--run-dir", str(out / f"bad-{value}")])
        for value in ("0", "5", "3")
    }
    (out / "report.json").write_text(json.dumps(report, indent=1))


def layout(run_dir: Path) -> dict:
    """How the host loop lays a 4-device IPPO state out, and the all-reduces XLA put in the chunk of the
    4-device run (from its log)."""
    config = parse_config(ippo.Config, TINY)
    learner = ippo.make_learner(config)
    members = loop.seed_members(learner, 1)
    shape = jax.eval_shape(jax.vmap(learner.init), members.keys(0), members.arrays())
    shardings = sharding.state_shardings(sharding.make_mesh(4, 1), shape, learner.games_axes)
    record = json.loads((run_dir / "log.jsonl").read_text().splitlines()[0])
    return {
        "obs_spec": str(shardings.obs.spec),
        "params_spec": str(jax.tree.leaves(shardings.params)[0].spec),
        "all_reduces": record["all_reduces_in_chunk"],
        "logged_devices": record["num_devices"],
    }


if __name__ == "__main__":
    main(Path(sys.argv[1]))
