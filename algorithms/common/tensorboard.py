"""``--tensorboard``: each ``log.jsonl`` record mirrored as TensorBoard scalars; the JSONL log stays the record.

A number becomes the scalar ``field``, a list of numbers ``field/0``,
``field/1``, ..., all at the record's ``env_steps`` (else its ``chunk``);
anything else (text, null, booleans) is left out. Only runs with the flag
import tensorboardX.
"""

from __future__ import annotations

import numbers
import time
from pathlib import Path
from typing import Any

DIRECTORY = "tensorboard"
MISSING = "--tensorboard needs tensorboardX: pip install -e '.[tensorboard]'"


def available() -> bool:
    """Whether tensorboardX imports (a broken install fails here, before training, not at chunk 1)."""
    try:
        import tensorboardX  # noqa: F401
    except ImportError:
        return False
    return True


def step(record: dict[str, Any]) -> int:
    """The record's global step: its per-seed env steps, else its chunk."""
    return int(record["env_steps"] if "env_steps" in record else record["chunk"])


def scalars(record: dict[str, Any]) -> dict[str, float]:
    """The record's numbers by tag, lists (nested too) flattened to ``field/0``, ``field/1``, ..."""
    out: dict[str, float] = {}

    def add(tag: str, value: Any) -> None:
        if isinstance(value, bool):
            return
        if isinstance(value, numbers.Real):
            out[tag] = float(value)
        elif isinstance(value, (list, tuple)):
            for index, item in enumerate(value):
                add(f"{tag}/{index}", item)

    for field, value in record.items():
        add(field, value)
    return out


def write_record(writer: Any, record: dict[str, Any]) -> None:
    """Add the scalars of ``record`` to a tensorboardX ``SummaryWriter`` at the record's step."""
    global_step = step(record)
    for tag, value in scalars(record).items():
        writer.add_scalar(tag, value, global_step)


class Mirror:
    """Event files in ``directory``, opened at the first record and closed on leaving a ``with`` block."""

    def __init__(self, directory: str | Path):
        self.directory = Path(directory)
        self._writer = None

    def write(self, record: dict[str, Any]) -> None:
        """Mirror one record and flush it."""
        if self._writer is None:
            from tensorboardX import SummaryWriter

            # purge_step: TensorBoard hides what earlier invocations wrote at this step or later, i.e. the
            # chunks logged past the checkpoint a resume starts from, which this invocation writes again.
            # The suffix: tensorboardX names files by the second, so a quick resume would overwrite the
            # last file; nanoseconds also keep the files' name order (TensorBoard's reading order) in time.
            self._writer = SummaryWriter(
                str(self.directory), purge_step=step(record), filename_suffix=f".{time.time_ns()}"
            )
        write_record(self._writer, record)
        # A chunk takes seconds or more, so flushing each record costs little and a killed run's
        # event files hold every chunk that log.jsonl holds.
        self._writer.flush()

    def close(self) -> None:
        """Flush and close the event file (nothing to do if no record was written)."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def __enter__(self) -> Mirror:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()
