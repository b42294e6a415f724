"""jaxbeer: the MIT beer game as pure, vectorised JAX functions.

    env, params = jaxbeer.make("classic", horizon=52)
    obs, state = env.reset(key, params)
    obs, state, reward, terminated, truncated, info = env.step(key, state, action, params)

See ``jaxbeer.env`` for the period order and ``README.md`` for a tour.
"""

from jaxbeer import policies
from jaxbeer.env import BeerGame, EnvState
from jaxbeer.evaluate import evaluate, optimize_base_stock, rollout
from jaxbeer.params import EnvConfig, EnvParams
from jaxbeer.scenarios import SCENARIOS, literature_levels, make, scenario_names

__all__ = [
    "BeerGame",
    "EnvConfig",
    "EnvParams",
    "EnvState",
    "SCENARIOS",
    "evaluate",
    "literature_levels",
    "make",
    "optimize_base_stock",
    "policies",
    "rollout",
    "scenario_names",
]
