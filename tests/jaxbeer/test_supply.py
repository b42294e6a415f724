"""jaxbeer.supply: the single-product game as the P=1, M=1 case, hand-worked periods with transport modes, lost
sales and shared capacity, the allocation rules, conservation of units and orders, vmap/jit against a Python
loop, the supply policies and their optimiser, and bad input.

The file is bound by XLA compile time, so it compiles few programs: two games (``LOST_SALES_GAME``, 2 echelons,
and ``CHAIN_GAME``, 3 echelons with random leads and capacity) each with one jitted reset and one jitted step
(``reset``, ``step_orders``), shared by the hand-worked periods, the conservation test and the loop the vmapped
scan is checked against. Tests vary parameters (leads, capacities, costs, stocks, demand) as data."""

from __future__ import annotations

import doctest
import functools
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import jaxbeer
import jaxbeer.supply
from jaxbeer import supply_policies
from jaxbeer.env import FINAL_OBS, FINAL_STATE
from jaxbeer.rollouts import _team_costs_jit, search_levels
from jaxbeer.supply import MAX_CAPACITY, allocate, inventory_position, make_supply

FAST = {"shipment_lead": 1, "cost": 2.0}
REGULAR = {"shipment_lead": 2, "cost": 0.0}

# Two echelons, two products, a fast and a regular mode, lost sales; product 1 idle unless a test sets it.
LOST_SALES_GAME = make_supply(
    "seed-default",
    num_agents=2,
    horizon=6,
    products=[
        {"demand_trace": [1, 2, 3, 3, 3, 3], "initial_inventory": [2, 5]},
        {"demand_trace": [0] * 6, "initial_inventory": [0, 0]},
    ],
    order_lead=[0],
    initial_order=0,
    initial_shipment=0,
    holding_cost=1.0,
    backlog_cost=2.0,
    max_order=20,
    modes=[FAST, REGULAR],
    lost_sales=True,
    lost_sales_cost=[4.0, 1.0],
)
# Three echelons, three products, two modes with lead ranges, random order leads, production and shipping
# capacity, backlog. Demand is a trace, set per test.
CHAIN_GAME = make_supply(
    "seed-default",
    num_agents=3,
    horizon=8,
    max_order=20,
    products=3,
    demand_trace=[0] * 8,
    holding_cost=1.0,
    backlog_cost=2.0,
    modes=[
        {"shipment_lead_min": 1, "shipment_lead_max": 2, "cost": 1.0},
        {"shipment_lead_min": 2, "shipment_lead_max": 3, "cost": 0.0},
    ],
    order_lead_min=[0, 0],
    order_lead_max=[2, 2],
    production_capacity=20,
    shipping_capacity=15,
)


@functools.partial(jax.jit, static_argnums=0)
def reset(env, key, params):
    """``env.reset``, jitted once per game config."""
    return env.reset(key, params)


@functools.partial(jax.jit, static_argnums=0)
def step_orders(env, key, state, orders, params):
    """``env.step_orders`` (with the auto-reset), jitted once per game config and shared by its tests."""
    return env.step_orders(key, state, orders, params)


def play(env, params, orders_per_period, key=jax.random.key(0)):
    """``(initial state, outputs of each period)`` of a Python loop of ``step_orders`` from ``reset(key)``."""
    _, state = reset(env, key, params)
    initial, outputs = state, []
    for t, orders in enumerate(orders_per_period):
        result = step_orders(env, jax.random.fold_in(key, t), state, np.asarray(orders, np.int32), params)
        outputs.append(result)
        state = result[1]
    return initial, outputs


def with_fixed_leads(params, shipment_lead, order_lead, **fields):
    """``params`` with lead ranges of one value (draws of a random-lead game are then these leads) and ``fields``
    replaced."""
    shipment_lead, order_lead = np.asarray(shipment_lead, np.int32), np.asarray(order_lead, np.int32)
    arrays = {}
    for name, value in fields.items():
        arrays[name] = np.asarray(value, np.asarray(getattr(params, name)).dtype)
    return params.replace(
        shipment_lead_min=shipment_lead,
        shipment_lead_max=shipment_lead,
        order_lead_min=order_lead,
        order_lead_max=order_lead,
        **arrays,
    )


def product0(values, num_products):
    """An array whose last axis is products: ``values`` in product 0, zeros in the others."""
    values = np.asarray(values)
    out = np.zeros(values.shape + (num_products,), values.dtype)
    out[..., 0] = values
    return out


# ----------------------------------------------- P=1, M=1 is BeerGame's game
BEER_GAME_INFO = (
    "cost",
    "holding",
    "backlog",
    "orders",
    "shipped",
    "filled",
    "arriving_order",
    "net_inventory",
    "demand",
    FINAL_OBS,
)


@functools.partial(jax.jit, static_argnums=(0, 2))
def _lockstep(env, params, supply_env, supply_params, key, actions):
    """Both games from one reset key, with the same period keys and actions (``[A]`` vs ``[A, 1, 1]``)."""

    def play_game(game, game_params, shape):
        obs, state = game.reset(key, game_params)

        def period(state, inputs):
            t, action = inputs
            obs, state, reward, terminated, truncated, info = game.step(
                jax.random.fold_in(key, t), state, action.reshape(shape), game_params
            )
            kept = {name: info[name] for name in BEER_GAME_INFO}
            return state, (obs, reward, terminated, truncated, kept, game.global_state(state, game_params))

        return obs, jax.lax.scan(period, state, (jnp.arange(actions.shape[0]), actions))[1]

    num_agents = actions.shape[1]
    return play_game(env, params, (num_agents,)), play_game(supply_env, supply_params, (num_agents, 1, 1))


@pytest.mark.parametrize(
    "name, overrides",
    [
        # Order-up-to actions, history and random shipment and order leads in one game.
        (
            "basic",
            dict(
                action_mode="order_up_to",
                obs_history=2,
                horizon=5,
                shipment_lead_min=[1, 1, 1, 2],
                shipment_lead_max=[3, 2, 3, 4],
                order_lead_min=[0, 1, 0],
                order_lead_max=[2, 2, 2],
            ),
        ),
        ("classic", dict(action_mode="relative", team_reward=True, horizon=6)),
    ],
    ids=["order-up-to-history-random-leads", "relative-team-fixed-leads"],
)
def test_one_product_one_mode_is_the_beer_game_bit_for_bit(name, overrides):
    env, params = jaxbeer.make(name, **overrides)
    supply_env, supply_params = make_supply(name, **overrides)
    assert supply_env.config.game == env.config
    assert supply_env.action_shape == (4, 1, 1) and supply_env.obs_dim == env.obs_dim
    assert supply_env.global_state_dim == env.global_state_dim
    cfg = env.config
    # Actions a little outside the action space too, for the clipping; horizon + 3 periods cross the reset.
    actions = np.random.default_rng(3).integers(cfg.action_low - 2, cfg.action_high + 3, size=(cfg.horizon + 3, 4))
    beer, supply = _lockstep(env, params, supply_env, supply_params, jax.random.key(7), actions.astype(np.int32))
    (obs0, (obs, reward, terminated, truncated, info, global_state)) = beer
    s_obs0, (s_obs, s_reward, s_terminated, s_truncated, s_info, s_global_state) = supply
    np.testing.assert_array_equal(obs0, s_obs0)
    np.testing.assert_array_equal(obs, s_obs)
    np.testing.assert_array_equal(reward, s_reward)
    np.testing.assert_array_equal(global_state, s_global_state)
    np.testing.assert_array_equal(truncated, s_truncated)
    np.testing.assert_array_equal(terminated, s_terminated)
    assert np.flatnonzero(np.asarray(truncated)).tolist() == [cfg.horizon - 1]
    for field, value in info.items():
        np.testing.assert_array_equal(value, np.asarray(s_info[field]).reshape(value.shape), err_msg=field)
    # The games are not trivial: orders vary and someone holds stock or backlog.
    assert len(np.unique(np.asarray(info["orders"]))) > 2 and np.any(np.asarray(info["cost"]) > 0)


# ----------------------------------------------------------------- allocate
@functools.partial(jax.jit, static_argnames="rule")
def _allocate(requests, capacity, rule):
    return allocate(requests, capacity, rule)


def granted(requests, capacity, rule):
    """``allocate`` of up to 4 requests, padded with trailing zero requests (which get nothing) to one
    compiled length."""
    requests = np.asarray(requests, np.int32)
    padded = np.zeros(requests.shape[:-1] + (4,), np.int32)
    padded[..., : requests.shape[-1]] = requests
    out = np.asarray(_allocate(padded, np.asarray(capacity, np.int32), rule))
    assert np.all(out[..., requests.shape[-1] :] == 0)
    return out[..., : requests.shape[-1]].tolist()


def test_allocate_hand_worked():
    # Proportional: 7 * [5, 3, 2] / 10 = [3.5, 2.1, 1.4] -> floors [3, 2, 1] and one unit left, to the
    # largest remainder (0.5, request 0).
    assert granted([5, 3, 2], 7, "proportional") == [4, 2, 1]
    # Priority: in index order while capacity lasts.
    assert granted([5, 3, 2], 7, "priority") == [5, 2, 0]
    for rule in ("proportional", "priority"):
        # Within capacity, every request in full.
        assert granted([2, 1, 0], 7, rule) == [2, 1, 0]
        assert granted([3, 4], 7, rule) == [3, 4]
        # Zero requests get nothing, even when the others are cut; no capacity grants nothing.
        assert granted([0, 6, 0], 4, rule) == [0, 4, 0]
        assert granted([0, 0, 0], 3, rule) == [0, 0, 0]
        assert granted([5, 3, 2], 0, rule) == [0, 0, 0]
    # Ties in the remainder go to the lower index: 4 * [3, 3, 2] / 8 = [1.5, 1.5, 1.0] -> [1, 1, 1], one left
    # for requests 0 and 1 (remainder 0.5 each): request 0.
    assert granted([3, 3, 2], 4, "proportional") == [2, 1, 1]
    # 2 * [1, 1, 1] / 3: floors 0, three equal remainders; the two units go to requests 0 and 1.
    assert granted([1, 1, 1], 2, "proportional") == [1, 1, 0]
    # 2 * [1, 0, 2] / 3 = [0.67, 0, 1.33] -> floors [0, 0, 1]; the unit left goes to the larger remainder
    # (2/3, request 0), never to the zero request.
    assert granted([1, 0, 2], 2, "proportional") == [1, 0, 1]
    # Leading axes: one capacity per row.
    assert granted([[5, 3, 2], [1, 1, 1]], [7, 2], "proportional") == [[4, 2, 1], [1, 1, 0]]


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    requests=st.lists(st.integers(0, MAX_CAPACITY), min_size=4, max_size=4)
    | st.lists(st.integers(0, 12), min_size=4, max_size=4),
    capacity=st.integers(0, MAX_CAPACITY) | st.integers(0, 30),
)
def test_allocate_grants_within_requests_and_exactly_the_capacity(requests, capacity):
    requests = np.asarray(requests, np.int32)
    out = {rule: np.asarray(_allocate(requests, np.int32(capacity), rule)) for rule in ("proportional", "priority")}
    for rule, grant in out.items():
        assert np.all(grant >= 0) and np.all(grant <= requests), (rule, grant)
        assert int(grant.sum()) == min(capacity, int(requests.sum())), (rule, grant)
    # Priority: a request is served only once every earlier one is in full.
    full = out["priority"] == requests
    first_short = int(np.argmin(full)) if not full.all() else 4
    assert np.all(out["priority"][first_short + 1 :] == 0)


def test_allocate_counts_a_request_above_max_capacity_as_max_capacity():
    # The module docstring: a single request above 46,340 is counted as 46,340, and requests above the
    # capacity get exactly the capacity, by either rule.
    for rule in ("proportional", "priority"):
        assert granted([MAX_CAPACITY + 1, 0], MAX_CAPACITY, rule) == [MAX_CAPACITY, 0]
        assert granted([MAX_CAPACITY + 7, 3], 10, rule)[1] <= 3


# --------------------------------------------------------- two transport modes
def test_two_modes_hand_worked():
    env, params = LOST_SALES_GAME
    assert env.action_shape == (2, 2, 2) and env.config.game.shipment_buffer == 3
    np.testing.assert_allclose(params.transport_cost, [[2.0, 0.0], [2.0, 0.0]])  # [A, M]
    # Period 0: the retailer orders 3 fast and 4 regular of product 0 (order lead 0: they reach the wholesaler
    # now); the wholesaler, the producer here, starts 1 fast (lead 1) and 2 regular (lead 2).
    # Period 1: the retailer orders 1 fast; nobody else orders. Product 1 stays idle.
    orders = [product0([[3, 4], [1, 2]], 2), product0([[1, 0], [0, 0]], 2)]
    orders = [np.swapaxes(o, 1, 2) for o in orders]  # [A, M, P] -> [A, P, M]
    _, (first, second) = play(env, params, orders)

    _, state, reward, _, _, info = first
    # Wholesaler: 5 on hand, 3 + 4 due. Mode 0's 3 first, then 2 of mode 1's 4: it owes 2 by mode 1.
    np.testing.assert_array_equal(info["shipped"][:, 0], [[1, 0], [3, 2]])  # [A, M]; the retailer sold 1
    np.testing.assert_array_equal(state.owed[..., 0], [[0, 0], [0, 2]])
    # The 3 fast units went in at lead 1 and the 2 regular ones at lead 2: after the shift, slots 0 and 1.
    # Production: 1 fast unit at lead 1, 2 regular ones at lead 2, the same way.
    np.testing.assert_array_equal(state.shipment_pipe[..., 0], [[3, 2, 0], [1, 2, 0]])
    np.testing.assert_array_equal(info["produced"], [[1, 2], [0, 0]])  # [P, M]
    # Transport: 3 fast units x 2 into the retailer; 1 fast unit x 2 started by the wholesaler.
    np.testing.assert_allclose(info["transport"], [[6.0, 0.0], [2.0, 0.0]])
    # Retailer: 2 - 1 = 1 held (1) + transport 6; wholesaler: nothing held, 2 owed x 2 + transport 2.
    np.testing.assert_allclose(info["holding"][:, 0], [1.0, 0.0])
    np.testing.assert_allclose(info["backlog"][:, 0], [0.0, 4.0])
    np.testing.assert_allclose(info["cost"], [7.0, 6.0])
    np.testing.assert_allclose(reward, [-7.0, -6.0])
    np.testing.assert_array_equal(info["net_inventory"][:, 0], [1, -2])
    np.testing.assert_array_equal(info["filled"][:, 0], [1, 5])
    np.testing.assert_array_equal(info["lost"], [0, 0])
    # On order: the retailer's 7 = 3 + 2 in transit + 2 owed; the wholesaler's 3 in production.
    np.testing.assert_array_equal(state.on_order[:, 0], [7, 3])
    np.testing.assert_array_equal(inventory_position(state)[:, 0], [1 + 7 - 2, -2 + 3 - 0])
    # Observation: per echelon [on_hand, backlog, on_order, arriving shipment, arriving order (next demand 2),
    # last order], a block of P each, times obs_scale; then the elapsed share 1/6.
    scale = np.tile(np.asarray(params.obs_scale), 6)
    counts = [[1, 0, 0, 0, 7, 0, 3, 0, 2, 0, 7, 0], [0, 0, 2, 0, 3, 0, 1, 0, 0, 0, 3, 0]]
    np.testing.assert_allclose(first[0], np.c_[np.asarray(counts) * scale, [1 / 6, 1 / 6]], rtol=1e-6)

    _, state, _, _, _, info = second
    # Wholesaler: nothing on hand, 1 arriving (fast production); due: mode 0 the new 1, mode 1 the old 2.
    # Mode 0 is served first though mode 1's dues are older.
    np.testing.assert_array_equal(info["shipped"][:, 0], [[2, 0], [1, 0]])
    np.testing.assert_array_equal(state.owed[..., 0], [[0, 0], [0, 2]])
    np.testing.assert_array_equal(info["filled"][:, 0], [2, 1])
    # Retailer: [3, 2, 0] receives 3, gets 1 in slot 1 -> [3, 3, 0] -> shifted [3, 0, 0]; wholesaler [2, 0, 0].
    np.testing.assert_array_equal(state.shipment_pipe[..., 0], [[3, 0, 0], [2, 0, 0]])
    np.testing.assert_allclose(info["transport"], [[2.0, 0.0], [0.0, 0.0]])
    # Retailer: 1 + 3 - 2 = 2 held + transport 2; wholesaler: 2 owed x 2.
    np.testing.assert_allclose(info["cost"], [4.0, 4.0])
    np.testing.assert_array_equal(state.on_order[:, 0], [3 + 2, 2])
    np.testing.assert_array_equal(state.last_order, orders[1])
    # Product 1 never moved.
    for leaf in (state.on_hand, state.owed, state.shipment_pipe, state.on_order):
        assert np.all(np.asarray(leaf)[..., 1] == 0)


# ---------------------------------------------------------------- lost sales
def test_lost_sales_hand_worked():
    env, params = LOST_SALES_GAME
    params = params.replace(
        initial_inventory=np.asarray([[2, 3], [3, 10]], np.int32),  # [A, P]
        demand_trace=np.asarray([[6, 1], [2, 4], [0, 0], [0, 0], [0, 0], [0, 0]], np.int32),  # [T, P]
    )
    # Period 0: the retailer orders 10 of product 0 by the regular mode; the wholesaler produces 2 of it fast.
    orders = np.zeros((2, 2, 2, 2), np.int32)  # [T, A, P, M]
    orders[0, 0, 0, 1] = 10
    orders[0, 1, 0, 0] = 2
    _, (first, second) = play(env, params, orders)

    _, state, _, _, _, info = first
    np.testing.assert_array_equal(info["demand"], [6, 1])
    # Retailer: product 0 sells its 2 of 6 and loses 4; product 1 sells 1 of its 3.
    np.testing.assert_array_equal(info["shipped"][0], [[2, 0], [1, 0]])  # to customers, [P, M]
    np.testing.assert_array_equal(info["lost"], [4, 0])
    np.testing.assert_allclose(info["lost_cost"], [16.0, 0.0])
    # Retailer: holding 2 + lost 4 x 4. Wholesaler: 3 of 10 shipped (regular, free), 7 owed x 2, 10 held,
    # production 2 x 2 fast.
    np.testing.assert_allclose(info["holding"], [[0.0, 2.0], [0.0, 10.0]])
    np.testing.assert_allclose(info["backlog"], [[0.0, 0.0], [14.0, 0.0]])
    np.testing.assert_allclose(info["transport"], [[0.0, 0.0], [4.0, 0.0]])
    np.testing.assert_allclose(info["cost"], [2.0 + 16.0, 10.0 + 14.0 + 4.0])
    # The retailer owes its customers nothing (no backlog); upstream still backlogs.
    np.testing.assert_array_equal(state.owed, [[[0, 0], [0, 0]], [[0, 0], [7, 0]]])
    np.testing.assert_array_equal(info["net_inventory"], [[0, 2], [-7, 10]])
    np.testing.assert_array_equal(info["shipped"][1], [[0, 3], [0, 0]])

    _, state, _, _, _, info = second
    # Period 1: demand [2, 4]. Product 0: nothing on hand or arriving (the 3 arrive next period), 2 due (the
    # lost 4 are gone): loses 2. Product 1: 2 on hand for 4: sells 2, loses 2.
    np.testing.assert_array_equal(info["demand"], [2, 4])
    np.testing.assert_array_equal(info["shipped"][0], [[0, 0], [2, 0]])
    np.testing.assert_array_equal(info["lost"], [2, 2])
    np.testing.assert_allclose(info["lost_cost"], [8.0, 2.0])
    # The wholesaler ships the 2 it produced and owes 5.
    np.testing.assert_array_equal(info["shipped"][1], [[0, 2], [0, 0]])
    np.testing.assert_array_equal(state.owed, [[[0, 0], [0, 0]], [[0, 0], [5, 0]]])
    np.testing.assert_allclose(info["cost"], [8.0 + 2.0, 10.0 + 5 * 2.0])
    np.testing.assert_array_equal(state.shipment_pipe[0, :, 0], [3, 2, 0])


# ------------------------------------------------------------ shared capacity
def test_shared_capacity_hand_worked():
    env, base = CHAIN_GAME
    assert env.config.production_capacity and env.config.shipping_capacity and env.config.allocation == "proportional"
    np.testing.assert_array_equal(base.production_capacity, 20)
    np.testing.assert_array_equal(base.shipping_capacity, [15, 15, 15])
    params = with_fixed_leads(
        base,
        shipment_lead=[[1, 2]] * 3,
        order_lead=[0, 0],
        initial_inventory=[[6, 1, 0], [10, 10, 0], [0, 0, 0]],
        initial_order=np.zeros((3, 3)),
        initial_shipment=np.zeros((3, 3)),
        demand_trace=np.tile([6, 1, 0], (8, 1)),
        production_capacity=4,
        shipping_capacity=[MAX_CAPACITY, 3, MAX_CAPACITY],
    )
    # The retailer orders product 0: 1 fast and 3 regular, product 1: 2 regular. The manufacturer asks to start
    # product 0: 1 fast and 4 regular, product 1: 2 regular.
    orders = np.zeros((3, 3, 2), np.int32)  # [A, P, M]
    orders[0, 0] = [1, 3]
    orders[0, 1] = [0, 2]
    orders[2, 0] = [1, 4]
    orders[2, 1] = [0, 2]
    _, ((_, state, _, _, _, info),) = play(env, params, [orders])

    # Production: requests by mode then product [1, 0, 0, 4, 2, 0] share 4: 4 * r / 7 = [0.57, 0, 0, 2.29,
    # 1.14, 0] -> floors [0, 0, 0, 2, 1, 0], the unit left to the largest remainder (the fast one).
    np.testing.assert_array_equal(info["produced"], [[1, 2], [0, 1], [0, 0]])  # [P, M]
    # Fast production at lead 1 (slot 0 after the shift), regular at lead 2 (slot 1).
    np.testing.assert_array_equal(state.shipment_pipe[2, :2], [[1, 0, 0], [2, 1, 0]])
    # On order counts what started: 4, not 7; starting the fast unit cost 1.
    np.testing.assert_array_equal(state.on_order[2], [3, 1, 0])
    np.testing.assert_allclose(info["transport"][2], [1.0, 0.0])
    # Shipping: the wholesaler could send [4, 2, 0], but only 3 units leave it: 3 * [4, 2] / 6 = [2, 1].
    # Product 0's 2 serve mode 0's 1 first, then 1 of mode 1's 3.
    np.testing.assert_array_equal(info["shipped"][1], [[1, 1], [0, 1], [0, 0]])  # [P, M]
    assert int(info["shipped"][1].sum()) == 3
    # The rest stays on hand and stays owed, per mode.
    np.testing.assert_array_equal(state.on_hand[1], [8, 9, 0])
    np.testing.assert_array_equal(state.owed[1], [[0, 0, 0], [2, 1, 0]])  # [M, P]
    np.testing.assert_array_equal(info["net_inventory"][1], [6, 8, 0])  # stock and backlog at once
    np.testing.assert_array_equal(state.shipment_pipe[0, :2], [[1, 0, 0], [1, 1, 0]])
    # Costs: the retailer's fast unit's transport 1; the wholesaler's holding 8 + 9 and backlog (2 + 1) x 2;
    # the manufacturer's fast start 1.
    np.testing.assert_allclose(info["cost"], [1.0, 17.0 + 6.0, 1.0])
    # The retailer (capacity MAX_CAPACITY) sells its demand [6, 1] in full.
    np.testing.assert_array_equal(info["shipped"][0].sum(axis=-1), [6, 1, 0])


# --------------------------------------------------------------- conservation
def _draw_params(draw, env, base, rng):
    """Random leads, capacities, stocks, costs and demand for ``env``'s shapes (the same compiled game)."""
    game = env.config.game
    num_agents, num_products, num_modes = env.action_shape

    def ints(low, high, shape):
        size = int(np.prod(shape))
        return np.asarray(draw(st.lists(st.integers(low, high), min_size=size, max_size=size)), np.int32).reshape(shape)

    lead_min = ints(1, game.shipment_buffer - 1, (num_agents, num_modes))
    order_min = ints(0, game.order_buffer - 1, (num_agents - 1,))
    lead_max, order_max = lead_min, order_min
    if game.random_leads:
        lead_max = np.maximum(lead_min, ints(1, game.shipment_buffer - 1, (num_agents, num_modes)))
        order_max = np.maximum(order_min, ints(0, game.order_buffer - 1, (num_agents - 1,)))
    shape = (num_agents, num_products)
    return base.replace(
        shipment_lead_min=lead_min,
        shipment_lead_max=lead_max,
        order_lead_min=order_min,
        order_lead_max=order_max,
        production_capacity=np.int32(draw(st.integers(0, 30))),
        shipping_capacity=ints(0, 30, (num_agents,)),
        initial_inventory=rng.integers(0, 13, shape).astype(np.int32),
        initial_order=rng.integers(0, 7, shape).astype(np.int32),
        initial_shipment=rng.integers(0, 7, shape).astype(np.int32),
        holding_cost=rng.uniform(0, 3, shape).astype(np.float32),
        backlog_cost=rng.uniform(0, 3, shape).astype(np.float32),
        transport_cost=rng.uniform(0, 3, (num_agents, num_modes)).astype(np.float32),
        lost_sales_cost=rng.uniform(0, 5, num_products).astype(np.float32),
        demand_trace=rng.integers(0, 12, np.shape(base.demand_trace)).astype(np.int32),
    )


@settings(max_examples=16, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), seed=st.integers(0, 2**31 - 1), lost_sales=st.booleans())
def test_units_and_orders_are_conserved(data, seed, lost_sales):
    """Per product, units that entered (initial stock and shipments, production) are on hand, in transit or
    delivered; per mode, orders placed are in transit, owed or shipped; on-order is what is on its way; and
    capacities hold. One episode, up to the horizon, read from ``info[FINAL_STATE]`` (before the reset)."""
    env, base = LOST_SALES_GAME if lost_sales else CHAIN_GAME
    rng = np.random.default_rng(seed)
    params = _draw_params(data.draw, env, base, rng)
    horizon, max_order = env.config.horizon, env.config.game.max_order
    actions = rng.integers(-3, max_order + 4, size=(horizon,) + env.action_shape).astype(np.int32)
    initial, outputs = play(env, params, actions, key=jax.random.key(seed))
    initial = jax.tree.map(np.asarray, initial)
    states = jax.tree.map(lambda *x: np.stack(x), *[o[5][FINAL_STATE] for o in outputs])
    infos = {name: np.stack([np.asarray(o[5][name]) for o in outputs]) for name in outputs[0][5] if name != FINAL_STATE}
    rewards = np.stack([np.asarray(o[2]) for o in outputs])
    assert [bool(o[4]) for o in outputs] == [False] * (horizon - 1) + [True]
    orders, shipped, produced = infos["orders"], infos["shipped"], infos["produced"]  # [T, A, P, M], [T, P, M]
    np.testing.assert_array_equal(orders, np.clip(actions, 0, max_order))

    # Units, per product.
    entered = initial.on_hand.sum(axis=0) + initial.shipment_pipe.sum(axis=(0, 1)) + np.cumsum(produced.sum(-1), 0)
    delivered = np.cumsum(shipped[:, 0].sum(axis=-1), axis=0)
    in_chain = states.on_hand.sum(axis=1) + states.shipment_pipe.sum(axis=(1, 2))
    np.testing.assert_array_equal(entered, in_chain + delivered)
    assert np.all(states.on_hand >= 0) and np.all(states.owed >= 0)

    # Orders, per mode and product, for every echelon k >= 1 (placed by k-1); [T, A-1, M, P].
    placed = initial.order_pipe[1:].sum(axis=1)[None] + np.cumsum(np.swapaxes(orders[:, :-1], 2, 3), axis=0)
    sent = np.cumsum(np.swapaxes(shipped[:, 1:], 2, 3), axis=0)
    np.testing.assert_array_equal(placed, states.order_pipe[:, 1:].sum(axis=2) + states.owed[:, 1:] + sent)
    if lost_sales:  # the retailer owes nothing: what it did not sell was lost
        assert np.all(states.owed[:, 0] == 0)
        np.testing.assert_array_equal(infos["lost"] + shipped[:, 0].sum(-1), infos["demand"])
        np.testing.assert_allclose(infos["lost_cost"], infos["lost"] * np.asarray(params.lost_sales_cost), rtol=1e-6)
    else:
        assert np.all(infos["lost"] == 0) and np.all(infos["lost_cost"] == 0)

    # On order: incoming shipments + own orders in transit upstream + what the supplier owes (all modes).
    expected = states.shipment_pipe.sum(axis=2)
    expected[:, :-1] += states.order_pipe[:, 1:].sum(axis=(2, 3)) + states.owed[:, 1:].sum(axis=2)
    np.testing.assert_array_equal(states.on_order, expected)

    # Capacities hold, and production never exceeds what was asked.
    if env.config.production_capacity:
        assert np.all(produced.sum(axis=(1, 2)) <= int(params.production_capacity))
        assert np.all(shipped.sum(axis=(2, 3)) <= np.asarray(params.shipping_capacity))
    assert np.all(produced <= orders[:, -1])
    assert np.all((0 <= infos["filled"]) & (infos["filled"] <= infos["arriving_order"]))

    for leaf in jax.tree.leaves((states, rewards, infos)):
        assert np.all(np.isfinite(np.asarray(leaf, np.float64)))
    for name in ("cost", "holding", "backlog", "transport", "lost_cost"):
        assert np.all(infos[name] >= 0), name
    np.testing.assert_array_equal(rewards, -infos["cost"])


# ------------------------------------------------------- vmap / jit vs a loop
def test_vmapped_jitted_rollout_equals_python_loop():
    env, base = CHAIN_GAME
    num_games, num_periods = 3, 10  # horizon 8: crosses an auto-reset
    rng = np.random.default_rng(5)
    batched = jax.tree.map(lambda x: np.stack([np.asarray(x)] * num_games), base).replace(
        production_capacity=np.asarray([3, 10, 40], np.int32),
        shipping_capacity=np.asarray([[MAX_CAPACITY, 4, 6], [5, 2, 1], [9, 9, 9]], np.int32),
        demand_trace=rng.integers(0, 9, (num_games,) + np.shape(base.demand_trace)).astype(np.int32),
    )
    seeds = np.arange(20, 20 + num_games)
    orders = rng.integers(0, 12, (num_periods, num_games) + env.action_shape).astype(np.int32)

    @jax.jit
    def scanned(seeds, orders, params):
        keys = jax.vmap(jax.random.key)(seeds)
        _, state = jax.vmap(env.reset)(keys, params)

        def period(state, inputs):
            t, order = inputs
            step_keys = jax.vmap(lambda k: jax.random.fold_in(k, t))(keys)
            obs, state, reward, _, truncated, info = jax.vmap(env.step_orders)(step_keys, state, order, params)
            return state, (obs, reward, truncated, info, jax.vmap(env.global_state)(state, params))

        return jax.lax.scan(period, state, (jnp.arange(num_periods), orders))[1]

    obs_b, reward_b, truncated_b, info_b, global_b = jax.tree.map(np.asarray, scanned(seeds, orders, batched))
    assert obs_b.shape == (num_periods, num_games) + env.observation_space().shape
    # The global state is every observation, then both pipelines and what is owed per mode, scaled.
    assert global_b.shape == (num_periods, num_games, env.global_state_dim)
    np.testing.assert_array_equal(global_b[..., : obs_b[0, 0].size], obs_b.reshape(num_periods, num_games, -1))
    assert truncated_b[:, 0].tolist() == [False] * 7 + [True, False, False]
    for game in range(num_games):
        params = jax.tree.map(lambda x: x[game], batched)
        _, outputs = play(env, params, orders[:, game], key=jax.random.key(seeds[game]))
        for t, (obs, _, reward, _, truncated, info) in enumerate(outputs):
            where = f"game {game}, t={t}"
            np.testing.assert_array_equal(obs, obs_b[t, game], err_msg=where)
            np.testing.assert_array_equal(reward, reward_b[t, game], err_msg=where)
            assert bool(truncated) == bool(truncated_b[t, game]), where
            for name, value in info.items():
                got = jax.tree.map(lambda x: x[t, game], info_b[name])
                for a, b in zip(jax.tree.leaves(value), jax.tree.leaves(got)):
                    np.testing.assert_array_equal(a, b, err_msg=f"{where}, {name}")
    # The capacities, as data, made the games differ.
    assert not np.array_equal(info_b["shipped"][:, 0], info_b["shipped"][:, 1])


# ------------------------------------------------------------------ policies
def policy_state():
    """A hand-built state of ``CHAIN_GAME`` with order leads [1, 1] and fast leads 1: product 0 only.

    Fast positions look ``tau_f`` = order lead + fast lead ahead: [2, 2, 1] (production has no order lead)."""
    env, base = CHAIN_GAME
    params = with_fixed_leads(base, shipment_lead=[[1, 3], [1, 3], [1, 2]], order_lead=[1, 1])
    _, state = reset(env, jax.random.key(0), params)
    assert state.shipment_pipe.shape == (3, 4, 3) and state.order_pipe.shape == (3, 3, 2, 3)
    order_pipe = np.zeros((3, 3, 2), np.int32)  # [A, slot, M] of product 0
    order_pipe[0, 0, 0] = 5  # the retailer's customers: demand 5
    order_pipe[1, 0] = [1, 2]  # the retailer's 1 fast and 2 regular reach the wholesaler now,
    order_pipe[1, 1] = [0, 4]  # its 4 regular next period
    order_pipe[2, 0] = [0, 1]  # the wholesaler's 1 regular reaches the manufacturer now, its 2 fast next period
    order_pipe[2, 1] = [2, 0]
    state = state.replace(
        on_hand=product0([4, 6, 5], 3),
        owed=product0([[1, 0], [2, 3], [0, 1]], 3),  # [A, M]: the wholesaler owes 2 fast and 3 regular
        shipment_pipe=product0([[1, 2, 4, 8], [0, 1, 0, 2], [1, 2, 4, 0]], 3),
        order_pipe=product0(order_pipe, 3),
        # Incoming + own orders in transit + owed by the supplier: 15 + 7 + 5, 3 + 3 + 1, 7.
        on_order=product0([27, 7, 7], 3),
    )
    # IP = IL + OO - AO: retailer 3 + 27 - 5 = 25, wholesaler 1 + 7 - 3 = 5, manufacturer 4 + 7 - 1 = 10.
    np.testing.assert_array_equal(inventory_position(state), product0([25, 5, 10], 3))
    return env, params, state


@functools.partial(jax.jit, static_argnames="batched")
def _orders(policy, state, params, batched=False):
    if batched:
        return jax.vmap(lambda p: p(None, state, params))(policy)
    return policy(None, state, params)


def test_product_base_stock_orders_in_its_mode_only():
    env, params, state = policy_state()
    levels = product0([29, 5, 8], 3)
    levels[2, 1] = 3  # the manufacturer's empty product 1: IP 0, orders 3
    policy = supply_policies.product_base_stock(env, levels)  # by the regular mode 1
    # max(0, S - IP) = [29 - 25, 5 - 5, max(0, 8 - 10)] = [4, 0, 0] for product 0.
    want = np.zeros((3, 3, 2), np.int32)
    want[0, 0, 1], want[2, 1, 1] = 4, 3
    np.testing.assert_array_equal(_orders(policy, state, params), want)
    policy = supply_policies.product_base_stock(env, levels, mode=0)
    np.testing.assert_array_equal(_orders(policy, state, params), want[..., ::-1])
    # A batch of levels is one policy.
    batch = supply_policies.product_base_stock(env, np.stack([product0([0, 0, 0], 3), product0([30, 9, 11], 3)]))
    orders = np.asarray(_orders(batch, state, params, batched=True))
    np.testing.assert_array_equal(orders[0], 0)
    np.testing.assert_array_equal(orders[1, :, 0, 1], [5, 4, 1])
    assert orders[1].sum() == 10


def test_dual_index_hand_worked():
    env, params, state = policy_state()
    # Arriving within tau_f: retailer slots 0..2 (1 + 2 + 4, not the 8 in slot 3), wholesaler slots 0..2 (1,
    # not the 2 in slot 3), manufacturer slots 0..1 (1 + 2, not the 4 in slot 2).
    # Fast orders not yet shipped: retailer 1 in transit + 2 owed; wholesaler 2 in transit (the regular ones
    # do not count). IP_f = IL - AO + arriving + fast: [3 - 5 + 7 + 3, 1 - 3 + 1 + 2, 4 - 1 + 3] = [8, 1, 6].
    fast = jax.jit(supply_policies.fast_inventory_position)(state, params, jnp.int32(0))
    np.testing.assert_array_equal(fast, product0([8, 1, 6], 3))
    policy = supply_policies.dual_index(env, product0([10, 0, 6], 3), product0([30, 9, 12], 3))
    # q_f = max(0, S_f - IP_f) = [2, 0, 0]; q_r = max(0, S_r - IP - q_f) = [30 - 25 - 2, 9 - 5, 12 - 10].
    orders = np.asarray(_orders(policy, state, params))
    np.testing.assert_array_equal(orders[:, 0], [[2, 3], [0, 4], [0, 2]])
    assert np.all(orders[:, 1:] == 0)
    # Fast levels below the fast positions (negative ones too) order nothing fast: the regular order tops the
    # whole position up, [30 - 25, _, 12 - 10]. The wholesaler's fast order 4 - 1 = 3 counts against its
    # regular level: max(0, 6 - 5 - 3) = 0.
    policy = supply_policies.dual_index(env, product0([-1, 4, -1], 3), product0([30, 6, 12], 3))
    np.testing.assert_array_equal(np.asarray(_orders(policy, state, params))[:, 0], [[0, 5], [3, 0], [0, 2]])


# ---------------------------------------------------------------- optimiser
def test_search_levels_finds_the_exhaustive_optimum_of_a_quadratic():
    target = np.array([3, -2, 5])
    coupling = np.array([[2.0, 0.8, 0.0], [0.8, 1.5, -0.5], [0.0, -0.5, 1.0]])
    min_level, max_level = np.array([-3, -4, 0]), 4  # the third entry's minimiser (5) is outside the box
    shapes = set()

    def score(candidates):
        shapes.add(candidates.shape)
        offset = candidates - target
        return np.einsum("bi,ij,bj->b", offset, coupling, offset)

    grid = np.array(list(itertools.product(*[range(low, max_level + 1) for low in min_level])))
    exhaustive = score(grid)
    best = grid[np.argmin(exhaustive)]
    np.testing.assert_array_equal(best, [3, -2, 4])
    shapes.clear()
    for start in (None, [0, 0, 0], [-3, 4, 4], [9, -9, 9]):
        found, cost = search_levels(score, 3, max_level, min_level=min_level, batch_size=16, start=start)
        np.testing.assert_array_equal(found, best, err_msg=f"start={start}")
        assert found.dtype == np.int32
        assert cost == pytest.approx(float(exhaustive.min()))
    assert shapes == {(16, 3)}  # always one padded batch shape, so a jitted scorer compiles once
    with pytest.raises(ValueError, match="min_level must be <= max_level"):
        search_levels(score, 3, max_level, min_level=[0, 5, 0])


def test_optimize_levels_matches_an_exhaustive_search():
    env, params = make_supply(
        "basic",
        num_agents=2,
        horizon=8,
        products=[{"demand_high": 2}, {"demand_high": 1}],
        shipment_lead=[1, 2],
        order_lead=[0],
        backlog_cost=[3.0, 0.0],
        holding_cost=[1.0, 1.0],
    )
    key, num_episodes, max_level, batch = jax.random.key(4), 8, 5, 64
    found, cost = supply_policies.optimize_levels(
        env, params, key, num_episodes=num_episodes, max_level=max_level, batch_size=batch
    )
    levels = found["levels"]
    assert levels.shape == (2, 2) and np.all((0 <= levels) & (levels <= max_level))

    # Every candidate of the range, in padded batches of the same size (the optimiser's compiled program).
    grid = np.array(list(itertools.product(range(max_level + 1), repeat=4)), np.int32)  # 1296
    padded = np.zeros((-(-len(grid) // batch) * batch, 4), np.int32)
    padded[: len(grid)] = grid
    costs = np.concatenate(
        [
            np.asarray(
                _team_costs_jit(
                    env, params, supply_policies.product_base_stock(env, chunk.reshape(-1, 2, 2)), key, num_episodes
                )
            )
            for chunk in padded.reshape(-1, batch, 4)
        ]
    )[: len(grid)]
    assert cost == pytest.approx(float(costs.min()), rel=1e-6)
    own = costs[np.flatnonzero((grid == levels.reshape(-1)).all(axis=1))[0]]
    assert own == pytest.approx(cost, rel=1e-6)
    assert 0 < cost < float(np.median(costs))


# ----------------------------------------------------------------- bad input
def test_bad_input_raises_naming_the_field():
    with pytest.raises(ValueError, match=r"products\[1\] sets \['horizon'\]"):
        make_supply("basic", products=[{}, {"horizon": 5}])
    with pytest.raises(ValueError, match=r"modes\[1\]\.cost must be finite and >= 0"):
        make_supply("basic", modes=[FAST, {"shipment_lead": 2, "cost": -1.0}])
    with pytest.raises(ValueError, match=r"production_capacity must be an integer in \[0, 46340\]"):
        make_supply("basic", production_capacity=MAX_CAPACITY + 1)
    with pytest.raises(ValueError, match="shipping_capacity must be an integer"):
        make_supply("basic", shipping_capacity=[1, 2, 3, -1])
    with pytest.raises(ValueError, match="modes must list at least one"):
        make_supply("basic", modes=[])
    with pytest.raises(ValueError, match="action_mode must be 'absolute' with num_modes=2"):
        make_supply("basic", modes=[FAST, REGULAR], action_mode="order_up_to")
    with pytest.raises(ValueError, match="allocation must be one of"):
        make_supply("basic", allocation="fair")
    with pytest.raises(ValueError, match="lost_sales_cost must be finite and >= 0"):
        make_supply("basic", products=2, lost_sales_cost=[1.0, -2.0])

    env, params = CHAIN_GAME
    _, state = reset(env, jax.random.key(0), params)
    with pytest.raises(ValueError, match=r"orders must have shape \(3, 3, 2\)"):
        jax.jit(env.step_orders)(jax.random.key(1), state, jnp.zeros((3, 3), jnp.int32), params)
    with pytest.raises(ValueError, match=r"action must have shape \(3, 3, 2\)"):
        jax.jit(env.step)(jax.random.key(1), state, jnp.zeros((3, 1, 2), jnp.int32), params)
    with pytest.raises(TypeError, match=r"orders must be an integer array int32\[3, 3, 2\]"):
        env.step_orders(jax.random.key(1), state, np.zeros((3, 3, 2), np.float32), params)
    with pytest.raises(ValueError, match=r"levels must be integers >= 0 of shape \(3, 3\)"):
        supply_policies.product_base_stock(env, np.full((3, 3), -1))
    with pytest.raises(ValueError, match=r"levels must be integers >= 0 of shape \(3, 3\)"):
        supply_policies.product_base_stock(env, np.zeros((3, 1), np.int32))
    with pytest.raises(ValueError, match="mode must be an integer in"):
        supply_policies.product_base_stock(env, np.zeros((3, 3), np.int32), mode=2)
    with pytest.raises(ValueError, match="regular_levels must be integers >= 0"):
        supply_policies.dual_index(env, np.full((3, 3), -3), np.full((3, 3), -1))


def test_spec_sheet_example_runs():
    failures, tried = doctest.testmod(jaxbeer.supply, verbose=False)
    assert tried > 0 and failures == 0


def test_mode_leads_replace_lead_overrides_and_a_two_dimensional_trace_gives_each_product_a_column():
    _, params = make_supply(
        "seed-default",
        num_agents=2,
        shipment_lead_min=[1, 1],
        shipment_lead_max=[3, 3],
        modes=[{"shipment_lead": 1}, {}],
    )
    np.testing.assert_array_equal(params.shipment_lead_min, [[1, 1], [1, 1]])
    np.testing.assert_array_equal(params.shipment_lead_max, [[1, 3], [1, 3]])  # mode 1 keeps the overrides' range
    trace = np.stack([np.arange(100) % 3, np.arange(100) % 5], axis=1)
    env, params = make_supply("basic", demand_trace=trace)
    assert env.config.num_products == 2 and env.config.game.demand_kind == "trace"
    np.testing.assert_array_equal(params.demand_trace, trace)
