"""The classroom app in-process: ``Service`` on a fresh SQLite file per test, and its pages through
Starlette's TestClient. Orders and setups are checked before anything is written; a played game replays
exactly through ``jaxbeer``'s own evaluation; time limits run on a fake clock; tokens reach only their
own seat or class; a restart on the same file keeps every game."""

from __future__ import annotations

import dataclasses
import html
import json
import math
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from fastapi.testclient import TestClient

import jaxbeer
from jaxbeer import policies, rollouts
from jaxbeer.env import BeerGame
from jaxbeer.serve import engine
from jaxbeer.serve.app import create_app
from jaxbeer.serve.engine import OrderError, SetupError, parse_order
from jaxbeer.serve.service import Forbidden, Service
from jaxbeer.serve.store import Store

SCENARIO = "basic"
MAX_ORDER = 16
LEVELS = [8, 8, 0, 0]  # basic's literature base-stock levels: the ghost team
WEEKS = 16  # every game's: one table per co-player to compile; long enough for the orders to change the costs
ALLOWED = f"a whole number of cases from 0 to {MAX_ORDER}"
EVIL = "<script>alert(1)</script>"
EVIL_ATTRIBUTE = '"><img src=x onerror=alert(1)>'


class FakeClock:
    """A clock the test moves by hand: ``clock.now += 31``."""

    def __init__(self, now: float = 1_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def catalog() -> engine.Catalog:
    """One catalog for the module, so each setup's programs compile once."""
    return engine.Catalog()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def service(tmp_path, catalog, clock):
    served = Service(Store(tmp_path / "classroom.sqlite"), catalog, clock=clock)
    yield served
    served.store.close()


@pytest.fixture
def client(service) -> TestClient:
    """The pages of ``service`` (no lifespan: the time-limit ticker stays off; tests call
    ``advance_overdue`` themselves)."""
    return TestClient(create_app(service))


# ------------------------------------------------------------------ helpers
def game_of(service: Service, token: str) -> int:
    return service.seat_of(token)["game_id"]


def row_counts(service: Service) -> dict[str, int]:
    tables = ("classes", "games", "seats", "orders", "weeks")
    return {table: service.store.one(f"SELECT COUNT(*) AS n FROM {table}")["n"] for table in tables}


def snapshot(service: Service, game_id: int) -> tuple:
    """Everything an order could change: the game's row, its orders and its played weeks."""
    return (
        dict(service.store.game(game_id)),
        [dict(order) for order in service.store.all_orders(game_id)],
        service.store.records(game_id),
    )


def order_message(quantity) -> str:
    with pytest.raises(OrderError) as error:
        parse_order(quantity, MAX_ORDER)
    return str(error.value)


def play_back(orders, key, state, env_params):
    return orders[state.period]


def scripted(orders: np.ndarray) -> policies.Policy:
    """Plays ``orders[T, A]`` back, period by period."""
    return policies.Policy(params=jnp.asarray(orders, jnp.int32), apply=play_back)


def play_back_in_seat(params, key, state, env_params):
    orders, in_seat, co_players = params
    return jnp.where(in_seat, orders[state.period], co_players(key, state, env_params))


def scripted_in_seat(orders: np.ndarray, seat: int, co_players: policies.Policy) -> policies.Policy:
    """Plays ``orders[T, seat]`` back in ``seat``, and ``co_players`` in the others."""
    params = (jnp.asarray(orders, jnp.int32), jnp.arange(orders.shape[1]) == seat, co_players)
    return policies.Policy(params=params, apply=play_back_in_seat)


_episode_sums = jax.jit(rollouts.episode_sums, static_argnames="env")


def episode(policy: policies.Policy, seed: int, weeks: int = WEEKS, game=None) -> dict[str, np.ndarray]:
    """``rollouts.episode_sums`` of one episode from the game's seed, on ``game = (env, params)`` (default:
    the scenario's, ``weeks`` long). The policies' functions are module-level, so each compiles once."""
    env, params = game if game is not None else jaxbeer.make(SCENARIO, horizon=weeks)
    sums = _episode_sums(env, params, policy, jax.random.key(seed))
    return {name: np.asarray(value, np.float64) for name, value in sums.items()}


def assert_row_is(row: dict, sums: dict, weeks: int) -> None:
    np.testing.assert_allclose(row["echelon_cost"], sums["cost"], rtol=1e-6)
    np.testing.assert_allclose(row["team_cost"], sums["cost"].sum(), rtol=1e-6)
    summary = rollouts.summarise({name: value[None] for name, value in sums.items()}, weeks)
    np.testing.assert_allclose(row["fill_rate"], summary["fill_rate"], rtol=1e-6)
    expected_bullwhip = [None if not math.isfinite(b) else round(float(b), 2) for b in summary["bullwhip"]]
    assert row["bullwhip"] == expected_bullwhip


def assert_weeks_consistent(records: list[dict], start: dict) -> None:
    """Per-week bookkeeping of the records, from the decision view before week 1 (``start``)."""
    net = np.array(start["on_hand"]) - np.array(start["backlog"])
    on_order = np.array(start["on_order"])
    for week, record in enumerate(records):
        assert record["week"] == week
        for name, value in record.items():
            if name != "source":
                assert np.all(np.isfinite(np.asarray(value, np.float64))), (week, name, value)
        demand = record["demand"]
        incoming, arriving = np.array(record["incoming_order"]), np.array(record["arriving_shipment"])
        shipped, filled, order = np.array(record["shipped"]), np.array(record["filled"]), np.array(record["order"])
        on_hand, backlog = np.maximum(net, 0), np.maximum(-net, 0)
        assert demand >= 0 and incoming[0] == demand  # the retailer's incoming order is the customers'
        assert shipped[0] <= demand + backlog[0]
        assert np.all(shipped >= 0) and np.all(shipped <= incoming + backlog) and np.all(shipped <= on_hand + arriving)
        assert np.all(filled >= 0) and np.all(filled <= incoming) and np.all(filled <= shipped)
        assert np.all((order >= 0) & (order <= MAX_ORDER))
        net = net + arriving - incoming
        assert record["net_inventory"] == net.tolist(), week
        on_order = on_order + order - arriving
        assert record["on_order"] == on_order.tolist(), week
        np.testing.assert_allclose(record["cost"], np.add(record["holding"], record["backlog_cost"]))
        np.testing.assert_allclose(record["holding"], 2.0 * np.maximum(net, 0))  # basic: holding 2 everywhere


def new_team(service: Service, teams=("Red",), weeks=WEEKS, week_seconds=0, name="Ops 101"):
    """A class; returns ``(teacher, code, [game ids])``."""
    teacher, code = service.new_class(name, SCENARIO, weeks, list(teams), "sterman", week_seconds)
    _, listed = service.open_seats(code)
    return teacher, code, [team["game_id"] for team in listed]


# ------------------------------------------------------------------ parse_order
@pytest.mark.parametrize(
    "typed, expected", [("7", 7), (" 7 ", 7), ("0", 0), ("16", 16), (7, 7), (0, 0), ("+3", 3), ("2.0", 2), (2.0, 2)]
)
def test_parse_order_takes_whole_numbers_from_0_to_max_order(typed, expected):
    assert parse_order(typed, MAX_ORDER) == expected


@pytest.mark.parametrize(
    "typed, says",
    [
        ("-1", "cannot be negative"),
        (-3, "cannot be negative"),
        ("2.5", "not a whole number"),
        (2.5, "not a whole number"),
        ("", "Enter an order"),
        ("   ", "Enter an order"),
        (None, "Enter an order"),
        (True, "not a number"),
        ("1_6", "not a number"),
        ("1e1", "not a number"),
        ("17", "above this scenario's largest order"),
        ("100000000000000000000", "above this scenario's largest order"),
        ("abc", "not a number"),
        ("nan", "not a number"),
        (float("nan"), "not a number"),
        ("inf", "not a number"),
        ("-inf", "not a number"),
        (float("inf"), "not a number"),
    ],
)
def test_parse_order_refuses_anything_else_saying_what_is_allowed(typed, says):
    message = order_message(typed)
    assert says in message and ALLOWED in message, message


def test_parse_order_follows_the_scenarios_max_order():
    assert parse_order("8", 8) == 8
    with pytest.raises(OrderError, match="from 0 to 8"):
        parse_order("9", 8)


# ------------------------------------------------------------------ setup validation
GOOD_GAME = {"scenario": SCENARIO, "weeks": WEEKS, "seat": 0, "co_player": "sterman", "player": "Ann"}
GOOD_CLASS = {"name": "Ops 101", "scenario": SCENARIO, "weeks": WEEKS, "teams": ["Red", "Blue"], "co_player": "sterman"}


@pytest.mark.parametrize(
    "change, field",
    [
        ({"scenario": "nope"}, "scenario"),
        ({"scenario": None}, "scenario"),
        ({"weeks": 0}, "weeks"),
        ({"weeks": 101}, "weeks"),  # basic's horizon is 100
        ({"weeks": "x"}, "weeks"),
        ({"weeks": None}, "weeks"),
        ({"weeks": "2.5"}, "weeks"),
        ({"seat": 4}, "seat"),
        ({"seat": -1}, "seat"),
        ({"seat": "retailer"}, "seat"),
        ({"seat": None}, "seat"),
        ({"co_player": "nobody"}, "co-players"),
        ({"co_player": "run:missing"}, "co-players"),
        ({"player": ""}, "name"),
        ({"player": "   "}, "name"),
        ({"player": "x" * 41}, "name"),
    ],
)
def test_a_bad_game_setup_names_its_field_and_writes_nothing(service, change, field):
    before = row_counts(service)
    with pytest.raises(SetupError) as error:
        service.new_game(**{**GOOD_GAME, **change})
    assert str(error.value).startswith(field), str(error.value)
    assert row_counts(service) == before


@pytest.mark.parametrize(
    "change, field",
    [
        ({"name": ""}, "class name"),
        ({"name": None}, "class name"),
        ({"name": "x" * 41}, "class name"),
        ({"scenario": "nope"}, "scenario"),
        ({"weeks": 0}, "weeks"),
        ({"weeks": 101}, "weeks"),
        ({"weeks": "x"}, "weeks"),
        ({"co_player": "nobody"}, "co-players"),
        ({"teams": []}, "teams"),
        ({"teams": [f"T{k}" for k in range(9)]}, "teams"),
        ({"teams": "Red"}, "teams"),
        ({"teams": ["Red", ""]}, "team name"),
        ({"teams": ["Red", "x" * 41]}, "team name"),
        ({"teams": ["Red", "Red"]}, "team name"),
        ({"teams": ["Red", " Red "]}, "team name"),
        ({"week_seconds": 5}, "time limit"),
        ({"week_seconds": 9}, "time limit"),
        ({"week_seconds": 3601}, "time limit"),
        ({"week_seconds": -1}, "time limit"),
        ({"week_seconds": "x"}, "time limit"),
        ({"week_seconds": "30.5"}, "time limit"),
    ],
)
def test_a_bad_class_setup_names_its_field_and_writes_nothing(service, change, field):
    before = row_counts(service)
    with pytest.raises(SetupError) as error:
        service.new_class(**{**GOOD_CLASS, **change})
    assert str(error.value).startswith(field), str(error.value)
    assert row_counts(service) == before


@pytest.mark.parametrize("seconds, stored", [(0, 0), ("", 0), (None, 0), (10, 10), ("3600", 3600)])
def test_the_time_limit_takes_0_or_10_to_3600_seconds(service, seconds, stored):
    teacher, _ = service.new_class(**GOOD_CLASS, week_seconds=seconds)
    assert service.dashboard(teacher)["week_seconds"] == stored


@pytest.mark.parametrize(
    "path, form, field",
    [
        ("/play", {**GOOD_GAME, "weeks": "0"}, "weeks"),
        ("/play", {**GOOD_GAME, "seat": "9"}, "seat"),
        ("/play", {**GOOD_GAME, "co_player": "nobody"}, "co-players"),
        (
            "/class",
            {"class_name": "A", "scenario": SCENARIO, "weeks": "4", "teams": "Red\nRed", "co_player": "sterman"},
            "team name",
        ),
        (
            "/class",
            {
                "class_name": "A",
                "scenario": SCENARIO,
                "weeks": "4",
                "teams": "Red",
                "co_player": "sterman",
                "week_seconds": "5",
            },
            "time limit",
        ),
    ],
)
def test_a_bad_setup_form_shows_the_message_beside_its_field(service, client, path, form, field):
    form = {("name" if key == "player" else key): str(value) for key, value in form.items()}
    before = row_counts(service)
    reply = client.post(path, data=form, follow_redirects=False)
    assert reply.status_code == 400
    shown = re.search(rf'<span class="error" role="alert" data-error-for="{field}">(.*?)</span>', reply.text)
    assert shown and html.unescape(shown.group(1)).startswith(field), reply.text[-2000:]
    assert row_counts(service) == before


# ------------------------------------------------------------------ bad orders
@pytest.mark.parametrize("typed", ["abc", "-3", "2.5", "", "17", "nan"])
def test_a_bad_order_on_the_page_is_shown_beside_the_field_and_changes_nothing(service, client, typed):
    token = service.new_game(**GOOD_GAME)
    game_id = game_of(service, token)
    assert service.submit(token, 0, 4).accepted
    before = snapshot(service, game_id)
    reply = client.post(f"/seat/{token}/order", data={"week": "1", "quantity": typed}, follow_redirects=False)
    assert reply.status_code == 400
    form = re.search(r'<form [^>]*id="order-form".*?</form>', reply.text, re.S)
    assert form, reply.text
    form = form.group(0)
    shown = re.search(r'<span class="error" id="order-error" role="alert">(.*?)</span>', form)
    assert shown and html.unescape(shown.group(1)) == order_message(typed)
    assert 'aria-describedby="order-error"' in form and f'value="{html.escape(typed)}"' in form
    assert snapshot(service, game_id) == before


@pytest.mark.parametrize(
    "body",
    [
        '{"week": 1, "quantity": "abc"}',
        '{"week": 1, "quantity": -1}',
        '{"week": 1, "quantity": 2.5}',
        '{"week": 1, "quantity": 17}',
        '{"week": 1, "quantity": null}',
        '{"week": 1, "quantity": NaN}',
        '{"week": 1}',
    ],
)
def test_a_bad_order_through_the_api_is_a_422_and_changes_nothing(service, client, body):
    token = service.new_game(**GOOD_GAME)
    game_id = game_of(service, token)
    assert service.submit(token, 0, 4).accepted
    before = snapshot(service, game_id)
    reply = client.post(
        f"/api/games/{game_id}/seats/0/orders",
        content=body,
        headers={"X-Token": token, "Content-Type": "application/json"},
    )
    assert reply.status_code == 422
    assert reply.json() == {"error": order_message(json.loads(body).get("quantity")), "field": "quantity"}
    assert snapshot(service, game_id) == before


@pytest.mark.parametrize("body", ["[1, 2]", "not json", '"4"', ""])
def test_an_api_order_that_is_not_a_json_object_is_a_422(service, client, body):
    token = service.new_game(**GOOD_GAME)
    game_id = game_of(service, token)
    before = snapshot(service, game_id)
    reply = client.post(f"/api/games/{game_id}/seats/0/orders", content=body, headers={"X-Token": token})
    assert reply.status_code == 422 and "JSON object" in reply.json()["error"]
    assert snapshot(service, game_id) == before


# ------------------------------------------------------------------ idempotency
def test_the_same_order_posted_twice_is_stored_once_and_plays_one_week(service, client):
    token = service.new_game(**{**GOOD_GAME, "seat": 2})
    game_id = game_of(service, token)
    for _ in range(2):  # a double click, or the form posted again from the browser's history
        reply = client.post(f"/seat/{token}/order", data={"week": "0", "quantity": "5"}, follow_redirects=False)
        assert reply.status_code == 303 and reply.headers["location"] == f"/seat/{token}"
    assert service.store.game(game_id)["week"] == 1
    assert len(service.store.records(game_id)) == 1
    week_0 = service.store.orders(game_id, 0)
    assert week_0[2]["quantity"] == 5 and week_0[2]["source"] == "human"

    api = f"/api/games/{game_id}/seats/2/orders"
    replies = [client.post(api, json={"week": 1, "quantity": q}, headers={"X-Token": token}).json() for q in (6, 9)]
    assert replies[0] == {"accepted": True, "week": 2, "message": ""}
    assert replies[1]["accepted"] is False and replies[1]["week"] == 2 and "week 2" in replies[1]["message"]
    assert [(o["week"], o["quantity"]) for o in service.store.all_orders(game_id) if o["seat"] == 2] == [(0, 5), (1, 6)]
    assert len(service.store.records(game_id)) == 2


def test_a_stale_or_unknown_week_is_refused_and_changes_nothing(service):
    token = service.new_game(**GOOD_GAME)
    game_id = game_of(service, token)
    for week in range(2):
        assert service.submit(token, week, 3).accepted
    before = snapshot(service, game_id)
    for week in (0, 1, 3, 10, -1, "x", None, "1.5", "true"):
        done = service.submit(token, week, 7)
        assert not done.accepted and done.week == 2, week
        expected = f"week {week + 1} is already played" if week in (0, 1) else "this is week 3, not week"
        assert done.message.startswith(expected), (week, done.message)
    assert snapshot(service, game_id) == before
    assert service.submit(token, "2", 7).accepted  # the week as the form sends it


def test_orders_after_the_end_or_before_the_start_are_refused(service):
    token = service.new_game(**GOOD_GAME)
    for week in range(WEEKS):
        assert service.submit(token, week, 1).accepted
    finished = snapshot(service, game_of(service, token))
    done = service.submit(token, WEEKS, 1)
    assert (done.accepted, done.week, done.message) == (False, WEEKS, "the game is over")
    assert snapshot(service, game_of(service, token)) == finished

    _, code, (game_id,) = new_team(service)
    student = service.join(code, game_id, 1, "Ann")
    done = service.submit(student, 0, 1)
    assert (done.accepted, done.week, done.message) == (False, 0, "the game has not started")
    assert service.store.all_orders(game_id) == []


# ------------------------------------------------------------------ replay
@pytest.mark.parametrize(
    "co_player, seat, team",
    [("sterman", 1, lambda: policies.sterman()), ("base_stock", 3, lambda: policies.base_stock(LEVELS))],
)
def test_a_played_game_replays_exactly_through_jaxbeer(service, co_player, seat, team):
    token = service.new_game(SCENARIO, WEEKS, seat, co_player, "Ann")
    game_id = game_of(service, token)
    start = service.game_view(game_id)["now"]
    typed = [(5 * week + 3) % (MAX_ORDER + 1) for week in range(WEEKS)]
    for week, quantity in enumerate(typed):
        done = service.submit(token, week, quantity)
        assert done.accepted and done.week == week + 1
    view = service.game_view(game_id)
    assert view["status"] == "finished" and view["week"] == WEEKS
    records = view["history"]
    assert_weeks_consistent(records, start)
    orders = np.array([record["order"] for record in records])
    assert orders[:, seat].tolist() == typed
    sources = ["agent"] * 4
    sources[seat] = "human"
    assert all(record["source"] == sources for record in records)
    stored = service.store.all_orders(game_id)
    assert [(o["week"], o["seat"], o["quantity"]) for o in stored] == [
        (week, k, int(orders[week, k])) for week in range(WEEKS) for k in range(4)
    ]

    recorded_cost = np.array([record["cost"] for record in records], np.float64).sum(0)
    replay = episode(scripted(orders), view["seed"], WEEKS)
    np.testing.assert_allclose(replay["cost"], recorded_cost, rtol=1e-6)
    np.testing.assert_allclose(replay["orders"], orders.sum(0))
    np.testing.assert_allclose(replay["demand"], sum(record["demand"] for record in records))
    np.testing.assert_allclose(view["total_cost"], recorded_cost, rtol=1e-6)
    np.testing.assert_allclose(view["team_cost"], recorded_cost.sum(), rtol=1e-6)

    # The co-players' orders are the co-player's own: the human's orders in its seat, the co-player
    # everywhere else, played by jaxbeer, orders exactly what the game recorded.
    mixed_sums = episode(scripted_in_seat(orders, seat, team()), view["seed"], WEEKS)
    np.testing.assert_allclose(mixed_sums["orders_sq"], (orders.astype(np.float64) ** 2).sum(0))
    np.testing.assert_allclose(mixed_sums["cost"], recorded_cost, rtol=1e-6)

    debrief = service.debrief(game_id)
    assert debrief["echelons"] == ["retailer", "wholesaler", "distributor", "manufacturer"]
    played, ghost, agents = debrief["rows"]
    assert played["label"] == "your team" and ghost["label"] == "ghost: base-stock [8, 8, 0, 0]"
    assert agents["label"] == f"all agents: {engine.HEURISTIC_CO_PLAYERS[co_player]}"
    assert_row_is(played, replay, WEEKS)
    assert_row_is(ghost, episode(policies.base_stock(LEVELS), view["seed"], WEEKS), WEEKS)
    assert_row_is(agents, episode(team(), view["seed"], WEEKS), WEEKS)
    assert played["team_cost"] != agents["team_cost"]  # the human's orders did change the game


def test_a_game_against_a_trained_co_player_replays_with_the_runs_own_policy(tmp_path, ippo_run, trained_co_player):
    from algorithms.registry import load_policy

    served = Service(Store(tmp_path / "classroom.sqlite"), engine.Catalog([ippo_run]))
    try:
        seat = 2
        token = served.new_game(SCENARIO, WEEKS, seat, trained_co_player, "Ann")
        game_id = game_of(served, token)
        typed = [(7 * week + 2) % (MAX_ORDER + 1) for week in range(WEEKS)]
        for week, quantity in enumerate(typed):
            assert served.submit(token, week, quantity).accepted
        view = served.game_view(game_id)
        orders = np.array([record["order"] for record in view["history"]])
        assert orders[:, seat].tolist() == typed
        debrief = served.debrief(game_id)
    finally:
        served.store.close()

    # The run's own env and parameters, only shorter; its policy in the other seats orders what the game did.
    loaded = load_policy(ippo_run)
    game = (BeerGame(dataclasses.replace(loaded.env.config, horizon=WEEKS)), loaded.params)
    mixed = episode(scripted_in_seat(orders, seat, loaded.policy), view["seed"], game=game)
    np.testing.assert_allclose(mixed["orders"], orders.sum(0))
    np.testing.assert_allclose(mixed["orders_sq"], (orders.astype(np.float64) ** 2).sum(0))
    recorded_cost = np.array([record["cost"] for record in view["history"]], np.float64).sum(0)
    np.testing.assert_allclose(mixed["cost"], recorded_cost, rtol=1e-6)
    played, ghost, agents = debrief["rows"]
    assert agents["label"].startswith("all agents: trained")
    assert_row_is(played, mixed, WEEKS)
    assert ghost["label"] == "ghost: base-stock [8, 8, 0, 0]"
    assert_row_is(agents, episode(loaded.policy, view["seed"], game=game), WEEKS)


# ------------------------------------------------------------------ time limit
def test_a_late_seat_is_ordered_for_by_the_co_player_when_the_week_times_out(service, clock, catalog):
    teacher, code, (game_id,) = new_team(service, week_seconds=30)
    ann, bob = service.join(code, game_id, 0, "Ann"), service.join(code, game_id, 1, "Bob")
    started = clock.now
    service.start_class(teacher)
    for week in range(2):  # both order: the weeks play at once, long before any deadline
        assert service.submit(ann, week, 12).accepted and service.submit(bob, week, 10).accepted
    assert service.store.game(game_id)["week"] == 2
    assert service.game_view(game_id)["deadline"] == started + 30

    clock.now += 5
    assert service.advance_overdue() == 0
    assert service.submit(ann, 2, 3).accepted
    again = service.submit(ann, 2, 9)
    assert not again.accepted and "already ordered" in again.message
    view = service.game_view(game_id)
    assert view["week"] == 2 and view["ordered"] == [True, False, False, False]

    # Pass the deadline of week 3: it was set when week 2 was played, at ``started``.
    table = catalog.table(SCENARIO, WEEKS, "sterman")
    game = service.store.game(game_id)
    state = engine.state_from_bytes(table, game["state"])
    clock.now = game["week_started"] + 29.9
    assert service.advance_overdue() == 0 and service.store.game(game_id)["week"] == 2
    clock.now = game["week_started"] + 30
    assert service.advance_overdue() == 1
    assert service.store.game(game_id)["week"] == 3

    # The late seat's order is the co-player's on the week's state, with the week's own key.
    _, period_keys = rollouts.episode_keys(engine.episode_key(game["seed"]), WEEKS)
    policy_key, _ = jax.random.split(period_keys[2])
    expected = np.asarray(policies.sterman()(policy_key, state, table.params))
    assert expected[1] > 0  # Bob's incoming order is Ann's 12 of week 1: the check is not of a zero
    week_3 = service.store.orders(game_id, 2)
    assert {k: (o["quantity"], o["source"]) for k, o in week_3.items()} == {
        0: (3, "human"),
        1: (int(expected[1]), "time limit"),
        2: (int(expected[2]), "agent"),
        3: (int(expected[3]), "agent"),
    }
    timed_out = [dict(o) for o in service.store.all_orders(game_id) if o["source"] == "time limit"]
    assert timed_out == [
        {"game_id": game_id, "week": 2, "seat": 1, "quantity": int(expected[1]), "source": "time limit"}
    ]
    record = service.store.records(game_id)[2]
    assert record["source"] == ["human", "time limit", "agent", "agent"] and record["order"][1] == int(expected[1])

    # Each next week has its own 30 s (a long pause plays one week, not many); when nobody orders at
    # all, both seats time out, week after week, to the end.
    assert service.advance_overdue() == 0
    for week in range(3, WEEKS):
        assert service.game_view(game_id)["deadline"] == clock.now + 30
        clock.now += 3600
        assert service.advance_overdue() == 1
        assert service.store.records(game_id)[week]["source"] == ["time limit", "time limit", "agent", "agent"]
    assert service.store.game(game_id)["status"] == "finished"
    assert service.dashboard(teacher)["status"] == "finished"
    assert service.advance_overdue() == 0


def test_without_a_time_limit_nothing_is_ever_overdue(service, clock):
    teacher, code, (game_id,) = new_team(service)
    service.join(code, game_id, 0, "Ann")
    service.start_class(teacher)
    clock.now += 10 * 3600
    assert service.advance_overdue() == 0 and service.store.game(game_id)["week"] == 0
    assert service.game_view(game_id)["deadline"] is None


# ------------------------------------------------------------------ classroom
def test_a_class_from_setup_to_debrief(service, client, clock):
    teacher, code, (red, blue) = new_team(service, teams=["Red", "Blue"])
    assert re.fullmatch(r"[A-HJ-NP-Z2-9]{6}", code)
    room, teams = service.open_seats(f" {code.lower()} ")  # as a student types it
    assert room["name"] == "Ops 101" and room["status"] == "open"
    assert [team["team"] for team in teams] == ["Red", "Blue"]
    assert all(seat["player"] is None for team in teams for seat in team["seats"])

    ann = service.join(code.lower(), red, 0, "Ann")
    with pytest.raises(SetupError) as taken:
        service.join(code, red, 0, "Bob")
    assert str(taken.value).startswith("seat") and "retailer" in str(taken.value) and "Red" in str(taken.value)
    bob = service.join(code, str(red), "3", " Bob ")
    for game_id, seat, player, field in [
        (red, 4, "Cy", "seat"),
        (red, "x", "Cy", "seat"),
        (999_999, 0, "Cy", "team"),
        ("x", 0, "Cy", "team"),
        (red, 1, "", "name"),
    ]:
        with pytest.raises(SetupError) as refused:
            service.join(code, game_id, seat, player)
        assert str(refused.value).startswith(field), str(refused.value)
    for bad_code in ("NOPE42", "", code + "X"):
        with pytest.raises(Forbidden):
            service.open_seats(bad_code)
        with pytest.raises(Forbidden):
            service.join(bad_code, red, 1, "Cy")
    assert [s["player"] for s in service.store.seats(red)] == ["Ann", None, None, "Bob"]

    board = service.dashboard(teacher)
    assert board["status"] == "open" and [team["status"] for team in board["teams"]] == ["waiting", "waiting"]
    page = client.get(f"/teacher/{teacher}")
    assert page.status_code == 200 and code in page.text and 'id="start-class"' in page.text

    reply = client.post(f"/teacher/{teacher}/start", follow_redirects=False)
    assert reply.status_code == 303
    # Blue has no humans: the agents play it to the end at once. Red waits for Ann and Bob.
    blue_view = service.game_view(blue)
    assert blue_view["status"] == "finished" and blue_view["week"] == WEEKS
    assert all(record["source"] == ["agent"] * 4 for record in blue_view["history"])
    red_view = service.game_view(red)
    assert (
        red_view["status"] == "playing" and red_view["week"] == 0 and red_view["players"] == ["Ann", None, None, "Bob"]
    )
    with pytest.raises(SetupError, match="started"):
        service.join(code, red, 1, "Cy")
    service.start_class(teacher)  # a second start changes nothing
    assert service.store.game(red)["week"] == 0 and service.store.game(blue)["week"] == WEEKS
    with pytest.raises(Forbidden):
        service.start_class("not-a-teacher")

    board = service.dashboard(teacher)
    assert board["status"] == "running" and "debriefs" not in board
    assert [(team["team"], team["week"], team["status"]) for team in board["teams"]] == [
        ("Red", 0, "playing"),
        ("Blue", WEEKS, "finished"),
    ]
    for week in range(WEEKS):
        assert service.submit(ann, week, 4).accepted
        assert service.dashboard(teacher)["teams"][0]["ordered"] == [True, False, False, False]
        assert service.store.game(red)["week"] == week
        assert service.submit(bob, week, 6).accepted
    board = service.dashboard(teacher)
    assert board["status"] == "finished" and [team["week"] for team in board["teams"]] == [WEEKS, WEEKS]
    debriefs = {debrief["team"]: debrief for debrief in board["debriefs"]}
    assert [row["label"] for row in debriefs["Red"]["rows"]][0] == "team Red"
    blue_rows = debriefs["Blue"]["rows"]
    assert blue_rows[0]["echelon_cost"] == blue_rows[2]["echelon_cost"]  # agents only: the all-agents team
    np.testing.assert_allclose(board["teams"][0]["total_cost"], debriefs["Red"]["rows"][0]["echelon_cost"], rtol=1e-6)

    page = client.get(f"/teacher/{teacher}")
    assert page.status_code == 200 and "Debrief" in page.text and 'data-team="Red"' in page.text
    assert 'id="start-class"' not in page.text
    csv_reply = client.get(f"/teacher/{teacher}/games/{red}.csv")
    assert csv_reply.status_code == 200 and len(csv_reply.text.strip().splitlines()) == 1 + WEEKS
    for token in (ann, bob):
        assert client.get(f"/seat/{token}/debrief").status_code == 200


# ------------------------------------------------------------------ isolation
def test_tokens_reach_only_their_own_seat_and_class(service, client):
    teacher_a, code_a, (game_a,) = new_team(service, name="A")
    teacher_b, code_b, (game_b,) = new_team(service, name="B")
    ann, bea = service.join(code_a, game_a, 0, "Ann"), service.join(code_a, game_a, 1, "Bea")
    cy = service.join(code_b, game_b, 0, "Cy")
    solo = service.new_game(**GOOD_GAME)
    game_solo = game_of(service, solo)
    free = service.store.one("SELECT token FROM seats WHERE game_id = ? AND seat = 2", game_a)["token"]
    service.start_class(teacher_a)
    service.start_class(teacher_b)

    for token, game_id, seat in [
        (ann, game_a, None),
        (ann, game_a, 0),
        (bea, game_a, 1),
        (teacher_a, game_a, None),
        (cy, game_b, 0),
        (solo, game_solo, 0),
    ]:
        service.check_access(token, game_id, seat)
    refused = [
        (ann, game_a, 1),  # another seat of its own game
        (ann, game_b, None),  # another class's game
        (ann, game_solo, None),
        (solo, game_a, None),
        (cy, game_a, None),
        (teacher_a, game_b, None),  # a teacher of another class
        (teacher_b, game_a, None),
        (teacher_a, game_a, 0),  # a teacher cannot order for a seat
        (teacher_a, game_solo, None),
        (free, game_a, None),  # a seat nobody took
        ("", game_a, None),
        ("nope", game_a, None),
        (ann, 999_999, None),
    ]
    for token, game_id, seat in refused:
        with pytest.raises(Forbidden):
            service.check_access(token, game_id, seat)

    before = {game_id: snapshot(service, game_id) for game_id in (game_a, game_b, game_solo)}
    api = "/api/games/{}/seats/{}/orders"
    for token, game_id, seat in [
        (ann, game_a, 1),
        (ann, game_b, 0),
        (teacher_a, game_a, 0),
        (solo, game_a, 0),
        (free, game_a, 2),
        ("", game_a, 0),
    ]:
        reply = client.post(api.format(game_id, seat), json={"week": 0, "quantity": 3}, headers={"X-Token": token})
        assert reply.status_code == 403 and "error" in reply.json(), (token, game_id, seat)
    assert client.post(api.format(game_a, 0), json={"week": 0, "quantity": 3}).status_code == 403  # no token
    for token, game_id in [(ann, game_b), (teacher_a, game_b), (teacher_b, game_a), (cy, game_a), (ann, 999_999)]:
        assert client.get(f"/api/games/{game_id}", headers={"X-Token": token}).status_code == 403
    assert client.get(f"/teacher/{teacher_a}/games/{game_b}.csv").status_code == 403
    assert {game_id: snapshot(service, game_id) for game_id in before} == before

    assert client.get(f"/api/games/{game_a}", headers={"X-Token": ann}).json()["players"][:2] == ["Ann", "Bea"]
    assert client.get(f"/api/games/{game_a}", headers={"X-Token": teacher_a}).status_code == 200
    assert client.get(f"/teacher/{teacher_a}/games/{game_a}.csv").status_code == 200
    reply = client.post(api.format(game_a, 0), json={"week": 0, "quantity": 3}, headers={"X-Token": ann})
    assert reply.json()["accepted"] is True and service.store.orders(game_a, 0)[0]["quantity"] == 3

    not_seats = ["x", "nope", teacher_a, free]
    for token in not_seats:
        for path in (f"/seat/{token}", f"/seat/{token}/debrief", f"/seat/{token}/game.csv", f"/seat/{token}/status"):
            reply = client.get(path)
            assert reply.status_code == 403 and 'id="forbidden"' in reply.text, path
        assert client.post(f"/seat/{token}/order", data={"week": "0", "quantity": "3"}).status_code == 403
    for token in ("x", ann, cy):
        for path in (f"/teacher/{token}", f"/teacher/{token}/teams"):
            assert client.get(path).status_code == 403, path
        assert client.post(f"/teacher/{token}/start").status_code == 403
    assert client.get(f"/seat/{ann}/debrief").status_code == 403  # the debrief opens at the end
    assert {game_id: snapshot(service, game_id) for game_id in (game_b, game_solo)} == {
        game_id: before[game_id] for game_id in (game_b, game_solo)
    }


def test_names_are_escaped_on_every_page(service, client):
    teacher, code = service.new_class(EVIL, SCENARIO, WEEKS, [EVIL, EVIL_ATTRIBUTE], "sterman")
    _, teams = service.open_seats(code)
    game_id = teams[0]["game_id"]
    student = service.join(code, game_id, 0, EVIL)
    other = service.join(code, teams[1]["game_id"], 1, EVIL_ATTRIBUTE)
    solo = service.new_game(**{**GOOD_GAME, "player": EVIL})

    def assert_escaped(path: str, text: str) -> None:
        assert EVIL not in text and EVIL_ATTRIBUTE not in text and "<img" not in text, path
        assert html.escape(EVIL) in text, path

    taken = client.post("/join", data={"code": code, "choice": f"{game_id}:0", "name": EVIL})
    assert taken.status_code == 400 and "is taken" in taken.text
    assert_escaped("POST /join", taken.text)
    paths = [
        f"/seat/{student}",
        f"/seat/{solo}",
        f"/join?code={code}",
        f"/teacher/{teacher}",
        f"/teacher/{teacher}/teams",
    ]
    for path in paths:
        reply = client.get(path)
        assert reply.status_code == 200, path
        assert_escaped(path, reply.text)

    service.start_class(teacher)
    for week in range(WEEKS):
        service.submit(student, week, 2)
    for week in range(WEEKS):
        service.submit(other, week, 2)
    assert service.dashboard(teacher)["status"] == "finished"
    for path in (f"/teacher/{teacher}", f"/teacher/{teacher}/teams", f"/seat/{student}", f"/seat/{student}/debrief"):
        reply = client.get(path)
        assert reply.status_code == 200, path
        assert_escaped(path, reply.text)


# ------------------------------------------------------------------ restart
def test_a_restart_on_the_same_file_keeps_every_game_and_play_goes_on(tmp_path, clock):
    path = tmp_path / "classroom.sqlite"
    first = Service(Store(path), engine.Catalog(), clock=clock)
    token = first.new_game(SCENARIO, WEEKS, 1, "sterman", "Ann")
    game_id = game_of(first, token)
    start = first.game_view(game_id)["now"]
    typed = [(3 * week + 1) % (MAX_ORDER + 1) for week in range(WEEKS)]
    for week in range(WEEKS // 2):
        assert first.submit(token, week, typed[week]).accepted
    teacher, code, (class_game,) = new_team(first, week_seconds=60)
    student = first.join(code, class_game, 2, "Bo")
    first.start_class(teacher)
    assert first.submit(student, 0, 5).accepted
    views = {game: first.game_view(game, 1) for game in (game_id, class_game)}
    board = first.dashboard(teacher)
    first.store.close()

    second = Service(Store(path), engine.Catalog(), clock=clock)
    try:
        assert {game: second.game_view(game, 1) for game in views} == views
        assert second.dashboard(teacher) == board
        assert second.seat_of(token)["seat"] == 1 and second.seat_of(student)["seat"] == 2
        assert not second.submit(token, WEEKS // 2 - 1, 4).accepted  # still played once
        for week in range(WEEKS // 2, WEEKS):
            assert second.submit(token, week, typed[week]).accepted
        view = second.game_view(game_id)
        assert view["status"] == "finished" and view["history"][: WEEKS // 2] == views[game_id]["history"]
        assert_weeks_consistent(view["history"], start)
        orders = np.array([record["order"] for record in view["history"]])
        assert orders[:, 1].tolist() == typed
        recorded = np.array([record["cost"] for record in view["history"]]).sum(0)
        np.testing.assert_allclose(episode(scripted(orders), view["seed"], WEEKS)["cost"], recorded, rtol=1e-6)
        assert second.submit(student, 1, 5).accepted and second.store.game(class_game)["week"] == 2
    finally:
        second.store.close()


def test_a_second_start_does_not_play_an_agents_team_past_its_end(service):
    teacher, code = service.new_class(**{**GOOD_CLASS, "teams": ["Red", "Blue"]})
    room, teams = service.open_seats(code)
    service.join(code, teams[0]["game_id"], 0, "Ann")
    service.start_class(teacher)
    service.start_class(teacher)  # a double click, or a second tab
    agents_only = service.store.game(teams[1]["game_id"])
    assert agents_only["status"] == "finished" and agents_only["week"] == WEEKS
    assert len(service.store.records(teams[1]["game_id"])) == WEEKS
    with pytest.raises(SetupError, match="has started"):
        service.join(code, teams[0]["game_id"], 1, "Bob")


def test_a_week_left_due_by_a_stopped_server_is_played_when_it_starts(service):
    token = service.new_game(**GOOD_GAME)
    game_id = game_of(service, token)
    # The order was stored, then the server stopped before the week was played.
    service.store.execute(
        "INSERT INTO orders (game_id, week, seat, quantity, source) VALUES (?, 0, 0, 5, 'human')", game_id
    )
    assert service.store.game(game_id)["week"] == 0
    assert service.advance_pending() == 1
    assert service.store.game(game_id)["week"] == 1 and service.store.records(game_id)[0]["order"][0] == 5


def test_a_huge_number_is_an_order_error_not_a_crash(service):
    token = service.new_game(**GOOD_GAME)
    with pytest.raises(OrderError, match="above this scenario's largest order"):
        service.submit(token, 0, "9" * 5000)
    assert not service.submit(token, "9" * 5000, 3).accepted
