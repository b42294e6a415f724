"""``log.jsonl``: one JSON object per line, appended after each chunk, and read back tolerantly.

A kill can cut the last line short, and an editor or a full disk can leave
garbage in it. Reading drops every line that is not a JSON object and says
which, so a damaged log never blocks a resume; rewriting (on resume, to drop
the lines past the checkpoint) goes through ``files.write_atomically``, so it
never leaves an empty log behind.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from algorithms.common.files import write_atomically

LOG_FILE = "log.jsonl"


def append(path: Path, record: dict[str, Any]) -> None:
    """Add one record as a line; a torn earlier line is mended first, so the new one starts on its own line."""
    with path.open("ab+") as handle:
        handle.seek(0, 2)
        if handle.tell() > 0:
            handle.seek(-1, 2)
            if handle.read(1) != b"\n":
                handle.write(b"\n")
        handle.write((json.dumps(record) + "\n").encode())


def read(path: Path, warn: bool = True) -> list[dict[str, Any]]:
    """The records of the log, skipping (with a line on stderr when ``warn``) each one that does not parse."""
    if not path.is_file():
        return []
    records = []
    for number, line in enumerate(path.read_text(errors="replace").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            if not isinstance(record, dict):
                raise ValueError("not a JSON object")
        except ValueError as error:
            if warn:
                print(f"warning: {path} line {number} is damaged ({error}); dropped it", file=sys.stderr)
            continue
        records.append(record)
    return records


def logged_chunks(path: Path) -> int:
    """``k`` such that the log holds a record of every chunk ``1..k`` (0 for none); reading it warns of damage."""
    done = {
        record["chunk"] for record in read(path) if isinstance(record.get("chunk"), int) and "stopped" not in record
    }
    count = 0
    while count + 1 in done:
        count += 1
    return count


def truncate(path: Path, chunks_done: int) -> None:
    """Keep the chunk records up to the checkpoint being resumed; drop later ones, stop markers and damage."""
    if not path.is_file():
        return
    kept = [r for r in read(path, warn=False) if r.get("chunk", 0) <= chunks_done and "stopped" not in r]
    write_atomically(path, "".join(json.dumps(r) + "\n" for r in kept))


def seconds_to_quality(records: list[dict[str, Any]], gap: float = 0.05) -> float | None:
    """Wall seconds from the start of the run (compile included) until the chunk evaluation first came
    within ``gap`` of the base-stock team on the same episodes; None if it never did."""
    for record in records:
        if record.get("eval_gap_vs_base_stock", float("inf")) <= gap and "wall_seconds" in record:
            return float(record["wall_seconds"])
    return None
