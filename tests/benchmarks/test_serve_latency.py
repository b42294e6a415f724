"""benchmarks.serve_latency at its smallest: the week, page and debrief timings and the concurrent games."""

from __future__ import annotations

import json

import pytest

from benchmarks import serve_latency


def test_a_tiny_run_writes_every_figure(tmp_path, assert_machine):
    out = tmp_path / "r.json"
    payload = serve_latency.main(["--weeks", "3", "--games", "3", "--concurrent-weeks", "3", "--out", str(out)])
    written = json.loads(out.read_text())
    assert written == json.loads(json.dumps(payload))
    assert_machine(written["machine"])
    assert written["settings"]["co_player"] == "base_stock" and written["settings"]["weeks"] == 3
    counts = {"service": 3, "page": 3, "debrief": 3}
    for part, count in counts.items():
        figures = written["week"][part]
        assert figures["count"] == count, part
        assert 0 < figures["median_ms"] <= figures["p95_ms"] <= figures["max_ms"], (part, figures)
    concurrent = written["concurrent"]
    assert (concurrent["games"], concurrent["weeks_each"]) == (3, 3)
    assert concurrent["wall_s"] > 0 and concurrent["weeks_per_s"] > 0
    request = concurrent["order_request"]
    assert request["count"] == 9 and 0 < request["median_ms"] <= request["p95_ms"] <= request["max_ms"]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--weeks", "0"], "--weeks must be an integer in [1, 100]"),
        (["--games", "0"], "--games must be an integer >= 1"),
        (["--concurrent-weeks", "101"], "--concurrent-weeks must be an integer in [1, 100]"),
        (["--scenario", "nope"], "--scenario must be one of"),
    ],
)
def test_bad_flags_exit_2_with_one_line(argv, message, cli_exit):
    status, stderr = cli_exit("benchmarks.serve_latency", *argv)
    assert status == 2
    error = stderr.strip().splitlines()
    assert len(error) == 1 and message in error[0]
