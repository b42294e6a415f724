"""Flax networks and the wrapper that shares them across echelons or gives each its own.

Modules return plain arrays (logits, values, Q-values); ``categorical`` wraps
logits in a distrax distribution. ``AgentNetwork`` applies one module to
stacked per-agent inputs ``x[..., A, F]``: with ``share=True`` one parameter set
serves every echelon (tell them apart with ``with_agent_id``); with
``share=False`` the parameters carry a leading agent axis and each echelon's
slice sees only its own inputs, so actor and critic can never disagree about
agent order.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Sequence

import distrax
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np


def orthogonal(scale: float) -> nn.initializers.Initializer:
    """flax's orthogonal initialiser, except that under ``vmap`` it draws one matrix at a time.

    The draws are bit-identical to flax's; only the batching differs, to dodge a deadlock.
    jaxlib 0.10's CPU LAPACK kernels split a batched QR across XLA's intra-op thread pool and
    park the calling pool thread until the pieces finish. A vmapped init (seeds, per-echelon
    networks) holds one independent batched QR per layer, and XLA runs independent ops
    concurrently, so once as many QRs as the pool has threads start together (two on a 2-core
    machine) every thread waits and the program never finishes. A single matrix's QR runs
    inline, so this turns ``vmap`` into ``lax.map``; init runs once per run, so the lost
    parallelism costs nothing that matters.
    """
    flax_orthogonal = nn.initializers.orthogonal(scale)

    def init(key: jax.Array, shape: Sequence[int], dtype: Any = jnp.float32) -> jax.Array:
        return jax.custom_batching.sequential_vmap(lambda one_key: flax_orthogonal(one_key, shape, dtype))(key)

    return init


@jax.custom_vjp
def dense(x: jax.Array, kernel: jax.Array, bias: jax.Array) -> jax.Array:
    """``x[..., I] @ kernel[I, O] + bias[O]``, with the weight gradient written as ``x^T g``.

    The forward is flax's ``nn.Dense``. Autodiff would emit the weight gradient as ``g^T x``
    (``[O, I]``) and then transpose it; on XLA:CPU that dot runs on Eigen with a transposed copy of
    the activations in front of it, and it was the slowest dot of a PPO update. Contracting the
    rows with ``x`` as the first operand gives ``[I, O]`` directly.
    """
    return jnp.dot(x, kernel) + bias


def _dense_forward(x, kernel, bias):
    return dense(x, kernel, bias), (x, kernel)


def _dense_backward(residuals, grad):
    x, kernel = residuals
    rows = tuple(range(x.ndim - 1))
    grad_kernel = jax.lax.dot_general(x, grad, ((rows, rows), ((), ())))
    grad_x = jax.lax.dot_general(grad, kernel, (((grad.ndim - 1,), (1,)), ((), ())))
    return grad_x, grad_kernel, jnp.sum(grad, axis=rows)


dense.defvjp(_dense_forward, _dense_backward)


class Dense(nn.Module):
    """flax's ``nn.Dense`` (same parameter names, shapes and initial values) on :func:`dense`."""

    features: int
    kernel_init: nn.initializers.Initializer = nn.initializers.lecun_normal()
    bias_init: nn.initializers.Initializer = nn.initializers.zeros

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        kernel = self.param("kernel", self.kernel_init, (x.shape[-1], self.features), jnp.float32)
        bias = self.param("bias", self.bias_init, (self.features,), jnp.float32)
        return dense(x, kernel, bias)


def _dense(features: int, scale: float) -> Dense:
    return Dense(features, kernel_init=orthogonal(scale), bias_init=nn.initializers.zeros)


class MLP(nn.Module):
    """tanh torso then a linear head of ``out_features`` (no head if 0); ``layer_norm`` normalises each hidden
    layer before its tanh, which keeps a learner without a target network (PQN) stable."""

    hidden_sizes: Sequence[int]
    out_features: int = 0
    out_scale: float = 1.0
    layer_norm: bool = False

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        for width in self.hidden_sizes:
            x = _dense(width, float(np.sqrt(2.0)))(x)
            x = nn.tanh(nn.LayerNorm()(x) if self.layer_norm else x)
        if self.out_features:
            x = _dense(self.out_features, self.out_scale)(x)
        return x


class PolicyHead(nn.Module):
    """Logits over the discrete actions. A small final scale makes the initial policy
    ``softmax(initial_logits)`` whatever the input (uniform when ``initial_logits`` is None)."""

    hidden_sizes: Sequence[int]
    num_actions: int
    initial_logits: tuple[float, ...] | None = None

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        torso = MLP(self.hidden_sizes)(x)
        bias_init = nn.initializers.zeros
        if self.initial_logits is not None:
            prior = jnp.asarray(self.initial_logits, jnp.float32)
            bias_init = lambda key, shape, dtype=jnp.float32: prior.astype(dtype)  # noqa: E731
        return Dense(self.num_actions, kernel_init=orthogonal(0.01), bias_init=bias_init)(torso)


class ValueHead(nn.Module):
    """A scalar state value (trailing axis removed)."""

    hidden_sizes: Sequence[int]

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        return MLP(self.hidden_sizes, 1, out_scale=1.0)(x)[..., 0]


class QHead(nn.Module):
    """One Q-value per discrete action.

    ``dueling`` splits the head after the torso into a state value ``V`` and advantages ``A`` and returns
    ``V + A - mean(A)`` (Wang et al., 2016): the shared part of the actions' values, large beside their
    differences, is learned once, and the advantage stream carries only the differences.
    """

    hidden_sizes: Sequence[int]
    num_actions: int
    dueling: bool = False
    layer_norm: bool = False

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        if not self.dueling:
            return MLP(self.hidden_sizes, self.num_actions, out_scale=1.0, layer_norm=self.layer_norm)(x)
        torso = MLP(self.hidden_sizes, layer_norm=self.layer_norm)(x)
        value = _dense(1, 1.0)(torso)
        advantage = _dense(self.num_actions, 1.0)(torso)
        return value + advantage - jnp.mean(advantage, axis=-1, keepdims=True)


def categorical(logits: jax.Array) -> distrax.Categorical:
    """The policy over the trailing axis of ``logits``, for sampling, log-probabilities and entropy."""
    return distrax.Categorical(logits=logits)


def sample_categorical(key: jax.Array, logits: jax.Array) -> tuple[jax.Array, jax.Array]:
    """One action per row of ``logits[..., N]`` and its log-probability: ``(int32[...], float32[...])``.

    Inverts each row's CDF with one uniform draw, where distrax's Gumbel-max draws N and takes two
    logarithms of each: in IPPO's rollout that sampler was 14% of a whole update. The uniform lies in
    (0, 1], so an action of probability zero is never drawn.
    """
    log_probs = jax.nn.log_softmax(logits)
    cdf = jnp.cumsum(jnp.exp(log_probs), axis=-1)
    uniform = 1.0 - jax.random.uniform(key, logits.shape[:-1] + (1,), logits.dtype)
    below = jnp.sum(cdf < uniform * cdf[..., -1:], axis=-1)
    action = jnp.minimum(below, logits.shape[-1] - 1).astype(jnp.int32)
    return action, jnp.take_along_axis(log_probs, action[..., None], axis=-1)[..., 0]


def symlog(x: jax.Array) -> jax.Array:
    """``sign(x) * log(1 + |x|)``: keeps small counts nearly linear and stops large backlogs
    from saturating the tanh torso."""
    return jnp.sign(x) * jnp.log1p(jnp.abs(x))


def with_agent_id(obs: jax.Array, enabled: bool = True) -> jax.Array:
    """Append the echelon's one-hot to ``obs[..., A, F]`` -> ``[..., A, F + A]``."""
    if not enabled:
        return obs
    num_agents = obs.shape[-2]
    one_hot = jnp.broadcast_to(jnp.eye(num_agents, dtype=obs.dtype), obs.shape[:-2] + (num_agents, num_agents))
    return jnp.concatenate([obs, one_hot], axis=-1)


@dataclasses.dataclass(frozen=True)
class AgentNetwork:
    """One module applied per echelon, with shared or per-echelon parameters."""

    module: nn.Module
    num_agents: int
    share: bool

    def init(self, key: jax.Array, sample: jax.Array) -> Any:
        """``sample`` is one step's input ``[A, F]`` (or ``[F]`` for a centralised input)."""
        if self.share:
            return self.module.init(key, sample)
        keys = jax.random.split(key, self.num_agents)
        per_agent = sample if sample.ndim >= 2 and sample.shape[-2] == self.num_agents else None
        if per_agent is None:
            return jax.vmap(lambda k: self.module.init(k, sample))(keys)
        return jax.vmap(lambda k, x: self.module.init(k, x), in_axes=(0, -2))(keys, sample)

    def apply(self, params: Any, x: jax.Array) -> jax.Array:
        """``x[..., A, F]`` -> ``out[..., A, ...]``; echelon ``k`` of the output saw only ``x[..., k, :]``."""
        # NumPy parameters (a loaded policy's) would reach ``dense``'s custom_vjp as constants of the vmap.
        params = jax.tree.map(jnp.asarray, params)
        if self.share:
            return self.module.apply(params, x)
        moved = jnp.moveaxis(x, -2, 0)  # [A, ..., F]
        out = jax.vmap(self.module.apply)(params, moved)  # [A, ..., out...]
        batch_dims = x.ndim - 2
        return jnp.moveaxis(out, 0, batch_dims)
