"""The classroom web app end to end in a browser (Debian's chromium, driven by Playwright), against the
server as users start it (``python -m jaxbeer.serve``, the ``server`` fixture of ``conftest.py``).

A whole single-player game whose debrief must equal ``jaxbeer``'s own evaluation of the same orders on
the same demand path; a class of two teams (four students in one, agents only in the other) watched on
the teacher's dashboard; and resilience: a reload, a server killed and restarted mid-game, a double
submit, and every kind of bad order.

``PLOOTO_SCREENSHOTS=1`` also writes the play page and the debrief to ``docs/images/``.
"""

from __future__ import annotations

import csv
import io
import os
import re
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from playwright.sync_api import Page, expect

import jaxbeer

REPO = Path(__file__).resolve().parents[2]
ECHELONS = ("retailer", "wholesaler", "distributor", "manufacturer")
MAX_ORDER = 16  # basic's
POLL_MS = 15_000  # seat pages poll every 1 s, the dashboard every 2 s; a new setup compiles on first use
# 20 orders in 0..MAX_ORDER, a fixed pseudo-random list (both ends included).
ORDERS = [4, 11, 0, 16, 7, 3, 9, 12, 5, 8, 14, 2, 6, 10, 1, 13, 4, 15, 9, 7]
BOLD = "<b>Bold</b> & co"  # a team name that must be shown as text, never as markup


# ------------------------------------------------------------------ helpers
def screenshot(page: Page, tmp_path: Path, name: str) -> None:
    page.screenshot(path=tmp_path / f"{name}.png", full_page=True)
    if os.environ.get("PLOOTO_SCREENSHOTS") == "1":
        target = REPO / "docs" / "images" / f"{name}.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=target, full_page=True)


def start_single(page: Page, server, weeks: int, seat: int, name: str = "Ada") -> str:
    """A single-player game of ``basic`` against base-stock co-players, set up on the home page; returns
    the seat's token."""
    page.goto(f"{server.url}/")
    form = page.locator("#single")
    form.locator("#scenario").select_option("basic")
    form.locator("#weeks").fill(str(weeks))
    form.locator("#seat").select_option(str(seat))
    form.locator("#co_player").select_option("base_stock")
    form.locator("#name").fill(name)
    form.locator("#start").click()
    game = page.locator("#game")
    expect(game).to_have_attribute("data-week", "0")
    expect(page.locator("#week")).to_have_text("1")
    expect(page.locator("h1")).to_contain_text(f"{name}, {ECHELONS[seat]}")
    return game.get_attribute("data-token")


def play_week(page: Page, quantity: int | str) -> None:
    """Order on the page and wait for the next week's page (single player: the week advances at once)."""
    week = int(page.locator("#game").get_attribute("data-week"))
    page.locator("#quantity").fill(str(quantity))
    page.locator("#order-button").click()
    expect(page.locator("#game")).to_have_attribute("data-week", str(week + 1))


def game_id_of(page: Page, server, token: str) -> int:
    """The seat's game id, from the file name of its CSV download."""
    reply = page.request.get(f"{server.url}/seat/{token}/game.csv")
    assert reply.ok, reply.status
    match = re.search(r'filename="beer-game-(\d+)\.csv"', reply.headers["content-disposition"])
    assert match, reply.headers["content-disposition"]
    return int(match.group(1))


def api_view(page: Page, server, game_id: int, token: str) -> dict:
    reply = page.request.get(f"{server.url}/api/games/{game_id}", headers={"X-Token": token})
    assert reply.ok, (reply.status, reply.text())
    return reply.json()


def one_decimal(values) -> list[str]:
    return [f"{float(v):.1f}" for v in values]


def team_order(week: int, seat: int) -> int:
    """The classroom students' orders: varied, in 0..MAX_ORDER."""
    return (3 * week + 5 * seat) % (MAX_ORDER + 1)


def seat_page_state(page: Page) -> dict:
    """What a reload or a restart must keep: the week, the history table, the figures of the week."""
    return {
        "week": page.locator("#game").get_attribute("data-week"),
        "label": page.locator("#week").inner_text(),
        "history": [row.locator("td").all_inner_texts() for row in page.locator("#history tbody tr").all()],
        "now": page.locator("#now td").all_inner_texts(),
    }


# ------------------------------------------------------------------ 1. a whole single-player game
def test_single_player_game_and_its_debrief_replay_in_jaxbeer(page: Page, server, tmp_path):
    seat, weeks = 1, len(ORDERS)  # the wholesaler, 20 weeks
    token = start_single(page, server, weeks, seat)
    for week, quantity in enumerate(ORDERS):
        expect(page.locator("#week")).to_have_text(str(week + 1))
        expect(page.locator("#week-label")).to_contain_text(f"of {weeks}")
        if week == 8:  # eight weeks played: the chart has lines
            expect(page.locator("#chart canvas").first).to_be_visible()
            screenshot(page, tmp_path, "classroom-play")
        play_week(page, quantity)
        newest = page.locator("#history tbody tr").first.locator("td")
        expect(newest.nth(0)).to_have_text(str(week + 1))
        expect(newest.nth(4)).to_have_text(str(quantity))  # the "your order" column
    expect(page.locator("#finished")).to_be_visible()
    expect(page.locator("#week")).to_have_count(0)
    expect(page.locator("#order-form")).to_have_count(0)
    expect(page.locator("#history tbody tr")).to_have_count(8)  # the last eight weeks
    total_shown = page.locator("#total_cost").inner_text()
    team_shown = page.locator("#team_cost").inner_text()

    page.locator("#debrief-link").click()
    expect(page).to_have_url(re.compile(rf"/seat/{re.escape(token)}/debrief$"))
    expect(page.locator("#echelon-charts canvas")).not_to_have_count(0)
    rows = page.locator("#debrief table.costs tbody tr")
    expect(rows).to_have_count(3)
    screenshot(page, tmp_path, "classroom-debrief")
    labels = rows.locator("th").all_inner_texts()
    assert labels[0] == "your team"
    assert labels[1] == "ghost: base-stock [8, 8, 0, 0]"
    assert labels[2].startswith("all agents: ")
    shown = [row.locator("td").all_inner_texts() for row in rows.all()]
    assert all(len(cells) == len(ECHELONS) + 1 for cells in shown)
    assert shown[0][-1] == rows.first.locator(".team-cost").inner_text()
    expect(page.locator("#debrief table.bullwhip tbody tr")).to_have_count(3)
    seed = int(re.search(r"game seed (\d+)", page.locator("main").inner_text()).group(1))

    # Every seat's orders, from the CSV the debrief offers.
    with page.expect_download() as started:
        page.locator("#csv").click()
    download = started.value
    game_id = int(re.fullmatch(r"beer-game-(\d+)\.csv", download.suggested_filename).group(1))
    download.save_as(tmp_path / download.suggested_filename)
    table = list(csv.DictReader(io.StringIO((tmp_path / download.suggested_filename).read_text())))
    assert [int(row["week"]) for row in table] == list(range(1, weeks + 1))
    orders = [[int(row[f"{name}_order"]) for name in ECHELONS] for row in table]
    assert [week[seat] for week in orders] == ORDERS
    assert {row[f"{ECHELONS[seat]}_source"] for row in table} == {"human"}
    assert {row[f"{name}_source"] for row in table for name in ECHELONS if name != ECHELONS[seat]} == {"agent"}
    view = api_view(page, server, game_id, token)
    assert view["seed"] == seed and view["status"] == "finished" and view["week"] == weeks
    assert [record["order"] for record in view["history"]] == orders

    # jaxbeer's own evaluation of the same orders from the same episode key.
    env, params = jaxbeer.make("basic", horizon=weeks)
    scripted = jaxbeer.policies.Policy(
        params=jnp.asarray(orders, jnp.int32), apply=lambda p, key, state, env_params: p[state.period]
    )
    key = jax.random.key(seed)
    episode_sums = jax.jit(jaxbeer.rollouts.episode_sums, static_argnames="env")
    replayed = np.asarray(episode_sums(env, params, scripted, key)["cost"])
    ghost_policy = jaxbeer.policies.base_stock([8, 8, 0, 0])
    ghost = np.asarray(episode_sums(env, params, ghost_policy, key)["cost"])
    assert shown[0] == one_decimal([*replayed, replayed.sum()])
    assert shown[1] == one_decimal([*ghost, ghost.sum()])
    assert (total_shown, team_shown) == (f"{replayed[seat]:.1f}", f"{replayed.sum():.1f}")
    np.testing.assert_allclose(view["total_cost"], replayed, atol=1e-3)


# ------------------------------------------------------------------ 2. a class of two teams
def test_classroom_of_four_students_and_an_agents_team(browser, server, trained_co_player):
    contexts = []

    def new_page() -> Page:
        context = browser.new_context(viewport={"width": 1100, "height": 900})
        contexts.append(context)
        return context.new_page()

    try:
        teacher = new_page()
        teacher.goto(f"{server.url}/")
        form = teacher.locator("#classroom")
        form.locator("#class_name").fill("Operations 101")
        form.locator("#class_scenario").select_option("basic")
        form.locator("#class_weeks").fill("5")
        form.locator("#teams").fill(f"Team A\n{BOLD}")
        form.locator("#class_co_player").select_option(trained_co_player)
        form.locator("#week_seconds").fill("0")
        form.locator("#create_class").click()
        expect(teacher).to_have_url(re.compile(r"/teacher/[^/]+$"))
        teacher_token = teacher.url.rsplit("/", 1)[1]
        code = teacher.locator("#join-code").inner_text().strip()
        assert re.fullmatch(r"[A-Z2-9]{6}", code), code

        students, game_id, other_id = [], None, None
        for seat, echelon in enumerate(ECHELONS):
            student = new_page()
            student.goto(f"{server.url}/join?code={code}")
            expect(student.locator("fieldset.team legend")).to_have_text(["Team A", BOLD])
            student.locator("#name").fill(f"Student {seat + 1}")
            # the seats taken so far are shown taken, and cannot be chosen
            expect(student.locator('input[name=choice][data-team="Team A"]:disabled')).to_have_count(seat)
            choice = student.locator(f'input[name=choice][data-team="Team A"][data-seat="{echelon}"]')
            game_id, taken = map(int, choice.get_attribute("value").split(":"))
            assert taken == seat
            other_choice = student.locator(f'input[name=choice][data-team="{BOLD}"]').first
            other_id = int(other_choice.get_attribute("value").split(":")[0])
            choice.check()
            student.locator("#take_seat").click()
            expect(student.locator("#waiting-start")).to_be_visible()
            expect(student.locator("h1")).to_contain_text(f"Student {seat + 1}, {echelon} of Team A")
            students.append(student)

        teacher.locator("#start-class").click()
        team_a = teacher.locator('#dashboard tr[data-team="Team A"]')
        for week in range(5):
            for seat, student in enumerate(students):
                # Each page reloads itself (polling) once the class starts or the team's week advances.
                expect(student.locator("#game")).to_have_attribute("data-week", str(week), timeout=POLL_MS)
                expect(student.locator("#week")).to_have_text(str(week + 1))
                student.locator("#quantity").fill(str(team_order(week, seat)))
                student.locator("#order-button").click()
                if seat < 3:  # the team waits for its last member
                    expect(student.locator("#waiting-team")).to_contain_text(f"week {week + 1}")
                    expect(student.locator("#game")).to_have_attribute("data-week", str(week))
                if seat == 2:
                    view = api_view(teacher, server, game_id, teacher_token)
                    assert (view["week"], view["ordered"]) == (week, [True, True, True, False])
                    if week == 0:
                        expect(team_a.locator(".players")).to_have_text(
                            "Student 1 ✓, Student 2 ✓, Student 3 ✓, Student 4", timeout=POLL_MS
                        )
                        expect(team_a.locator(".week")).to_have_text("0 / 5")
        for student in students:
            expect(student.locator("#finished")).to_be_visible(timeout=POLL_MS)
            expect(student.locator("#debrief-link")).to_be_visible()

        # The dashboard, refreshed by polling, at the end of the class.
        debriefs = teacher.locator("#teams section.debrief")
        expect(debriefs).to_have_count(2, timeout=POLL_MS)
        expect(teacher.locator("#class-status")).to_have_attribute("data-status", "finished")
        expect(teacher.locator("#start-form")).to_have_count(0)
        expect(team_a.locator(".week")).to_contain_text("5 / 5")
        view = api_view(teacher, server, game_id, teacher_token)
        assert view["status"] == "finished" and len(view["history"]) == 5
        assert all(record["source"] == ["human"] * 4 for record in view["history"])
        assert view["players"] == [f"Student {seat + 1}" for seat in range(4)]
        typed = [[team_order(week, seat) for seat in range(4)] for week in range(5)]
        assert [record["order"] for record in view["history"]] == typed
        recorded = sum(sum(record["cost"]) for record in view["history"])
        expect(team_a.locator(".team-cost")).to_have_text(f"{recorded:.1f}")

        other = api_view(teacher, server, other_id, teacher_token)
        assert other["status"] == "finished" and other["week"] == 5
        assert all(record["source"] == ["agent"] * 4 for record in other["history"])
        bold_row = teacher.locator("#dashboard tbody tr").nth(1)
        expect(bold_row).to_have_attribute("data-team", BOLD)
        expect(bold_row.locator("th")).to_have_text(BOLD)
        expect(bold_row.locator(".week")).to_contain_text("5 / 5")
        expect(bold_row.locator(".players")).to_have_text("agent, agent, agent, agent")

        # Both debriefs, side by side; the team name escaped wherever it is shown.
        expect(teacher.locator("#teams section.debrief > h3:first-child")).to_have_text(["Team A", BOLD])
        expect(debriefs.nth(1)).to_have_attribute("data-team", BOLD)
        expect(debriefs.nth(1).locator("table.costs tbody tr th").first).to_have_text(f"team {BOLD}")
        expect(debriefs.nth(0).locator("table.costs .team-cost").first).to_have_text(f"{recorded:.1f}")
        # The team of agents only, played week by week, is the all-agents row of its debrief (same key).
        agents_only = debriefs.nth(1).locator("table.costs tbody tr")
        assert agents_only.nth(0).locator("td").all_inner_texts() == agents_only.nth(2).locator("td").all_inner_texts()
        first, second = debriefs.nth(0).bounding_box(), debriefs.nth(1).bounding_box()
        assert abs(first["y"] - second["y"]) < 1 and second["x"] >= first["x"] + first["width"], (first, second)
        expect(teacher.locator("b", has_text="Bold")).to_have_count(0)
        expect(teacher.locator("#teams b")).to_have_text(["finished"])  # the class status, nothing else
        assert "&lt;b&gt;Bold&lt;/b&gt; &amp; co" in teacher.content()
    finally:
        for context in contexts:
            context.close()


# ------------------------------------------------------------------ 3. resilience
def test_reload_and_server_restart_keep_the_game(page: Page, server):
    token = start_single(page, server, weeks=6, seat=0, name="Grace")
    for quantity in (5, 12, 0):
        play_week(page, quantity)
    before = seat_page_state(page)
    assert before["week"] == "3" and len(before["history"]) == 3

    page.reload()  # (a) a reload orders nothing and shows the same
    assert seat_page_state(page) == before

    server.restart()  # (b) killed with SIGKILL mid-game, started again on the same file
    page.reload()
    assert seat_page_state(page) == before
    play_week(page, 9)  # and the game goes on
    expect(page.locator("#week")).to_have_text("5")
    view = api_view(page, server, game_id_of(page, server, token), token)
    assert [record["week"] for record in view["history"]] == [0, 1, 2, 3]
    assert [record["order"][0] for record in view["history"]] == [5, 12, 0, 9]
    after = seat_page_state(page)
    assert after["history"][1:] == before["history"]  # the three weeks before, unchanged under the new one
    expect(page.locator("#total_cost")).to_have_text(f"{view['total_cost'][0]:.1f}")
    expect(page.locator("#team_cost")).to_have_text(f"{view['team_cost']:.1f}")


def test_double_submit_orders_once(page: Page, server):
    seat = 2
    token = start_single(page, server, weeks=5, seat=seat)
    game_id = game_id_of(page, server, token)

    # The form sent twice at once (a double click that beats the page's navigation).
    page.locator("#quantity").fill("6")
    page.evaluate("() => { const f = document.getElementById('order-form'); f.requestSubmit(); f.requestSubmit(); }")
    expect(page.locator("#game")).to_have_attribute("data-week", "1")
    view = api_view(page, server, game_id, token)
    assert view["week"] == 1 and [record["week"] for record in view["history"]] == [0]
    assert view["history"][0]["order"][seat] == 6

    # The same form data posted twice (a retried request, a second tab): the second changes nothing.
    for quantity in (3, 9):
        reply = page.request.post(f"{server.url}/seat/{token}/order", form={"week": "1", "quantity": str(quantity)})
        assert reply.ok, reply.status
    view = api_view(page, server, game_id, token)
    assert view["week"] == 2 and [record["week"] for record in view["history"]] == [0, 1]
    assert [record["order"][seat] for record in view["history"]] == [6, 3]
    page.reload()
    expect(page.locator("#week")).to_have_text("3")
    expect(page.locator("#history tbody tr")).to_have_count(2)


def test_bad_orders_are_refused_beside_the_field(page: Page, server):
    token = start_single(page, server, weeks=5, seat=3)
    game_id = game_id_of(page, server, token)
    play_week(page, 4)
    before, history = seat_page_state(page), api_view(page, server, game_id, token)["history"]
    allowed = f"0 to {MAX_ORDER}"
    for typed, reason in [
        ("-1", "cannot be negative"),
        ("2.5", "whole"),
        ("", "Enter an order"),
        ("17", "above"),
        ("abc", "not a number"),
    ]:
        page.locator("#quantity").fill(typed)
        page.locator("#order-button").click()
        error = page.locator("#order-form #order-error")
        expect(error).to_be_visible()
        expect(error).to_contain_text(reason)
        expect(error).to_contain_text(allowed)
        field = page.locator("#quantity")
        expect(field).to_have_value(typed)  # kept, to correct
        expect(field).to_have_attribute("aria-describedby", "order-error")
        box, message = field.bounding_box(), error.bounding_box()
        assert abs((box["y"] + box["height"] / 2) - (message["y"] + message["height"] / 2)) < box["height"], typed
        assert seat_page_state(page) == before, typed
        view = api_view(page, server, game_id, token)
        assert (view["week"], view["history"], view["ordered"]) == (1, history, [False] * 4), typed
    play_week(page, 16)  # the largest order is fine, and clears the message
    expect(page.locator("#order-error")).to_have_count(0)
    assert api_view(page, server, game_id, token)["history"][1]["order"][3] == 16
