"""examples/sb3_ppo.py end to end at a tiny budget, where Stable-Baselines3 and torch are installed.

CI does not install torch (a CPU build adds about 900 MB and 45 s to the fresh virtual environment), so
this runs on machines with the ``sb3`` extra; docs/adapters.md says how.
"""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import pytest

pytest.importorskip("stable_baselines3")

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "sb3_ppo.py"


def test_sb3_ppo_trains_on_the_adapter_and_reports_both_team_costs(capsys):
    spec = importlib.util.spec_from_file_location("sb3_ppo", EXAMPLE)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    costs = example.main(["--timesteps", "512", "--episodes", "2", "--horizon", "12"])
    assert set(costs) == {"sb3_ppo", "base_stock"} and all(math.isfinite(c) and c > 0 for c in costs.values())
    assert "SB3 PPO retailer, 512 steps" in capsys.readouterr().out
