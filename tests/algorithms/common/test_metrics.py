"""Episode statistics count finished episodes only."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from algorithms.common import metrics


def test_track_episodes_counts_only_finished_episodes():
    running = jnp.zeros((2, 3))
    running, first = metrics.track_episodes(running, jnp.ones((2, 3)), jnp.array([False, False]))
    running, second = metrics.track_episodes(running, 2 * jnp.ones((2, 3)), jnp.array([True, False]))
    assert int(first["episodes"]) == 0 and int(second["episodes"]) == 1
    np.testing.assert_allclose(second["episode_agent_cost_sum"], [3.0, 3.0, 3.0])
    np.testing.assert_allclose(running, [[0, 0, 0], [3, 3, 3]])
    chunk = {
        "episodes": np.array([[0, 1]]),
        "episode_agent_cost_sum": np.array([[[0, 0, 0], [3.0, 3.0, 3.0]]]),
        "loss": np.array([[1.0, 3.0]]),
    }
    reduced = metrics.reduce_chunk(chunk)
    assert reduced["episode_team_cost"] == 9.0 and reduced["loss"] == 2.0 and reduced["episodes"] == 1
