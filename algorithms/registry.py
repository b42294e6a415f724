"""The one registry of learners: name -> config class and ``make_learner``, and reloading a run by name.

The CLI, ``algorithms.evaluate``, the leaderboard and the throughput suite all
look learners up here; ``load_policy`` turns a run directory back into a
``jaxbeer`` policy. (``algorithms/__init__.py`` imports this module only when
``algorithms.load_policy`` is first used, so ``python -m algorithms.ippo``
imports each learner module once.)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Literal, NamedTuple

import jax

from algorithms import ippo, iql, maddpg, mappo, qmix, vdn
from algorithms.common import checkpoint
from algorithms.common.config import CommonConfig, ConfigError, read_json_object
from algorithms.common.loop import (
    CONFIG_FILE,
    Learner,
    hyperparameter_leaves,
    policy_template,
    seed_members,
    state_template,
)
from algorithms.common.reference import remember_reference
from algorithms.common.team import team_policy
from jaxbeer import BeerGame, EnvParams, Policy
from jaxbeer.validation import check_int


class Algorithm(NamedTuple):
    """A learner as the tools see it."""

    name: str
    config: type[CommonConfig]
    make_learner: Callable[[Any], Learner]


ALGORITHMS: dict[str, Algorithm] = {
    module.NAME: Algorithm(module.NAME, module.Config, module.make_learner)
    for module in (ippo, mappo, iql, vdn, qmix, maddpg)
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
    saved, config, learner = _load_learner(Path(run_dir))
    state, _ = checkpoint.load(run_dir, state_template(learner, config), fill=_older_leaves(learner, config))
    return saved, config, learner, state


class LoadedPolicy(NamedTuple):
    """A trained team as ``load_policy`` returns it: everything needed to play it again."""

    policy: Policy
    """``policy(key, state, env_params) -> int32[A]`` orders; its ``params`` are the network weights (one seed)."""
    env: BeerGame
    """The env the run trained on (its action mode turns the networks' choices into orders)."""
    params: EnvParams
    """The env parameters the run trained on."""
    kinds: tuple[str, ...]
    """Who plays each seat, retailer first: the learner's kind or a heuristic's name."""
    algorithm: str
    """The registered name of the learner, e.g. ``ippo``."""
    config: CommonConfig
    """The run's configuration."""
    chunk: int
    """Training chunks behind these weights."""


class PolicyLoadError(ValueError):
    """A run directory that cannot give a policy; the message is one line naming the file and why."""


def load_policy(run_dir: str | Path, which: Literal["final", "best"] = "final", seed: int = 0) -> LoadedPolicy:
    """The trained team of ``run_dir`` as a pure ``jaxbeer`` policy, with the env it trained on.

    ``which="final"`` takes the newest whole checkpoint (falling back past a
    damaged one with a warning line, as a resume does); ``"best"`` the policy
    of the chunk with the lowest chunk-evaluation cost. ``seed`` picks one of
    the run's ``--num-seeds``. Heuristic seats of a mixed team play as they
    trained, with the run's own base-stock levels::

        loaded = algorithms.load_policy("runs/ippo-basic-20260101-120000")
        jaxbeer.evaluate(loaded.env, loaded.params, loaded.policy, jax.random.PRNGKey(0), 1000)

    Raises ``PolicyLoadError`` (one line) for a missing or damaged run directory.
    """
    if which not in ("final", "best"):
        raise PolicyLoadError(f"which must be 'final' or 'best', got {which!r}")
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise PolicyLoadError(f"{run_dir} is not a run directory (it does not exist or is not a directory)")
    try:
        saved, config, learner = _load_learner(run_dir)
        check_int("seed", seed, 0, config.num_seeds - 1, error=PolicyLoadError)
        if which == "final":
            state, host = checkpoint.load(run_dir, state_template(learner, config), fill=_older_leaves(learner, config))
            policy_params = jax.vmap(learner.policy_params)(state)
        else:
            policy_params, host = checkpoint.load(run_dir, policy_template(learner, config), checkpoint.BEST_POLICY)
    except (ConfigError, checkpoint.CheckpointError) as error:
        raise PolicyLoadError(str(error)) from None
    game = learner.game
    one_seed = jax.tree.map(lambda leaf: leaf[seed], policy_params)
    chunk = int(host["best_chunk"] if which == "best" else host["chunk"])
    return LoadedPolicy(
        policy=team_policy(game.env, game.team, learner.act, one_seed),
        env=game.env,
        params=game.params,
        kinds=game.team.kinds,
        algorithm=saved["algorithm"],
        config=config,
        chunk=chunk,
    )


def _load_learner(run_dir: Path) -> tuple[dict[str, Any], CommonConfig, Learner]:
    """The run's saved description, its config and a learner built from it (nothing restored yet)."""
    saved = read_json_object(run_dir / CONFIG_FILE)
    if not isinstance(saved.get("algorithm"), str) or not isinstance(saved.get("config"), dict):
        raise ConfigError(f"{run_dir / CONFIG_FILE} lacks 'algorithm' or 'config'; it was not written by a learner")
    algorithm = get(saved["algorithm"])
    config = algorithm.config.from_json(saved["config"], source=str(run_dir / CONFIG_FILE))
    if isinstance(saved.get("base_stock"), dict) and "key" in saved["base_stock"]:
        remember_reference(saved["base_stock"])
    return saved, config, algorithm.make_learner(config)


def _older_leaves(learner: Learner, config: Any) -> dict:
    """What a checkpoint written before the train state carried its hyperparameters lacks: its config's."""
    return hyperparameter_leaves(seed_members(learner, config.num_seeds))
