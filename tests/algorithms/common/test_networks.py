"""Networks: the dense layer and its weight gradient, per-echelon parameters, the orthogonal initialiser and the
LAPACK deadlock guard, the dueling Q-head."""

from __future__ import annotations

import re

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from algorithms.common.networks import (
    MLP,
    AgentNetwork,
    Dense,
    PolicyHead,
    QHead,
    ValueHead,
    categorical,
    dense,
    orthogonal,
    sample_categorical,
    with_agent_id,
)


@pytest.mark.parametrize("shape", [(7, 11), (3, 5, 11), (2, 3, 4, 11)])
def test_dense_is_flax_dense_with_the_same_parameters_values_and_gradients(shape):
    x = jax.random.normal(jax.random.PRNGKey(0), shape)
    ours, flax_dense = Dense(6, kernel_init=orthogonal(1.0)), nn.Dense(6, kernel_init=orthogonal(1.0))
    params = ours.init(jax.random.PRNGKey(1), x)
    flax_params = flax_dense.init(jax.random.PRNGKey(1), x)
    assert jax.tree.all(jax.tree.map(lambda a, b: bool(jnp.array_equal(a, b)), params, flax_params))
    params = jax.tree.map(lambda p: p + 0.1, params)  # a non-zero bias
    np.testing.assert_array_equal(ours.apply(params, x), flax_dense.apply(params, x))

    def gradients(module):
        return jax.grad(lambda p, x: jnp.sum(jnp.sin(module.apply(p, x))), argnums=(0, 1))(params, x)

    for got, want in zip(jax.tree.leaves(gradients(ours)), jax.tree.leaves(gradients(flax_dense))):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_dense_weight_gradient_is_one_dot_with_no_transpose_under_the_echelon_vmap():
    """The point of ``dense``: ``x^T g`` lands as ``[A, I, O]`` directly, where autodiff's ``g^T x``
    needs a transpose after it."""
    x, kernel, bias = jnp.ones((4, 32, 11)), jnp.ones((4, 11, 64)), jnp.zeros((4, 64))

    def gradient_program(layer):
        loss = lambda kernel: jnp.sum(jnp.tanh(jax.vmap(layer)(x, kernel, bias)))  # noqa: E731
        return jax.make_jaxpr(jax.grad(loss))(kernel).jaxpr

    def equations(jaxpr):
        found = []
        for equation in jaxpr.eqns:
            found.append(equation)
            for inner in jax.core.jaxprs_in_params(equation.params):
                found += equations(inner)
        return found

    def weight_gradient_dots_and_transposes(layer):
        found = equations(gradient_program(layer))
        dots = [e for e in found if e.primitive.name == "dot_general" and e.outvars[0].aval.shape == kernel.shape]
        return len(dots), sum(e.primitive.name == "transpose" for e in found)

    assert weight_gradient_dots_and_transposes(lambda x, k, b: jnp.dot(x, k) + b) == (0, 1)
    assert weight_gradient_dots_and_transposes(dense) == (1, 0)


@pytest.mark.parametrize("share", [True, False])
def test_numpy_parameters_of_a_loaded_policy_apply_under_eval_shape(share):
    network = AgentNetwork(PolicyHead((8,), 5), num_agents=3, share=share)
    params = jax.tree.map(np.asarray, network.init(jax.random.PRNGKey(0), jnp.zeros((3, 4))))
    shape = jax.eval_shape(lambda x: network.apply(params, x), jax.ShapeDtypeStruct((2, 3, 4), jnp.float32))
    assert shape.shape == (2, 3, 5)


def test_agent_network_without_sharing_keeps_echelons_apart():
    network = AgentNetwork(ValueHead((8,)), num_agents=3, share=False)
    x = jax.random.normal(jax.random.PRNGKey(0), (5, 3, 4))
    params = network.init(jax.random.PRNGKey(1), x[0])
    out = network.apply(params, x)
    assert out.shape == (5, 3)
    moved = network.apply(params, x.at[:, 2].add(10.0))
    np.testing.assert_allclose(out[:, :2], moved[:, :2])
    assert not np.allclose(out[:, 2], moved[:, 2])
    # The same input gives different values per echelon: separate parameters.
    same = network.apply(params, jnp.broadcast_to(x[:, :1], x.shape))
    assert not np.allclose(same[:, 0], same[:, 1])


def test_orthogonal_init_matches_flax_bit_for_bit_under_nested_vmap():
    keys = jax.random.split(jax.random.PRNGKey(2), 6).reshape(2, 3, 2)
    for shape in [(5, 16), (16, 16), (16, 3)]:
        ours = jax.jit(jax.vmap(jax.vmap(lambda k: orthogonal(0.5)(k, shape, jnp.float32))))(keys)
        flax_draws = jax.jit(jax.vmap(jax.vmap(lambda k: nn.initializers.orthogonal(0.5)(k, shape, jnp.float32))))(keys)
        np.testing.assert_array_equal(ours, flax_draws)
    single = orthogonal(2.0)(keys[0, 0], (4, 6))
    assert single.dtype == jnp.float32
    np.testing.assert_array_equal(single, nn.initializers.orthogonal(2.0)(keys[0, 0], (4, 6), jnp.float32))


@pytest.mark.skipif(jax.default_backend() != "cpu", reason="checks XLA:CPU's LAPACK custom calls")
def test_vmapped_init_compiles_to_unbatched_lapack_calls_only():
    """A batched LAPACK call parks an XLA pool thread until its pieces finish; two at once
    deadlock a 2-core machine (see ``networks.orthogonal``). Seeds x echelons of actor and
    critic init must therefore compile to one-matrix calls."""
    actor = AgentNetwork(PolicyHead((16, 16), 5), num_agents=4, share=False)
    critic = AgentNetwork(ValueHead((16,)), num_agents=4, share=False)
    sample = jnp.zeros((4, 6))

    def init(key):
        actor_key, critic_key = jax.random.split(key)
        return actor.init(actor_key, sample), critic.init(critic_key, sample)

    program = jax.jit(jax.vmap(init)).lower(jax.random.split(jax.random.PRNGKey(0), 3)).compile().as_text()
    lapack_calls = [line for line in program.splitlines() if 'custom_call_target="lapack_' in line]
    # Five orthogonal kernels (three in the actor, two in the critic), each a QR and Q's product.
    assert len(lapack_calls) == 10, lapack_calls
    for call in lapack_calls:
        ranks = [len(dims.split(",")) for dims in re.findall(r"\b[a-z]+\d*\[([\d,]+)\]", call)]
        assert ranks and max(ranks) <= 2, call


def test_with_agent_id_appends_one_hot():
    out = with_agent_id(jnp.zeros((2, 3, 4)))
    assert out.shape == (2, 3, 7)
    np.testing.assert_allclose(out[1, :, 4:], np.eye(3))


def test_inverse_cdf_sampling_draws_each_action_at_its_probability():
    probs = jnp.array([[0.5, 0.0, 0.2, 0.3], [0.0, 0.0, 0.0, 1.0], [0.25, 0.25, 0.25, 0.25]])
    logits = jnp.log(probs)  # -inf for the impossible actions
    draws = 200_000
    action, log_prob = sample_categorical(jax.random.PRNGKey(0), jnp.broadcast_to(logits, (draws,) + logits.shape))
    assert action.dtype == jnp.int32 and action.shape == (draws, 3)
    frequencies = np.stack([np.bincount(np.asarray(action[:, row]), minlength=4) / draws for row in range(3)])
    # Binomial standard error of a frequency is at most 0.5 / sqrt(draws) ~ 0.0011; 5 of them.
    np.testing.assert_allclose(frequencies, probs, atol=5 * 0.5 / np.sqrt(draws))
    assert frequencies[0, 1] == 0.0 and np.all(frequencies[1, :3] == 0.0)
    np.testing.assert_allclose(log_prob, categorical(logits).log_prob(action), rtol=1e-6)


def test_dueling_q_head_is_the_value_plus_mean_centred_advantages():
    """The mean of the Q-values over actions is the value stream; their differences are the advantages'."""
    head = QHead((8,), 5, dueling=True)
    x = jax.random.normal(jax.random.PRNGKey(0), (3, 6))
    params = head.init(jax.random.PRNGKey(1), x)
    q = head.apply(params, x)
    assert q.shape == (3, 5)
    torso = MLP((8,)).apply({"params": params["params"]["MLP_0"]}, x)
    value = Dense(1).apply({"params": params["params"]["Dense_0"]}, torso)
    advantage = Dense(5).apply({"params": params["params"]["Dense_1"]}, torso)
    np.testing.assert_allclose(q.mean(axis=-1, keepdims=True), value, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(q - q[:, :1], advantage - advantage[:, :1], rtol=1e-5, atol=1e-6)
    # Without dueling the head keeps its single-MLP parameters, so earlier checkpoints still load.
    plain = QHead((8,), 5).init(jax.random.PRNGKey(1), x)
    assert list(plain["params"]) == ["MLP_0"]
