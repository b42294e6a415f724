"""Checks shared by the benchmark tests, as fixtures."""

from __future__ import annotations

import math

import pytest


def _assert_rate(summary: dict) -> None:
    assert summary["min"] <= summary["median"] <= summary["max"]
    assert summary["min"] > 0 and math.isfinite(summary["max"])
    assert len(summary["seconds"]) >= 1


def _assert_machine(machine: dict) -> None:
    for field in ("cpu_model", "cpu_cores", "jax_version", "device", "backend"):
        assert machine[field], field


@pytest.fixture
def assert_rate():
    """``assert_rate(summary)``: a rate summary is ordered, positive and finite."""
    return _assert_rate


@pytest.fixture
def assert_machine():
    """``assert_machine(machine)``: a result JSON names the machine it ran on."""
    return _assert_machine
