"""A JaxMARL ``MultiAgentEnv``: every echelon is an agent, jittable and vmappable end to end.

    from jaxbeer.adapters.jaxmarl_env import BeerGameMAEnv
    from jaxmarl.wrappers.baselines import LogWrapper
    env = LogWrapper(BeerGameMAEnv("classic", horizon=52))
    obs, state = env.reset(key)
    obs, state, rewards, dones, infos = env.step(key, state, {a: jnp.int32(3) for a in env.agents})

Agents are ``retailer`` .. ``manufacturer`` (``core.agent_names``); each
observes its float32 row ``[obs_dim]`` and plays an index ``0 .. num_actions -
1`` through the scenario's action mode. Rewards follow ``core.REWARDS``. The
env params live on the instance, since JaxMARL's API has no params argument;
the jitted methods bake them in, so build a new env to change them.

**One auto-reset.** ``step`` is the jaxbeer env's own auto-resetting period,
not JaxMARL's ``step_env`` followed by a second ``reset``: at the horizon the
new episode starts inside the same period, from the same key. ``step_env`` is
the period without the reset. A step with key ``k`` is ``jaxbeer.rollouts.play_period``
with ``k`` (the env itself steps with ``jax.random.split(k)[1]``).

**Dones are truncations**: the game never terminates, so every done is the
horizon and a learner should bootstrap from ``infos[FINAL_OBS]``
(float32[A, obs_dim], the finished episode's last observation) there.
JaxMARL's baselines reshape every info leaf to one value per agent; build the
env with ``final_obs=False`` for them, and every info leaf is ``[A]``:
``cost``, ``holding``, ``backlog``, ``orders``, ``shipped``, ``filled``,
``arriving_order``, ``net_inventory`` of the period.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
from jaxmarl.environments import spaces
from jaxmarl.environments.multi_agent_env import MultiAgentEnv

import jaxbeer
from jaxbeer.adapters import core
from jaxbeer.env import EnvState


class BeerGameMAEnv(MultiAgentEnv):
    """Every echelon of scenario ``scenario`` as a JaxMARL agent; ``overrides`` go to ``jaxbeer.make``.

    The state is the jaxbeer ``EnvState`` itself (its ``period`` is JaxMARL's step count).
    """

    def __init__(self, scenario: str = "basic", reward: str = "team", final_obs: bool = True, **overrides: Any):
        env, params = jaxbeer.make(scenario, **overrides)
        super().__init__(num_agents=env.num_agents)
        self.scenario = scenario
        self.env, self.params = env, params
        self.reward = core.check_reward(reward)
        self.final_obs = bool(final_obs)
        self.agents = list(core.agent_names(env))
        self.seats = tuple(range(env.num_agents))
        self.observation_spaces = {
            agent: spaces.Box(0.0, jnp.inf, (env.obs_dim,), jnp.float32) for agent in self.agents
        }
        self.action_spaces = {agent: spaces.Discrete(env.config.num_actions) for agent in self.agents}

    @property
    def name(self) -> str:
        """``jaxbeer_<scenario>``."""
        return f"jaxbeer_{self.scenario}"

    @property
    def agent_classes(self) -> dict[str, list[str]]:
        """One class: every echelon has the same observation and action spaces."""
        return {"echelon": list(self.agents)}

    @partial(jax.jit, static_argnums=(0,))
    def reset(self, key: jax.Array) -> tuple[dict[str, jax.Array], EnvState]:
        """``(obs, state)`` of a new episode: the jaxbeer env's ``reset(key)``."""
        obs, state = self.env.reset(key, self.params)
        return self._per_agent(obs), state

    @partial(jax.jit, static_argnums=(0,))
    def step(self, key: jax.Array, state: EnvState, actions: dict[str, jax.Array], reset_state: EnvState | None = None):
        """One period with the jaxbeer env's own auto-reset: ``(obs, state, rewards, dones, infos)``.

        ``reset_state``, if given, is the state after a done (as in JaxMARL's base class).
        """
        obs, next_state, rewards, dones, infos = self._period(key, state, actions, auto_reset=True)
        if reset_state is not None:
            done = dones["__all__"]
            next_state = jax.tree.map(lambda r, s: jax.lax.select(done, r, s), reset_state, next_state)
            obs = jax.tree.map(lambda r, s: jax.lax.select(done, r, s), self.get_obs(reset_state), obs)
        return obs, next_state, rewards, dones, infos

    @partial(jax.jit, static_argnums=(0,))
    def step_env(self, key: jax.Array, state: EnvState, actions: dict[str, jax.Array]):
        """One period without a reset: past the horizon the episode simply goes on."""
        return self._period(key, state, actions, auto_reset=False)

    def get_obs(self, state: EnvState) -> dict[str, jax.Array]:
        """float32[obs_dim] per agent."""
        return self._per_agent(self.env.get_obs(state, self.params))

    def world_state(self, state: EnvState) -> jax.Array:
        """float32[global_state_dim], the env's ``global_state``, for centralised critics."""
        return self.env.global_state(state, self.params)

    def get_avail_actions(self, state: EnvState) -> dict[str, jax.Array]:
        """Every action of every agent, at every period: each index is a valid order (clipped to ``max_order``)."""
        return {agent: jnp.ones((self.env.config.num_actions,), jnp.bool_) for agent in self.agents}

    def _period(self, key, state, actions, auto_reset: bool):
        # One scalar per agent (under vmap: per game); reshape raises at trace time on anything else.
        action_index = jnp.stack([jnp.reshape(actions[agent], ()) for agent in self.agents]).astype(jnp.int32)
        obs, next_state, _, _, truncated, info = core.play_seats(
            self.env, self.params, None, self.seats, state, action_index, key, auto_reset=auto_reset
        )
        rewards = core.seat_rewards(info["cost"], self.params, self.reward)
        dones = {agent: truncated for agent in self.agents} | {"__all__": truncated}
        infos = {name: info[name] for name in core.INFO_KEYS}
        if self.final_obs:
            infos[jaxbeer.FINAL_OBS] = info[jaxbeer.FINAL_OBS]
        return self._per_agent(obs), next_state, self._per_agent(rewards), dones, infos

    def _per_agent(self, stacked: jax.Array) -> dict[str, jax.Array]:
        return {agent: stacked[k] for k, agent in enumerate(self.agents)}
