"""Dynamics of jaxbeer's env: hand-worked periods, initial conditions, auto-reset,
invariants, vmap/jit against a Python loop, retracing and determinism."""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import jaxbeer
from jaxbeer import policies
from jaxbeer.env import FINAL_OBS, FINAL_STATE

TRACE = [4, 6, 1, 9, 2, 7, 7, 7]


def two_echelon_game(**overrides):
    settings_ = dict(
        num_agents=2,
        horizon=5,
        demand_trace=TRACE,
        shipment_lead=[1, 2],
        order_lead=[1],
        initial_inventory=[5, 5],
        initial_order=[3, 3],
        initial_shipment=[2, 2],
        holding_cost=[1.0, 1.0],
        backlog_cost=[2.0, 2.0],
        max_order=20,
    )
    settings_.update(overrides)
    return jaxbeer.make("seed-default", **settings_)


def run_orders(env, params, orders_per_period, key=jax.random.key(0)):
    _, state = env.reset(key, params)
    outputs = []
    for t, orders in enumerate(orders_per_period):
        result = env.step_orders(jax.random.fold_in(key, t), state, jnp.asarray(orders), params)
        outputs.append(result)
        state = result[1]
    return outputs


def test_initial_conditions_fill_the_pipelines():
    env, params = two_echelon_game()
    obs, state = env.reset(jax.random.key(0), params)
    np.testing.assert_array_equal(state.net_inventory, [5, 5])
    # Echelon 0 receives after 1 period (slot 0 only), echelon 1 after 2 (slots 0, 1).
    np.testing.assert_array_equal(state.shipment_pipe, [[2, 0, 0], [2, 2, 0]])
    # Retailer's slot 0 is the first demand; the wholesaler's holds the retailer's initial order.
    np.testing.assert_array_equal(state.order_pipe, [[4, 0], [3, 0]])
    # OO = incoming shipments + own outgoing orders in transit.
    np.testing.assert_array_equal(state.on_order, [2 + 3, 4])
    np.testing.assert_array_equal(state.last_order, [3, 3])
    assert int(state.period) == 0
    scale = float(params.obs_scale)
    np.testing.assert_allclose(obs[0], np.array([5, 0, 5, 2, 4, 3, 0]) * np.array([scale] * 6 + [1]), rtol=1e-6)


def test_classic_scenario_starts_in_sterman_steady_state():
    env, params = jaxbeer.make("classic")
    _, state = env.reset(jax.random.key(0), params)
    np.testing.assert_array_equal(state.net_inventory, [12] * 4)
    np.testing.assert_array_equal(state.shipment_pipe[:, :3], [[4, 4, 0], [4, 4, 0], [4, 4, 0], [4, 4, 4]])
    np.testing.assert_array_equal(state.on_order, [16, 16, 16, 12])
    rollout = jaxbeer.rollout(env, params, policies.pass_through(), jax.random.key(0))
    np.testing.assert_array_equal(rollout["demand"][0, :6], [4, 4, 4, 4, 8, 8])


def test_hand_worked_periods_with_fixed_leads():
    env, params = two_echelon_game()
    outputs = run_orders(env, params, [[6, 1], [0, 0], [0, 0], [0, 0], [0, 0]])
    expected = [
        # demand, orders, arriving order, shipped, net inventory, cost (h=1, b=2)
        dict(demand=4, arriving_order=[4, 3], shipped=[4, 3], net_inventory=[3, 4], cost=[3, 4], on_order=[9, 3]),
        dict(demand=6, arriving_order=[6, 6], shipped=[6, 6], net_inventory=[0, 0], cost=[0, 0], on_order=[6, 1]),
        dict(demand=1, arriving_order=[1, 0], shipped=[1, 0], net_inventory=[5, 1], cost=[5, 1], on_order=[0, 0]),
        dict(demand=9, arriving_order=[9, 0], shipped=[5, 0], net_inventory=[-4, 1], cost=[8, 1], on_order=[0, 0]),
        dict(demand=2, arriving_order=[2, 0], shipped=[0, 0], net_inventory=[-6, 1], cost=[12, 1], on_order=[0, 0]),
    ]
    for t, ((obs, state, reward, terminated, truncated, info), want) in enumerate(zip(outputs, expected)):
        assert int(info["demand"]) == want["demand"], t
        np.testing.assert_array_equal(info["arriving_order"], want["arriving_order"], err_msg=f"t={t}")
        np.testing.assert_array_equal(info["shipped"], want["shipped"], err_msg=f"t={t}")
        np.testing.assert_array_equal(info["net_inventory"], want["net_inventory"], err_msg=f"t={t}")
        np.testing.assert_allclose(info["cost"], want["cost"], err_msg=f"t={t}")
        np.testing.assert_allclose(reward, -np.asarray(want["cost"], np.float32), err_msg=f"t={t}")
        assert not bool(terminated)
        assert bool(truncated) == (t == 4)
        if t < 4:
            np.testing.assert_array_equal(state.on_order, want["on_order"], err_msg=f"t={t}")
    # The backlogged retailer filled nothing of the new demand on time.
    np.testing.assert_array_equal(outputs[4][5]["filled"], [0, 0])
    np.testing.assert_array_equal(outputs[3][5]["filled"], [5, 0])
    # After period 0 the shipment of 3 sits one slot from the retailer; production of 1 two slots away.
    state0 = outputs[0][1]
    np.testing.assert_array_equal(state0.shipment_pipe, [[3, 0, 0], [2, 1, 0]])
    np.testing.assert_array_equal(state0.order_pipe, [[6, 0], [6, 0]])


def test_zero_order_lead_arrives_the_same_period():
    env, params = two_echelon_game(
        order_lead=[0],
        shipment_lead=[1, 1],
        initial_inventory=[10, 10],
        initial_order=[0, 0],
        initial_shipment=[0, 0],
        demand_trace=[3] * 8,
    )
    ((_, state, _, _, _, info),) = run_orders(env, params, [[5, 0]])
    np.testing.assert_array_equal(info["arriving_order"], [3, 5])
    np.testing.assert_array_equal(info["shipped"], [3, 5])
    np.testing.assert_array_equal(info["net_inventory"], [7, 5])
    # The wholesaler's shipment reaches the retailer next period.
    np.testing.assert_array_equal(state.shipment_pipe[:, 0], [5, 0])
    np.testing.assert_array_equal(state.on_order, [5, 0])


def test_relative_actions_order_arrival_plus_x_and_clip():
    env, params = two_echelon_game(action_mode="relative", x_low=-2, x_high=2)
    _, state = env.reset(jax.random.key(0), params)
    orders = env.action_to_orders(state, jnp.array([1, -9]), params)
    # AO = [4, 3]; x is clipped into [-2, 2].
    np.testing.assert_array_equal(orders, [5, 1])
    env_abs, params_abs = two_echelon_game(max_order=6)
    np.testing.assert_array_equal(env_abs.action_to_orders(state, jnp.array([-3, 50]), params_abs), [0, 6])
    assert env.action_space(params).low == -2 and env.action_space(params).high == 2


def test_order_up_to_actions_top_the_inventory_position_up_to_the_target():
    env, params = jaxbeer.make("classic", action_mode="order_up_to", max_order=40)
    _, state = env.reset(jax.random.key(0), params)
    # Inventory position IL + OO - AO = 12 + 16 - 4 = 24 (manufacturer: 12 + 12 - 4 = 20).
    np.testing.assert_array_equal(env.action_to_orders(state, jnp.array([30, 24, 10, 99]), params), [6, 0, 0, 20])
    assert (env.config.num_actions, env.config.action_low, env.config.action_high) == (41, 0, 40)
    _, _, _, _, _, info = env.step(jax.random.key(1), state, jnp.array([30, 24, 10, 25]), params)
    np.testing.assert_array_equal(info["orders"], [6, 0, 0, 5])
    env_abs, _ = jaxbeer.make("classic", max_order=40)
    assert env.obs_dim == env_abs.obs_dim and env.config.num_actions == env_abs.config.num_actions


def test_bad_action_shapes_and_dtypes_raise_at_trace_time_naming_the_action():
    env, params = jaxbeer.make("basic")
    _, state = env.reset(jax.random.key(0), params)
    with pytest.raises(ValueError, match=r"action must have shape \(4,\)"):
        env.step(jax.random.key(1), state, jnp.zeros(3, jnp.int32), params)
    with pytest.raises(TypeError, match=r"action must be an integer array int32\[4\], got float32"):
        jax.jit(env.step)(jax.random.key(1), state, jnp.zeros(4, jnp.float32), params)
    with pytest.raises(ValueError, match="action must have shape"):
        env.step_orders(jax.random.key(1), state, jnp.zeros((4, 1), jnp.int32), params)


def test_spec_sheet_example_runs():
    import doctest

    import jaxbeer.env

    failures, tried = doctest.testmod(jaxbeer.env, verbose=False)
    assert tried > 0 and failures == 0


def test_team_reward_and_reward_scale():
    env, params = two_echelon_game(team_reward=True, reward_scale=0.5)
    ((_, _, reward, _, _, info),) = run_orders(env, params, [[6, 1]])
    np.testing.assert_allclose(reward, [-3.5, -3.5])
    np.testing.assert_allclose(info["cost"], [3, 4])


def test_auto_reset_contract():
    env, params = two_echelon_game()
    outputs = run_orders(env, params, [[1, 1]] * 6)
    obs, state, _, _, truncated, info = outputs[4]
    assert bool(truncated)
    # The returned obs and state belong to a fresh episode ...
    fresh_obs, fresh_state = env.reset(jax.random.key(1), params)
    chex.assert_trees_all_equal(state, fresh_state)
    np.testing.assert_allclose(obs, fresh_obs)
    # ... and final_obs is the obs the finished episode ended on.
    _, unreset_state, _, _, _, unreset_info = env.step_env(
        jax.random.fold_in(jax.random.key(0), 4), outputs[3][1], jnp.array([1, 1]), params
    )
    np.testing.assert_allclose(info[FINAL_OBS], unreset_info[FINAL_OBS])
    np.testing.assert_allclose(info[FINAL_OBS], env.get_obs(unreset_state, params))
    # ... and final_state is the state it ended in, before the reset.
    chex.assert_trees_all_equal(info[FINAL_STATE], unreset_state)
    assert int(unreset_state.period) == 5
    # The next period is period 0 of the new episode: its demand is the trace's first.
    assert int(outputs[5][5]["demand"]) == TRACE[0]
    assert not bool(outputs[5][4])


def test_fresh_demand_after_auto_reset():
    env, params = jaxbeer.make("seed-default", horizon=3)
    key = jax.random.key(3)
    _, state = env.reset(key, params)
    first_demands = []
    for t in range(3 * 40):
        _, state, _, _, truncated, _ = env.step(jax.random.fold_in(key, t), state, jnp.zeros(4, jnp.int32), params)
        if bool(truncated):
            first_demands.append(int(state.order_pipe[0, 0]))
    assert len(first_demands) == 40
    # Poisson(8) first demands vary from episode to episode.
    assert len(set(first_demands)) > 5
    assert 5 < np.mean(first_demands) < 11


def test_determinism_and_fresh_randomness():
    env, params = jaxbeer.make("uniform-0-8", horizon=30)
    policy = policies.base_stock(jaxbeer.literature_levels("uniform-0-8"))
    a = jaxbeer.rollout(env, params, policy, jax.random.key(7), 2)
    b = jaxbeer.rollout(env, params, policy, jax.random.key(7), 2)
    c = jaxbeer.rollout(env, params, policy, jax.random.key(8), 2)
    chex.assert_trees_all_equal(a, b)
    assert not np.array_equal(a["demand"], c["demand"])
    assert not np.array_equal(a["demand"][0], a["demand"][1])


# ------------------------------------------------------------- invariants
RANDOM_LEAD_GAME = jaxbeer.make(
    "seed-default",
    horizon=12,
    max_order=30,
    shipment_lead_min=[1, 1, 1, 1],
    shipment_lead_max=[3, 3, 3, 3],
    order_lead_min=[0, 0, 0],
    order_lead_max=[2, 2, 2],
)


@jax.jit
def _invariant_rollout(params, key, actions):
    env = RANDOM_LEAD_GAME[0]
    _, state = env.reset(key, params)

    def period(state, inputs):
        step_key, action = inputs
        _, next_state, reward, _, _, info = env.step_env(step_key, state, action, params)
        return next_state, (next_state, reward, info)

    keys = jax.random.split(key, actions.shape[0])
    return state, jax.lax.scan(period, state, (keys, actions))[1]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.data(),
    seed=st.integers(0, 2**31 - 1),
)
def test_units_and_orders_are_conserved(data, seed):
    """Units that entered the chain (initial stock, initial shipments in transit,
    production) equal units in the chain (on hand, in transit) plus units delivered
    to customers; and every echelon's on-order equals its incoming shipments, its
    orders in transit and what its supplier owes it."""
    env, base = RANDOM_LEAD_GAME
    draw = data.draw
    lead_min = np.array(draw(st.lists(st.integers(1, 3), min_size=4, max_size=4)))
    lead_max = np.maximum(lead_min, draw(st.lists(st.integers(1, 3), min_size=4, max_size=4)))
    order_min = np.array(draw(st.lists(st.integers(0, 2), min_size=3, max_size=3)))
    order_max = np.maximum(order_min, draw(st.lists(st.integers(0, 2), min_size=3, max_size=3)))
    params = base.replace(
        shipment_lead_min=jnp.asarray(lead_min, jnp.int32),
        shipment_lead_max=jnp.asarray(lead_max, jnp.int32),
        order_lead_min=jnp.asarray(order_min, jnp.int32),
        order_lead_max=jnp.asarray(order_max, jnp.int32),
        initial_inventory=jnp.asarray(draw(st.lists(st.integers(0, 20), min_size=4, max_size=4)), jnp.int32),
        initial_order=jnp.asarray(draw(st.lists(st.integers(0, 10), min_size=4, max_size=4)), jnp.int32),
        initial_shipment=jnp.asarray(draw(st.lists(st.integers(0, 10), min_size=4, max_size=4)), jnp.int32),
        holding_cost=jnp.asarray(draw(st.lists(st.floats(0, 5), min_size=4, max_size=4)), jnp.float32),
        backlog_cost=jnp.asarray(draw(st.lists(st.floats(0, 5), min_size=4, max_size=4)), jnp.float32),
    )
    actions = jnp.asarray(np.random.default_rng(seed).integers(-5, 35, size=(env.config.horizon, 4)), jnp.int32)
    initial, (states, rewards, infos) = _invariant_rollout(params, jax.random.key(seed), actions)

    entered = int(initial.net_inventory.sum() + initial.shipment_pipe.sum()) + np.cumsum(infos["orders"][:, -1])
    on_hand = np.maximum(np.asarray(states.net_inventory), 0).sum(axis=1)
    in_transit = np.asarray(states.shipment_pipe).sum(axis=(1, 2))
    delivered = np.cumsum(infos["shipped"][:, 0])
    np.testing.assert_array_equal(entered, on_hand + in_transit + delivered)

    owed_upstream = np.maximum(-np.asarray(states.net_inventory), 0)[:, 1:]
    orders_in_transit = np.asarray(states.order_pipe).sum(axis=2)[:, 1:]
    incoming = np.asarray(states.shipment_pipe).sum(axis=2)
    expected_on_order = incoming + np.concatenate(
        [orders_in_transit + owed_upstream, np.zeros((env.config.horizon, 1), int)], axis=1
    )
    np.testing.assert_array_equal(states.on_order, expected_on_order)

    for leaf in jax.tree.leaves((states, rewards, infos)):
        assert np.all(np.isfinite(np.asarray(leaf, np.float64)))
    assert np.all(np.asarray(infos["cost"]) >= 0)
    assert np.all(np.asarray(infos["orders"]) >= 0) and np.all(np.asarray(infos["orders"]) <= 30)


def test_random_leads_stay_within_their_range():
    env, params = RANDOM_LEAD_GAME
    params = params.replace(
        shipment_lead_min=jnp.array([2, 2, 2, 2], jnp.int32), shipment_lead_max=jnp.array([3, 3, 3, 3], jnp.int32)
    )
    _, state = env.reset(jax.random.key(0), params)
    seen = set()
    for t in range(30):
        before = state.shipment_pipe
        orders = jnp.array([0, 0, 0, 5], jnp.int32)
        _, state, _, _, _, _ = env.step_orders(jax.random.key(t), state, orders, params, auto_reset=False)
        # Production of 5 lands 2 or 3 periods out, i.e. slot 1 or 2 after the shift.
        added = np.asarray(state.shipment_pipe[3]) - np.concatenate([np.asarray(before[3, 1:]), [0]])
        (slot,) = np.flatnonzero(added)
        seen.add(int(slot) + 1)
    assert seen == {2, 3}


# ------------------------------------------------- vmap / jit / retracing
def test_vmapped_jitted_rollout_equals_python_loop():
    env, params = jaxbeer.make("uniform-0-8", horizon=4, action_mode="relative")
    num_games, num_periods = 3, 9  # crosses two auto-resets
    keys = jax.random.split(jax.random.key(11), num_games)
    actions = jax.random.randint(jax.random.key(12), (num_periods, num_games, 4), -8, 9)

    @jax.jit
    def batched(keys, actions):
        reset_keys = jax.vmap(lambda k: jax.random.fold_in(k, 1000))(keys)
        obs, state = jax.vmap(env.reset, in_axes=(0, None))(reset_keys, params)

        def period(state, inputs):
            t, action = inputs
            step_keys = jax.vmap(lambda k: jax.random.fold_in(k, t))(keys)
            out = jax.vmap(env.step, in_axes=(0, 0, 0, None))(step_keys, state, action, params)
            return out[1], (out[0], out[2], out[4], out[5]["cost"], out[5]["final_obs"])

        return jax.lax.scan(period, state, (jnp.arange(num_periods), actions))[1]

    obs_b, reward_b, trunc_b, cost_b, final_b = batched(keys, actions)
    for game in range(num_games):
        _, state = env.reset(jax.random.fold_in(keys[game], 1000), params)
        for t in range(num_periods):
            obs, state, reward, _, truncated, info = env.step(
                jax.random.fold_in(keys[game], t), state, actions[t, game], params
            )
            np.testing.assert_allclose(obs, obs_b[t, game], rtol=1e-6)
            np.testing.assert_allclose(reward, reward_b[t, game], rtol=1e-6)
            np.testing.assert_allclose(info["cost"], cost_b[t, game], rtol=1e-6)
            np.testing.assert_allclose(info["final_obs"], final_b[t, game], rtol=1e-6)
            assert bool(truncated) == bool(trunc_b[t, game])


def test_vmap_over_params_varies_costs_per_game():
    env, params = jaxbeer.make("classic", horizon=10)
    costs = jnp.array([0.5, 1.0, 2.0])
    batched = jax.vmap(lambda h: params.replace(holding_cost=jnp.full((4,), h, jnp.float32)))(costs)
    policy = policies.pass_through()
    _, state = env.reset(jax.random.key(0), params)
    orders = policy(None, state, params)
    step = jax.vmap(lambda p: env.step_orders(jax.random.key(0), state, orders, p)[5]["holding"])
    holding = step(batched)
    np.testing.assert_allclose(holding[1], 2 * holding[0])
    np.testing.assert_allclose(holding[2], 4 * holding[0])


def test_step_does_not_retrace():
    env, params = jaxbeer.make("basic")

    @jax.jit
    @chex.assert_max_traces(n=1)
    def step(key, state, action, params):
        return env.step(key, state, action, params)

    _, state = env.reset(jax.random.key(0), params)
    for t in range(5):
        _, state, *_ = step(jax.random.key(t), state, jnp.full((4,), t, jnp.int32), params)
    step(jax.random.key(9), state, jnp.ones(4, jnp.int32), params.replace(holding_cost=params.holding_cost * 2))
    chex.clear_trace_counter()


def test_spaces_and_global_state_shapes():
    env, params = jaxbeer.make("classic", obs_history=3)
    obs, state = env.reset(jax.random.key(0), params)
    assert obs.shape == env.observation_space(params).shape == (4, 7 + 3 * 3)
    assert obs.dtype == jnp.float32
    assert env.action_space(params).num_values == env.config.max_order + 1
    assert env.global_state(state, params).shape == (env.global_state_dim,)
    assert bool(env.observation_space(params).contains(obs))
    assert bool(env.action_space(params).contains(env.action_space(params).sample(jax.random.key(1))))


def test_observation_history_records_last_periods_newest_first():
    env, params = two_echelon_game(obs_history=2)
    outputs = run_orders(env, params, [[6, 1], [2, 0]])
    history = np.asarray(outputs[1][1].history)
    # (arriving order, arriving shipment, order) of period 1 then period 0.
    np.testing.assert_array_equal(history[0], [[6, 3, 2], [4, 2, 6]])
    np.testing.assert_array_equal(history[1], [[6, 2, 0], [3, 2, 1]])
    scale = float(params.obs_scale)
    np.testing.assert_allclose(outputs[1][0][0, 7:], np.array([6, 3, 2, 4, 2, 6]) * scale, rtol=1e-6)
