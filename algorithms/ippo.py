"""IPPO: independent PPO for every learning echelon of the beer game.

    python -m algorithms.ippo --num-envs 4096
    python -m algorithms.ippo --agents ppo,sterman,sterman,sterman --scenario classic
    python -m algorithms.ippo --num-seeds 8 --share-params

Read top to bottom: the config, ``make_learner`` (one update = rollout scan,
GAE, epochs x minibatches of clipped PPO), ``make_train``. Each echelon's
actor sees only its own observation. The critic input is a parameter of
``make_learner``: IPPO's critic sees the same local observation; MAPPO
(``algorithms/mappo.py``) passes a centralised one over ``env.global_state``.
Heuristic echelons of a mixed team play inside the same rollout and are
masked out of the loss.

Defaults, chosen by measurement on ``basic`` with all four echelons learning
(the figures are in ``docs/performance.md``, "Why IPPO's defaults"):

* ``--action-mode order_up_to`` (action = target inventory position). With the
  study's d+x rule and short rollouts, or with absolute orders, the team
  collapsed into a dead chain: upstream echelons first learn to cut their own
  holding cost (near random play that really is their local gradient), then
  nothing ships. With d+x and the settings below the greedy policy stays at
  pass-through: the few +x draws that build stock never become the mode.
* ``--num-steps 64``: orders take effect 4-16 periods later; with short
  rollouts the credit rests on a critic that cannot see it yet.
* separate networks per echelon (``--share-params`` gives one shared network
  with an agent-id one-hot, which learned a clearly worse team).
* games start at staggered periods (``vector_env.reset(stagger=True)``),
  otherwise every update sees the same few periods of the episode.
* ``--total-timesteps 64_000_000``: at 32M the final team stayed 6% above
  base-stock on 4 seeds; at 64M all four ended 6% below it.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, ClassVar, NamedTuple

import jax
import jax.numpy as jnp
import optax

from algorithms.common import metrics, sharding, vector_env
from algorithms.common.config import CommonConfig, ConfigError, check_int_flag, check_range_flag
from algorithms.common.gae import bootstrap_values, gae, keep_at_truncation, max_truncations, values_at_truncations
from algorithms.common.game import make_game
from algorithms.common.loop import Learner, entry_points
from algorithms.common.minibatches import minibatches_over_games
from algorithms.common.networks import (
    AgentNetwork,
    PolicyHead,
    ValueHead,
    sample_categorical,
    symlog,
    with_agent_id,
)

NAME = "ippo"
# Settings the train state carries as data, so that a sweep over them is one compiled program.
TRACED_SETTINGS = ("lr", "ent_coef", "ent_coef_end", "clip_eps", "vf_coef", "gae_lambda", "max_grad_norm")


@dataclasses.dataclass
class Config(CommonConfig):
    """IPPO on the beer game; every flag of the shared loop plus the PPO hyperparameters."""

    learner_kind: ClassVar[str] = "ppo"
    """The ``--agents`` kind of IPPO's (and MAPPO's) learning echelons."""
    traced_settings: ClassVar[tuple[str, ...]] = TRACED_SETTINGS
    """What a sweep varies within one compiled program; any other setting it varies is a program of its own."""

    # Defaults chosen by measurement on basic (see the module docstring and benchmarks/).
    action_mode: str = "order_up_to"
    """How a learner's action becomes an order: relative (arriving order + x), absolute (the order itself) or
    order_up_to (order up to a target inventory position); order_up_to by default because with absolute orders
    the team collapsed into a chain that ships nothing, and relative's greedy policy stayed at pass-through."""
    share_params: bool = False
    """One network for all learning echelons (with an agent-id one-hot) instead of one per echelon; off by default
    because separate networks reached a clearly lower greedy team cost on the same budget."""
    total_timesteps: int = 64_000_000
    """Env steps (periods of one game) per seed, rounded down to whole updates; 64M because at 32M the final
    greedy team stayed above base-stock on basic, and at 64M every seed ended below it."""
    hidden_sizes: tuple[int, ...] = (64,)
    """Widths of the tanh MLP torso of the actor and of the critic."""
    num_steps: int = 64
    """Periods each game advances per update. Orders arrive 4-16 periods after they are placed,
    so short windows leave the credit to a critic that cannot yet see it."""
    update_epochs: int = 2
    """Passes over each rollout."""
    num_minibatches: int = 16
    """Minibatches per epoch; the games are split among them, so num_envs must be divisible by it."""
    lr: float = 1e-3
    """Adam learning rate (that of the first update with --anneal-lr)."""
    anneal_lr: bool = True
    """Decay the learning rate linearly to 0 over the run."""
    gae_lambda: float = 0.95
    """GAE lambda: 0 leans the advantages on the critic (bias), 1 on the sampled returns (variance)."""
    clip_eps: float = 0.2
    """PPO clip range of the new-to-old probability ratio."""
    ent_coef: float = 0.01
    """Entropy bonus coefficient at the first update."""
    ent_coef_end: float = 0.0
    """Entropy coefficient at the last update (linear schedule from ent_coef); a sharp final policy
    makes the greedy one behave like the one trained."""
    anchor_logit: float = 2.0
    """Relative mode: initial logit bonus of x = 0 (order what arrived), so learning starts near
    pass-through instead of uniformly random orders; 0 starts uniform. With --anchor-base-stock: the bonus of
    each echelon's base-stock target. Otherwise unused."""
    anchor_base_stock: bool = False
    """Start every learning echelon's actor at the optimised base-stock policy: with order_up_to actions
    base-stock plays one constant target per echelon, so behaviour cloning of it reaches exactly this initial
    policy (a logit bonus of --anchor-logit at that target). Off by default; its results are reported apart
    from learning from scratch. Needs --action-mode order_up_to and separate networks."""
    vf_coef: float = 0.5
    """Weight of the value loss beside the policy loss; one optimiser steps actor and critic together."""
    max_grad_norm: float = 0.5
    """Global gradient-norm clip before each Adam step."""

    def validate(self) -> None:
        """Raise ``ConfigError`` naming the flag; the games must split evenly into minibatches and the budget
        must cover one update."""
        super().validate()
        for name in ("num_steps", "update_epochs", "num_minibatches"):
            check_int_flag(name, getattr(self, name), 1)
        if self.num_envs % self.num_minibatches:
            raise ConfigError(
                f"--num-envs ({self.num_envs}) must be divisible by --num-minibatches ({self.num_minibatches})"
            )
        if self.total_timesteps < self.num_envs * self.num_steps:
            raise ConfigError(
                f"--total-timesteps must be >= num_envs * num_steps = {self.num_envs * self.num_steps} "
                f"(one update), got {self.total_timesteps}"
            )
        for name in ("lr", "clip_eps", "ent_coef", "vf_coef", "max_grad_norm", "anchor_logit", "ent_coef_end"):
            check_range_flag(name, getattr(self, name), 0.0)
        check_range_flag("gae_lambda", self.gae_lambda, 0.0, 1.0)
        if self.anchor_base_stock and (self.action_mode != "order_up_to" or self.share_params):
            raise ConfigError(
                "--anchor-base-stock needs --action-mode order_up_to and separate networks (no --share-params), "
                f"got --action-mode {self.action_mode}" + (" --share-params" if self.share_params else "")
            )


class ActorCritic(NamedTuple):
    """The two networks' parameters."""

    actor: Any
    critic: Any


class TrainState(NamedTuple):
    """Everything one seed's training carries from update to update."""

    params: ActorCritic
    opt_state: Any
    env_state: Any  # batched EnvState [E]
    obs: jax.Array  # float32[E, A, F]
    running_cost: jax.Array  # float32[E, A], cost of each game's unfinished episode
    key: jax.Array
    update: jax.Array  # int32[], updates done
    hyperparameters: dict[str, jax.Array]  # float32[] each, by TRACED_SETTINGS name


class Transition(NamedTuple):
    """One period of every game, as the rollout keeps it for GAE and the loss."""

    obs: jax.Array  # [E, A, F]
    critic_features: jax.Array  # what the critic sees before the step
    action: jax.Array  # int32[E, A], index into the action space
    log_prob: jax.Array  # [E, A]
    reward: jax.Array  # [E, A]
    terminated: jax.Array  # [E]
    truncated: jax.Array  # [E]


class Bootstrap(NamedTuple):
    """What GAE needs besides the transitions: the critic's view after the last period, and of each game's
    final observation at every truncation (the bootstrap), which the transitions do not keep."""

    last_features: Any  # features of the observation after the last period [E, ...]
    end_features: Any  # [K, E, ...]: slot k holds the final features of a game's (k+1)-th truncation


class Critic(NamedTuple):
    """How the critic sees the game: ``features`` are stored per step, ``inputs`` feed the network."""

    features: Callable  # (env, env_params, obs[E, A, F], env_state[E]) -> features[E, ...]
    inputs: Callable  # features[..., ...] -> network input [..., A, D]


def local_critic(config: CommonConfig) -> Critic:
    """IPPO: each echelon's value from its own observation."""
    transform = symlog if config.symlog_obs else (lambda x: x)
    return Critic(
        features=lambda env, params, obs, state: obs, inputs=lambda obs: with_agent_id(transform(obs), config.agent_id)
    )


def make_learner(config: Config, critic: Critic | None = None) -> Learner:
    """IPPO's update for ``config``; ``critic`` defaults to the local one, MAPPO passes a centralised one."""
    game = make_game(config)
    env, env_params, team = game.env, game.params, game.team
    critic = critic or local_critic(config)
    num_agents, num_actions = env.num_agents, env.config.num_actions
    num_envs, num_steps = config.num_envs, config.num_steps
    num_updates = config.total_timesteps // (num_envs * num_steps)
    hidden = tuple(int(h) for h in config.hidden_sizes)
    initial_logits = None
    if env.config.action_mode == "relative" and config.anchor_logit:
        anchor = -env.config.action_low  # the index of x = 0
        initial_logits = tuple(config.anchor_logit if i == anchor else 0.0 for i in range(num_actions))
    actor = AgentNetwork(PolicyHead(hidden, num_actions, initial_logits), num_agents, config.share_params)
    value = AgentNetwork(ValueHead(hidden), num_agents, config.share_params)
    learner_weight = jnp.asarray(team.learner_mask, jnp.float32)  # [A]: heuristics get no loss

    def actor_input(obs):
        return with_agent_id(symlog(obs) if config.symlog_obs else obs, config.agent_id)

    defaults = {name: float(getattr(config, name)) for name in TRACED_SETTINGS}

    def optimizer_for(hyper):
        """Adam with the global-norm clip, from the settings a train state carries (its state's structure
        does not depend on them)."""

        def learning_rate(count):
            passes = config.update_epochs * config.num_minibatches
            return hyper["lr"] * (1.0 - (count // passes) / num_updates) if config.anneal_lr else hyper["lr"]

        return optax.chain(optax.clip_by_global_norm(hyper["max_grad_norm"]), optax.adam(learning_rate, eps=1e-5))

    def anchored_at_base_stock(actor_params):
        """Add the anchor logit at each echelon's base-stock target to its policy head's bias ``[A, N]``."""
        targets = jnp.clip(jnp.asarray(game.team.base_stock_levels, jnp.int32), 0, num_actions - 1)
        head = actor_params["params"]["Dense_0"]
        bias = head["bias"] + config.anchor_logit * jax.nn.one_hot(targets, num_actions, dtype=head["bias"].dtype)
        return {**actor_params, "params": {**actor_params["params"], "Dense_0": {**head, "bias": bias}}}

    def init(key, hyperparameters=None):
        hyper = {name: jnp.float32(value) for name, value in {**defaults, **(hyperparameters or {})}.items()}
        actor_key, critic_key, reset_key, key = jax.random.split(key, 4)
        obs, env_state = vector_env.reset(env, reset_key, env_params, num_envs, stagger=True)
        features = critic.features(env, env_params, obs, env_state)
        params = ActorCritic(
            actor=actor.init(actor_key, actor_input(obs[0])), critic=value.init(critic_key, critic.inputs(features[0]))
        )
        if config.anchor_base_stock:
            params = params._replace(actor=anchored_at_base_stock(params.actor))
        return TrainState(
            params=params,
            opt_state=optimizer_for(hyper).init(params),
            env_state=env_state,
            obs=obs,
            running_cost=metrics.initial_running_cost(env_state.period, num_agents),
            key=key,
            update=jnp.int32(0),
            hyperparameters=hyper,
        )

    # ----------------------------------------------------------- rollout
    max_ends = max_truncations(num_steps, env.config.horizon)

    def rollout(state: TrainState):
        def period(carry, key):
            env_state, obs, running_cost, ends_seen, end_features = carry
            act_key, step_key = jax.random.split(key)
            action, log_prob = sample_categorical(act_key, actor.apply(state.params.actor, actor_input(obs)))
            step = vector_env.vector_step(env, team, step_key, env_state, action, env_params)
            done = jnp.logical_or(step.terminated, step.truncated)
            running_cost, finished = metrics.track_episodes(running_cost, step.cost, done)
            final_features = critic.features(env, env_params, step.final_obs, step.final_state)
            end_features = keep_at_truncation(end_features, ends_seen, step.truncated, final_features)
            transition = Transition(
                obs=obs,
                critic_features=critic.features(env, env_params, obs, env_state),
                action=action,
                log_prob=log_prob,
                reward=step.reward,
                terminated=step.terminated,
                truncated=step.truncated,
            )
            carry = (step.state, step.obs, running_cost, ends_seen + step.truncated.astype(jnp.int32), end_features)
            return carry, (transition, finished)

        key, rollout_key = jax.random.split(state.key)
        # Only the shape of the slots is needed here.
        features = jax.eval_shape(
            lambda obs, env_state: critic.features(env, env_params, obs, env_state), state.obs, state.env_state
        )
        carry = (
            state.env_state,
            state.obs,
            state.running_cost,
            jnp.zeros((num_envs,), jnp.int32),
            jnp.zeros((max_ends,) + features.shape, features.dtype),
        )
        (env_state, obs, running_cost, _, end_features), (trajectory, finished) = jax.lax.scan(
            period, carry, jax.random.split(rollout_key, num_steps)
        )
        state = state._replace(env_state=env_state, obs=obs, running_cost=running_cost, key=key)
        ends = Bootstrap(last_features=critic.features(env, env_params, obs, env_state), end_features=end_features)
        return state, trajectory, ends, metrics.sum_over_time(finished)

    def critic_values(critic_params, trajectory: Transition, ends: Bootstrap):
        """V(obs[t]) and the value of what follows each step: one critic pass over the T stored steps, plus
        the last observation and the K truncation slots (instead of a second pass over all T final ones)."""
        values = value.apply(critic_params, critic.inputs(trajectory.critic_features))  # [T, E, A]
        last_value = value.apply(critic_params, critic.inputs(ends.last_features))  # [E, A]
        end_values = value.apply(critic_params, critic.inputs(ends.end_features))  # [K, E, A]
        final_values = values_at_truncations(end_values, trajectory.truncated)
        return values, bootstrap_values(values, last_value, final_values, trajectory.truncated)

    # -------------------------------------------------------------- loss
    def loss_fn(params, batch, advantages, targets, ent_coef, hyper):
        # One log-softmax serves the ratio and the entropy (distrax's Categorical normalises for each).
        log_probs = jax.nn.log_softmax(actor.apply(params.actor, actor_input(batch.obs)))
        log_prob = jnp.take_along_axis(log_probs, batch.action[..., None], axis=-1)[..., 0]
        values = value.apply(params.critic, critic.inputs(batch.critic_features))
        weight = jnp.broadcast_to(learner_weight, log_prob.shape)

        def mean(x):
            return jnp.sum(x * weight) / jnp.sum(weight)

        adv_mean = mean(advantages)
        adv_std = jnp.sqrt(mean((advantages - adv_mean) ** 2) + 1e-8)
        normalised = (advantages - adv_mean) / adv_std
        ratio = jnp.exp(log_prob - batch.log_prob)
        clip_eps = hyper["clip_eps"]
        policy_loss = -mean(jnp.minimum(ratio * normalised, jnp.clip(ratio, 1 - clip_eps, 1 + clip_eps) * normalised))
        value_loss = 0.5 * mean((values - targets) ** 2)
        entropy = mean(-jnp.sum(jnp.exp(log_probs) * log_probs, axis=-1))
        loss = policy_loss + hyper["vf_coef"] * value_loss - ent_coef * entropy
        stats = {
            "loss": loss,
            "policy_loss": policy_loss,
            "value_loss": value_loss,
            "entropy": entropy,
            "approx_kl": mean((ratio - 1) - jnp.log(ratio)),
            "clip_fraction": mean((jnp.abs(ratio - 1) > clip_eps).astype(jnp.float32)),
        }
        return loss, stats

    # ------------------------------------------------------------ update
    def update(state: TrainState):
        hyper = state.hyperparameters
        optimizer = optimizer_for(hyper)
        state, trajectory, ends, episode_stats = rollout(state)
        values, next_values = critic_values(state.params.critic, trajectory, ends)
        advantages, targets = gae(
            trajectory.reward,
            values,
            next_values,
            trajectory.terminated,
            trajectory.truncated,
            config.gamma,
            hyper["gae_lambda"],
        )

        def epoch(carry, key):
            params, opt_state = carry
            minibatches = minibatches_over_games(key, (trajectory, advantages, targets), config.num_minibatches)
            # [num_minibatches, T, games, ...]: each minibatch's games stay split over the devices, so every
            # device differentiates its own share and XLA all-reduces the gradients.
            minibatches = sharding.constrain_games(minibatches, axis=2)

            def minibatch_step(carry, minibatch):
                params, opt_state = carry
                grads, stats = jax.grad(loss_fn, has_aux=True)(params, *minibatch, ent_coef, hyper)
                updates, opt_state = optimizer.update(grads, opt_state, params)
                return (optax.apply_updates(params, updates), opt_state), stats

            return jax.lax.scan(minibatch_step, (params, opt_state), minibatches)

        progress = state.update.astype(jnp.float32) / num_updates
        ent_coef = hyper["ent_coef"] + (hyper["ent_coef_end"] - hyper["ent_coef"]) * progress
        key, epochs_key = jax.random.split(state.key)
        (params, opt_state), stats = jax.lax.scan(
            epoch, (state.params, state.opt_state), jax.random.split(epochs_key, config.update_epochs)
        )
        state = state._replace(params=params, opt_state=opt_state, key=key, update=state.update + 1)
        return state, {**jax.tree.map(jnp.mean, stats), **episode_stats}

    def act(actor_params, obs, key):
        """Greedy: the most likely action index per echelon."""
        return jnp.argmax(actor.apply(actor_params, actor_input(obs)), axis=-1).astype(jnp.int32)

    return Learner(
        game=game,
        init=init,
        update=update,
        act=act,
        policy_params=lambda state: state.params.actor,
        num_updates=num_updates,
        env_steps_per_update=num_envs * num_steps,
        hyperparameters=defaults,
        games_axes={".env_state": 0, ".obs": 0, ".running_cost": 0},
    )


make_train, main = entry_points(Config, make_learner, NAME, __doc__.splitlines()[0])

if __name__ == "__main__":
    main()
