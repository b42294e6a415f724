"""jaxbeer: the MIT beer game as pure, vectorised JAX functions.

    env, params = jaxbeer.make("classic", horizon=52)
    obs, state = env.reset(key, params)
    obs, state, reward, terminated, truncated, info = env.step(key, state, action, params)

See ``jaxbeer.BeerGame`` for the spec sheet, ``jaxbeer.env`` for the period
order and ``README.md`` for a tour.
"""

from jaxbeer import exact, kpis, policies, supply, supply_policies
from jaxbeer.env import FINAL_OBS, FINAL_STATE, BeerGame, EnvState
from jaxbeer.params import EnvConfig, EnvParams
from jaxbeer.policies import Policy
from jaxbeer.rollouts import evaluate, evaluate_batch, optimize_base_stock, rollout, team_costs
from jaxbeer.scenarios import SCENARIOS, literature_levels, make, scenario_names
from jaxbeer.supply import SupplyChainGame, make_supply

__all__ = [
    "FINAL_OBS",
    "FINAL_STATE",
    "SCENARIOS",
    "BeerGame",
    "EnvConfig",
    "EnvParams",
    "EnvState",
    "Policy",
    "SupplyChainGame",
    "evaluate",
    "evaluate_batch",
    "exact",
    "kpis",
    "literature_levels",
    "make",
    "make_supply",
    "optimize_base_stock",
    "policies",
    "rollout",
    "scenario_names",
    "supply",
    "supply_policies",
    "team_costs",
]
