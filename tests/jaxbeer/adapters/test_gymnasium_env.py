"""The Gymnasium adapters: the library's own checker, seeds as the pure env's keys, the vector env against a
plain loop, its same-step auto-reset, loaded co-players and bad input."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

gymnasium = pytest.importorskip("gymnasium")

import jaxbeer  # noqa: E402
from jaxbeer import policies  # noqa: E402
from jaxbeer.adapters import core, gymnasium_env  # noqa: E402
from jaxbeer.rollouts import episode_keys, play_period  # noqa: E402

HORIZON = 12


def test_both_envs_pass_gymnasiums_checker():
    from gymnasium.utils.env_checker import check_env

    for env_id, kwargs in [
        (gymnasium_env.SEAT_ENV_ID, {"seat": "distributor", "co_players": "sterman"}),
        (gymnasium_env.CENTRAL_ENV_ID, {"scenario": "classic"}),
    ]:
        env = gymnasium.make(env_id, horizon=HORIZON, render_mode="ansi", **kwargs)
        check_env(env.unwrapped, skip_render_check=False)
        assert env.spec.id == env_id
    central = gymnasium.make(gymnasium_env.CENTRAL_ENV_ID, horizon=HORIZON)
    assert central.action_space == gymnasium.spaces.MultiDiscrete([central.unwrapped.game.env.config.num_actions] * 4)
    assert central.observation_space.shape == (4, central.unwrapped.game.env.obs_dim)


def _seat_policy(env, co_players, seat, action_index):
    """The pure-env policy of a seat that always plays ``action_index`` beside ``co_players``."""
    mask = np.arange(env.num_agents) == seat

    def apply(_, key, state, env_params):
        indices = jnp.full((env.num_agents,), action_index, jnp.int32)
        return policies.orders_with_actions(env, state, env_params, indices, mask, co_players(key, state, env_params))

    return policies.Policy(params=None, apply=apply)


@pytest.mark.parametrize("scenario, seat, co_players", [("basic", 1, "sterman"), ("uniform-0-8", 0, "base_stock")])
def test_a_seeded_episode_is_the_pure_envs_episode_of_that_key(scenario, seat, co_players):
    adapter = gymnasium_env.BeerGameEnv(scenario, seat=seat, co_players=co_players, horizon=HORIZON)
    env, params = adapter.game.env, adapter.game.params
    action_index = 3
    policy = _seat_policy(env, adapter.game.co_players, seat, action_index)
    pure_period = jax.jit(lambda state, key: play_period(env, params, policy, state, key))
    for episode in range(2):  # the second reset continues the seed's key stream
        obs, _ = adapter.reset(seed=7) if episode == 0 else adapter.reset()
        reset_key, period_keys = episode_keys(core.episode_key(7, episode), HORIZON)
        pure_obs, state = env.reset(reset_key, params)
        np.testing.assert_array_equal(obs, pure_obs[seat])
        for t in range(HORIZON):
            obs, reward, terminated, truncated, info = adapter.step(action_index)
            state, _, pure_info = pure_period(state, period_keys[t])
            np.testing.assert_array_equal(info["orders"], pure_info["orders"])
            np.testing.assert_array_equal(info["cost"], pure_info["cost"])
            np.testing.assert_array_equal(obs, env.get_obs(state, params)[seat])
            assert reward == pytest.approx(-float(pure_info["cost"].sum()) * float(params.reward_scale))
            assert not terminated and truncated == (t == HORIZON - 1)
    with pytest.raises(RuntimeError, match="call reset"):
        adapter.step(0)


def test_the_same_seed_gives_the_same_episode_and_own_rewards_are_the_seats():
    def play(seed, reward):
        env = gymnasium_env.BeerGameEnv("basic", seat="wholesaler", reward=reward, horizon=HORIZON)
        env.reset(seed=seed)
        env.action_space.seed(seed)
        return [env.step(env.action_space.sample())[1:] for _ in range(HORIZON)]

    first, again, other = play(11, "team"), play(11, "team"), play(12, "team")
    assert [step[0] for step in first] == [step[0] for step in again]
    assert [step[0] for step in first] != [step[0] for step in other]
    for reward, _, _, info in play(11, "own"):
        assert reward == pytest.approx(-float(info["cost"][1]))  # basic's reward_scale is 1


def _vector_by_hand(env, params, co_players, seat, seed, num_games, actions):
    """The vector env's key scheme, one game at a time, in plain Python: the loop it is tested against."""
    play = jax.jit(core.play_seats, static_argnames=("env", "seats", "auto_reset"))
    rows = []
    for game, key in enumerate(jax.random.split(jax.random.PRNGKey(seed), num_games)):
        key, reset_key = jax.random.split(key)
        obs, state = env.reset(reset_key, params)
        trajectory = [np.asarray(obs[seat])]
        for action in actions[:, game]:
            key, period_key = jax.random.split(key)
            obs, state, _, _, truncated, info = play(
                env, params, co_players, (seat,), state, jnp.asarray([action], jnp.int32), period_key, auto_reset=True
            )
            trajectory.append((np.asarray(obs[seat]), bool(truncated), np.asarray(info[jaxbeer.FINAL_OBS][seat])))
        rows.append(trajectory)
    return rows


def test_vector_env_equals_a_plain_loop_and_resets_in_the_same_step():
    num_games, seat, seed = 3, 2, 5
    vector = gymnasium.make_vec(
        gymnasium_env.SEAT_ENV_ID,
        num_envs=num_games,
        vectorization_mode="vector_entry_point",
        seat=seat,
        co_players="pass_through",
        horizon=HORIZON,
    )
    assert vector.metadata["autoreset_mode"] == gymnasium.vector.AutoresetMode.SAME_STEP
    game = vector.unwrapped.game
    actions = np.random.default_rng(0).integers(0, game.env.config.num_actions, (HORIZON + 3, num_games))
    expected = _vector_by_hand(game.env, game.params, game.co_players, seat, seed, num_games, actions)
    obs, _ = vector.reset(seed=seed)
    assert obs.shape == (num_games, game.env.obs_dim) and obs.dtype == np.float32
    np.testing.assert_array_equal(obs, np.stack([rows[0] for rows in expected]))
    for t, action in enumerate(actions):
        obs, rewards, terminated, truncated, info = vector.step(action)
        assert rewards.shape == (num_games,) and not terminated.any()
        for g in range(num_games):
            want_obs, want_truncated, want_final = expected[g][t + 1]
            np.testing.assert_array_equal(obs[g], want_obs)
            assert truncated[g] == want_truncated == (t == HORIZON - 1)
            np.testing.assert_array_equal(info["final_obs"][g], want_final)
        np.testing.assert_array_equal(info["_final_obs"], truncated)
        if truncated.any():  # same step: the new episode's first observation, the old one's last in info
            assert np.all(obs[:, 6] == 0.0) and np.all(info["final_obs"][:, 6] == 1.0)
    vector.close()


def test_a_loaded_learned_team_plays_the_co_player_seats(ippo_run):
    import algorithms

    loaded = algorithms.load_policy(ippo_run)
    overrides = {"horizon": HORIZON, "action_mode": loaded.env.config.action_mode}
    adapter = gymnasium_env.BeerGameEnv(loaded.config.scenario, seat=0, co_players=loaded.policy, **overrides)
    assert adapter.game.co_players is loaded.policy
    adapter.reset(seed=0)
    state = adapter._state
    _, _, _, _, info = adapter.step(0)
    policy_key = jax.random.split(adapter._period_keys[0])[0]
    np.testing.assert_array_equal(info["orders"][1:], loaded.policy(policy_key, state, adapter.game.params)[1:])


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: gymnasium_env.BeerGameEnv(seat=4), r"seat must be an echelon index in \[0, 3\]"),
        (lambda: gymnasium_env.BeerGameEnv(seat="factory"), "or one of \\['retailer'"),
        (lambda: gymnasium_env.BeerGameEnv(reward="profit"), r"reward must be one of \['team', 'own'\]"),
        (lambda: gymnasium_env.BeerGameEnv(co_players=["sterman"]), "co_players must be a jaxbeer Policy"),
        (lambda: gymnasium_env.BeerGameEnv(co_players="genius"), "co_players must be a jaxbeer Policy"),
        (lambda: gymnasium_env.BeerGameEnv(render_mode="human"), "render_mode must be None or one of"),
        (lambda: gymnasium_env.BeerGameVectorEnv(num_envs=0), "num_envs must be an integer >= 1, got 0"),
        (lambda: gymnasium_env.BeerGameEnv(horizon=0), "horizon"),
    ],
)
def test_bad_settings_raise_naming_the_field(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_an_action_outside_the_space_is_refused_before_the_step():
    env = gymnasium_env.BeerGameEnv(horizon=HORIZON)
    env.reset(seed=0)
    for bad in (-1, env.action_space.n, 2.5):
        with pytest.raises(ValueError, match="action must lie in Discrete"):
            env.step(bad)
    vector = gymnasium_env.BeerGameVectorEnv(num_envs=2, horizon=HORIZON)
    vector.reset(seed=0)
    with pytest.raises(ValueError, match="actions must lie in MultiDiscrete"):
        vector.step(np.zeros(3, np.int64))
