"""benchmarks.adapter_throughput at tiny sizes: every installed adapter gets a row, and the JSON says which."""

from __future__ import annotations

import importlib.util
import json


def test_adapter_throughput_times_every_installed_adapter(tmp_path, run_module, assert_rate, assert_machine):
    out = tmp_path / "adapters.json"
    done = run_module(
        "benchmarks.adapter_throughput",
        *["--num-games", "4", "--steps", "3", "--repeats", "1", "--out", str(out)],
        check=True,
    )
    payload = json.loads(out.read_text())
    assert_machine(payload["machine"])
    rows = {row["row"]: row for row in payload["results"]}
    needs = {
        "pure jax": "jax",
        "gymnasium vector env": "gymnasium",
        "jaxmarl env": "jaxmarl",
        "gymnasium single env": "gymnasium",
        "pettingzoo parallel env": "pettingzoo",
    }
    for label, module in needs.items():
        installed = importlib.util.find_spec(module) is not None
        assert (label in rows) == installed and (label in payload["left_out"]) == (not installed), label
    for row in rows.values():
        assert row["num_games"] == (4 if row["row"] in ("pure jax", "gymnasium vector env", "jaxmarl env") else 1)
        assert_rate(row["env_steps_per_s"])
    assert "median steps/s" in done.stdout


def test_a_bad_flag_is_one_line_and_status_2(cli_exit):
    status, stderr = cli_exit("benchmarks.adapter_throughput", "--num-games", "0")
    assert status == 2 and stderr.strip() == "error: --num-games must be an integer >= 1, got 0"
