"""Minibatches of whole games."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from algorithms.common.minibatches import minibatches_over_games


def test_minibatches_deal_out_whole_games_once_each():
    periods, games = 3, 8
    game_id = jnp.broadcast_to(jnp.arange(games), (periods, games))
    period = jnp.broadcast_to(jnp.arange(periods)[:, None], (periods, games))
    rollout = {"game": game_id, "period": period, "obs": jnp.zeros((periods, games, 2, 5))}
    split = minibatches_over_games(jax.random.PRNGKey(0), rollout, num_minibatches=4)
    assert split["game"].shape == (4, periods, 2) and split["obs"].shape == (4, periods, 2, 2, 5)
    # Every column is one game's periods in order, and the games are dealt out exactly once.
    np.testing.assert_array_equal(split["game"], jnp.broadcast_to(split["game"][:, :1], split["game"].shape))
    in_order = jnp.broadcast_to(jnp.arange(periods)[None, :, None], (4, periods, 2))
    np.testing.assert_array_equal(split["period"], in_order)
    assert sorted(np.asarray(split["game"][:, 0]).ravel().tolist()) == list(range(games))
    other_key = minibatches_over_games(jax.random.PRNGKey(1), rollout, num_minibatches=4)["game"]
    assert not np.array_equal(other_key, split["game"])
    with pytest.raises(ValueError, match="num_minibatches must be a divisor of the number of games \\(8\\), got 3"):
        minibatches_over_games(jax.random.PRNGKey(0), rollout, num_minibatches=3)
