"""The PettingZoo adapter: the library's own API and seed tests, seeds as the pure env's keys, truncation,
infos, rendering and bad input."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

pettingzoo_test = pytest.importorskip("pettingzoo.test")

from gymnasium import spaces  # noqa: E402

from jaxbeer import policies  # noqa: E402
from jaxbeer.adapters import core  # noqa: E402
from jaxbeer.adapters.core import INFO_KEYS  # noqa: E402
from jaxbeer.adapters.pettingzoo_env import BeerGameParallelEnv  # noqa: E402
from jaxbeer.rollouts import episode_keys, play_period  # noqa: E402

HORIZON = 10
AGENTS = ["retailer", "wholesaler", "distributor", "manufacturer"]


def test_passes_pettingzoos_parallel_api_test():
    env = BeerGameParallelEnv("basic", horizon=HORIZON)
    pettingzoo_test.parallel_api_test(env, num_cycles=2 * HORIZON)
    assert env.possible_agents == AGENTS
    assert env.metadata["name"] == "jaxbeer_beer_game_v0"
    for agent in AGENTS:
        assert env.observation_space(agent) == spaces.Box(0.0, np.inf, (env.env.obs_dim,), np.float32)
        assert env.action_space(agent) == spaces.Discrete(env.env.config.num_actions)


def test_passes_pettingzoos_parallel_seed_test():
    if not hasattr(pettingzoo_test, "parallel_seed_test"):  # older PettingZoo releases lack it
        pytest.skip("this PettingZoo has no parallel_seed_test")
    pettingzoo_test.parallel_seed_test(lambda: BeerGameParallelEnv("basic", reward="own", horizon=HORIZON))


def _every_seat_policy(env, action_index):
    """The pure-env policy in which every echelon plays ``action_index``."""
    mask = np.ones(env.num_agents, np.bool_)

    def apply(_, key, state, env_params):
        indices = jnp.full((env.num_agents,), action_index, jnp.int32)
        return policies.orders_with_actions(env, state, env_params, indices, mask)

    return policies.Policy(params=None, apply=apply)


@pytest.mark.parametrize("scenario, reward", [("basic", "team"), ("basic", "own")])
def test_a_seeded_episode_is_the_pure_envs_episode_of_that_key(scenario, reward):
    adapter = BeerGameParallelEnv(scenario, reward=reward, horizon=HORIZON)
    env, params = adapter.env, adapter.params
    action_index = 5
    policy = _every_seat_policy(env, action_index)

    @jax.jit
    def pure_period(state, key):
        state, reward, info = play_period(env, params, policy, state, key)
        return state, env.get_obs(state, params), info

    for episode in range(2):  # the second reset continues the seed's key stream
        obs, infos = adapter.reset(seed=7) if episode == 0 else adapter.reset()
        assert infos == {agent: {} for agent in AGENTS}
        reset_key, period_keys = episode_keys(core.episode_key(7, episode), HORIZON)
        pure_obs, state = env.reset(reset_key, params)
        for k, agent in enumerate(AGENTS):
            np.testing.assert_array_equal(obs[agent], pure_obs[k])
        for t in range(HORIZON):
            assert adapter.agents == AGENTS
            obs, rewards, terminations, truncations, infos = adapter.step({agent: action_index for agent in AGENTS})
            state, pure_obs, pure_info = pure_period(state, period_keys[t])
            cost = np.asarray(pure_info["cost"])
            expected = np.full(4, -cost.sum()) if reward == "team" else -cost
            for k, agent in enumerate(AGENTS):
                assert infos[agent]["cost"] == pytest.approx(float(cost[k]))
                assert infos[agent]["orders"] == int(pure_info["orders"][k])
                np.testing.assert_array_equal(obs[agent], pure_obs[k])
                assert rewards[agent] == pytest.approx(float(expected[k]) * float(params.reward_scale))
            assert terminations == dict.fromkeys(AGENTS, False)
            assert truncations == dict.fromkeys(AGENTS, t == HORIZON - 1)
        assert adapter.agents == []
    with pytest.raises(RuntimeError, match="call reset"):
        adapter.step({agent: 0 for agent in AGENTS})


def test_infos_hold_python_numbers_and_state_is_the_global_state():
    env = BeerGameParallelEnv("basic", horizon=HORIZON, render_mode="ansi")
    assert env.render() == "no period played yet"
    env.reset(seed=3)
    _, _, _, _, infos = env.step({agent: 1 for agent in AGENTS})
    for agent in AGENTS:
        assert set(infos[agent]) == set(INFO_KEYS)
        assert all(type(value) in (int, float) for value in infos[agent].values())
    assert env.state().shape == env.state_space.shape
    np.testing.assert_array_equal(env.state(), np.asarray(env.env.global_state(env._state, env.params)))
    table = env.render()
    assert table.splitlines()[0].split() == ["echelon", "inventory", "order", "cost"]
    assert [line.split()[0] for line in table.splitlines()[1:]] == AGENTS


def test_bad_input_raises_naming_it():
    with pytest.raises(ValueError, match="reward"):
        BeerGameParallelEnv("basic", reward="x")
    with pytest.raises(ValueError, match="render_mode"):
        BeerGameParallelEnv("basic", render_mode="human")
    with pytest.raises(ValueError, match="horizon"):
        BeerGameParallelEnv("basic", horizon=0)
    env = BeerGameParallelEnv("basic", horizon=HORIZON)
    env.reset(seed=0)
    actions = {agent: 0 for agent in AGENTS}
    with pytest.raises(ValueError, match="missing"):
        env.step({agent: 0 for agent in AGENTS[:3]})
    for bad in (env.env.config.num_actions, -1, 1.5, [1]):
        with pytest.raises(ValueError, match="action of retailer"):
            env.step({**actions, "retailer": bad})
