"""What every benchmark shares: the machine it ran on, timing of compiled calls, and result files.

Every result JSON records the machine (CPU model, cores, load, jax version,
device, git revision), because these machines are shared and noisy: compare
figures taken in one run, and read the load average beside them.
"""

from __future__ import annotations

import collections
import datetime
import gzip
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Sequence

import jax
import numpy as np

from algorithms.common.files import write_atomically

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo, else what ``platform`` reports where there is none."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def git_revision() -> str | None:
    """``HEAD`` commit, with ``+dirty`` when the working tree has changes (read-only git calls)."""
    root = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return head + ("+dirty" if dirty else "")


def machine_info() -> dict:
    """What a figure depends on besides the code: hardware, load, software versions, XLA flags, git revision."""
    device = jax.devices()[0]
    return {
        "cpu_model": cpu_model(),
        "cpu_cores": os.cpu_count(),
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "python_executable": sys.executable,
        "jax_version": jax.__version__,
        "jaxlib_version": getattr(jax.lib, "__version__", None) or _jaxlib_version(),
        "backend": jax.default_backend(),
        "device": f"{device.platform}:{getattr(device, 'device_kind', str(device))}",
        "num_devices": jax.device_count(),
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
        "git": git_revision(),
        "time_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


def _jaxlib_version() -> str | None:
    try:
        import jaxlib

        return jaxlib.__version__
    except (ImportError, AttributeError):
        return None


def default_output(prefix: str) -> Path:
    """``benchmarks/results/<prefix>-<backend>-<time>.json``, so a run never overwrites an earlier one."""
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    return RESULTS_DIR / f"{prefix}-{jax.default_backend()}-{stamp}.json"


def write_json(path: Path, payload: dict) -> None:
    """Write ``payload`` (NumPy values allowed) atomically, so an interrupted run keeps the last whole file."""
    write_atomically(path, json.dumps(payload, indent=2, default=_json_default) + "\n")


def write_result(path: Path, payload: dict) -> Path:
    """``write_json`` of a finished result, with the line that says where it went."""
    write_json(path, payload)
    print(f"wrote {path}")
    return path


def _json_default(value):
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value)}")


# ------------------------------------------------------------------ timing
def time_calls(run: Callable[[], object], repeats: int) -> list[float]:
    """Seconds per call of ``run`` (blocked on its result); the first, compiling call is not timed."""
    jax.block_until_ready(run())
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(run())
        seconds.append(time.perf_counter() - start)
    return seconds


def rate_summary(work: float, seconds: Sequence[float]) -> dict:
    """Median and spread of ``work / seconds`` (e.g. env steps per second)."""
    rates = np.asarray([work / s for s in seconds])
    return {
        "median": float(np.median(rates)),
        "min": float(rates.min()),
        "max": float(rates.max()),
        "spread_pct": float(100.0 * (rates.max() - rates.min()) / np.median(rates)),
        "seconds": [float(s) for s in seconds],
    }


# ------------------------------------------------------------------ tracing
CONTROL_FLOW_OPS = ("while", "conditional", "call")  # their spans contain their bodies' ops


def trace_op_microseconds(call: Callable[[], object], names: set[str]) -> tuple[collections.Counter, float]:
    """(microseconds per op name over one traced ``call``, the call's wall seconds), from jax.profiler's
    trace of XLA:CPU's per-op events; only ops named in ``names`` count."""
    with tempfile.TemporaryDirectory() as trace_dir:
        jax.profiler.start_trace(trace_dir)
        start = time.perf_counter()
        try:
            jax.block_until_ready(call())
        finally:
            wall_seconds = time.perf_counter() - start
            jax.profiler.stop_trace()
        trace_files = list(Path(trace_dir).rglob("*.trace.json.gz"))
        if len(trace_files) != 1:
            raise RuntimeError(f"expected one *.trace.json.gz from jax.profiler, found {len(trace_files)}")
        events = json.loads(gzip.decompress(trace_files[0].read_bytes()))["traceEvents"]
    spent = collections.Counter()
    for event in events:
        if event.get("ph") == "X" and event.get("name") in names:
            spent[event["name"]] += event.get("dur", 0)
    if not spent:
        raise RuntimeError("no per-op events in the trace; this reads XLA:CPU's per-op trace events")
    return spent, wall_seconds


def stack_frames(hlo_text: str) -> dict[int, tuple[tuple[str, str, int], ...]]:
    """``stack_frame_id`` -> the call stack, innermost first, from the tables XLA prints before the module.

    A frame's ``parent_frame_id`` counts from 1 with 0 for none, one more than the parent's own printed id
    (checked against the source: ``Dense.__call__`` -> ``MLP.__call__`` -> ``AgentNetwork.apply`` -> ...).
    """
    tables: dict[str, dict[int, str]] = {}
    section = None
    for line in hlo_text.splitlines():
        if line in ("FileNames", "FunctionNames", "FileLocations", "StackFrames"):
            section, tables[line] = line, {}
        elif section and re.match(r"\d+ ", line):
            number, rest = line.split(" ", 1)
            tables[section][int(number)] = rest.strip().strip('"')
        elif not line.strip():
            section = None
    files, functions = tables.get("FileNames", {}), tables.get("FunctionNames", {})
    locations = tables.get("FileLocations", {})
    frames: dict[int, tuple[str, str, int, int]] = {}
    for frame, text in tables.get("StackFrames", {}).items():
        fields = dict(re.findall(r"(\w+)=(\d+)", text))
        where = dict(re.findall(r"(\w+)=(\d+)", locations[int(fields["file_location_id"])]))
        frames[frame] = (
            files.get(int(where["file_name_id"]), "?"),
            functions.get(int(where["function_name_id"]), "?"),
            int(where["line"]),
            int(fields.get("parent_frame_id", 0)) - 1,
        )
    stacks = {}
    for frame in frames:
        chain, cursor = [], frame
        while cursor in frames and len(chain) < 64:
            path, function, line, parent = frames[cursor]
            chain.append((path, function, line))
            cursor = parent
        stacks[frame] = tuple(chain)
    return stacks
