"""The JaxMARL adapter: its API, one auto-reset under jit and vmap, LogWrapper's episode statistics,
the baselines' info reshape, equivalence with the pure env, and bad input."""

from __future__ import annotations

import importlib.util

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxbeer
from jaxbeer import policies
from jaxbeer.adapters.core import INFO_KEYS
from jaxbeer.rollouts import play_period

# jaxmarl builds arrays when it is imported (about 8 s); every pytest worker collects this file, so it is
# imported only by the tests that run here.
pytestmark = pytest.mark.skipif(importlib.util.find_spec("jaxmarl") is None, reason="jaxmarl is not installed")


def BeerGameMAEnv(*args, **kwargs):
    from jaxbeer.adapters.jaxmarl_env import BeerGameMAEnv as adapter

    return adapter(*args, **kwargs)


def jaxmarl_spaces():
    from jaxmarl.environments import spaces

    return spaces


def LogWrapper(env):
    from jaxmarl.wrappers.baselines import LogWrapper as wrapper

    return wrapper(env)


HORIZON = 10
NUM_GAMES = 8
AGENTS = ["retailer", "wholesaler", "distributor", "manufacturer"]


@pytest.fixture(scope="module")
def ma_env() -> BeerGameMAEnv:
    return BeerGameMAEnv("basic", horizon=HORIZON)


def test_agents_spaces_and_shapes(ma_env):
    env = ma_env
    assert env.agents == AGENTS and env.num_agents == 4
    assert env.agent_classes == {"echelon": AGENTS}
    assert env.name == "jaxbeer_basic"
    for agent in AGENTS:
        assert isinstance(env.observation_space(agent), jaxmarl_spaces().Box)
        assert env.observation_space(agent).shape == (env.env.obs_dim,)
        assert isinstance(env.action_space(agent), jaxmarl_spaces().Discrete)
        assert env.action_space(agent).n == env.env.config.num_actions
    obs, state = env.reset(jax.random.key(0))
    assert set(obs) == set(AGENTS)
    assert all(o.shape == (env.env.obs_dim,) and o.dtype == jnp.float32 for o in obs.values())
    avail = env.get_avail_actions(state)
    assert all(np.asarray(a).shape == (env.env.config.num_actions,) and np.asarray(a).all() for a in avail.values())
    actions = {agent: jnp.int32(2) for agent in AGENTS}
    obs, state, rewards, dones, infos = env.step(jax.random.key(1), state, actions)
    assert set(obs) == set(rewards) == set(AGENTS) and set(dones) == {*AGENTS, "__all__"}
    assert all(r.shape == () and r.dtype == jnp.float32 for r in rewards.values())
    assert all(d.shape == () and d.dtype == jnp.bool_ and not np.asarray(d) for d in dones.values())
    assert set(infos) == {*INFO_KEYS, jaxbeer.FINAL_OBS}
    assert all(infos[name].shape == (4,) for name in INFO_KEYS)
    assert infos[jaxbeer.FINAL_OBS].shape == (4, env.env.obs_dim)
    assert jax.eval_shape(env.world_state, state).shape == (env.env.global_state_dim,)


@pytest.fixture(scope="module")
def trajectory(ma_env):
    """``LogWrapper(env)`` over ``NUM_GAMES`` games for a full episode plus one step: ``(fresh_obs, steps)``,
    each leaf of ``steps`` with a leading time axis. One jitted, vmapped step in a host loop: a scan over
    it would take seconds longer to compile."""
    env = LogWrapper(ma_env)
    reset = jax.jit(jax.vmap(env.reset))
    step = jax.jit(jax.vmap(env.step))
    rng = np.random.default_rng(0)
    num_actions = ma_env.env.config.num_actions
    keys = jax.random.split(jax.random.key(1), (HORIZON + 2, NUM_GAMES))
    fresh_obs, state = reset(keys[0])
    steps = []
    for t in range(HORIZON + 1):
        actions = {agent: jnp.asarray(rng.integers(0, num_actions, NUM_GAMES), jnp.int32) for agent in AGENTS}
        obs, state, rewards, dones, infos = step(keys[t + 1], state, actions)
        steps.append((obs, state.env_state, rewards, dones, infos))
    return fresh_obs, jax.tree.map(lambda *x: np.stack(x), *steps)


def test_jit_vmap_episode_auto_resets_once_at_the_horizon(ma_env, trajectory):
    env = ma_env
    fresh_obs, (obs_t, state_t, _, dones_t, infos_t) = trajectory
    done = np.asarray(dones_t["__all__"])  # [HORIZON + 1, NUM_GAMES]
    expected_done = np.arange(HORIZON + 1)[:, None] == HORIZON - 1
    np.testing.assert_array_equal(done, np.broadcast_to(expected_done, done.shape))
    for agent in AGENTS:
        np.testing.assert_array_equal(np.asarray(dones_t[agent]), done)
    expected_period = np.where(np.arange(HORIZON + 1) == HORIZON - 1, 0, (np.arange(HORIZON + 1) + 1) % HORIZON)
    np.testing.assert_array_equal(np.asarray(state_t.period), np.broadcast_to(expected_period[:, None], done.shape))
    np.testing.assert_array_equal(np.asarray(state_t.period[-1]), 1)  # the step after the reset goes on

    # At the done: the new episode's first observation, the finished one's last in infos.
    after_reset = jax.tree.map(lambda x: x[HORIZON - 1], obs_t)
    final_obs = np.asarray(infos_t[jaxbeer.FINAL_OBS])  # [HORIZON + 1, NUM_GAMES, A, obs_dim]
    assert jax.tree.structure(after_reset) == jax.tree.structure(fresh_obs)
    elapsed = 6  # period / horizon
    for k, agent in enumerate(AGENTS):
        np.testing.assert_array_equal(np.asarray(after_reset[agent][:, elapsed]), 0.0)
        np.testing.assert_allclose(final_obs[HORIZON - 1, :, k, elapsed], 1.0)
        np.testing.assert_allclose(final_obs[HORIZON - 2, :, k, elapsed], (HORIZON - 1) / HORIZON)
        np.testing.assert_array_equal(final_obs[HORIZON - 2, :, k], np.asarray(obs_t[agent][HORIZON - 2]))
    # Exactly a fresh episode's observation, with the first demand the reset drew from the period's key.
    new_state = jax.tree.map(lambda x: x[HORIZON - 1], state_t)
    reset_obs = jax.jit(jax.vmap(lambda d: env.env.get_obs(env.env.initial_state(env.params, d), env.params)))(
        new_state.order_pipe[:, 0, 0]
    )
    for k, agent in enumerate(AGENTS):
        np.testing.assert_array_equal(np.asarray(after_reset[agent]), np.asarray(reset_obs[:, k]))


def test_log_wrapper_reports_the_episode_return_and_length(trajectory):
    _, (_, _, rewards_t, dones_t, infos_t) = trajectory
    done = HORIZON - 1
    rewards = np.stack([np.asarray(rewards_t[agent]) for agent in AGENTS], axis=-1)  # [T, NUM_GAMES, A]
    assert (rewards[:HORIZON] != 0).any()  # the returns compared are not all zero
    returns = np.asarray(infos_t["returned_episode_returns"])
    np.testing.assert_allclose(returns[done], rewards[:HORIZON].sum(axis=0), rtol=1e-5)
    np.testing.assert_array_equal(np.asarray(infos_t["returned_episode_lengths"][done]), HORIZON)
    returned = np.asarray(infos_t["returned_episode"])  # [T, NUM_GAMES, A]
    np.testing.assert_array_equal(returned[:, :, 0], np.asarray(dones_t["__all__"]))


def test_without_final_obs_every_info_leaf_reshapes_to_one_value_per_actor():
    """JaxMARL's IPPO and MAPPO baselines reshape each info leaf to ``num_envs * num_agents``."""
    env = LogWrapper(BeerGameMAEnv("basic", final_obs=False, horizon=HORIZON))

    def step_and_reshape(keys):
        _, state = jax.vmap(env.reset)(keys)
        actions = {agent: jnp.zeros((NUM_GAMES,), jnp.int32) for agent in AGENTS}
        infos = jax.vmap(env.step)(keys, state, actions)[-1]
        return jax.tree.map(lambda x: x.reshape((NUM_GAMES * len(AGENTS),)), infos)

    infos = jax.eval_shape(step_and_reshape, jax.random.split(jax.random.key(0), NUM_GAMES))  # traced, not compiled
    assert set(infos) == {*INFO_KEYS, "returned_episode_returns", "returned_episode_lengths", "returned_episode"}


def test_steps_are_the_pure_envs_with_the_same_keys(ma_env):
    env, params = ma_env.env, ma_env.params
    action_index = jnp.asarray([3, 0, 7, 12], jnp.int32)
    mask = np.ones(4, np.bool_)

    def every_seat(_, key, state, env_params):
        return policies.orders_with_actions(env, state, env_params, action_index, mask)

    policy = policies.Policy(params=None, apply=every_seat)

    @jax.jit
    def pure(state, step_key):
        """The env's own step at the period's env key, and ``play_period`` at the period key."""
        env_step = env.step(jax.random.split(step_key)[1], state, action_index + env.config.action_low, params)
        return env_step, play_period(env, params, policy, state, step_key)

    key = jax.random.key(5)
    obs, state = ma_env.reset(key)
    pure_obs, _ = jax.jit(env.reset)(key, params)
    for k, agent in enumerate(AGENTS):
        np.testing.assert_array_equal(obs[agent], pure_obs[k])
    for t in range(HORIZON + 2):  # across the auto-reset
        key, step_key = jax.random.split(key)
        (pure_obs, next_state, pure_reward, _, truncated, pure_info), (rollout_state, _, rollout_info) = pure(
            state, step_key
        )
        obs, state, rewards, dones, infos = ma_env.step(step_key, state, dict(zip(AGENTS, action_index)))
        jax.tree.map(np.testing.assert_array_equal, state, next_state)
        if t != HORIZON - 1:  # play_period never resets
            jax.tree.map(np.testing.assert_array_equal, state, rollout_state)
        assert bool(dones["__all__"]) == bool(truncated) == (t == HORIZON - 1)
        team = -pure_info["cost"].sum() * params.reward_scale
        for k, agent in enumerate(AGENTS):
            np.testing.assert_array_equal(obs[agent], pure_obs[k])
            np.testing.assert_allclose(rewards[agent], team, rtol=1e-6)
        np.testing.assert_array_equal(infos["cost"], rollout_info["cost"])
        np.testing.assert_array_equal(infos[jaxbeer.FINAL_OBS], pure_info[jaxbeer.FINAL_OBS])


def test_reset_state_is_the_state_after_a_done_and_step_env_never_resets(ma_env):
    env = ma_env
    _, start = env.reset(jax.random.key(0))
    other_obs, other = env.reset(jax.random.key(1))
    actions = {agent: jnp.int32(2) for agent in AGENTS}
    late = start.replace(period=jnp.int32(HORIZON - 1))
    obs, state, _, dones, _ = env.step(jax.random.key(2), late, actions, other)
    assert bool(dones["__all__"])
    jax.tree.map(np.testing.assert_array_equal, state, other)
    jax.tree.map(np.testing.assert_array_equal, obs, other_obs)
    _, state, _, dones, _ = env.step(jax.random.key(2), start, actions, other)  # not done: reset_state unused
    assert not bool(dones["__all__"]) and int(state.period) == 1
    _, state, _, dones, _ = env.step_env(jax.random.key(2), late, actions)
    assert bool(dones["__all__"]) and int(state.period) == HORIZON


def test_bad_input_raises_naming_it():
    with pytest.raises(ValueError, match="reward"):
        BeerGameMAEnv("basic", reward="x")
    with pytest.raises(ValueError, match="horizon"):
        BeerGameMAEnv("basic", horizon=0)
