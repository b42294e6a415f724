"""MAPPO: IPPO's actors with a centralised critic on ``env.global_state``.

    python -m algorithms.mappo --num-envs 4096

Acting is decentralised exactly as in ``algorithms/ippo.py`` (each echelon's
actor sees its own observation); only the critic changes. It sees the whole
game -- every echelon's observation and both pipelines, in agent order -- plus
the echelon's one-hot, and predicts that echelon's value. The rollout, GAE
(bootstrapping truncated episodes from the global state *before* the reset),
PPO loss and host loop are IPPO's.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from algorithms import ippo
from algorithms.common.game import make_env
from algorithms.common.loop import Learner, entry_points
from algorithms.common.networks import symlog

NAME = "mappo"


@dataclasses.dataclass
class Config(ippo.Config):
    """MAPPO on the beer game: the IPPO flags; the critic is always centralised."""

    total_timesteps: int = 32_000_000
    """Env steps (periods of one game) per seed, rounded down to whole updates; half IPPO's, because at 32M every
    seed of four already ended within 3% of base-stock on basic."""


def centralised_critic(num_agents: int, use_symlog: bool = True) -> ippo.Critic:
    """Features: ``global_state`` float32[E, G]. Inputs: the same global state for every echelon,
    with the echelon's one-hot so one (shared) critic can tell whose value it predicts."""

    def features(env, env_params, obs, env_state):
        return jax.vmap(env.global_state, in_axes=(0, None))(env_state, env_params)

    def inputs(global_state):
        if use_symlog:
            global_state = symlog(global_state)
        per_agent = jnp.broadcast_to(
            global_state[..., None, :], global_state.shape[:-1] + (num_agents, global_state.shape[-1])
        )
        one_hot = jnp.broadcast_to(
            jnp.eye(num_agents, dtype=global_state.dtype), global_state.shape[:-1] + (num_agents, num_agents)
        )
        return jnp.concatenate([per_agent, one_hot], axis=-1)

    return ippo.Critic(features=features, inputs=inputs)


def make_learner(config: Config) -> Learner:
    """IPPO's learner with the centralised critic."""
    env, _ = make_env(config)  # only for the number of echelons
    return ippo.make_learner(config, critic=centralised_critic(env.num_agents, config.symlog_obs))


make_train, main = entry_points(Config, make_learner, NAME, __doc__.splitlines()[0])

if __name__ == "__main__":
    main()
