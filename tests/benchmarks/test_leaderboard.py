"""The leaderboard's smoke run (``--quick``), its resume and redraw, and its flag checks."""

from __future__ import annotations

import json
from types import SimpleNamespace

from benchmarks import leaderboard as leaderboard_module


def test_quick_leaderboard_writes_table_json_and_charts(tmp_path, run_module, assert_machine, learner_env, capsys):
    quick = ["--quick", "--algorithms", "ippo", "--settings", "all learning"]
    where = ["--out-dir", str(tmp_path), "--runs-dir", str(tmp_path / "runs")]

    def leaderboard(*extra: str):
        return run_module("benchmarks.leaderboard", *quick, *extra, *where)

    def in_process(*extra: str) -> SimpleNamespace:
        """The runs that train nothing, in this process: (returncode, stdout, stderr) as a subprocess gives."""
        try:
            code = leaderboard_module.main([*quick, *extra, *where]) or 0
        except SystemExit as stop:
            code = stop.code
        out = capsys.readouterr()
        return SimpleNamespace(returncode=code, stdout=out.out, stderr=out.err)

    done = leaderboard()
    assert done.returncode == 0, done.stderr[-2000:]
    payload = json.loads((tmp_path / "leaderboard-quick.json").read_text())
    (row,) = payload["rows"]
    # Five seeds by default, each scored, and their IQM inside its bootstrap interval, for cost and gap alike.
    assert (row["scenario"], row["setting"], row["algorithm"], row["num_seeds"]) == ("basic", "all learning", "ippo", 5)
    assert len(row["team_cost_per_seed"]) == 5 and row["base_stock_team_cost"] > 0
    assert abs(row["gap_vs_base_stock"] - (row["team_cost_mean"] / row["base_stock_team_cost"] - 1)) < 1e-9
    for name in ("team_cost_iqm", "gap_vs_base_stock_iqm"):
        interval = row[name]
        assert interval["low"] <= interval["iqm"] <= interval["high"], (name, interval)
    per_seed = row["team_cost_per_seed"]
    assert min(per_seed) <= row["team_cost_iqm"]["iqm"] <= max(per_seed)
    gap_iqm = row["team_cost_iqm"]["iqm"] / row["base_stock_team_cost"] - 1
    assert abs(row["gap_vs_base_stock_iqm"]["iqm"] - gap_iqm) < 1e-9
    # The curve: one point per chunk on both clocks, each increasing; the wall clock also counts compile and
    # chunk evaluations, so it runs ahead of the training seconds.
    curve = row["curve"]
    assert len(curve["wall_seconds"]) == len(curve["train_seconds"]) == len(curve["eval_team_cost"]) == 2
    assert 0 < curve["train_seconds"][0] < curve["train_seconds"][1]
    assert curve["train_seconds"][0] < curve["wall_seconds"][0] < curve["wall_seconds"][1]
    assert payload["complete"] is True and row["num_envs"] == 64
    assert_machine(payload["machine"])
    assert payload["machine"]["git"] and row["git"] == payload["machine"]["git"]  # the revision the cell ran
    table = (tmp_path / "leaderboard-quick.md").read_text()
    assert "| basic | all learning | ippo |" in table
    iqm = row["team_cost_iqm"]
    assert f"{iqm['iqm']:.1f} [{iqm['low']:.1f}, {iqm['high']:.1f}]" in table
    assert (tmp_path / "leaderboard-quick.png").stat().st_size > 5_000
    assert (tmp_path / "leaderboard-quick-curves-basic.png").stat().st_size > 5_000

    # --resume keeps the finished cell instead of training it again ...
    resumed = in_process("--resume")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "kept from" in resumed.stderr and "[ippo] run dir" not in resumed.stdout
    assert json.loads((tmp_path / "leaderboard-quick.json").read_text())["rows"] == [row]
    # ... and refuses a JSON written with other settings, naming them.
    refused = in_process("--resume", "--seed", "1")
    assert refused.returncode == 2 and "different settings (seed)" in refused.stderr
    # --report-only redraws the table from the JSON without training.
    (tmp_path / "leaderboard-quick.md").unlink()
    (tmp_path / "leaderboard-quick-curves-basic.png").unlink()
    redrawn = in_process("--report-only")
    assert redrawn.returncode == 0, redrawn.stderr[-2000:]
    assert (tmp_path / "leaderboard-quick.md").read_text() == table
    assert (tmp_path / "leaderboard-quick-curves-basic.png").is_file()


def test_bad_leaderboard_flags_exit_2(cli_exit):
    status, stderr = cli_exit("benchmarks.leaderboard", "--algorithms", "dqn")
    assert status == 2
    assert "--algorithms must be one or more of" in stderr
    status, stderr = cli_exit("benchmarks.leaderboard", "--budget-minutes", "0")
    assert status == 2 and "--budget-minutes must be > 0" in stderr
