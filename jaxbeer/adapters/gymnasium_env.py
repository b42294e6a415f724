"""Gymnasium adapters: one seat against co-players, every seat at once, and a vector env of many games.

    import gymnasium, jaxbeer.adapters.gymnasium_env  # the import registers the ids
    env = gymnasium.make("jaxbeer/BeerGame-v0", scenario="basic", seat="retailer", co_players="base_stock")
    central = gymnasium.make("jaxbeer/BeerGameCentral-v0", scenario="classic")
    games = gymnasium.make_vec("jaxbeer/BeerGame-v0", num_envs=1024, vectorization_mode="vector_entry_point")

Observations are the env's float32 rows (one seat: ``[obs_dim]``; every seat:
``[A, obs_dim]``); actions are indices ``0 .. num_actions - 1`` through the
scenario's action mode (``Discrete``; every seat: ``MultiDiscrete``); the
reward is minus the team's cost times ``reward_scale`` (``reward="own"``: the
seat's own). Episodes end by truncation at the horizon. ``info`` carries the
period's per-echelon ``cost``, ``orders``, ... as NumPy arrays. Seeds map onto
JAX keys as ``jaxbeer.adapters.core`` says, so a seeded episode is the pure
env's. The vector env autoresets in the same step, as the env itself does
(``metadata["autoreset_mode"]`` is ``SAME_STEP``): at truncation ``obs`` is the
new episode's and ``info["final_obs"]`` (with the mask ``info["_final_obs"]``)
the finished one's.
"""

from __future__ import annotations

from typing import Any, Sequence

import gymnasium
import jax
import numpy as np
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, VectorEnv

import jaxbeer
from jaxbeer import policies
from jaxbeer.adapters import core
from jaxbeer.validation import check_int

SEAT_ENV_ID = "jaxbeer/BeerGame-v0"
CENTRAL_ENV_ID = "jaxbeer/BeerGameCentral-v0"
EVERY_SEAT = "all"
_NOT_INFO = ("obs", "rewards", "truncated", "final_obs")


class _Seats:
    """The jaxbeer game behind an adapter: env, params, the user's seats, co-players and the reward."""

    def __init__(
        self,
        scenario: str,
        seat: int | str,
        co_players: policies.Policy | str | Sequence[str],
        reward: str,
        base_stock_levels: Sequence[int] | None,
        overrides: dict[str, Any],
        num_games: int | None = None,
    ):
        self.scenario = scenario
        self.env, self.params = jaxbeer.make(scenario, **overrides)
        self.reward = core.check_reward(reward)
        if seat == EVERY_SEAT:
            self.seats = tuple(range(self.env.num_agents))
        else:
            self.seats = (core.seat_index(self.env, seat),)
        self.central = seat == EVERY_SEAT
        self.co_players = core.co_player_policy(self.env, self.params, scenario, co_players, base_stock_levels)
        self.host = core.HostGames(
            self.env, self.params, None if self.central else self.co_players, self.seats, self.reward, num_games
        )

    def observation_space(self) -> spaces.Box:
        shape = (self.env.num_agents, self.env.obs_dim) if self.central else (self.env.obs_dim,)
        return spaces.Box(low=0.0, high=np.inf, shape=shape, dtype=np.float32)

    def action_space(self) -> spaces.Space:
        num_actions = self.env.config.num_actions
        if self.central:
            return spaces.MultiDiscrete(np.full((self.env.num_agents,), num_actions, np.int64))
        return spaces.Discrete(num_actions)

    def view(self, obs: jax.Array) -> np.ndarray:
        """The user's part of an observation (last two axes ``[A, F]``)."""
        obs = np.asarray(obs)
        return obs if self.central else obs[..., self.seats[0], :]

    def reward_of(self, rewards: np.ndarray) -> np.ndarray:
        """The user's reward: the seat's (team rewards are the same at every seat)."""
        return rewards[..., self.seats[0]]

    @staticmethod
    def info_of(outputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The period's per-echelon ``info`` entries of ``HostGames.step``'s outputs."""
        return {k: v for k, v in outputs.items() if k not in _NOT_INFO}


class BeerGameEnv(gymnasium.Env):
    """One echelon (``seat``: an index or ``retailer`` .. ``manufacturer``) against co-players.

    ``co_players``: a heuristic name for every other seat, one name per echelon,
    or a ``jaxbeer.Policy`` such as ``algorithms.load_policy(run).policy``.
    ``seat="all"`` orders for every echelon (see ``CentralBeerGameEnv``).
    Other keyword arguments go to ``jaxbeer.make`` (``horizon``, ``action_mode``, ...).
    """

    metadata = {"render_modes": ["ansi"], "render_fps": 4}

    def __init__(
        self,
        scenario: str = "basic",
        seat: int | str = 0,
        co_players: policies.Policy | str | Sequence[str] = "base_stock",
        reward: str = "team",
        base_stock_levels: Sequence[int] | None = None,
        render_mode: str | None = None,
        **overrides: Any,
    ):
        if render_mode not in (None, *self.metadata["render_modes"]):
            raise ValueError(f"render_mode must be None or one of {self.metadata['render_modes']}, got {render_mode!r}")
        self.render_mode = render_mode
        self.game = _Seats(scenario, seat, co_players, reward, base_stock_levels, overrides)
        self.observation_space = self.game.observation_space()
        self.action_space = self.game.action_space()
        self._seeds = core.SeedStream()
        self._state = None
        self._info: dict[str, np.ndarray] = {}

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """``(obs, info)`` of a new episode; see ``jaxbeer.adapters.core`` for how seeds become keys."""
        super().reset(seed=seed)
        key = self._seeds.next_key(seed, lambda: self.np_random.integers(2**31))
        obs, self._state, self._period_keys = self.game.host.reset(key)
        self._truncated = False
        self._info = {}
        return self.game.view(obs), {}

    def step(self, action):
        """``(obs, reward, terminated, truncated, info)`` of one period."""
        if self._state is None or self._truncated:
            raise RuntimeError("call reset() first: the episode has not started or has ended")
        action = core.checked_action(self.action_space, action, "action")
        game = self.game
        action_index = action.astype(np.int32).reshape(len(game.seats))
        self._state, outputs, _ = game.host.step(self._state, action_index, self._period_keys)
        self._truncated = bool(outputs["truncated"])
        self._info = game.info_of(outputs)
        reward = float(game.reward_of(outputs["rewards"]))
        return game.view(outputs["obs"]), reward, False, self._truncated, dict(self._info)

    @property
    def state(self) -> jaxbeer.EnvState | None:
        """The current ``jaxbeer.EnvState`` (None before the first reset), e.g. for a heuristic's orders."""
        return self._state

    def render(self) -> str | None:
        """``ansi``: the last period's per-echelon table as text."""
        if self.render_mode != "ansi":
            return None
        if not self._info:
            return "no period played yet"
        names = core.agent_names(self.game.env)
        lines = [f"{'echelon':<14}{'inventory':>10}{'order':>7}{'cost':>8}"]
        for k, name in enumerate(names):
            inventory, order, cost = (self._info[f][k] for f in ("net_inventory", "orders", "cost"))
            lines.append(f"{name:<14}{inventory:>10}{order:>7}{cost:>8.1f}")
        return "\n".join(lines)


class CentralBeerGameEnv(BeerGameEnv):
    """One agent orders for every echelon: observation ``[A, obs_dim]``, action ``MultiDiscrete``."""

    def __init__(self, scenario: str = "basic", reward: str = "team", render_mode: str | None = None, **overrides):
        super().__init__(scenario, seat=EVERY_SEAT, reward=reward, render_mode=render_mode, **overrides)


class BeerGameVectorEnv(VectorEnv):
    """``num_envs`` games in one vmapped JAX step; the same seats, co-players and rewards as ``BeerGameEnv``.

    ``reset(seed=s)`` gives game ``i`` the key stream ``jax.random.split(PRNGKey(s), num_envs)[i]``.
    """

    metadata = {"autoreset_mode": AutoresetMode.SAME_STEP}

    def __init__(
        self,
        num_envs: int = 1024,
        scenario: str = "basic",
        seat: int | str = 0,
        co_players: policies.Policy | str | Sequence[str] = "base_stock",
        reward: str = "team",
        base_stock_levels: Sequence[int] | None = None,
        **overrides: Any,
    ):
        self.num_envs = check_int("num_envs", num_envs, 1)
        self.game = _Seats(scenario, seat, co_players, reward, base_stock_levels, overrides, self.num_envs)
        self.single_observation_space = self.game.observation_space()
        self.single_action_space = self.game.action_space()
        self.observation_space = gymnasium.vector.utils.batch_space(self.single_observation_space, self.num_envs)
        self.action_space = gymnasium.vector.utils.batch_space(self.single_action_space, self.num_envs)
        self._state = None
        self._keys = None

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """``(obs[num_envs, ...], info)``: every game starts a new episode."""
        super().reset(seed=seed)
        if seed is not None or self._keys is None:
            root = seed if seed is not None else int(self.np_random.integers(2**31))
            self._keys = jax.random.split(jax.random.PRNGKey(root), self.num_envs)
        obs, self._state, self._keys = self.game.host.reset(self._keys)
        return self.game.view(obs), {}

    def step(self, actions):
        """``(obs, rewards, terminations, truncations, info)`` of one period of every game."""
        if self._state is None:
            raise RuntimeError("call reset() first")
        actions = core.checked_action(self.action_space, actions, "actions")
        game = self.game
        action_index = actions.astype(np.int32).reshape(self.num_envs, len(game.seats))
        self._state, outputs, self._keys = game.host.step(self._state, action_index, self._keys)
        truncated = outputs["truncated"]
        infos = game.info_of(outputs)
        infos["final_obs"], infos["_final_obs"] = game.view(outputs["final_obs"]), truncated
        terminated = np.zeros(self.num_envs, np.bool_)
        return game.view(outputs["obs"]), game.reward_of(outputs["rewards"]), terminated, truncated, infos


def register() -> None:
    """Register ``jaxbeer/BeerGame-v0`` and ``jaxbeer/BeerGameCentral-v0`` (done on import; safe to repeat)."""
    if SEAT_ENV_ID not in gymnasium.registry:
        gymnasium.register(
            SEAT_ENV_ID,
            entry_point=f"{__name__}:BeerGameEnv",
            vector_entry_point=f"{__name__}:BeerGameVectorEnv",
            disable_env_checker=False,
        )
    if CENTRAL_ENV_ID not in gymnasium.registry:
        gymnasium.register(CENTRAL_ENV_ID, entry_point=f"{__name__}:CentralBeerGameEnv")


register()
