"""The optimised base-stock team every learner is measured against, computed once and cached on disk.

The optimiser (``jaxbeer.optimize_base_stock``) takes seconds to minutes, so its
levels are kept in a JSON file keyed by everything that changes the optimum
(costs, leads, demand, horizon, start), not by the learner's settings.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import jax
import numpy as np

import jaxbeer
from algorithms.common.files import write_json
from jaxbeer.env import BeerGame
from jaxbeer.params import EnvParams

# Heuristics order absolute quantities, so action mode, history and reward
# settings do not change the optimum; these parameters, and the horizon, do.
_RELEVANT_PARAMS = (
    "holding_cost", "backlog_cost", "shipment_lead_min", "shipment_lead_max", "order_lead_min", "order_lead_max",
    "initial_inventory", "initial_order", "initial_shipment", "demand_thresholds", "demand_offset", "demand_trace",
    "classic_low", "classic_high", "classic_switch",
)  # fmt: skip


def cache_path() -> Path:
    """JSON cache of optimised base-stock levels; ``PLOOTO_CACHE_DIR`` moves it (tests do)."""
    root = Path(os.environ.get("PLOOTO_CACHE_DIR", Path("runs") / ".cache"))
    return root / "base_stock_levels.json"


def reference_key(env: BeerGame, params: EnvParams, scenario: str, num_episodes: int) -> str:
    """The cache key: the scenario's name and a hash of what decides its optimum."""
    relevant = dataclasses.replace(
        env.config, action_mode="absolute", obs_history=0, team_reward=False, x_low=0, x_high=0
    )
    fields = {name: np.asarray(getattr(params, name)).tolist() for name in _RELEVANT_PARAMS}
    blob = json.dumps([repr(relevant), fields, num_episodes], sort_keys=True)
    return f"{scenario}-{hashlib.sha256(blob.encode()).hexdigest()[:16]}"


def base_stock_reference(
    env: BeerGame, params: EnvParams, scenario: str, num_episodes: int = 100, seed: int = 12345
) -> dict[str, Any]:
    """Optimised base-stock levels for this game, from the cache or the optimiser.

    Returns ``{"levels": [...], "team_cost": optimiser's mean cost, "key": cache key, ...}``.
    """
    key = reference_key(env, params, scenario, num_episodes)
    cached = _read_cache().get(key)
    if cached is not None:
        return cached
    start = time.perf_counter()
    levels, cost = jaxbeer.optimize_base_stock(env, params, jax.random.PRNGKey(seed), num_episodes=num_episodes)
    entry = {
        "levels": [int(v) for v in levels],
        "team_cost": float(cost),
        "key": key,
        "optimizer_seconds": round(time.perf_counter() - start, 2),
    }
    remember_reference(entry)
    return entry


def remember_reference(entry: dict[str, Any]) -> None:
    """Put a reference (e.g. the one saved in a run's config.json) into the cache, so reloading a
    run elsewhere reuses the run's own levels instead of re-running the optimiser."""
    cache = _read_cache()  # another run may have written meanwhile
    if cache.get(entry["key"]) == entry:
        return
    cache[entry["key"]] = entry
    write_json(cache_path(), cache)


def _read_cache() -> dict[str, Any]:
    """The cache's entries; a damaged cache is only a lost speed-up, so it is set aside with a warning."""
    path = cache_path()
    if not path.is_file():
        return {}
    try:
        cache = json.loads(path.read_text())
        if not isinstance(cache, dict):
            raise ValueError("not a JSON object")
        return cache
    except (OSError, UnicodeDecodeError, ValueError) as error:
        print(f"warning: base-stock cache {path} is damaged ({error}); rebuilding it", file=sys.stderr)
        return {}
