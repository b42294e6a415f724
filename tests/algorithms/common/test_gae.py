"""GAE by hand: truncation bootstraps from the final observation, termination does not."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from algorithms.common.gae import bootstrap_values, gae, keep_at_truncation, max_truncations, values_at_truncations

REWARDS = jnp.array([1.0, 2.0, 3.0, 4.0])
VALUES = jnp.array([10.0, 20.0, 30.0, 40.0])
# V(obs[t+1]) for t = 0, 2, 3 (50 = value after the rollout); at t = 1 the
# episode ended, so the next value there is V(final_obs[1]) = 100.
NEXT_VALUES = jnp.array([20.0, 100.0, 40.0, 50.0])
ENDS_AT_1 = jnp.array([False, True, False, False])
NEVER = jnp.zeros(4, bool)


def test_gae_truncated_bootstraps_from_final_obs_and_does_not_leak_across_the_boundary():
    # gamma = lambda = 0.5. deltas: 1 + .5*20 - 10 = 1; 2 + .5*100 - 20 = 32;
    # 3 + .5*40 - 30 = -7; 4 + .5*50 - 40 = -11. Backwards: A3 = -11,
    # A2 = -7 + .25*(-11) = -9.75, A1 = 32 (cut at the truncation), A0 = 1 + .25*32 = 9.
    advantages, targets = gae(REWARDS, VALUES, NEXT_VALUES, NEVER, ENDS_AT_1, 0.5, 0.5)
    np.testing.assert_allclose(advantages, [9.0, 32.0, -9.75, -11.0])
    np.testing.assert_allclose(targets, [19.0, 52.0, 20.25, 29.0])


def test_gae_terminated_does_not_bootstrap():
    # t = 1 terminal: delta1 = 2 - 20 = -18, A1 = -18, A0 = 1 + .25*(-18) = -3.5.
    advantages, targets = gae(REWARDS, VALUES, NEXT_VALUES, ENDS_AT_1, NEVER, 0.5, 0.5)
    np.testing.assert_allclose(advantages, [-3.5, -18.0, -9.75, -11.0])
    np.testing.assert_allclose(targets, [6.5, 2.0, 20.25, 29.0])


def test_gae_without_episode_end_is_the_plain_recursion():
    # next values V(obs[t+1]) = [20, 30, 40, 50]: deltas 1, -3, -7, -11.
    advantages, _ = gae(REWARDS, VALUES, jnp.array([20.0, 30.0, 40.0, 50.0]), NEVER, NEVER, 0.5, 0.5)
    a3 = -11.0
    a2 = -7.0 + 0.25 * a3
    a1 = -3.0 + 0.25 * a2
    a0 = 1.0 + 0.25 * a1
    np.testing.assert_allclose(advantages, [a0, a1, a2, a3])


def test_bootstrap_values_uses_final_values_only_where_truncated():
    final_values = jnp.array([999.0, 100.0, 999.0, 999.0])
    np.testing.assert_allclose(bootstrap_values(VALUES, jnp.float32(50.0), final_values, ENDS_AT_1), NEXT_VALUES)


def test_gae_broadcasts_game_flags_over_agents():
    rewards = jnp.stack([REWARDS, 2 * REWARDS], axis=-1)[:, None, :]  # [T, E=1, A=2]
    values = jnp.stack([VALUES, 2 * VALUES], axis=-1)[:, None, :]
    next_values = jnp.stack([NEXT_VALUES, 2 * NEXT_VALUES], axis=-1)[:, None, :]
    advantages, _ = gae(rewards, values, next_values, NEVER[:, None], ENDS_AT_1[:, None], 0.5, 0.5)
    np.testing.assert_allclose(advantages[:, 0, 0], [9.0, 32.0, -9.75, -11.0])
    np.testing.assert_allclose(advantages[:, 0, 1], [18.0, 64.0, -19.5, -22.0])


def test_truncation_slots_give_the_final_value_of_every_truncation():
    """Game 0 is truncated at t=1 and t=4, game 1 at t=3, game 2 never: 6 periods of a horizon of 3."""
    num_steps, horizon = 6, 3
    assert max_truncations(num_steps, horizon) == 2 and max_truncations(64, 100) == 1 and max_truncations(64, 32) == 2
    truncated = np.zeros((num_steps, 3), bool)
    truncated[[1, 4], 0] = truncated[3, 1] = True
    final_obs = jnp.arange(num_steps * 3 * 2, dtype=jnp.float32).reshape(num_steps, 3, 2)  # [T, E, F]
    slots = jnp.zeros((2, 3, 2), jnp.float32)
    count = jnp.zeros((3,), jnp.int32)
    for t in range(num_steps):
        slots = keep_at_truncation(slots, count, jnp.asarray(truncated[t]), final_obs[t])
        count = count + truncated[t]
    np.testing.assert_array_equal(slots[:, 0], final_obs[jnp.array([1, 4]), 0])
    np.testing.assert_array_equal(slots[0, 1], final_obs[3, 1])
    np.testing.assert_array_equal(slots[:, 2], 0.0)
    finals = values_at_truncations(slots.sum(-1), jnp.asarray(truncated))  # a "value" per slot: [T, E]
    expected = np.asarray(final_obs.sum(-1))
    np.testing.assert_array_equal(np.asarray(finals)[truncated], expected[truncated])
