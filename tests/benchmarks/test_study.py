"""The study's smoke run (``--quick``): its files, its rows checked against the game itself, resume, bad flags."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import jaxbeer
from algorithms.common import loop
from benchmarks import study
from jaxbeer import policies


def test_quick_study_writes_table_json_and_figure_and_resumes(tmp_path, learner_env, capsys, assert_machine):
    # Sterman co-players only (one compiled run fewer): the reference team then differs from all-base-stock.
    flags = ["--quick", "--co-players", "sterman", "--out-dir", str(tmp_path), "--runs-dir", str(tmp_path / "runs")]
    assert study.main(flags) == 0
    payload = json.loads((tmp_path / "study-quick.json").read_text())
    assert payload["complete"] is True
    assert_machine(payload["machine"])
    assert payload["machine"]["git"]
    rows = payload["rows"]
    assert all(row["git"] == payload["machine"]["git"] for row in rows)  # the revision each run trained at
    assert [(r["scenario"], r["seat"], r["co_players"]) for r in rows] == [("basic", "retailer", "sterman")]
    env, params = jaxbeer.make("basic")
    _, final_eval_key = loop.eval_keys(0)
    for row in rows:
        co = row["co_players"]
        assert row["team"] == ["ppo", co, co, co] and row["reference_team"] == ["base_stock", co, co, co]
        # The reference row is jaxbeer.evaluate of base-stock in the learned seat, on the host loop's fresh episodes.
        reference = policies.heuristic_team(row["reference_team"], base_stock={"levels": row["base_stock_levels"]})
        expected = jaxbeer.evaluate(env, params, reference, final_eval_key, row["eval_episodes"])
        assert row["reference_team_cost"] == pytest.approx(expected["team_cost_mean"], rel=1e-6)
        # The learned seeds played those same episodes: their costs are the host loop's own final table.
        results = json.loads((Path(row["run_dir"]) / loop.RESULTS_FILE).read_text())["rows"]
        loop_costs = [r["team_cost_mean"] for r in results if r["label"].startswith("learned (greedy), seed")]
        assert row["learned_team_cost_per_seed"] == pytest.approx(loop_costs, rel=1e-6)
        gap = row["paired_gap"]
        assert gap["relative_low"] <= gap["relative"] <= gap["relative_high"]
        assert gap["relative"] == pytest.approx(np.mean(loop_costs) / expected["team_cost_mean"] - 1, rel=1e-5)
        for interval in (row["learned_team_cost_iqm"], row["gap_iqm_over_seeds"]):
            assert interval["low"] <= interval["iqm"] <= interval["high"]
        assert isinstance(row["study_claim_holds"], bool)
    assert study.team_kinds("retailer", "base_stock") == ("ppo", "base_stock", "base_stock", "base_stock")
    table = (tmp_path / "study-quick.md").read_text()
    assert "| basic | retailer | sterman |" in table
    assert (tmp_path / "study-quick.png").stat().st_size > 5_000

    # --resume keeps the finished run instead of training it again ...
    capsys.readouterr()
    assert study.main([*flags, "--resume"]) == 0
    err = capsys.readouterr().err
    assert err.count("kept from") == 1 and "[ippo] run dir" not in err
    assert json.loads((tmp_path / "study-quick.json").read_text())["rows"] == rows
    # ... and refuses a JSON written with other training settings, naming them.
    with pytest.raises(SystemExit) as exit_info:
        study.main([*flags, "--resume", "--seed", "1"])
    assert exit_info.value.code == 2 and "different settings (seed)" in capsys.readouterr().err


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--seats", "cashier"], "--seats must be one or more distinct of"),
        (["--co-players", "sterman", "sterman"], "--co-players must be one or more distinct of"),
        (["--scenarios", "nowhere"], "--scenarios must be one or more distinct of"),
        (["--num-envs", "1000"], "--num-envs (1000) must be divisible by --num-minibatches"),
        (["--total-timesteps", "100"], "--total-timesteps must be >="),
        (["--num-seeds", "0"], "--num-seeds"),
        (["--budget", "3"], "unrecognized argument"),
    ],
)
def test_bad_study_flags_exit_2_with_one_line(flags, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        study.main(flags)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2
    assert err.count("\n") == 1 and err.startswith("error: ") and message in err, err
