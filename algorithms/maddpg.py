"""MADDPG: decentralised actors, one centralised critic per echelon, discrete orders by straight-through
Gumbel-softmax.

    python -m algorithms.maddpg --num-envs 64
    python -m algorithms.maddpg --agents maddpg,sterman,sterman,sterman --scenario classic

Read top to bottom: the config, the Gumbel-softmax, the TD target, ``make_learner``.

* Actor ``i`` sees its own observation (``PolicyHead`` logits over the order choices, one network per
  echelon by default). In the games it acts by sampling its softmax, which is the Gumbel-max draw.
* Critic ``i`` sees ``env.global_state`` and every learning echelon's action as a one-hot, and predicts
  echelon ``i``'s return: ``Q_i(s, a_1..a_n)``.
* Critic loss: ``(Q_i(s, a) - y_i)^2`` with ``y_i = r_i + gamma * Q'_i(s', a')``, where ``a'`` are the
  target actors' greedy choices on the next observations. The beer game only truncates, so ``s'`` is the
  pre-reset state (``Step.final_obs``, ``Step.final_state``) and only a termination drops the bootstrap.
* Actor loss: ``-Q_i(s, a_1..a_i..a_n)`` with ``a_i`` the straight-through Gumbel-softmax sample of actor
  ``i`` (one-hot forward, softmax gradient backward) and the other actions from the replay buffer, plus a
  small penalty on the logits' size so they stay where the softmax still has a gradient.
* Target actors and critics follow the online ones by Polyak averaging after every gradient step.

One update: every game takes one step into the on-device replay buffer (``algorithms/common/replay.py``);
once ``learning_starts`` transitions are stored, ``gradient_steps`` steps of critics then actors. Mixed
teams: heuristic echelons order for themselves in the same games; their action slots are zero in the
critics' input and they have no loss.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from algorithms.common import metrics, replay, vector_env
from algorithms.common.config import CommonConfig, ConfigError, check_int_flag, check_range_flag
from algorithms.common.game import make_game
from algorithms.common.loop import Learner, entry_points, for_every_member
from algorithms.common.networks import AgentNetwork, PolicyHead, ValueHead, sample_categorical, symlog, with_agent_id

NAME = "maddpg"
# Settings the train state carries as data, so that a sweep over them is one compiled program.
TRACED_SETTINGS = ("actor_lr", "critic_lr", "tau", "max_grad_norm", "gumbel_temperature")


@dataclasses.dataclass
class Config(CommonConfig):
    """MADDPG on the beer game; every flag of the shared loop plus its own."""

    learner_kind: ClassVar[str] = "maddpg"
    """The ``--agents`` kind of MADDPG's learning echelons."""
    traced_settings: ClassVar[tuple[str, ...]] = TRACED_SETTINGS
    """What a sweep varies within one compiled program; any other setting it varies is a program of its own."""

    action_mode: str = "order_up_to"
    """How an action becomes an order; order-up-to targets by default, as for IPPO (see its docstring)."""
    num_envs: int = 64
    """Parallel games per seed; each update advances every game one period."""
    total_timesteps: int = 4_000_000
    """Env steps (periods of one game) per seed."""
    share_params: bool = False
    """One actor and one critic for all echelons (with an agent-id one-hot) instead of one of each per echelon."""
    gamma: float = 0.95
    """Discount of the critics' targets."""
    actor_lr: float = 3e-4
    """Adam learning rate of the actors."""
    critic_lr: float = 1e-3
    """Adam learning rate of the critics."""
    max_grad_norm: float = 10.0
    """Global gradient-norm clip of each network's step."""
    tau: float = 0.01
    """Polyak step of the target networks after every gradient step: target += tau * (online - target)."""
    gumbel_temperature: float = 1.0
    """Temperature of the actor loss's Gumbel-softmax (lower: closer to the one-hot, noisier gradient)."""
    logit_penalty: float = 1e-3
    """Weight of the mean squared actor logits in the actor loss."""
    batch_size: int = 256
    """Transitions per gradient step."""
    gradient_steps: int = 1
    """Gradient steps per update (per vector step of all games)."""
    buffer_size: int = 65_536
    """Replay capacity in transitions, summed over games (the oldest are overwritten)."""
    learning_starts: int = 8_192
    """Transitions collected before the first gradient step."""

    def validate(self) -> None:
        """Raise ``ConfigError`` naming the flag and its allowed range."""
        super().validate()
        for name, low in (("batch_size", 1), ("gradient_steps", 1), ("buffer_size", 1), ("learning_starts", 0)):
            check_int_flag(name, getattr(self, name), low)
        for name in ("actor_lr", "critic_lr", "max_grad_norm", "gumbel_temperature"):
            check_range_flag(name, getattr(self, name), 0.0, low_inclusive=False)
        check_range_flag("tau", self.tau, 0.0, 1.0, low_inclusive=False)
        check_range_flag("logit_penalty", self.logit_penalty, 0.0)
        if self.total_timesteps < self.num_envs:
            raise ConfigError(
                f"--total-timesteps must be >= num_envs = {self.num_envs} (one update), got {self.total_timesteps}"
            )
        if self.buffer_size < self.num_envs:
            raise ConfigError(f"--buffer-size must be >= num_envs = {self.num_envs}, got {self.buffer_size}")

    @property
    def buffer_steps(self) -> int:
        """Capacity along the buffer's time axis (vector steps of all games)."""
        return max(self.buffer_size // self.num_envs, 1)


def gumbel_softmax_straight_through(key: jax.Array, logits: jax.Array, temperature: jax.Array) -> jax.Array:
    """A one-hot sample of ``softmax(logits)`` over the trailing axis whose gradient is that of the
    Gumbel-softmax relaxation ``softmax((logits + g) / temperature)``."""
    gumbel = -jnp.log(-jnp.log(jax.random.uniform(key, logits.shape, logits.dtype, minval=1e-10, maxval=1.0)))
    soft = jax.nn.softmax((logits + gumbel) / temperature, axis=-1)
    hard = jax.nn.one_hot(jnp.argmax(soft, axis=-1), logits.shape[-1], dtype=logits.dtype)
    return hard + soft - jax.lax.stop_gradient(soft)


def td_targets(reward: jax.Array, terminated: jax.Array, next_q: jax.Array, gamma: float) -> jax.Array:
    """``reward + gamma * next_q``, without the bootstrap where the episode terminated; ``next_q`` is the
    target critics' value of the pre-reset next state, so a truncation keeps its bootstrap."""
    alive = 1.0 - terminated.astype(reward.dtype)[..., None]
    return reward + gamma * alive * next_q


class Networks(NamedTuple):
    actor: Any
    critic: Any


class TrainState(NamedTuple):
    """Everything one seed's training carries from update to update."""

    online: Networks
    target: Networks
    actor_opt_state: Any
    critic_opt_state: Any
    buffer: replay.ReplayBuffer
    env_state: Any  # batched EnvState [E]
    obs: jax.Array  # float32[E, A, F]
    running_cost: jax.Array  # float32[E, A], cost of each game's unfinished episode
    env_steps: jax.Array  # int32[], transitions collected
    key: jax.Array
    hyperparameters: dict[str, jax.Array]  # float32[] each, by TRACED_SETTINGS name


def make_learner(config: Config) -> Learner:
    """MADDPG's update for ``config``."""
    game = make_game(config)
    env, env_params, team = game.env, game.params, game.team
    num_agents, num_actions, num_envs = env.num_agents, env.config.num_actions, config.num_envs
    hidden = tuple(int(h) for h in config.hidden_sizes)
    learner_weight = jnp.asarray(team.learner_mask, jnp.float32)  # [A]
    num_learners = float(np.sum(team.learner_mask))
    actor = AgentNetwork(PolicyHead(hidden, num_actions), num_agents, config.share_params)
    critic = AgentNetwork(ValueHead(hidden), num_agents, config.share_params)
    num_updates = config.total_timesteps // num_envs
    defaults = {name: float(getattr(config, name)) for name in TRACED_SETTINGS}

    def optimizer(learning_rate, max_grad_norm):
        return optax.chain(optax.clip_by_global_norm(max_grad_norm), optax.adam(learning_rate, eps=1e-5))

    def actor_input(obs):
        return with_agent_id(symlog(obs) if config.symlog_obs else obs, config.agent_id)

    def critic_input(global_state, actions):
        """``global_state[..., G]``, one-hot ``actions[..., A, N]`` (zero in heuristic seats) ->
        ``[..., A, G + A * N (+ A)]``: every echelon's critic sees the whole game and every action."""
        state = symlog(global_state) if config.symlog_obs else global_state
        joint = jnp.concatenate([state, actions.reshape(actions.shape[:-2] + (-1,))], axis=-1)
        per_agent = jnp.broadcast_to(joint[..., None, :], joint.shape[:-1] + (num_agents, joint.shape[-1]))
        return with_agent_id(per_agent, config.agent_id)

    def critic_values(critic_params, global_state, actions):
        return critic.apply(critic_params, critic_input(global_state, actions))  # [..., A]

    def critic_values_per_replacement(critic_params, global_state, actions):
        """``actions[..., A, A, N]``: row ``i`` is the joint action critic ``i`` values -> ``Q[..., A]``."""
        state = symlog(global_state) if config.symlog_obs else global_state
        state = jnp.broadcast_to(state[..., None, :], actions.shape[:-2] + (state.shape[-1],))
        inputs = jnp.concatenate([state, actions.reshape(actions.shape[:-2] + (-1,))], axis=-1)
        return critic.apply(critic_params, with_agent_id(inputs, config.agent_id))

    def one_hot_learners(action):
        return jax.nn.one_hot(action, num_actions, dtype=jnp.float32) * learner_weight[:, None]

    def global_states(env_state):
        return jax.vmap(env.global_state, in_axes=(0, None))(env_state, env_params)

    def init(key, hyperparameters=None):
        hyper = {name: jnp.float32(value) for name, value in {**defaults, **(hyperparameters or {})}.items()}
        actor_key, critic_key, reset_key, key = jax.random.split(key, 4)
        obs, env_state = vector_env.reset(env, reset_key, env_params, num_envs)
        state = global_states(env_state)
        no_action = jnp.zeros((num_envs, num_agents), jnp.int32)
        online = Networks(
            actor=actor.init(actor_key, actor_input(obs[0])),
            critic=critic.init(critic_key, critic_input(state[0], one_hot_learners(no_action[0]))),
        )
        example = jax.eval_shape(
            lambda: transition_of(
                obs,
                env_state,
                no_action,
                vector_env.vector_step(env, team, reset_key, env_state, no_action, env_params),
            )
        )
        buffer = replay.init(example, config.buffer_steps)
        return TrainState(
            online=online,
            target=jax.tree.map(jnp.copy, online),
            actor_opt_state=optimizer(hyper["actor_lr"], hyper["max_grad_norm"]).init(online.actor),
            critic_opt_state=optimizer(hyper["critic_lr"], hyper["max_grad_norm"]).init(online.critic),
            buffer=buffer,
            env_state=env_state,
            obs=obs,
            running_cost=jnp.zeros((num_envs, num_agents), jnp.float32),
            env_steps=jnp.int32(0),
            key=key,
            hyperparameters=hyper,
        )

    def transition_of(obs, env_state, action, step):
        return {
            "obs": obs,
            "state": global_states(env_state),
            "action": action,
            "reward": step.reward,  # [E, A]: the team cost unless --no-team-reward
            "next_obs": step.final_obs,
            "next_state": global_states(step.final_state),
            "terminated": step.terminated,
        }

    def masked_mean(x):  # x[B, A]: the mean over the batch and the learning echelons
        return jnp.sum(jnp.mean(x, axis=0) * learner_weight) / num_learners

    def critic_loss(critic_params, target, batch):
        next_logits = actor.apply(target.actor, actor_input(batch["next_obs"]))
        next_actions = one_hot_learners(jnp.argmax(next_logits, axis=-1))
        next_q = critic_values(target.critic, batch["next_state"], next_actions)
        targets = jax.lax.stop_gradient(td_targets(batch["reward"], batch["terminated"], next_q, config.gamma))
        predicted = critic_values(critic_params, batch["state"], one_hot_learners(batch["action"]))
        loss = masked_mean((predicted - targets) ** 2)
        return loss, {"critic_loss": loss, "q_taken": masked_mean(predicted)}

    def actor_loss(actor_params, critic_params, batch, key, temperature):
        logits = actor.apply(actor_params, actor_input(batch["obs"]))  # [B, A, N]
        sampled = gumbel_softmax_straight_through(key, logits, temperature) * learner_weight[:, None]
        stored = jax.lax.stop_gradient(one_hot_learners(batch["action"]))
        # Row i: echelon i's own sample, the others' stored actions.
        own = jnp.eye(num_agents, dtype=bool)[:, :, None]
        joint = jnp.where(own, sampled[:, None], stored[:, None])  # [B, A, A, N]
        q = critic_values_per_replacement(critic_params, batch["state"], joint)
        loss = -masked_mean(q) + config.logit_penalty * masked_mean(jnp.mean(logits**2, axis=-1))
        return loss, {"actor_loss": loss}

    def polyak(online, target, tau):
        return jax.tree.map(lambda o, t: t + tau * (o - t), online, target)

    def learn(state: TrainState, buffer, key):
        hyper = state.hyperparameters
        actor_opt = optimizer(hyper["actor_lr"], hyper["max_grad_norm"])
        critic_opt = optimizer(hyper["critic_lr"], hyper["max_grad_norm"])

        def gradient_step(carry, step_key):
            online, target, actor_opt_state, critic_opt_state = carry
            sample_key, gumbel_key = jax.random.split(step_key)
            batch = jax.tree.map(lambda x: x[:, 0], replay.sample(buffer, sample_key, config.batch_size))
            grads, critic_stats = jax.grad(critic_loss, has_aux=True)(online.critic, target, batch)
            updates, critic_opt_state = critic_opt.update(grads, critic_opt_state, online.critic)
            online = online._replace(critic=optax.apply_updates(online.critic, updates))
            grads, actor_stats = jax.grad(actor_loss, has_aux=True)(
                online.actor, online.critic, batch, gumbel_key, hyper["gumbel_temperature"]
            )
            updates, actor_opt_state = actor_opt.update(grads, actor_opt_state, online.actor)
            online = online._replace(actor=optax.apply_updates(online.actor, updates))
            target = polyak(online, target, hyper["tau"])
            return (online, target, actor_opt_state, critic_opt_state), {**critic_stats, **actor_stats}

        carry = (state.online, state.target, state.actor_opt_state, state.critic_opt_state)
        carry, stats = jax.lax.scan(gradient_step, carry, jax.random.split(key, config.gradient_steps))
        return carry, jax.tree.map(jnp.mean, stats)

    def skip(state: TrainState, buffer, key):
        zero = jnp.float32(0)
        carry = (state.online, state.target, state.actor_opt_state, state.critic_opt_state)
        return carry, {"critic_loss": zero, "q_taken": zero, "actor_loss": zero}

    def update(state: TrainState):
        key, act_key, step_key, learn_key = jax.random.split(state.key, 4)
        action, _ = sample_categorical(act_key, actor.apply(state.online.actor, actor_input(state.obs)))
        step = vector_env.vector_step(env, team, step_key, state.env_state, action, env_params)
        buffer = replay.add(state.buffer, transition_of(state.obs, state.env_state, action, step))
        done = jnp.logical_or(step.terminated, step.truncated)
        running_cost, finished = metrics.track_episodes(state.running_cost, step.cost, done)
        env_steps = state.env_steps + num_envs
        ready = jnp.logical_and(env_steps >= config.learning_starts, replay.can_sample(buffer))
        ready = for_every_member(ready)  # the counts advance in lockstep over seeds
        (online, target, actor_opt_state, critic_opt_state), stats = jax.lax.cond(
            ready, learn, skip, state, buffer, learn_key
        )
        state = state._replace(
            online=online,
            target=target,
            actor_opt_state=actor_opt_state,
            critic_opt_state=critic_opt_state,
            buffer=buffer,
            env_state=step.state,
            obs=step.obs,
            running_cost=running_cost,
            env_steps=env_steps,
            key=key,
        )
        return state, {**stats, "learning": ready.astype(jnp.float32), **finished}

    def act(actor_params, obs, key):
        """Greedy: the most likely action index per echelon."""
        return jnp.argmax(actor.apply(actor_params, actor_input(obs)), axis=-1).astype(jnp.int32)

    return Learner(
        game=game,
        init=init,
        update=update,
        act=act,
        policy_params=lambda state: state.online.actor,
        num_updates=num_updates,
        env_steps_per_update=num_envs,
        hyperparameters=defaults,
        games_axes={".env_state": 0, ".obs": 0, ".running_cost": 0, ".buffer.data": 1},
    )


make_train, main = entry_points(Config, make_learner, NAME, __doc__.splitlines()[0])

if __name__ == "__main__":
    main()
