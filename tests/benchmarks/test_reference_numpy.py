"""jaxbeer's jitted step and the plain NumPy reference give identical trajectories.

Both are driven from the same draws: jaxbeer runs from explicit keys, and the
test recomputes from those keys (with ``jax.random.bits``, as ``env.step``
documents) the demand path and the lead time of every shipment and order,
then replays them, with the same actions, into ``benchmarks.reference_numpy``.
Every scenario runs in both action modes, with fixed and with random lead
times, across automatic resets.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxbeer
from benchmarks.reference_numpy import ReferenceBeerGame, ReferenceSettings
from jaxbeer.demand import random_words

NUM_GAMES = 2
HORIZON = 6
NUM_STEPS = 2 * HORIZON + 3  # crosses two automatic resets
RANDOM_LEADS = dict(
    shipment_lead_min=[1, 1, 1, 1], shipment_lead_max=[3, 3, 3, 3], order_lead_min=[0, 0, 0], order_lead_max=[2, 2, 2]
)
INFO_FIELDS = (
    "cost",
    "holding",
    "backlog",
    "orders",
    "shipped",
    "filled",
    "arriving_order",
    "net_inventory",
    "demand",
    "final_obs",
)
STATE_FIELDS = ("net_inventory", "on_order", "shipment_pipe", "order_pipe", "last_order", "period", "history")

# Every scenario twice: absolute orders with its own fixed leads, and relative
# ("d+x") orders with random leads (including order lead 0), observation history
# and the team reward. Each case compiles once, so the list is kept short.
CASES = []
for _name in jaxbeer.scenario_names():
    CASES.append(pytest.param(_name, dict(action_mode="absolute"), id=f"{_name}-absolute"))
    CASES.append(
        pytest.param(
            _name,
            dict(action_mode="relative", obs_history=2, team_reward=True, **RANDOM_LEADS),
            id=f"{_name}-relative-random-leads",
        )
    )


@functools.partial(jax.jit, static_argnums=0)
def jax_rollout(env, params, reset_keys, step_keys, actions):
    """reset, then ``NUM_STEPS`` vmapped, auto-resetting steps; every output stacked over time."""
    obs, state = jax.vmap(env.reset, in_axes=(0, None))(reset_keys, params)

    def period(state, inputs):
        keys, action = inputs
        out = jax.vmap(env.step, in_axes=(0, 0, 0, None))(keys, state, action, params)
        return out[1], out

    _, trajectory = jax.lax.scan(period, state, (step_keys, actions))
    return obs, state, trajectory


@functools.partial(jax.jit, static_argnums=1)
def words_of(keys, num_words):
    """uint32 words the env draws from each key (``jax.random.bits``, vmapped over leading axes)."""
    draw = lambda key: jax.random.bits(key, (num_words,), jnp.uint32)  # noqa: E731
    for _ in range(keys.ndim - 1):
        draw = jax.vmap(draw)
    return draw(keys)


def leads_from_words(settings: ReferenceSettings, words: np.ndarray):
    """The env's mapping of a period's words 1.. to shipment and order leads (before clipping)."""
    num_agents = settings.num_agents
    shipment_min, shipment_max = np.array(settings.shipment_lead_min), np.array(settings.shipment_lead_max)
    order_min, order_max = np.array(settings.order_lead_min), np.array(settings.order_lead_max)
    if words.shape[-1] == 1:  # fixed leads: no draw
        return shipment_min, order_min
    ship = shipment_min + (words[1 : 1 + num_agents] % (shipment_max - shipment_min + 1).astype(np.uint32)).astype(
        np.int64
    )
    order = order_min + (words[1 + num_agents :] % (order_max - order_min + 1).astype(np.uint32)).astype(np.int64)
    return ship, order


def assert_same(name, got, want, where):
    np.testing.assert_array_equal(np.asarray(got), np.asarray(want), err_msg=f"{name} differs at {where}")


@pytest.mark.parametrize("scenario, overrides", CASES)
def test_jaxbeer_matches_numpy_reference(scenario, overrides):
    env, params = jaxbeer.make(scenario, horizon=HORIZON, **overrides)
    cfg = env.config
    settings = ReferenceSettings.from_jaxbeer(env, params)
    num_words = 1 + (2 * cfg.num_agents - 1 if cfg.random_leads else 0)

    key = jax.random.PRNGKey(sum(map(ord, scenario)) + len(overrides))
    reset_key, steps_key, action_key = jax.random.split(key, 3)
    reset_keys = jax.random.split(reset_key, NUM_GAMES)
    step_keys = jax.random.split(steps_key, NUM_STEPS * NUM_GAMES).reshape(NUM_STEPS, NUM_GAMES, 2)
    # Actions reach past both ends of the action space: the env clips them, and so does the reference.
    actions = np.asarray(
        jax.random.randint(action_key, (NUM_STEPS, NUM_GAMES, cfg.num_agents), cfg.action_low - 3, cfg.action_high + 4)
    )

    obs0, state0, (obs, state, reward, terminated, truncated, info) = jax.device_get(
        jax_rollout(env, params, reset_keys, step_keys, actions)
    )
    reset_words = np.asarray(jax.vmap(lambda k: jax.random.bits(k, (), jnp.uint32))(reset_keys))
    step_words = np.asarray(words_of(step_keys, num_words))  # [T, G, num_words]

    assert truncated[:, 0].sum() == NUM_STEPS // HORIZON
    for game_index in range(NUM_GAMES):
        game = ReferenceBeerGame(settings)
        start, first_word = 0, int(reset_words[game_index])
        while start < NUM_STEPS:
            # Demand path of this episode: d_0 from the reset word (or the word of the
            # step that truncated the last episode), d_p from the word of step p-1.
            words = step_words[start : start + HORIZON, game_index]
            demand = [settings.demand_from_word(first_word, 0)]
            demand += [settings.demand_from_word(int(w[0]), p + 1) for p, w in enumerate(words)]
            demand += [0] * (HORIZON + 1 - len(demand))  # the rollout may stop inside an episode
            leads = [leads_from_words(settings, w) for w in words]
            shipment_leads = np.array([s for s, _ in leads] + [settings.shipment_lead_min] * (HORIZON - len(leads)))
            order_leads = np.array([o for _, o in leads] + [settings.order_lead_min] * (HORIZON - len(leads)))
            reference_obs = game.reset(demand=demand, shipment_leads=shipment_leads, order_leads=order_leads)

            if start == 0:
                want_obs, want_state = obs0[game_index], jax.tree.map(lambda x: x[game_index], state0)
            else:  # the truncating step returned the new episode's first observation and state
                want_obs = obs[start - 1, game_index]
                want_state = jax.tree.map(lambda x: x[start - 1, game_index], state)
            where = f"reset of game {game_index} before step {start}"
            assert_same("obs", want_obs, reference_obs, where)
            for field in STATE_FIELDS:
                assert_same(f"state.{field}", getattr(want_state, field), game.state()[field], where)

            for t in range(start, min(start + HORIZON, NUM_STEPS)):
                where = f"step {t} of game {game_index} ({scenario}, {overrides})"
                reference_obs, reference_reward, reference_terminated, reference_truncated, reference_info = game.step(
                    actions[t, game_index]
                )
                assert_same("reward", reward[t, game_index], reference_reward, where)
                assert not terminated[t, game_index] and reference_terminated is False
                assert bool(truncated[t, game_index]) == reference_truncated, where
                for field in INFO_FIELDS:
                    assert_same(f"info[{field!r}]", info[field][t, game_index], reference_info[field], where)
                if not reference_truncated:
                    assert_same("obs", obs[t, game_index], reference_obs, where)
                    for field in STATE_FIELDS:
                        assert_same(f"state.{field}", getattr(state, field)[t, game_index], game.state()[field], where)
            first_word = int(step_words[min(start + HORIZON, NUM_STEPS) - 1, game_index, 0])
            start += HORIZON


def test_random_words_are_jax_random_bits():
    """The env's fused threefry (``random_words``) is bit for bit ``jax.random.bits``,
    for raw and typed keys; the replay above recomputes the draws with the latter."""
    for keys in (jax.random.split(jax.random.PRNGKey(7), 64), jax.random.split(jax.random.key(7), 64)):
        fused = jax.jit(jax.vmap(lambda k: random_words(k, 7)))(keys)
        plain = jax.vmap(lambda k: jax.random.bits(k, (7,), jnp.uint32))(keys)
        np.testing.assert_array_equal(fused, plain)
    single = jax.random.PRNGKey(3)
    np.testing.assert_array_equal(random_words(single, 1), jax.random.bits(single, (1,), jnp.uint32))


def test_reference_plays_alone():
    """Without given draws the reference samples its own demand and leads and keeps its books."""
    game = ReferenceBeerGame(
        ReferenceSettings.from_jaxbeer(*jaxbeer.make("seed-default", horizon=20, **RANDOM_LEADS)), seed=1
    )
    game.reset()
    rng = np.random.default_rng(0)
    demands, total_cost = [], 0.0
    for _ in range(20):
        _, reward, _, truncated, info = game.step(rng.integers(0, 30, size=4))
        demands.append(int(info["demand"]))
        total_cost += float(info["cost"].sum())
        np.testing.assert_array_equal(reward, -info["cost"])
        assert np.all(info["cost"] >= 0)
    assert truncated
    assert total_cost > 0
    assert len(set(demands)) > 1  # Poisson(8): twenty equal draws would be a broken sampler
