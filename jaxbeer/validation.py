"""The two checks every validated setting goes through, so that every error reads the same way.

Each raises ``error`` (``ValueError`` unless told otherwise) naming the setting,
its allowed range and the value it got, and returns the value. They run on the
host, on concrete values, before anything is traced.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def check_int(
    name: str, value: Any, low: int | None = None, high: int | None = None, *, error: type[Exception] = ValueError
) -> int:
    """``value`` as an ``int`` if it is an integer (not a bool) in ``[low, high]``; else raise ``error``."""
    is_int = isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))
    if not is_int or (low is not None and value < low) or (high is not None and value > high):
        bounds = _describe(low, high, True, True)
        raise error(f"{name} must be an integer{' ' + bounds if bounds else ''}, got {value!r}")
    return int(value)


def check_range(
    name: str,
    value: Any,
    low: float | None = None,
    high: float | None = None,
    *,
    low_inclusive: bool = True,
    high_inclusive: bool = True,
    error: type[Exception] = ValueError,
) -> float:
    """``value`` as a ``float`` if it is a finite real number within the bounds; else raise ``error``."""
    is_real = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))
    ok = is_real and math.isfinite(value)
    if ok and low is not None:
        ok = value >= low if low_inclusive else value > low
    if ok and high is not None:
        ok = value <= high if high_inclusive else value < high
    if not ok:
        raise error(f"{name} must be {_describe(low, high, low_inclusive, high_inclusive, finite=True)}, got {value!r}")
    return float(value)


def _describe(low, high, low_inclusive: bool, high_inclusive: bool, finite: bool = False) -> str:
    if low is not None and high is not None:
        return f"in {'[' if low_inclusive else '('}{low}, {high}{']' if high_inclusive else ')'}"
    prefix = "finite and " if finite else ""
    if low is not None:
        return f"{prefix}{'>=' if low_inclusive else '>'} {low}"
    if high is not None:
        return f"{prefix}{'<=' if high_inclusive else '<'} {high}"
    return "finite" if finite else ""
