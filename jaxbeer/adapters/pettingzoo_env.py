"""A PettingZoo ``ParallelEnv``: every echelon is an agent, and all of them order at once.

    from jaxbeer.adapters.pettingzoo_env import BeerGameParallelEnv
    env = BeerGameParallelEnv("classic", reward="own", horizon=52)
    obs, infos = env.reset(seed=0)
    while env.agents:
        obs, rewards, terminations, truncations, infos = env.step({a: 3 for a in env.agents})

Agents are ``retailer``, ``wholesaler``, ``distributor`` and ``manufacturer``
(``core.agent_names``). Each observes its own float32 row ``[obs_dim]`` and
plays an index ``0 .. num_actions - 1`` through the scenario's action mode
(``Discrete``). Rewards are minus the team's cost times ``reward_scale``
(``reward="own"``: the echelon's own). Nobody terminates; everyone truncates
at the horizon, and ``agents`` is then empty. ``infos[agent]`` holds that
echelon's ``cost``, ``orders``, ... of the period as Python numbers;
``state()`` is the env's ``global_state`` for centralised critics. Seeds map
onto JAX keys as ``jaxbeer.adapters.core`` says, so a seeded episode is the
pure env's.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pettingzoo
from gymnasium import spaces
from gymnasium.utils import seeding

import jaxbeer
from jaxbeer.adapters import core


class BeerGameParallelEnv(pettingzoo.ParallelEnv):
    """Every echelon of scenario ``scenario`` as a PettingZoo agent; ``overrides`` go to ``jaxbeer.make``."""

    metadata = {"name": "jaxbeer_beer_game_v0", "render_modes": ["ansi"], "is_parallelizable": True}

    def __init__(self, scenario: str = "basic", reward: str = "team", render_mode: str | None = None, **overrides: Any):
        if render_mode not in (None, *self.metadata["render_modes"]):
            raise ValueError(f"render_mode must be None or one of {self.metadata['render_modes']}, got {render_mode!r}")
        self.render_mode = render_mode
        self.scenario = scenario
        self.env, self.params = jaxbeer.make(scenario, **overrides)
        self.reward = core.check_reward(reward)
        self.possible_agents = list(core.agent_names(self.env))
        self.agents: list[str] = []
        self.seats = tuple(range(self.env.num_agents))
        self._host = core.HostGames(self.env, self.params, None, self.seats, self.reward)
        # One object per agent, returned every call: the API test and action-space seeding rely on it.
        self.observation_spaces = {
            agent: spaces.Box(low=0.0, high=np.inf, shape=(self.env.obs_dim,), dtype=np.float32)
            for agent in self.possible_agents
        }
        self.action_spaces = {agent: spaces.Discrete(self.env.config.num_actions) for agent in self.possible_agents}
        self.state_space = spaces.Box(low=0.0, high=np.inf, shape=(self.env.global_state_dim,), dtype=np.float32)
        self._seeds = core.SeedStream()
        self._state = None
        self._period_keys = None
        self._info: dict[str, np.ndarray] = {}

    def observation_space(self, agent: str) -> spaces.Box:
        """The agent's observation space (the same object every call)."""
        return self.observation_spaces[agent]

    def action_space(self, agent: str) -> spaces.Discrete:
        """The agent's action space (the same object every call)."""
        return self.action_spaces[agent]

    def reset(self, seed: int | None = None, options: dict | None = None):
        """``(obs, infos)`` of a new episode, keyed by agent; see ``jaxbeer.adapters.core`` for seeds."""
        key = self._seeds.next_key(seed, lambda: seeding.np_random(None)[0].integers(2**31))
        obs, self._state, self._period_keys = self._host.reset(key)
        self.agents = list(self.possible_agents)
        self._info = {}
        return self._per_agent(obs), {agent: {} for agent in self.agents}

    def step(self, actions: dict[str, Any]):
        """``(obs, rewards, terminations, truncations, infos)`` of one period, each keyed by agent."""
        if not self.agents:
            raise RuntimeError("call reset() first: the episode has not started or has ended")
        missing = [agent for agent in self.agents if agent not in actions]
        if missing:
            raise ValueError(f"actions must hold one action per agent; missing {missing}")
        action_index = np.asarray([self._action_index(agent, actions[agent]) for agent in self.agents], np.int32)
        self._state, outputs, _ = self._host.step(self._state, action_index, self._period_keys)
        truncated = bool(outputs["truncated"])
        self._info = {name: outputs[name] for name in core.INFO_KEYS}
        rewards = outputs["rewards"]
        agents = self.agents
        result = (
            self._per_agent(outputs["obs"]),
            {agent: float(rewards[k]) for k, agent in enumerate(agents)},
            {agent: False for agent in agents},
            {agent: truncated for agent in agents},
            {agent: {name: self._info[name][k].item() for name in core.INFO_KEYS} for k, agent in enumerate(agents)},
        )
        if truncated:
            self.agents = []
        return result

    def state(self) -> np.ndarray:
        """float32[global_state_dim]: the env's ``global_state`` (every row of the observation and both pipes)."""
        if self._state is None:
            raise RuntimeError("call reset() first")
        return np.asarray(self.env.global_state(self._state, self.params))

    def render(self) -> str | None:
        """``ansi``: the last period's per-echelon table as text."""
        if self.render_mode != "ansi":
            return None
        if not self._info:
            return "no period played yet"
        lines = [f"{'echelon':<14}{'inventory':>10}{'order':>7}{'cost':>8}"]
        for k, name in enumerate(self.possible_agents):
            inventory, order, cost = (self._info[f][k] for f in ("net_inventory", "orders", "cost"))
            lines.append(f"{name:<14}{inventory:>10}{order:>7}{cost:>8.1f}")
        return "\n".join(lines)

    def close(self) -> None:
        """Nothing to release: the game is a few JAX arrays."""

    def _action_index(self, agent: str, action: Any) -> int:
        """``action`` as an int after checking it against the agent's space; ``ValueError`` otherwise."""
        return int(core.checked_action(self.action_spaces[agent], action, f"action of {agent}"))

    def _per_agent(self, obs) -> dict[str, np.ndarray]:
        rows = np.array(obs)  # a writable copy, not a read-only view of the device buffer
        return {agent: rows[k] for k, agent in enumerate(self.possible_agents)}
