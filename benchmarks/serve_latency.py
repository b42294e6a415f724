"""The classroom server's time for one week, and many games played at once over HTTP.

    python -m benchmarks.serve_latency                       # base-stock co-players
    python -m benchmarks.serve_latency --run runs/docs/ippo-all

**week**: a single-player game of ``--weeks`` weeks on ``--scenario``, after a
warm-up game (compiles excluded), timed three ways:

* ``service``: ``Service.submit``, i.e. the order's validation, its row, one
  ``jaxbeer`` step, and the week's SQLite transaction;
* ``page``: the form POST and the play page it redirects to, through the
  FastAPI app in this process (Starlette's TestClient);
* ``debrief``: the debrief page at the end (two reference episodes).

**concurrent**: a live uvicorn server in a thread; ``--games`` httpx clients in
threads each create a single-player game and play ``--concurrent-weeks`` weeks
through the JSON API, all at once. Wall time, weeks per second, and the
request latency quantiles.

The JSON (``benchmarks/results/``) records the machine.
"""

from __future__ import annotations

import dataclasses
import socket
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Optional, Sequence

import jaxbeer
from algorithms.common.config import ConfigError, check_int_flag, parse_checked_flags
from benchmarks import harness


@dataclasses.dataclass
class Args:
    scenario: str = "basic"
    weeks: int = 100
    """Weeks of the timed single-player game."""
    run: Optional[Path] = None
    """A trained run directory to play as the co-players (default: base-stock)."""
    games: int = 50
    """Games played at once over HTTP."""
    concurrent_weeks: int = 20
    out: Optional[str] = None

    def validate(self) -> None:
        """Raise ``ConfigError`` naming the flag and what it allows."""
        if self.scenario not in jaxbeer.scenario_names():
            raise ConfigError(f"--scenario must be one of {list(jaxbeer.scenario_names())}, got {self.scenario!r}")
        horizon = jaxbeer.make(self.scenario)[0].config.horizon
        check_int_flag("weeks", self.weeks, 1, horizon)
        check_int_flag("games", self.games, 1)
        check_int_flag("concurrent_weeks", self.concurrent_weeks, 1, horizon)
        if self.run is not None and not (self.run / "config.json").is_file():
            raise ConfigError(f"--run must be a trained run directory (one with a config.json), got {self.run}")


def quantiles(milliseconds: list[float]) -> dict:
    ordered = sorted(milliseconds)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731
    return {
        "count": len(ordered),
        "median_ms": round(statistics.median(ordered), 2),
        "p95_ms": round(pick(0.95), 2),
        "max_ms": round(ordered[-1], 2),
    }


def time_weeks(args: Args, co_player: str, runs: list[Path], folder: Path) -> dict:
    from fastapi.testclient import TestClient

    from jaxbeer.serve.app import create_app
    from jaxbeer.serve.service import open_service

    service = open_service(folder / "week.sqlite", runs)
    setup = (args.scenario, args.weeks, 0, co_player)
    warm = service.new_game(*setup)
    for week in range(args.weeks):
        service.submit(warm, week, 4)
    service.debrief(service.seat_of(warm)["game_id"])

    token = service.new_game(*setup)
    in_service = []
    for week in range(args.weeks):
        start = time.perf_counter()
        service.submit(token, week, 4)
        in_service.append(1e3 * (time.perf_counter() - start))

    page, debrief = [], []
    with TestClient(create_app(service)) as client:
        client.get(f"/seat/{warm}/debrief")  # the app's own first-call costs
        token = service.new_game(*setup)
        for week in range(args.weeks):
            start = time.perf_counter()
            reply = client.post(f"/seat/{token}/order", data={"week": str(week), "quantity": "4"})
            page.append(1e3 * (time.perf_counter() - start))
            assert reply.status_code == 200, reply.text[:300]
        for _ in range(3):
            start = time.perf_counter()
            assert client.get(f"/seat/{token}/debrief").status_code == 200
            debrief.append(1e3 * (time.perf_counter() - start))
    service.store.close()
    return {"service": quantiles(in_service), "page": quantiles(page), "debrief": quantiles(debrief)}


def play_concurrently(args: Args, co_player: str, runs: list[Path], folder: Path) -> dict:
    import httpx
    import uvicorn

    from jaxbeer.serve.app import create_app
    from jaxbeer.serve.service import open_service

    service = open_service(folder / "concurrent.sqlite", runs)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(service), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("the benchmark's uvicorn server stopped before it started")
        time.sleep(0.05)
    base = f"http://127.0.0.1:{port}"
    setup = {"scenario": args.scenario, "weeks": str(args.concurrent_weeks), "seat": "0", "co_player": co_player}
    with httpx.Client(base_url=base) as client:  # compile the game's programs before the clock starts
        client.post("/play", data=setup)
    latencies: list[float] = []

    def one_game(index: int) -> None:
        with httpx.Client(base_url=base, timeout=60) as client:
            token = client.post("/play", data=setup).headers["location"].rsplit("/", 1)[1]
            assert client.get(f"/seat/{token}").status_code == 200  # the play page, as a browser opens it
            seat = service.seat_of(token)
            for week in range(args.concurrent_weeks):
                start = time.perf_counter()
                reply = client.post(
                    f"/api/games/{seat['game_id']}/seats/0/orders",
                    json={"week": week, "quantity": (index + week) % 9},
                    headers={"X-Token": token},
                )
                latencies.append(1e3 * (time.perf_counter() - start))
                assert reply.json()["accepted"], reply.text

    start = time.perf_counter()
    with ThreadPoolExecutor(args.games) as pool:
        list(pool.map(one_game, range(args.games)))
    wall = time.perf_counter() - start
    server.should_exit = True
    thread.join(timeout=10)
    service.store.close()
    weeks = args.games * args.concurrent_weeks
    return {"games": args.games, "weeks_each": args.concurrent_weeks, "wall_s": round(wall, 2),
            "weeks_per_s": round(weeks / wall, 1), "order_request": quantiles(latencies)}  # fmt: skip


def main(argv: Sequence[str] | None = None) -> dict:
    args = parse_checked_flags(Args, sys.argv[1:] if argv is None else argv, __doc__.splitlines()[0])
    runs = [args.run] if args.run is not None else []
    co_player = f"run:{args.run.name}" if args.run is not None else "base_stock"
    with tempfile.TemporaryDirectory() as folder:
        week = time_weeks(args, co_player, runs, Path(folder))
        print(f"one week, in the service: {week['service']}")
        print(f"one week, order form and page: {week['page']}")
        print(f"debrief page: {week['debrief']}")
        concurrent = play_concurrently(args, co_player, runs, Path(folder))
        print(f"{args.games} games at once over HTTP: {concurrent}")
    settings = {name: str(v) if isinstance(v, Path) else v for name, v in dataclasses.asdict(args).items()}
    settings["co_player"] = co_player
    payload = {"machine": harness.machine_info(), "settings": settings, "week": week, "concurrent": concurrent}
    harness.write_result(Path(args.out) if args.out else harness.default_output("serve-latency"), payload)
    return payload


if __name__ == "__main__":
    main()
