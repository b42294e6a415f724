"""benchmarks.supply: its flags, its per-episode costs (what the reference table reports) and its tables."""

from __future__ import annotations

import jax
import numpy as np
import pytest

import jaxbeer
from benchmarks import supply as supply_benchmark
from jaxbeer import supply_policies
from jaxbeer.rollouts import _team_costs_jit


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--parts", "speed", "plots"], "--parts must be among"),
        (["--episodes", "1"], "--episodes must be an integer >= 2"),
        (["--fast-cost", "-1"], "--fast-cost must be finite and >= 0"),
    ],
)
def test_bad_flags_exit_2_with_one_line(argv, message, capsys):
    with pytest.raises(SystemExit) as stop:
        supply_benchmark.main(argv)
    assert stop.value.code == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and message in error[0]


def test_episode_costs_average_to_the_optimisers_score_and_the_tables_show_every_row():
    env, params = jaxbeer.make_supply("basic", horizon=6, products=2, production_capacity=2)
    levels = np.array([[[3, 5], [2, 2], [1, 1], [1, 2]], [[0, 0], [4, 4], [1, 0], [2, 2]]], np.int32)
    key = jax.random.key(7)
    scores = np.asarray(_team_costs_jit(env, params, supply_policies.product_base_stock(env, levels), key, 8))
    for index in range(2):
        policy = supply_policies.product_base_stock(env, levels[index])
        per_episode = np.asarray(supply_benchmark._episode_team_costs(env, params, policy, key, 8))
        assert per_episode.shape == (8,) and np.all(per_episode > 0)
        np.testing.assert_allclose(per_episode.mean(), scores[index], rtol=1e-6)
    payload = {
        "speed": [{"game": "P=2", "env_steps_per_s": {"median": 1234.0}, "vs_beer_game": 0.5}],
        "references": [
            {
                "case": "two products",
                "policy": "dual index",
                "levels": {"fast_levels": [[1, 2]], "regular_levels": [[3, 4]]},
                "cost_mean": 12.25,
                "cost_se": 0.5,
            }
        ],
    }
    text = supply_benchmark.markdown(payload)
    assert "| P=2 | 1,234 | 0.50x |" in text
    assert "| two products | dual index | fast_levels: [[1], [2]]; regular_levels: [[3], [4]] | 12.2 ± 0.5 |" in text
