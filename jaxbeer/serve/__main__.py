"""Serve the beer game to a browser: single player, and classes of teams against trained agents.

    python -m jaxbeer.serve --runs runs/          # or: jaxbeer-serve

It binds 127.0.0.1; ``--host 0.0.0.0`` opens it to a classroom network.
"""

from __future__ import annotations

import dataclasses
import socket
import sys
from pathlib import Path

from jaxbeer.cli import exit_with_usage_error, parse_flags


@dataclasses.dataclass
class ServeArgs:
    """Flags of ``python -m jaxbeer.serve``."""

    host: str = "127.0.0.1"
    """Address to bind; 0.0.0.0 serves every network interface (a classroom)."""
    port: int = 8000
    """Port to bind; 0 picks a free one (the address line says which)."""
    db: Path = Path("classroom.sqlite")
    """The SQLite file every game is kept in; a restart resumes every game from it."""
    runs: tuple[Path, ...] = (Path("runs"),)
    """Trained run directories offered as co-players (a directory of runs is scanned one level deep)."""


def main(argv: list[str] | None = None) -> int:
    args = parse_flags(ServeArgs, sys.argv[1:] if argv is None else argv, __doc__.splitlines()[0])
    try:
        import uvicorn

        from jaxbeer.serve.app import create_app
        from jaxbeer.serve.service import open_service
    except ImportError as error:
        exit_with_usage_error(f"the web app needs its extra: pip install 'plooto-marl[web]' ({error})")
    if not 0 <= args.port <= 65535:
        exit_with_usage_error(f"--port must be an integer in [0, 65535], got {args.port}")
    listener = socket.socket(socket.AF_INET6 if ":" in args.host else socket.AF_INET)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((args.host, args.port))
    except OSError as error:
        exit_with_usage_error(f"--host/--port: cannot bind {args.host}:{args.port} ({error.strerror})")
    listener.listen(2048)  # connections made once the address line is out queue until uvicorn serves them
    service = open_service(args.db, [run for run in args.runs if run.exists()])
    host, port = listener.getsockname()[:2]
    print(f"jaxbeer classroom: http://{host}:{port}/  (games kept in {args.db})", flush=True)
    server = uvicorn.Server(uvicorn.Config(create_app(service), log_level="warning"))
    server.run(sockets=[listener])
    service.store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
