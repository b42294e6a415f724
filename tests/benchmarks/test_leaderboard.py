"""The leaderboard's smoke run (``--quick``), its resume and redraw, and its flag checks."""

from __future__ import annotations

import json


def test_quick_leaderboard_writes_table_json_and_chart(tmp_path, run_module):
    def leaderboard(*extra: str):
        quick = ["--quick", "--algorithms", "ippo", "--settings", "all learning"]
        where = ["--out-dir", str(tmp_path), "--runs-dir", str(tmp_path / "runs")]
        return run_module("benchmarks.leaderboard", *quick, *extra, *where)

    done = leaderboard()
    assert done.returncode == 0, done.stderr[-2000:]
    payload = json.loads((tmp_path / "leaderboard-quick.json").read_text())
    (row,) = payload["rows"]
    assert (row["scenario"], row["setting"], row["algorithm"], row["num_seeds"]) == ("basic", "all learning", "ippo", 4)
    assert len(row["team_cost_per_seed"]) == 4 and row["base_stock_team_cost"] > 0
    assert abs(row["gap_vs_base_stock"] - (row["team_cost_mean"] / row["base_stock_team_cost"] - 1)) < 1e-9
    assert payload["complete"] is True and row["num_envs"] == 64
    assert payload["machine"]["jax_version"] and "git" in payload["machine"]
    table = (tmp_path / "leaderboard-quick.md").read_text()
    assert "| basic | all learning | ippo |" in table
    assert (tmp_path / "leaderboard-quick.png").stat().st_size > 5_000

    # --resume keeps the finished cell instead of training it again ...
    resumed = leaderboard("--resume")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "kept from" in resumed.stderr and "[ippo] run dir" not in resumed.stdout
    assert json.loads((tmp_path / "leaderboard-quick.json").read_text())["rows"] == [row]
    # ... and refuses a JSON written with other settings, naming them.
    refused = leaderboard("--resume", "--seed", "1")
    assert refused.returncode == 2 and "different settings (seed)" in refused.stderr
    # --report-only redraws the table from the JSON without training.
    (tmp_path / "leaderboard-quick.md").unlink()
    redrawn = leaderboard("--report-only")
    assert redrawn.returncode == 0, redrawn.stderr[-2000:]
    assert (tmp_path / "leaderboard-quick.md").read_text() == table


def test_bad_leaderboard_flags_exit_2(run_module):
    done = run_module("benchmarks.leaderboard", "--algorithms", "dqn")
    assert done.returncode == 2
    assert "--algorithms must be one or more of" in done.stderr
    done = run_module("benchmarks.leaderboard", "--budget-minutes", "0")
    assert done.returncode == 2 and "--budget-minutes must be > 0" in done.stderr
