"""What the web pages do, without the web: create games and classes, join, order, advance, debrief.

Every method that changes something checks its inputs first and then writes
in one transaction, so a refused request changes nothing. Tokens come from
``secrets.token_urlsafe``; every lookup is by token, and a token only ever
reaches its own seat (or its own class, for a teacher).
"""

from __future__ import annotations

import csv
import io
import json
import logging
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from jaxbeer import rollouts
from jaxbeer.play import echelon_name
from jaxbeer.serve import engine
from jaxbeer.serve.engine import OrderError, SetupError
from jaxbeer.serve.store import Store

LOG = logging.getLogger("jaxbeer.serve")
MAX_TEAMS = 8
MAX_NAME = 40
WEEK_SECONDS_RANGE = (10, 3600)
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O or 1/I to misread on a projector


class Forbidden(Exception):
    """A token that does not grant the request (the pages answer 403)."""


@dataclass
class Submitted:
    """What happened to an order: ``accepted`` (stored now), or why not, and the game's week after it."""

    accepted: bool
    week: int
    message: str = ""


def check_name(field: str, value: Any) -> str:
    text = "" if value is None else str(value).strip()
    if not text or len(text) > MAX_NAME:
        raise SetupError(f"{field} must be 1 to {MAX_NAME} characters")
    return text


class Service:
    def __init__(self, store: Store, catalog: engine.Catalog, clock: Callable[[], float] = time.time):
        self.store = store
        self.catalog = catalog
        self.clock = clock

    # ------------------------------------------------------------ creating
    def new_game(self, scenario: Any, weeks: Any, seat: Any, co_player: Any, player: Any = "you") -> str:
        """A single-player game; returns the player's seat token."""
        scenario, weeks, co_player = self.catalog.check_setup(scenario, weeks, co_player)
        table = self.catalog.table(scenario, weeks, co_player)
        seat = self._check_seat(seat, table.env.num_agents)
        player = check_name("name", player)
        with self.store.transaction() as db:
            game_id = self._insert_game(db, None, "single player", scenario, weeks, co_player, table, "playing")
            tokens = self._insert_seats(db, game_id, table.env.num_agents)
            db.execute("UPDATE seats SET player = ? WHERE token = ?", (player, tokens[seat]))
        return tokens[seat]

    def new_class(
        self, name: Any, scenario: Any, weeks: Any, teams: Any, co_player: Any, week_seconds: Any = 0
    ) -> tuple[str, str]:
        """A class of teams waiting for students; returns ``(teacher_token, join_code)``."""
        name = check_name("class name", name)
        scenario, weeks, co_player = self.catalog.check_setup(scenario, weeks, co_player)
        team_names = [check_name("team name", team) for team in (teams if isinstance(teams, list) else [])]
        if not 1 <= len(team_names) <= MAX_TEAMS:
            raise SetupError(f"teams must be 1 to {MAX_TEAMS} names")
        if len(set(team_names)) != len(team_names):
            raise SetupError("team names must differ")
        week_seconds = self._check_week_seconds(week_seconds)
        table = self.catalog.table(scenario, weeks, co_player)
        teacher, code = secrets.token_urlsafe(24), self._new_code()
        with self.store.transaction() as db:
            class_id = db.execute(
                "INSERT INTO classes (code, teacher_token, name, week_seconds, status, created) VALUES (?,?,?,?,?,?)",
                (code, teacher, name, week_seconds, "open", self.clock()),
            ).lastrowid
            for team in team_names:
                game_id = self._insert_game(db, class_id, team, scenario, weeks, co_player, table, "waiting")
                self._insert_seats(db, game_id, table.env.num_agents)
        return teacher, code

    def _check_seat(self, seat: Any, num_agents: int) -> int:
        try:
            seat = int(seat)
        except (TypeError, ValueError):
            seat = -1
        if not 0 <= seat < num_agents:
            raise SetupError(f"seat must be one of {', '.join(echelon_name(k) for k in range(num_agents))}")
        return seat

    def _check_week_seconds(self, value: Any) -> int:
        low, high = WEEK_SECONDS_RANGE
        message = f"time limit must be 0 (none) or {low} to {high} seconds"
        try:
            seconds = int(value or 0)
        except (TypeError, ValueError):
            raise SetupError(message) from None
        if seconds != 0 and not low <= seconds <= high:
            raise SetupError(f"{message}, got {seconds}")
        return seconds

    def _new_code(self) -> str:
        while True:
            code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(6))
            if self.store.class_by_code(code) is None:
                return code

    def _insert_game(self, db, class_id, team, scenario, weeks, co_player, table, status) -> int:
        seed = secrets.randbits(31)
        state = engine.state_to_bytes(engine.start_state(table, seed))
        now = self.clock()
        return db.execute(
            "INSERT INTO games (class_id, team, scenario, weeks, co_player, seed, week, status, state, week_started,"
            " created) VALUES (?,?,?,?,?,?,0,?,?,?,?)",
            (class_id, team, scenario, weeks, co_player, seed, status, state, now, now),
        ).lastrowid

    def _insert_seats(self, db, game_id: int, num_agents: int) -> list[str]:
        tokens = [secrets.token_urlsafe(24) for _ in range(num_agents)]
        db.executemany(
            "INSERT INTO seats (token, game_id, seat) VALUES (?,?,?)", [(t, game_id, k) for k, t in enumerate(tokens)]
        )
        return tokens

    # ------------------------------------------------------------ classroom
    def open_seats(self, code: str) -> tuple[Any, list[dict]]:
        """The class of a join code and its teams with their free seats; ``Forbidden`` for an unknown code."""
        room = self.store.class_by_code(str(code).strip().upper())
        if room is None:
            raise Forbidden("no class has this code")
        teams = []
        for game in self.store.class_games(room["id"]):
            seats = self.store.seats(game["id"])
            teams.append(
                {
                    "game_id": game["id"],
                    "team": game["team"],
                    "seats": [
                        {"seat": s["seat"], "name": echelon_name(s["seat"]), "player": s["player"]} for s in seats
                    ],
                }
            )
        return room, teams

    def join(self, code: str, game_id: Any, seat: Any, player: Any) -> str:
        """Take a free seat of a team of the class; returns its token."""
        room, teams = self.open_seats(code)
        player = check_name("name", player)
        if room["status"] != "open":
            raise SetupError("this class has started; ask your teacher")
        try:
            game_id = int(game_id)
        except (TypeError, ValueError):
            game_id = -1
        team = next((t for t in teams if t["game_id"] == game_id), None)
        if team is None:
            raise SetupError("team must be one of this class's teams")
        seat = self._check_seat(seat, len(team["seats"]))
        with self.store.transaction() as db:
            taken = db.execute(
                "UPDATE seats SET player = ? WHERE game_id = ? AND seat = ? AND player IS NULL"
                " AND (SELECT status FROM classes WHERE id = ?) = 'open'",
                (player, game_id, seat, room["id"]),
            ).rowcount
            token = db.execute("SELECT token FROM seats WHERE game_id = ? AND seat = ?", (game_id, seat)).fetchone()
        if not taken:
            raise SetupError(f"seat: the {echelon_name(seat)} of {team['team']} is taken; choose another")
        return token["token"]

    def start_class(self, teacher: str) -> None:
        """Start every team's first week; seats nobody took are played by the agents from now on."""
        room = self._class(teacher)
        with self.store.transaction() as db:
            # Conditional updates: of two start requests at once (a double click), only one starts the class.
            started = db.execute(
                "UPDATE classes SET status = 'running' WHERE id = ? AND status = 'open'", (room["id"],)
            )
            if not started.rowcount:
                return
            db.execute(
                "UPDATE games SET status = 'playing', week_started = ? WHERE class_id = ? AND status = 'waiting'",
                (self.clock(), room["id"]),
            )
        for game in self.store.class_games(room["id"]):
            self.advance(game["id"])  # a team without humans plays through at once

    def _class(self, teacher: str):
        room = self.store.class_by_teacher(str(teacher))
        if room is None:
            raise Forbidden("not a teacher's link")
        return room

    # ------------------------------------------------------------ ordering
    def seat_of(self, token: str):
        seat = self.store.seat(str(token))
        if seat is None or seat["player"] is None:
            raise Forbidden("not a player's link")
        return seat

    def check_access(self, token: str, game_id: int, seat: int | None = None) -> None:
        """``Forbidden`` unless ``token`` is a player's of this game (and of this seat, when given) or the
        teacher's of its class."""
        game = self.store.game(game_id)
        own = self.store.seat(str(token))
        if game is not None and own is not None and own["player"] is not None and own["game_id"] == game_id:
            if seat is None or own["seat"] == seat:
                return
        elif game is not None and seat is None and game["class_id"] is not None:
            room = self.store.class_by_teacher(str(token))
            if room is not None and room["id"] == game["class_id"]:
                return
        raise Forbidden("this token does not grant that")

    def submit(self, token: str, week: Any, quantity: Any) -> Submitted:
        """Store the seat's order for ``week`` (once: a repeat is refused and changes nothing), then advance
        the game if every human has ordered. ``OrderError`` for a bad quantity."""
        seat = self.seat_of(token)
        with self.store.lock:
            game = self.store.game(seat["game_id"])
            table = self._table(game)
            quantity = engine.parse_order(quantity, table.env.config.max_order)
            week = engine.whole_number(week)
            week = -1 if week is None else week
            if game["status"] != "playing":
                message = "the game is over" if game["status"] == "finished" else "the game has not started"
                return Submitted(False, game["week"], message)
            if week != game["week"]:
                if 0 <= week < game["week"]:
                    return Submitted(False, game["week"], f"week {week + 1} is already played")
                return Submitted(False, game["week"], f"this is week {game['week'] + 1}, not week {week + 1}")
            with self.store.transaction() as db:
                stored = db.execute(
                    "INSERT OR IGNORE INTO orders (game_id, week, seat, quantity, source) VALUES (?,?,?,?, 'human')",
                    (game["id"], week, seat["seat"], quantity),
                ).rowcount
            if not stored:
                return Submitted(False, game["week"], f"you have already ordered for week {week + 1}")
            self.advance(game["id"])
            return Submitted(True, self.store.game(game["id"])["week"])

    def advance(self, game_id: int) -> None:
        """Play the game's weeks for which every human has ordered, or whose time limit has passed."""
        with self.store.lock:
            while self._advance_once(game_id):
                pass

    def advance_pending(self) -> int:
        """Advance every game that is due: all its humans have ordered (a server stopped between storing the
        last order and playing the week) or its time is up. Called when the server starts."""
        playing = self.store.all("SELECT id FROM games WHERE status = 'playing'")
        for row in playing:
            self.advance(row["id"])
        return len(playing)

    def advance_overdue(self) -> int:
        """Advance every class game whose week is past its time limit; the number of weeks played."""
        overdue = self.store.all(
            "SELECT games.id FROM games JOIN classes ON classes.id = games.class_id"
            " WHERE games.status = 'playing' AND classes.week_seconds > 0"
            " AND games.week_started + classes.week_seconds <= ?",
            self.clock(),
        )
        played = 0
        for row in overdue:
            before = self.store.game(row["id"])["week"]
            try:
                self.advance(row["id"])
            except Exception:  # one broken game must not stop the time limits of the others
                LOG.exception("game %s: the week past its time limit could not be played", row["id"])
            played += self.store.game(row["id"])["week"] - before
        return played

    def _table(self, game) -> engine.Table:
        return self.catalog.table(game["scenario"], game["weeks"], game["co_player"])

    def _week_seconds(self, game) -> int:
        if game["class_id"] is None:
            return 0
        return self.store.one("SELECT week_seconds FROM classes WHERE id = ?", game["class_id"])["week_seconds"]

    def _advance_once(self, game_id: int) -> bool:
        game = self.store.game(game_id)
        if game["status"] != "playing" or game["week"] >= game["weeks"]:
            return False
        humans = [s["seat"] for s in self.store.seats(game_id) if s["player"] is not None]
        ordered = self.store.orders(game_id, game["week"])
        seconds = self._week_seconds(game)
        late = seconds > 0 and self.clock() >= game["week_started"] + seconds
        if not late and any(seat not in ordered for seat in humans):
            return False
        table = self._table(game)
        num_agents = table.env.num_agents
        is_human = [k in ordered for k in range(num_agents)]
        human_orders = [ordered[k]["quantity"] if k in ordered else 0 for k in range(num_agents)]
        state = engine.state_from_bytes(table, game["state"])
        next_state, record = engine.play_week(table, game["seed"], state, human_orders, is_human)
        sources = ["human" if k in ordered else ("time limit" if k in humans else "agent") for k in range(num_agents)]
        record["source"] = sources
        week = game["week"]
        finished = week + 1 >= game["weeks"]
        with self.store.transaction() as db:
            db.execute("INSERT INTO weeks (game_id, week, record) VALUES (?,?,?)", (game_id, week, json.dumps(record)))
            db.executemany(
                "INSERT OR IGNORE INTO orders (game_id, week, seat, quantity, source) VALUES (?,?,?,?,?)",
                [(game_id, week, k, record["order"][k], sources[k]) for k in range(num_agents) if k not in ordered],
            )
            db.execute(
                "UPDATE games SET week = ?, state = ?, status = ?, week_started = ? WHERE id = ?",
                (
                    week + 1,
                    engine.state_to_bytes(next_state),
                    "finished" if finished else "playing",
                    self.clock(),
                    game_id,
                ),
            )
            if finished and game["class_id"] is not None:
                db.execute(
                    "UPDATE classes SET status = 'finished' WHERE id = ? AND NOT EXISTS"
                    " (SELECT 1 FROM games WHERE class_id = ? AND status != 'finished')",
                    (game["class_id"], game["class_id"]),
                )
        return not finished

    # ------------------------------------------------------------ views
    def game_view(self, game_id: int, seat: int | None = None) -> dict:
        """A game as the pages and the API show it (``seat``: the viewer's, for the decision view)."""
        game = self.store.game(game_id)
        table = self._table(game)
        records = self.store.records(game_id)
        seats = self.store.seats(game_id)
        state = engine.state_from_bytes(table, game["state"])
        total = [0.0] * table.env.num_agents
        for record in records:
            total = [t + c for t, c in zip(total, record["cost"])]
        view = {
            "game_id": game_id,
            "team": game["team"],
            "scenario": game["scenario"],
            "weeks": game["weeks"],
            "week": game["week"],
            "status": game["status"],
            # The seed fixes the future demand: shown once the game is over (the debrief's replay key).
            "seed": game["seed"] if game["status"] == "finished" else None,
            "max_order": table.env.config.max_order,
            "co_player": table.co_player_label,
            "echelons": [echelon_name(k) for k in range(table.env.num_agents)],
            "players": [s["player"] for s in seats],
            "now": engine.decision_view(state),
            "last_cost": records[-1]["cost"] if records else [0.0] * table.env.num_agents,
            "total_cost": total,
            "team_cost": sum(total),
            "history": records,
        }
        if game["status"] == "playing":
            ordered = self.store.orders(game_id, game["week"])
            view["ordered"] = [k in ordered for k in range(table.env.num_agents)]
            seconds = self._week_seconds(game)
            view["deadline"] = game["week_started"] + seconds if seconds else None
        if seat is not None:
            view["seat"] = seat
        view["bullwhip"] = self._bullwhip(records, table.env.num_agents)
        return view

    def _bullwhip(self, records: list[dict], num_agents: int) -> list[float | None]:
        """The weeks played so far, by the debrief's definition (``rollouts.summarise``)."""
        if len(records) < 2:
            return [None] * num_agents
        summary = rollouts.summarise(engine.sums_of_records(records), len(records))
        return engine.team_row("", summary)["bullwhip"]

    def debrief(self, game_id: int) -> dict:
        game = self.store.game(game_id)
        if game["status"] != "finished":
            raise Forbidden("the debrief opens when the game is over")
        label = "your team" if game["class_id"] is None else f"team {game['team']}"
        return engine.debrief(self._table(game), game["seed"], self.store.records(game_id), label)

    def dashboard(self, teacher: str) -> dict:
        room = self._class(teacher)
        games = self.store.class_games(room["id"])
        teams = [self.game_view(game["id"]) for game in games]
        view = {"name": room["name"], "code": room["code"], "status": room["status"], "teams": teams}
        view["week_seconds"] = room["week_seconds"]
        if room["status"] == "finished":
            view["debriefs"] = [{"team": g["team"], **self.debrief(g["id"])} for g in games]
        return view

    def csv_of(self, game_id: int) -> str:
        """The game as CSV: one row per week, each echelon's columns side by side."""
        view = self.game_view(game_id)
        columns = (
            "incoming_order",
            "arriving_shipment",
            "order",
            "source",
            "shipped",
            "net_inventory",
            "on_order",
            "cost",
        )
        out = io.StringIO()
        writer = csv.writer(out)
        names = [name.replace(" ", "_") for name in view["echelons"]]
        writer.writerow(["week", "demand", *(f"{name}_{column}" for name in names for column in columns)])
        for record in view["history"]:
            cells = [record["week"] + 1, record["demand"]]
            for k in range(len(names)):
                cells += [record[column][k] for column in columns]
            writer.writerow(cells)
        return out.getvalue()


def open_service(db_path: str | Path, run_dirs: list[Path] | tuple[Path, ...] = ()) -> Service:
    return Service(Store(db_path), engine.Catalog(list(run_dirs)))


__all__ = ["Forbidden", "OrderError", "Service", "SetupError", "Submitted", "open_service"]
