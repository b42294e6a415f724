"""python -m benchmarks.kpis on the tiny IPPO run: its tables agree with jaxbeer.evaluate on the same episodes."""

from __future__ import annotations

import json
import shutil

import jax
import numpy as np
import pytest

import jaxbeer
from algorithms import load_policy
from benchmarks import kpis as kpis_cli

EPISODES = 16
# The tiny runs' optimiser setting, so the cached levels of the fixture's own training are reused.
TINY_FLAGS = ["--episodes", str(EPISODES), "--base-stock-episodes", "4", "--reps", "200"]


def test_the_tables_agree_with_evaluate_on_the_same_episodes(ippo_run, tmp_path, capsys):
    out = tmp_path / "kpis.json"
    payload = kpis_cli.main(["--runs", str(ippo_run), *TINY_FLAGS, "--out", str(out)])
    assert json.loads(out.read_text())["teams"] == payload["teams"]
    markdown = out.with_suffix(".md").read_text()
    assert markdown.startswith("# KPIs on basic") and "| base_stock |" in markdown
    assert payload["machine"]["jax_version"] == jax.__version__

    teams = {team["label"]: team for team in payload["teams"]}
    loaded = load_policy(ippo_run)
    learned_label = f"ippo {ippo_run.name}"
    assert list(teams) == ["base_stock", "sterman", "pass_through", learned_label]
    key = jax.random.PRNGKey(payload["seed"])
    players = {
        "base_stock": kpis_cli.heuristic_team("base_stock", 4, payload["base_stock_levels"]),
        learned_label: loaded.policy,
    }
    for label, policy in players.items():
        # The run's game has the scenario's dynamics, so it plays the heuristics' episodes too.
        summary = jaxbeer.evaluate(loaded.env, loaded.params, policy, key, EPISODES)
        report = teams[label]["kpis"]
        np.testing.assert_allclose(report["team_cost"]["estimate"], summary["team_cost_mean"], rtol=1e-12)
        np.testing.assert_allclose(report["cost"]["estimate"], summary["agent_cost_mean"], rtol=1e-12)
        np.testing.assert_allclose(report["fill_rate"]["estimate"], summary["fill_rate"], rtol=1e-12)
        np.testing.assert_allclose(report["bullwhip"]["estimate"], summary["bullwhip"], rtol=1e-12)
        gap = teams[label]["gap_vs_base_stock"]["team_cost"]
        expected_gap = summary["team_cost_mean"] - teams["base_stock"]["kpis"]["team_cost"]["estimate"]
        np.testing.assert_allclose(gap["estimate"], expected_gap, rtol=1e-12, atol=1e-9)
        assert gap["low"] <= gap["estimate"] <= gap["high"]
    # Base-stock against itself: every paired gap is exactly 0.
    for name, gap in teams["base_stock"]["gap_vs_base_stock"].items():
        assert {*np.ravel(gap["estimate"]), *np.ravel(gap["low"]), *np.ravel(gap["high"])} == {0.0}, name
    for team in payload["teams"]:
        cost = team["kpis"]["team_cost"]
        assert cost["low"] <= cost["estimate"] <= cost["high"]
        parts = team["kpis"]["team_holding_cost"]["estimate"] + team["kpis"]["team_backlog_cost"]["estimate"]
        np.testing.assert_allclose(parts, cost["estimate"], rtol=1e-12)


def test_a_bad_flag_exits_2_with_one_line(capsys):
    with pytest.raises(SystemExit) as exit_info:
        kpis_cli.main(["--episodes", "1"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err == "error: --episodes must be an integer >= 2, got 1\n"


def test_a_run_of_another_scenario_is_refused_naming_it(ippo_run, capsys):
    with pytest.raises(SystemExit) as exit_info:
        kpis_cli.main(["--scenario", "classic", "--runs", str(ippo_run), *TINY_FLAGS])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "different scenarios" in err and f"{ippo_run} (basic)" in err


def test_a_directory_without_a_run_is_refused(tmp_path, ippo_run, capsys):
    shutil.copy(ippo_run / "config.json", tmp_path / "config.json")  # a config without checkpoints
    with pytest.raises(SystemExit) as exit_info:
        kpis_cli.main(["--runs", str(tmp_path), *TINY_FLAGS])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: --runs:")
