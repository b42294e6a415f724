"""The one registry of learners: name -> config class and ``make_learner``, and reloading a run by name.

The CLI, ``algorithms.evaluate``, the leaderboard and the throughput suite all
look learners up here. (It is not imported by ``algorithms/__init__.py``, so
``python -m algorithms.ippo`` imports each learner module once.)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, NamedTuple

from algorithms import ippo, iql, mappo, qmix, vdn
from algorithms.common import checkpoint
from algorithms.common.config import CommonConfig, ConfigError, read_json_object
from algorithms.common.loop import CONFIG_FILE, Learner, state_template
from algorithms.common.reference import remember_reference


class Algorithm(NamedTuple):
    """A learner as the tools see it."""

    name: str
    config: type[CommonConfig]
    make_learner: Callable[[Any], Learner]


ALGORITHMS: dict[str, Algorithm] = {
    module.NAME: Algorithm(module.NAME, module.Config, module.make_learner) for module in (ippo, mappo, iql, vdn, qmix)
}


def get(name: str) -> Algorithm:
    """The registered algorithm ``name``; ``ConfigError`` listing the known ones otherwise."""
    if name not in ALGORITHMS:
        raise ConfigError(f"unknown algorithm {name!r}; known: {list(ALGORITHMS)}")
    return ALGORITHMS[name]


def load_run(run_dir: str | Path) -> tuple[dict[str, Any], CommonConfig, Learner, Any]:
    """(saved run description, config, learner, train_state with a seed axis) of a finished or partial run.

    Raises ``ConfigError`` naming the file when the run directory's config is
    damaged, and ``checkpoint.CheckpointError`` when no checkpoint restores.
    """
    run_dir = Path(run_dir)
    saved = read_json_object(run_dir / CONFIG_FILE)
    if not isinstance(saved.get("algorithm"), str) or not isinstance(saved.get("config"), dict):
        raise ConfigError(f"{run_dir / CONFIG_FILE} lacks 'algorithm' or 'config'; it was not written by a learner")
    algorithm = get(saved["algorithm"])
    config = algorithm.config.from_json(saved["config"], source=str(run_dir / CONFIG_FILE))
    if isinstance(saved.get("base_stock"), dict) and "key" in saved["base_stock"]:
        remember_reference(saved["base_stock"])
    learner = algorithm.make_learner(config)
    state, _ = checkpoint.load(run_dir, state_template(learner, config))
    return saved, config, learner, state
