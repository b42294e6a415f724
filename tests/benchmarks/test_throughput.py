"""benchmarks.throughput and benchmarks.train_throughput end to end at tiny sizes (as subprocesses, like a user)."""

from __future__ import annotations

import json
from pathlib import Path


def test_throughput_suite_writes_json_and_plot(tmp_path, run_module, assert_rate, assert_machine):
    out = tmp_path / "suite.json"
    done = run_module(
        "benchmarks.throughput",
        "--num-games",
        "1",
        "8",
        "--steps",
        "20",
        "--repeats",
        "2",
        "--reference-steps",
        "300",
        "--learners",
        "ippo",
        "--train-envs",
        "64",
        "--train-updates",
        "1",
        "--train-repeats",
        "1",
        "--train-base-stock-episodes",
        "8",
        # Peers are measured by hand (README's figures); here they would only add their compiles.
        "--no-peers",
        "--out",
        str(out),
    )
    assert done.returncode == 0, done.stderr
    payload = json.loads(out.read_text())
    assert_machine(payload["machine"])
    assert [row["num_games"] for row in payload["jaxbeer"]] == [1, 8]
    for row in payload["jaxbeer"]:
        assert_rate(row["env_steps_per_s"])
    assert_rate(payload["reference"]["env_steps_per_s"])
    ippo = payload["learners"]["ippo"]
    assert ippo["status"] == "ok", ippo
    assert ippo["num_envs"] == 64
    assert_rate(ippo["env_steps_per_s"])
    for name, peer in payload["peers"].items():  # optional peers: measured, or skipped with a reason
        assert peer["status"] in ("ok", "skipped"), name
        assert peer["status"] == "ok" or peer["reason"]
        assert f"{name}: skipped" in done.stdout or peer["status"] == "ok"
    peer_ippo = payload["peer_learners"]["jaxmarl-mpe-ippo"]  # needs the extra `peers`
    if peer_ippo["status"] == "ok":
        assert_rate(peer_ippo["env_steps_per_s"])
        assert peer_ippo["num_envs"] == 64 and peer_ippo["settings"]["hidden_sizes"] == ippo["settings"]["hidden_sizes"]
        assert payload["ratios"]["ippo_over_jaxmarl-mpe-ippo"]["64"] == (
            ippo["env_steps_per_s"]["median"] / peer_ippo["env_steps_per_s"]["median"]
        )
    else:
        assert peer_ippo["reason"] and "jaxmarl-mpe-ippo: skipped" in done.stdout
    ratio = payload["ratios"]["jaxbeer_over_reference"]
    reference = payload["reference"]["env_steps_per_s"]["median"]
    assert ratio["8"] == payload["jaxbeer"][1]["env_steps_per_s"]["median"] / reference
    paired = payload["paired_ratio_over_reference"]
    assert paired["num_games"] == 8 and 0 < paired["min"] <= paired["median"] <= paired["max"]
    plot = Path(payload["plot"])
    assert plot.exists() and plot.stat().st_size > 1000


def test_bad_flags_exit_2_with_one_line(cli_exit):
    for module, flags in (
        ("benchmarks.env_throughput", ["--num-games", "0"]),
        ("benchmarks.env_throughput", ["--no-such-flag"]),
        ("benchmarks.throughput", ["--learners", "sarsa"]),
        ("benchmarks.throughput", ["--scenario", "nowhere"]),
    ):
        status, stderr = cli_exit(module, *flags)
        assert status == 2, (module, flags, stderr)
        lines = stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error:"), stderr
