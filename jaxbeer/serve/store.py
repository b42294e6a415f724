"""Every class, game, seat, order and played week, in SQLite (WAL mode).

A week is written in one transaction: its record, every seat's order, the
game's new state and week number. A server killed at any moment therefore
restarts at the last whole week, and an order stored for a week is never
stored twice (the primary key is game, week, seat).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS classes (
    id INTEGER PRIMARY KEY,
    code TEXT UNIQUE NOT NULL,
    teacher_token TEXT UNIQUE NOT NULL,
    name TEXT NOT NULL,
    week_seconds INTEGER NOT NULL,
    status TEXT NOT NULL,            -- open (students join), running, finished
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS games (
    id INTEGER PRIMARY KEY,
    class_id INTEGER REFERENCES classes(id),
    team TEXT NOT NULL,
    scenario TEXT NOT NULL,
    weeks INTEGER NOT NULL,
    co_player TEXT NOT NULL,
    seed INTEGER NOT NULL,
    week INTEGER NOT NULL,           -- weeks played so far
    status TEXT NOT NULL,            -- waiting (class not started), playing, finished
    state BLOB NOT NULL,             -- the env state after `week` weeks (flax msgpack)
    week_started REAL NOT NULL,      -- when the current week began (for the time limit)
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS seats (
    token TEXT PRIMARY KEY,
    game_id INTEGER NOT NULL REFERENCES games(id),
    seat INTEGER NOT NULL,
    player TEXT,                     -- NULL: nobody has taken it (an agent plays it once the game starts)
    UNIQUE (game_id, seat)
);
CREATE TABLE IF NOT EXISTS orders (
    game_id INTEGER NOT NULL REFERENCES games(id),
    week INTEGER NOT NULL,
    seat INTEGER NOT NULL,
    quantity INTEGER NOT NULL,
    source TEXT NOT NULL,            -- human, agent, or time limit (the agent ordered for a late human)
    PRIMARY KEY (game_id, week, seat)
);
CREATE TABLE IF NOT EXISTS weeks (
    game_id INTEGER NOT NULL REFERENCES games(id),
    week INTEGER NOT NULL,
    record TEXT NOT NULL,            -- JSON, see engine.play_week
    PRIMARY KEY (game_id, week)
);
"""


class Store:
    """One connection, used under one lock: the server's requests are short, and serialising them keeps
    the check-then-write of a week free of races."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.lock = threading.RLock()
        self.db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode=WAL")
        # WAL with synchronous=NORMAL survives a killed server (only an OS crash or power cut may lose the
        # last commits), and commits do not wait on a disk flush.
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("PRAGMA foreign_keys=ON")
        self.db.executescript(SCHEMA)

    def close(self) -> None:
        with self.lock:
            self.db.close()

    def transaction(self):
        """``with store.transaction():`` one atomic write (BEGIN IMMEDIATE ... COMMIT, or ROLLBACK)."""
        return _Transaction(self)

    def one(self, sql: str, *args: Any) -> sqlite3.Row | None:
        with self.lock:
            return self.db.execute(sql, args).fetchone()

    def all(self, sql: str, *args: Any) -> list[sqlite3.Row]:
        with self.lock:
            return self.db.execute(sql, args).fetchall()

    def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:
        with self.lock:
            return self.db.execute(sql, args)

    # ------------------------------------------------------------ reads
    def game(self, game_id: int) -> sqlite3.Row | None:
        return self.one("SELECT * FROM games WHERE id = ?", game_id)

    def seat(self, token: str) -> sqlite3.Row | None:
        return self.one("SELECT * FROM seats WHERE token = ?", token)

    def seats(self, game_id: int) -> list[sqlite3.Row]:
        return self.all("SELECT * FROM seats WHERE game_id = ? ORDER BY seat", game_id)

    def records(self, game_id: int) -> list[dict]:
        rows = self.all("SELECT record FROM weeks WHERE game_id = ? ORDER BY week", game_id)
        return [json.loads(row["record"]) for row in rows]

    def orders(self, game_id: int, week: int) -> dict[int, sqlite3.Row]:
        rows = self.all("SELECT * FROM orders WHERE game_id = ? AND week = ?", game_id, week)
        return {row["seat"]: row for row in rows}

    def all_orders(self, game_id: int) -> list[sqlite3.Row]:
        return self.all("SELECT * FROM orders WHERE game_id = ? ORDER BY week, seat", game_id)

    def class_by_teacher(self, token: str) -> sqlite3.Row | None:
        return self.one("SELECT * FROM classes WHERE teacher_token = ?", token)

    def class_by_code(self, code: str) -> sqlite3.Row | None:
        return self.one("SELECT * FROM classes WHERE code = ?", code)

    def class_games(self, class_id: int) -> list[sqlite3.Row]:
        return self.all("SELECT * FROM games WHERE class_id = ? ORDER BY id", class_id)


class _Transaction:
    def __init__(self, store: Store):
        self.store = store

    def __enter__(self) -> sqlite3.Connection:
        self.store.lock.acquire()
        try:
            self.store.db.execute("BEGIN IMMEDIATE")
        except BaseException:  # e.g. "database is locked" by another process: never keep the lock
            self.store.lock.release()
            raise
        return self.store.db

    def __exit__(self, kind, value, traceback) -> None:
        try:
            self.store.db.execute("COMMIT" if kind is None else "ROLLBACK")
        finally:
            self.store.lock.release()
