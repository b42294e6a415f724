"""python -m benchmarks.crossplay on the tiny IPPO run: its cells are the teams the learners' own code builds."""

from __future__ import annotations

import dataclasses
import json

import jax
import numpy as np
import pytest

import jaxbeer
from algorithms import load_policy
from algorithms.common.team import team_policy
from benchmarks import crossplay
from benchmarks import kpis as kpis_cli

EPISODES = 16
TINY_FLAGS = ["--episodes", str(EPISODES), "--base-stock-episodes", "4", "--sterman-step", "0"]


def test_cells_are_the_mixed_teams_of_the_learners_own_code(ippo_run, tmp_path):
    # The IPPO run learned every seat; --seats 0 keeps only its retailer and seats co-players elsewhere.
    out = tmp_path / "crossplay.json"
    payload = crossplay.main(["--runs", str(ippo_run), "--seats", "0", *TINY_FLAGS, "--out", str(out)])
    assert json.loads(out.read_text())["cells"] == payload["cells"]
    assert out.with_suffix(".png").stat().st_size > 0
    assert "## Gap vs all base-stock" in out.with_suffix(".md").read_text()
    own = f"run {ippo_run.name}"
    assert payload["columns"] == ["base_stock", "sterman a=-0.5 b=-0.2", "pass_through", "uniform_random", own]
    assert payload["seats"] == {str(ippo_run): [0]}
    cells = {cell["co_player"]: cell for cell in payload["cells"]}

    loaded = load_policy(ippo_run)
    key = jax.random.PRNGKey(payload["seed"])

    def evaluate(policy):
        return jaxbeer.evaluate(loaded.env, loaded.params, policy, key, EPISODES)["team_cost_mean"]

    # The run beside its own other seats is the run itself.
    np.testing.assert_allclose(cells[own]["team_cost"]["estimate"], evaluate(loaded.policy), rtol=1e-12)
    # A learned retailer with base-stock co-players is the learners' own mixed team of that kind.
    learned = loaded.policy.apply
    levels = payload["base_stock_levels"]
    mixed = dataclasses.replace(
        learned.team, kinds=("ppo", "base_stock", "base_stock", "base_stock"), base_stock_levels=tuple(levels)
    )
    expected = evaluate(team_policy(learned.env, mixed, learned.act, loaded.policy.params))
    np.testing.assert_allclose(cells["base_stock"]["team_cost"]["estimate"], expected, rtol=1e-12)

    # The all-base-stock reference (a batch member with no learned seat) is the plain heuristic team, and
    # every gap is a cell's cost minus the reference's on the same episodes.
    reference = payload["base_stock_team_cost"]["estimate"]
    np.testing.assert_allclose(reference, evaluate(kpis_cli.heuristic_team("base_stock", 4, levels)), rtol=1e-12)
    for cell in payload["cells"]:
        gap = cell["gap_vs_base_stock"]
        np.testing.assert_allclose(gap["estimate"], cell["team_cost"]["estimate"] - reference, rtol=1e-9, atol=1e-9)
        assert gap["low"] <= gap["estimate"] <= gap["high"]


def test_runs_of_different_scenarios_cannot_cross_play(ippo_run, tmp_path, capsys):
    other = tmp_path / "classic-run"
    other.mkdir()
    saved = json.loads((ippo_run / "config.json").read_text())
    saved["config"]["scenario"] = "classic"
    (other / "config.json").write_text(json.dumps(saved))
    with pytest.raises(SystemExit) as exit_info:
        crossplay.main(["--runs", str(ippo_run), str(other), *TINY_FLAGS])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "different scenarios" in err
    assert f"{ippo_run} (basic)" in err and f"{other} (classic)" in err


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--episodes", "1"], "error: --episodes must be an integer >= 2, got 1"),
        (["--seats", "first"], "error: --seats must be 'learned' or comma-separated echelon indices, got 'first'"),
        (["--sterman-step", "-1"], "error: --sterman-step must be finite and >= 0.0, got -1.0"),
    ],
)
def test_a_bad_flag_exits_2_with_one_line(ippo_run, flags, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        crossplay.main(["--runs", str(ippo_run), *flags])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err == message + "\n"


def test_a_seat_the_run_did_not_learn_is_refused(ippo_run, capsys):
    with pytest.raises(SystemExit) as exit_info:
        crossplay.main(["--runs", str(ippo_run), "--seats", "0,5", *TINY_FLAGS])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"run {ippo_run} did not learn seat(s) [5]" in err
