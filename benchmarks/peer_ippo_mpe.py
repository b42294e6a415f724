"""IPPO on JaxMARL's MPE simple-spread: the training-throughput peer of ``algorithms.ippo``.

JaxMARL's own IPPO lives in the ``baselines/`` folder of its repository and is
not part of the ``jaxmarl`` package, so ``benchmarks.throughput`` cannot import
it. This module is written here in the shape of that baseline (itself built on
PureJaxRL's PPO): one actor and one critic whose parameters every agent
shares, the agents of each game folded into the batch, rewards per agent, and
an episode end treated as terminal. Network size (tanh MLP), rollout length,
epochs, minibatches and the clipped loss are those of ``algorithms.ippo``'s
defaults, so each env step costs the learner the same work as in IPPO on the
beer game; what differs is the env and its agent count (3 here, 4 there).

Only throughput is measured with it; its policy quality is not a claim of
this project. It needs the optional extra ``peers`` (``pip install -e '.[peers]'``).
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from algorithms import ippo
from algorithms.common.gae import bootstrap_values, gae
from algorithms.common.minibatches import minibatches_over_games
from algorithms.common.networks import PolicyHead, ValueHead, categorical

ENV_NAME = "MPE_simple_spread_v3"


@dataclasses.dataclass(frozen=True)
class PeerSettings:
    """The peer's PPO settings, named as in ``algorithms.ippo.Config`` so ``like_ippo`` can copy them across."""

    num_envs: int
    """Parallel MPE games."""
    num_steps: int
    """Periods each game advances per update."""
    update_epochs: int
    """Passes over each rollout."""
    num_minibatches: int
    """Minibatches per epoch; the games are split among them, as in IPPO."""
    hidden_sizes: tuple[int, ...]
    """Widths of the tanh MLP torso of the actor and of the critic."""
    lr: float
    """Adam learning rate, held constant."""
    gamma: float
    """Discount factor."""
    gae_lambda: float
    """GAE lambda."""
    clip_eps: float
    """PPO clip range of the new-to-old probability ratio."""
    ent_coef: float
    """Entropy bonus coefficient, held constant."""
    vf_coef: float
    """Weight of the value loss beside the policy loss."""
    max_grad_norm: float
    """Global gradient-norm clip before each Adam step."""

    @classmethod
    def like_ippo(cls, num_envs: int) -> "PeerSettings":
        """IPPO's defaults (``algorithms.ippo.Config``) at ``num_envs`` games."""
        defaults = ippo.Config(num_envs=num_envs)
        return cls(**{field.name: getattr(defaults, field.name) for field in dataclasses.fields(cls)})


class PeerState(NamedTuple):
    """What the peer carries from update to update."""

    params: dict
    opt_state: Any
    env_state: Any
    obs: jax.Array  # float32[E, A, F]
    key: jax.Array


class PeerLearner(NamedTuple):
    """The part of ``algorithms.common.loop.Learner`` that ``benchmarks.throughput.time_updates`` needs."""

    init: Any  # key -> PeerState
    update: Any  # PeerState -> (PeerState, metrics)
    env_steps_per_update: int
    num_agents: int


def make_learner(settings: PeerSettings, env_name: str = ENV_NAME) -> PeerLearner:
    """IPPO in the shape of JaxMARL's baseline on ``env_name``; raises ImportError without ``jaxmarl``."""
    import jaxmarl  # optional extra: an ImportError here tells the caller to skip this peer

    env = jaxmarl.make(env_name)
    agents = list(env.agents)
    num_actions = int(env.action_space(agents[0]).n)
    num_envs, num_steps = settings.num_envs, settings.num_steps
    actor = PolicyHead(settings.hidden_sizes, num_actions)
    critic = ValueHead(settings.hidden_sizes)
    optimizer = optax.chain(optax.clip_by_global_norm(settings.max_grad_norm), optax.adam(settings.lr, eps=1e-5))

    def stack(per_agent: dict) -> jax.Array:
        """{agent: [E, ...]} -> [E, A, ...], the stacked agent axis of jaxbeer."""
        return jnp.stack([per_agent[agent] for agent in agents], axis=1)

    vreset = jax.vmap(env.reset)
    vstep = jax.vmap(env.step)

    def init(key):
        actor_key, critic_key, reset_key, key = jax.random.split(key, 4)
        obs, env_state = vreset(jax.random.split(reset_key, num_envs))
        obs = stack(obs)
        params = {"actor": actor.init(actor_key, obs[0]), "critic": critic.init(critic_key, obs[0])}
        return PeerState(params, optimizer.init(params), env_state, obs, key)

    def rollout(state):
        def period(carry, key):
            env_state, obs = carry
            act_key, step_key = jax.random.split(key)
            policy = categorical(actor.apply(state.params["actor"], obs))
            action, log_prob = policy.sample_and_log_prob(seed=act_key)
            actions = {agent: action[:, i] for i, agent in enumerate(agents)}
            next_obs, env_state, reward, dones, _ = vstep(jax.random.split(step_key, num_envs), env_state, actions)
            transition = {
                "obs": obs,
                "action": action,
                "log_prob": log_prob,
                "reward": stack(reward),
                "terminated": dones["__all__"],
            }
            return (env_state, stack(next_obs)), transition

        key, rollout_key = jax.random.split(state.key)
        (env_state, obs), trajectory = jax.lax.scan(
            period, (state.env_state, state.obs), jax.random.split(rollout_key, num_steps)
        )
        return state._replace(env_state=env_state, obs=obs, key=key), trajectory

    def loss_fn(params, batch, advantages, targets):
        policy = categorical(actor.apply(params["actor"], batch["obs"]))
        log_prob = policy.log_prob(batch["action"])
        values = critic.apply(params["critic"], batch["obs"])
        normalised = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
        ratio = jnp.exp(log_prob - batch["log_prob"])
        clipped = jnp.clip(ratio, 1 - settings.clip_eps, 1 + settings.clip_eps)
        policy_loss = -jnp.mean(jnp.minimum(ratio * normalised, clipped * normalised))
        value_loss = 0.5 * jnp.mean((values - targets) ** 2)
        return policy_loss + settings.vf_coef * value_loss - settings.ent_coef * jnp.mean(policy.entropy())

    def update(state):
        state, trajectory = rollout(state)
        values = critic.apply(state.params["critic"], trajectory["obs"])  # [T, E, A]
        last_value = critic.apply(state.params["critic"], state.obs)
        no_truncation = jnp.zeros_like(trajectory["terminated"])
        next_values = bootstrap_values(values, last_value, values, no_truncation)
        advantages, targets = gae(
            trajectory["reward"],
            values,
            next_values,
            trajectory["terminated"],
            no_truncation,
            settings.gamma,
            settings.gae_lambda,
        )

        def epoch(carry, key):
            def minibatch_step(carry, minibatch):
                params, opt_state = carry
                loss, grads = jax.value_and_grad(loss_fn)(params, *minibatch)
                updates, opt_state = optimizer.update(grads, opt_state, params)
                return (optax.apply_updates(params, updates), opt_state), loss

            minibatches = minibatches_over_games(key, (trajectory, advantages, targets), settings.num_minibatches)
            return jax.lax.scan(minibatch_step, carry, minibatches)

        key, epochs_key = jax.random.split(state.key)
        (params, opt_state), losses = jax.lax.scan(
            epoch, (state.params, state.opt_state), jax.random.split(epochs_key, settings.update_epochs)
        )
        metrics = {"loss": jnp.mean(losses), "mean_reward": jnp.mean(trajectory["reward"])}
        return state._replace(params=params, opt_state=opt_state, key=key), metrics

    return PeerLearner(init=init, update=update, env_steps_per_update=num_envs * num_steps, num_agents=len(agents))
