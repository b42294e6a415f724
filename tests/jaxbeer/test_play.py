"""The play CLI end to end, and its one-line errors."""

from __future__ import annotations

import pytest


def test_play_cli_prints_a_table_and_draws(tmp_path, run_module):
    out = tmp_path / "bullwhip.png"
    done = run_module(
        "jaxbeer.play",
        "--scenario",
        "classic",
        "--policy",
        "sterman",
        "--episodes",
        "5",
        "--horizon",
        "30",
        "--plot",
        str(out),
        check=True,
    )
    assert "team" in done.stdout and "bullwhip" in done.stdout
    assert out.stat().st_size > 10_000


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--scenario", "nope"], "unknown scenario 'nope'"),
        (["--episodes", "0"], "--episodes must be an integer >= 1, got 0"),
        (["--levels", "1", "2"], "base_stock levels must have shape (4,)"),
        (["--levels", "1", "-2", "3", "4"], "base_stock levels must be integers >= 0"),
        (["--policy", "genius"], "--policy must be one of"),
    ],
)
def test_play_cli_rejects_bad_flags(argv, message, cli_exit):
    status, stderr = cli_exit("jaxbeer.play", *argv)
    assert status == 2
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], stderr
