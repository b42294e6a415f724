"""Writing files so that a crash at any moment leaves either the old file or the new one, never a torn one."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def write_atomically(path: str | os.PathLike, data: bytes | str) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same folder: flush, fsync, rename, fsync the folder.

    The rename is atomic on POSIX file systems, and the two fsyncs make the new
    content and its name durable before the call returns.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    payload = data.encode() if isinstance(data, str) else data
    try:
        with open(tmp, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:  # a full disk or an interrupt: keep the old file and leave nothing behind
        tmp.unlink(missing_ok=True)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
    return path


def write_json(path: str | os.PathLike, payload: Any, indent: int | None = 1) -> Path:
    """``write_atomically`` of ``payload`` as JSON (with a final newline)."""
    return write_atomically(path, json.dumps(payload, indent=indent) + "\n")
