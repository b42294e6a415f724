"""A run directory belongs to one run: an exclusive lock for the life of the process, and no silent reuse.

``claim`` takes an ``fcntl`` lock on ``<run dir>/.lock``. The operating system
drops it when the process ends, however it ends, so a killed run never leaves
a stale lock behind, and a second process on the same directory is refused
while the first is alive. A fresh run refuses a directory that already holds
a run's files unless told ``--overwrite``, which removes exactly those files.
"""

from __future__ import annotations

import fcntl
import os
import shutil
from pathlib import Path
from typing import IO

from algorithms.common.config import ConfigError

LOCK_FILE = ".lock"
# What a run writes; --overwrite removes these and nothing else.
RUN_FILES = ("config.json", "log.jsonl", "results.json", "best_policy.msgpack", "learning_curve.png", "trajectory.png")
RUN_FOLDERS = ("tensorboard",)  # written with --tensorboard; replaced whole by --overwrite
RUN_FILE_PREFIXES = ("checkpoint-",)

_held: dict[Path, IO] = {}  # the open lock files of this process, kept open until it exits


def run_files(run_dir: Path) -> list[Path]:
    """The files in ``run_dir`` that a run writes (not the lock)."""
    if not run_dir.is_dir():
        return []
    return sorted(
        p
        for p in run_dir.iterdir()
        if p.name in RUN_FILES or p.name.startswith(RUN_FILE_PREFIXES) or (p.name in RUN_FOLDERS and p.is_dir())
    )


def claim(run_dir: str | os.PathLike, fresh: bool, overwrite: bool = False) -> Path:
    """Lock ``run_dir`` for this process (creating it) and check that a fresh run may write there.

    Raises ``ConfigError`` (one line: what is wrong and what to do) when the
    path is a file, when another live process holds the directory, or when a
    fresh run would write over an earlier run's files without ``overwrite``.
    """
    run_dir = Path(run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise ConfigError(f"--run-dir: {run_dir} is a file, not a directory; choose another --run-dir")
    run_dir.mkdir(parents=True, exist_ok=True)
    key = run_dir.resolve()
    if key not in _held:
        handle = open(run_dir / LOCK_FILE, "a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            owner = handle.read().strip() or "unknown"
            handle.close()
            raise ConfigError(
                f"{run_dir} is in use by another run (pid {owner}); wait for it to finish, or choose another --run-dir"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        _held[key] = handle
    if fresh:
        earlier = run_files(run_dir)
        if earlier and not overwrite:
            names = ", ".join(p.name for p in earlier[:4]) + (", ..." if len(earlier) > 4 else "")
            raise ConfigError(
                f"--run-dir: {run_dir} already holds a run ({names}); continue it with "
                f"--resume {run_dir}, or replace it with --overwrite"
            )
        for path in earlier:
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink()
    return run_dir


def release(run_dir: str | os.PathLike) -> None:
    """Drop this process's lock on ``run_dir`` (a process that ends drops it anyway)."""
    handle = _held.pop(Path(run_dir).resolve(), None)
    if handle is not None:
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()
