"""The classroom server as users run it (``python -m jaxbeer.serve`` in a subprocess), over HTTP: many
games at once without cross-talk, tokens that reach only their own seat, and the command line."""

from __future__ import annotations

import random
import re
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

SCENARIO = "basic"
WEEKS = 10
GAMES = 50
FILENAME = re.compile(r'filename="beer-game-(\d+)\.csv"')


def new_game(client: httpx.Client, seat: int, name: str, co_player: str = "sterman", weeks: int = WEEKS):
    """A single-player game as the home page's form starts it: ``(token, game_id)``."""
    form = {"scenario": SCENARIO, "weeks": str(weeks), "seat": str(seat), "co_player": co_player, "name": name}
    reply = client.post("/play", data=form)
    assert reply.status_code == 303, reply.text[-1000:]
    location = reply.headers["location"]
    match = re.fullmatch(r"/seat/([A-Za-z0-9_-]+)", location)
    assert match, location
    token = match.group(1)
    assert client.get(location).status_code == 200  # the play page the browser is sent to
    csv = client.get(f"/seat/{token}/game.csv")
    assert csv.status_code == 200
    game_id = int(FILENAME.search(csv.headers["content-disposition"]).group(1))
    return token, game_id


def order(client: httpx.Client, token: str, game_id: int, seat: int, week, quantity) -> httpx.Response:
    return client.post(
        f"/api/games/{game_id}/seats/{seat}/orders",
        json={"week": week, "quantity": quantity},
        headers={"X-Token": token},
    )


def test_fifty_games_at_once_keep_to_themselves(server):
    draws = [random.Random(index) for index in range(GAMES)]
    patterns = [[draw.randrange(17) for _ in range(WEEKS)] for draw in draws]  # each game its own orders
    assert len({tuple(pattern) for pattern in patterns}) == GAMES
    with httpx.Client(base_url=server.url, timeout=60) as client:  # the setup's programs compile once, here
        new_game(client, 0, "warm-up")
    latencies: list[float] = []
    lock = threading.Lock()
    start_line = threading.Barrier(GAMES, timeout=300)

    def play(index: int) -> dict:
        seat = index % 4
        with httpx.Client(base_url=server.url, timeout=120) as client:
            try:
                token, game_id = new_game(client, seat, f"player {index}")
            except BaseException:
                start_line.abort()  # the others stop waiting for this game
                raise
            start_line.wait()  # every game orders at once
            for week, quantity in enumerate(patterns[index]):
                began = time.perf_counter()
                reply = order(client, token, game_id, seat, week, quantity)
                with lock:
                    latencies.append(1e3 * (time.perf_counter() - began))
                assert reply.status_code == 200, reply.text
                assert reply.json() == {"accepted": True, "week": week + 1, "message": ""}
        return {"index": index, "seat": seat, "token": token, "game_id": game_id}

    began = time.perf_counter()
    with ThreadPoolExecutor(GAMES) as pool:
        games = list(pool.map(play, range(GAMES)))
    wall = time.perf_counter() - began
    ordered = sorted(latencies)
    print(
        f"\n{GAMES} games x {WEEKS} weeks over HTTP at once: {wall:.2f} s wall, order request median "
        f"{statistics.median(ordered):.1f} ms, p95 {ordered[int(0.95 * len(ordered))]:.1f} ms, max {ordered[-1]:.1f} ms"
    )

    assert len({game["token"] for game in games}) == GAMES
    assert len({game["game_id"] for game in games}) == GAMES
    with httpx.Client(base_url=server.url, timeout=60) as client:
        for game in games:
            view = client.get(f"/api/games/{game['game_id']}", headers={"X-Token": game["token"]}).json()
            seat, index = game["seat"], game["index"]
            assert view["game_id"] == game["game_id"] and view["week"] == WEEKS and view["status"] == "finished"
            players = [None] * 4
            players[seat] = f"player {index}"
            assert view["players"] == players
            history = view["history"]
            assert [record["week"] for record in history] == list(range(WEEKS))
            assert [record["order"][seat] for record in history] == patterns[index]
            sources = ["agent"] * 4
            sources[seat] = "human"
            assert all(record["source"] == sources for record in history)


def test_a_token_reaches_only_its_own_game_and_seat(server):
    with httpx.Client(base_url=server.url, timeout=60) as client:
        token_a, game_a = new_game(client, 1, "Ann")
        token_b, game_b = new_game(client, 2, "Bob")
        assert client.get(f"/api/games/{game_a}", headers={"X-Token": token_a}).status_code == 200
        for token, game_id in [(token_a, game_b), (token_b, game_a), ("nope", game_a), ("", game_a)]:
            reply = client.get(f"/api/games/{game_id}", headers={"X-Token": token})
            assert reply.status_code == 403 and "error" in reply.json()
        assert client.get(f"/api/games/{game_a}").status_code == 403  # no token at all
        refused = [
            (token_a, game_b, 2),  # another game's seat
            (token_a, game_b, 1),  # another game, the same seat number
            (token_a, game_a, 0),  # another seat of its own game
            (token_a, game_a, 2),
            (token_b, game_a, 1),
        ]
        for token, game_id, seat in refused:
            reply = order(client, token, game_id, seat, 0, 5)
            assert reply.status_code == 403 and "error" in reply.json(), (game_id, seat)
        for token, game_id in [(token_a, game_a), (token_b, game_b)]:
            view = client.get(f"/api/games/{game_id}", headers={"X-Token": token}).json()
            assert view["week"] == 0 and view["history"] == [] and not any(view["ordered"])
        reply = order(client, token_a, game_a, 1, 0, 5)
        assert reply.status_code == 200 and reply.json()["accepted"]
        view_b = client.get(f"/api/games/{game_b}", headers={"X-Token": token_b}).json()
        assert view_b["week"] == 0 and view_b["history"] == []
        for path in ("/seat/nope", "/teacher/nope", "/seat/nope/debrief", "/seat/nope/game.csv", f"/teacher/{token_a}"):
            assert client.get(path).status_code == 403, path


def test_a_trained_co_player_plays_over_http(server, trained_co_player):
    with httpx.Client(base_url=server.url, timeout=120) as client:
        token, game_id = new_game(client, 1, "Ann", co_player=trained_co_player, weeks=3)
        for week in range(3):
            assert order(client, token, game_id, 1, week, 4).json()["accepted"]
        view = client.get(f"/api/games/{game_id}", headers={"X-Token": token}).json()
        assert view["status"] == "finished" and view["co_player"].startswith("trained")
        assert [record["source"] for record in view["history"]] == [["agent", "human", "agent", "agent"]] * 3
        wrong = {"scenario": "classic", "weeks": "3", "seat": "0", "co_player": trained_co_player}
        reply = client.post("/play", data=wrong)
        assert reply.status_code == 400 and "was trained on" in reply.text


def test_a_bad_port_exits_2_with_one_line_naming_it(cli_exit):
    status, stderr = cli_exit("jaxbeer.serve.__main__", "--port", "70000")
    assert status == 2, stderr[-2000:]
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "--port" in lines[0], stderr


def test_the_help_exits_0(capsys):
    from jaxbeer.serve.__main__ import main

    with pytest.raises(SystemExit) as stop:
        main(["--help"])
    assert stop.value.code == 0
    shown = capsys.readouterr().out
    assert "--port" in shown and "--db" in shown and "--runs" in shown
