"""What every adapter shares: seats, co-players, rewards, seeds as keys, and one period, jitted.

A seat is an echelon that the adapter's user plays; the others are played by
co-players, a ``jaxbeer`` policy (heuristics by name, or a trained team from
``algorithms.load_policy``). The user's actions are indices ``0 ..
num_actions - 1`` that the env's action mode turns into orders, as the
learners' are.

**Seeds.** ``reset(seed=s)`` starts the key stream ``jax.random.PRNGKey(s)``:
episode ``e`` after it (0 for the first) is the episode that ``jaxbeer.rollout``
and ``jaxbeer.evaluate`` play from ``episode_key(s, e)``, period for period, when
the user's seats act as a policy would. ``reset()`` without a seed continues
the stream; the first one ever draws ``s`` from Gymnasium's ``np_random``.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

import jaxbeer
from jaxbeer import policies
from jaxbeer.env import BeerGame, EnvState
from jaxbeer.params import EnvParams
from jaxbeer.play import echelon_name
from jaxbeer.rollouts import episode_keys

INFO_KEYS = ("cost", "holding", "backlog", "orders", "shipped", "filled", "arriving_order", "net_inventory")
"""The per-echelon ``[A]`` entries of the env's ``info`` that the multi-agent adapters hand out per agent."""

REWARDS = ("team", "own")
"""``team``: every seat's reward is minus the team's cost; ``own``: minus its own echelon's cost (both times
``params.reward_scale``)."""


def episode_key(seed: int, episode: int) -> jax.Array:
    """The key of episode ``episode`` after ``reset(seed=seed)``."""
    return jax.random.fold_in(jax.random.PRNGKey(seed), episode)


class SeedStream:
    """A single-game adapter's ``reset(seed=...)`` as episode keys (see the module docstring)."""

    def __init__(self) -> None:
        self.seed: int | None = None
        self.episode = 0

    def next_key(self, seed: int | None, draw_seed: Callable[[], int]) -> jax.Array:
        """The next episode's key; ``seed`` restarts the stream, and ``draw_seed()`` starts it when no seed
        was ever given."""
        if seed is not None or self.seed is None:
            self.seed, self.episode = int(seed) if seed is not None else int(draw_seed()), 0
        key = episode_key(self.seed, self.episode)
        self.episode += 1
        return key


def checked_action(space: Any, action: Any, name: str) -> np.ndarray:
    """``action`` as a NumPy integer array if it lies in the Gymnasium ``space``; ``ValueError`` naming
    ``name`` and the space otherwise (before anything runs)."""
    value = np.asarray(action)
    if not np.issubdtype(value.dtype, np.integer) or not space.contains(value.astype(np.int64)):
        got = repr(action) if value.size <= 16 else f"an array of shape {value.shape}"
        raise ValueError(f"{name} must lie in {space}, got {got}")
    return value


def agent_names(env: BeerGame) -> tuple[str, ...]:
    """One name per echelon, retailer first: ``retailer``, ``wholesaler``, ... (``echelon_4`` beyond four)."""
    return tuple(echelon_name(k).replace(" ", "_") for k in range(env.num_agents))


def seat_index(env: BeerGame, seat: int | str) -> int:
    """An echelon index from an index or a name; ``ValueError`` naming ``seat`` and the choices otherwise."""
    names = agent_names(env)
    if isinstance(seat, str) and seat in names:
        return names.index(seat)
    if isinstance(seat, (int, np.integer)) and not isinstance(seat, bool) and 0 <= seat < env.num_agents:
        return int(seat)
    raise ValueError(
        f"seat must be an echelon index in [0, {env.num_agents - 1}] or one of {list(names)}, got {seat!r}"
    )


def check_reward(reward: str) -> str:
    """``reward`` if it is one of ``REWARDS``; ``ValueError`` naming the field otherwise."""
    if reward not in REWARDS:
        raise ValueError(f"reward must be one of {list(REWARDS)}, got {reward!r}")
    return reward


def co_player_policy(
    env: BeerGame,
    params: EnvParams,
    scenario: str,
    co_players: policies.Policy | str | Sequence[str],
    base_stock_levels: Sequence[int] | None = None,
) -> policies.Policy:
    """The policy of the seats the user does not play.

    ``co_players`` is a ``jaxbeer.Policy`` (e.g. ``algorithms.load_policy(run).policy``), a heuristic name
    for every seat, or one name per echelon (``policies.HEURISTIC_NAMES``). Base-stock seats play
    ``base_stock_levels``, by default the scenario's literature levels, else the optimiser's (key 0).
    """
    if isinstance(co_players, policies.Policy):
        return co_players
    names = [co_players] * env.num_agents if isinstance(co_players, str) else list(co_players)
    if len(names) != env.num_agents or any(name not in policies.HEURISTICS for name in names):
        raise ValueError(
            f"co_players must be a jaxbeer Policy, one of {list(policies.HEURISTIC_NAMES)}, or a list of "
            f"{env.num_agents} of them (one per echelon), got {co_players!r}"
        )
    settings = {}
    if "base_stock" in names:
        levels = base_stock_levels if base_stock_levels is not None else jaxbeer.literature_levels(scenario)
        if levels is None:
            levels, _ = jaxbeer.optimize_base_stock(env, params, jax.random.PRNGKey(0))
        settings["base_stock"] = {"levels": [int(level) for level in np.asarray(levels)]}
    return policies.heuristic_team(names, **settings)


def seat_rewards(cost: jax.Array, params: EnvParams, reward: str) -> jax.Array:
    """float32[A] rewards from the period's costs float32[A] (see ``REWARDS``)."""
    own = -cost * params.reward_scale
    return jnp.broadcast_to(own.sum(), own.shape) if reward == "team" else own


def reset_episode(env: BeerGame, params: EnvParams, key: jax.Array) -> tuple[jax.Array, EnvState, jax.Array]:
    """``(obs, state, period_keys)`` of the episode of ``key``, drawn as ``jaxbeer.rollouts`` draws it."""
    reset_key, period_keys = episode_keys(key, env.config.horizon)
    obs, state = env.reset(reset_key, params)
    return obs, state, period_keys


def play_seats(
    env: BeerGame,
    params: EnvParams,
    co_players: policies.Policy | None,
    seats: tuple[int, ...],
    state: EnvState,
    action_index: jax.Array,
    period_key: jax.Array,
    auto_reset: bool,
):
    """One period: ``seats`` play ``action_index`` (int32[len(seats)]), the co-players the rest
    (``co_players`` may be None when ``seats`` holds every echelon).

    The period key splits as ``jaxbeer.rollouts.play_period`` splits it (policy, then env), so a
    seat that acts as a policy would reproduces that policy's episode. Returns ``env.step_orders``'s tuple.
    """
    policy_key, env_key = jax.random.split(period_key)
    mask = np.isin(np.arange(env.num_agents), seats)
    indices = jnp.zeros((env.num_agents,), jnp.int32).at[np.asarray(seats)].set(action_index)
    others = None if mask.all() else co_players(policy_key, state, params)
    orders = policies.orders_with_actions(env, state, params, indices, mask, others)
    return env.step_orders(env_key, state, orders, params, auto_reset=auto_reset)


class _Packing:
    """A pytree of small arrays as two arrays, float32 and int32 (bools and ints), so that a host
    adapter pays two device-to-host transfers per step instead of one per leaf; ``batch_ndim``
    leading axes (games) are kept."""

    def __init__(self, shapes: Any, batch_ndim: int):
        leaves, self.treedef = jax.tree.flatten(shapes)
        self.batch_ndim = batch_ndim
        self.leaves = [(leaf.shape[batch_ndim:], np.dtype(leaf.dtype)) for leaf in leaves]

    def _is_float(self, dtype: np.dtype) -> bool:
        return np.issubdtype(dtype, np.floating)

    def pack(self, tree: Any) -> tuple[jax.Array, jax.Array]:
        leaves = jax.tree.leaves(tree)
        batch = leaves[0].shape[: self.batch_ndim]
        floats = [leaf.reshape((*batch, -1)).astype(jnp.float32) for leaf in leaves if self._is_float(leaf.dtype)]
        ints = [leaf.reshape((*batch, -1)).astype(jnp.int32) for leaf in leaves if not self._is_float(leaf.dtype)]
        empty = jnp.zeros((*batch, 0), jnp.float32)
        return (
            jnp.concatenate(floats or [empty], axis=-1),
            jnp.concatenate(ints or [empty.astype(jnp.int32)], axis=-1),
        )

    def unpack(self, floats: np.ndarray, ints: np.ndarray) -> Any:
        batch = floats.shape[:-1]
        offsets = {True: 0, False: 0}
        leaves = []
        for shape, dtype in self.leaves:
            is_float = self._is_float(dtype)
            source = floats if is_float else ints
            size = int(np.prod(shape, dtype=np.int64))
            start = offsets[is_float]
            offsets[is_float] = start + size
            leaves.append(source[..., start : start + size].reshape((*batch, *shape)).astype(dtype, copy=False))
        return jax.tree.unflatten(self.treedef, leaves)


class HostGames:
    """Games played from Python, one call per period: jitted reset and step with the env, its params and
    the co-players baked in, and every step's results in NumPy after two transfers.

    ``num_games=None`` is one game whose episode follows ``reset(key)``'s period keys (the single-game
    adapters: no reset inside ``step``); an integer is that many games with the env's own auto-reset,
    each drawing its period keys from its own stream (the vector env).
    """

    def __init__(
        self,
        env: BeerGame,
        params: EnvParams,
        co_players: policies.Policy | None,
        seats: tuple[int, ...],
        reward: str,
        num_games: int | None = None,
    ):
        self.env, self.num_games = env, num_games

        def one_period(state, action_index, period_key, auto_reset):
            obs, state, _, _, truncated, info = play_seats(
                env, params, co_players, seats, state, action_index, period_key, auto_reset=auto_reset
            )
            out = {"obs": obs, "rewards": seat_rewards(info["cost"], params, reward), "truncated": truncated}
            out["final_obs"] = info[jaxbeer.FINAL_OBS]
            return state, {**out, **_host_info(info)}

        if num_games is None:

            def reset(key):
                return reset_episode(env, params, key)

            def step(state, action_index, period_keys):
                period_key = period_keys[jnp.minimum(state.period, env.config.horizon - 1)]
                return one_period(state, action_index, period_key, False)

        else:

            def reset(keys):
                return reset_games(env, params, keys)

            def step(state, action_index, keys):
                keys, period_keys = jnp.moveaxis(jax.vmap(jax.random.split)(keys), 1, 0)
                state, out = jax.vmap(lambda s, a, k: one_period(s, a, k, True))(state, action_index, period_keys)
                return state, out, keys

        self._reset = jax.jit(reset)
        action_shape = (len(seats),) if num_games is None else (num_games, len(seats))
        key_shape = jax.ShapeDtypeStruct((2,) if num_games is None else (num_games, 2), jnp.uint32)
        _, example_state, stream = jax.eval_shape(self._reset, key_shape)
        example = jax.eval_shape(step, example_state, jax.ShapeDtypeStruct(action_shape, jnp.int32), stream)
        self._packing = _Packing(example[1], batch_ndim=0 if num_games is None else 1)

        def packed_step(*args):
            state, out, *rest = step(*args)
            return (state, *self._packing.pack(out), *rest)

        self._step = jax.jit(packed_step)

    def reset(self, key: jax.Array) -> tuple[np.ndarray, EnvState, jax.Array]:
        """``(obs, state, stream)``: ``stream`` is the episode's period keys (one game) or the games' keys."""
        obs, state, stream = self._reset(key)
        return np.asarray(obs), state, stream

    def step(self, state: EnvState, action_index: np.ndarray, stream: jax.Array) -> tuple[EnvState, dict, jax.Array]:
        """``(state, outputs, stream)``; ``outputs``: ``obs``, ``rewards``, ``truncated``, ``final_obs`` and the
        period's ``info`` entries, as NumPy arrays (leading axis: games, for several)."""
        if self.num_games is None:
            state, floats, ints = self._step(state, action_index, stream)
        else:
            state, floats, ints, stream = self._step(state, action_index, stream)
        floats, ints = jax.device_get((floats, ints))
        return state, self._packing.unpack(floats, ints), stream


def _host_info(info: dict) -> dict:
    """The per-period ``info`` without the final observation and state (an adapter returns its own)."""
    return {k: v for k, v in info.items() if k not in (jaxbeer.FINAL_OBS, jaxbeer.FINAL_STATE)}


def reset_games(env: BeerGame, params: EnvParams, keys: jax.Array):
    """Vectorised reset: ``(obs[N, A, F], state, keys[N])``; each game's key stream goes on in ``keys``."""
    keys, reset_keys = jnp.moveaxis(jax.vmap(jax.random.split)(keys), 1, 0)
    obs, state = jax.vmap(env.reset, in_axes=(0, None))(reset_keys, params)
    return obs, state, keys
