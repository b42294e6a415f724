"""Value-based MARL on the beer game: IQL, VDN and QMIX as one core plus a mixer choice.

``algorithms/iql.py``, ``vdn.py`` and ``qmix.py`` only pick the mixer; this file
holds everything else. Read it top to bottom: the config, the networks (one
Q-network per echelon, shared with an agent-id one-hot by default, and the
QMIX mixer), the TD target, then ``make_learner`` for the shared host loop.

One update: every game takes one epsilon-greedy step and the step goes into
the replay buffer, which lives on device inside the compiled program; then,
once ``learning_starts`` transitions are stored, ``gradient_steps`` double-Q
steps on sampled batches, with a hard target-network copy every
``target_update_period`` gradient steps.

With ``--pqn`` (PQN, Gallici et al., 2024) there is no buffer and no target network: an update rolls
out ``num_steps`` periods of every game with the online network, computes Q(lambda) returns
(``lambda_returns``) from that same network's greedy values, and takes ``update_epochs`` passes of
``num_minibatches`` Adam steps over minibatches of whole games, as PPO does. ``--layer-norm`` is its
usual stabiliser.

The mixer decides what is regressed:

* ``none`` (IQL): each learning echelon's own ``Q_i`` on the reward the env
  gives it (the team cost by default, its own cost with ``--no-team-reward``);
* ``vdn``: ``Q_tot = sum_i Q_i`` on the team reward;
* ``qmix``: ``Q_tot = f(Q_1..Q_n; s)`` on the team reward, with ``f`` monotonic
  in every ``Q_i`` because hypernetworks on ``env.global_state`` produce
  absolute-valued mixing weights; so each echelon's greedy action is also
  greedy for ``Q_tot``.

The beer game only truncates. A target bootstraps from the value of the
pre-reset observation (``Step.final_obs``, and for QMIX the global state of
``Step.final_state``); only a termination (never, here) drops the bootstrap.
With ``n_step > 1`` the return stops at the end of an episode inside the window
and bootstraps there.

Mixed teams (``--agents iql,base_stock,base_stock,base_stock``): heuristic
echelons order for themselves inside the same rollout; only learning echelons
enter the loss and the mixer, and the team reward covers the whole chain.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, ClassVar, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from algorithms.common import metrics, replay, vector_env
from algorithms.common.config import CommonConfig, ConfigError, check_int_flag, check_range_flag
from algorithms.common.game import make_game
from algorithms.common.loop import Learner, entry_points, for_every_member
from algorithms.common.minibatches import minibatches_over_games
from algorithms.common.networks import AgentNetwork, QHead, with_agent_id

MIXERS = ("none", "vdn", "qmix")
# Settings the train state carries as data, so that a sweep over them is one compiled program.
TRACED_SETTINGS = ("lr", "max_grad_norm")


# ---------------------------------------------------------------- config
@dataclasses.dataclass
class ValueBasedConfig(CommonConfig):
    """Every flag of the shared loop plus the Q-learning hyperparameters."""

    learner_kind: ClassVar[str] = "iql"
    """The ``--agents`` kind of the learning echelons; ``variant`` sets each entry point's own."""
    mixer: ClassVar[str] = "none"
    """none (IQL), vdn or qmix: what is regressed; fixed by the entry point, not a flag."""
    traced_settings: ClassVar[tuple[str, ...]] = TRACED_SETTINGS
    """What a sweep varies within one compiled program; any other setting it varies is a program of its own."""

    num_envs: int = 16
    """Parallel games per seed; each update advances every game one period."""
    total_timesteps: int = 4_000_000
    """Env steps (periods of one game) per seed."""
    gamma: float = 0.95
    """Discount. Lower than PPO's 0.99: an order's effect is felt within about ten periods, and a shorter
    horizon keeps the small gaps between actions' values above the Q-network's error."""
    lr: float = 5e-4
    """Adam learning rate of the Q-network and the QMIX mixer (that of the first gradient step with --anneal-lr)."""
    anneal_lr: bool = True
    """Decay the learning rate linearly to 0 over the run (steadies the final greedy policy)."""
    max_grad_norm: float = 10.0
    """Global gradient-norm clip before each Adam step."""
    batch_size: int = 256
    """Transitions (or n-step windows) per gradient step."""
    gradient_steps: int = 1
    """Gradient steps per update (per vector step of all games)."""
    buffer_size: int = 65_536
    """Replay capacity in transitions, summed over games (the oldest are overwritten)."""
    learning_starts: int = 8_192
    """Transitions collected before the first gradient step."""
    target_update_period: int = 500
    """Gradient steps between copies of the online network into the target network."""
    double_q: bool = True
    """Pick the next action with the online network, value it with the target network."""
    n_step: int = 3
    """Steps of reward before the bootstrap (1: one-step Q-learning)."""
    epsilon_start: float = 1.0
    """Probability of a uniform random action at the first step."""
    epsilon_end: float = 0.05
    """Probability of a uniform random action once the decay is over, kept to the end of the run."""
    epsilon_decay_fraction: float = 0.3
    """Fraction of total_timesteps over which epsilon decays linearly from start to end."""
    huber_delta: float = 0.0
    """Huber loss threshold on the TD error; 0: squared error."""
    dueling: bool = False
    """Q-heads as a state value plus mean-centred advantages (a dueling head) instead of one linear layer."""
    value_rescale: bool = False
    """Regress h(target) with h(x) = sign(x)(sqrt(|x|+1)-1) + 1e-3 x, bootstrapping through h's inverse
    (Pohlen et al., 2018): the networks see compressed values, large early returns and small late ones alike."""
    layer_norm: bool = False
    """Normalise every hidden layer of the Q-network before its tanh (PQN's stabiliser in place of a target network)."""
    pqn: bool = False
    """PQN (Gallici et al., 2024) instead of replay: each update rolls out --num-steps periods of every game with
    the online network, and regresses Q(lambda) returns computed by that same network over --update-epochs passes
    of --num-minibatches minibatches of whole games. No replay buffer and no target network (the replay flags are
    unused). Made for many games (--num-envs 1024), and usually with --layer-norm."""
    num_steps: int = 16
    """PQN: periods of every game per update."""
    update_epochs: int = 2
    """PQN: passes over each rollout."""
    num_minibatches: int = 4
    """PQN: minibatches per pass, of whole games (must divide --num-envs)."""
    td_lambda: float = 0.65
    """PQN: lambda of the Q(lambda) returns (0: one-step targets, 1: Monte Carlo to the rollout's end)."""
    mixer_embed_dim: int = 32
    """QMIX: width of the mixing layer."""
    hypernet_hidden: int = 64
    """QMIX: hidden width of the hypernetworks that produce the mixing weights."""

    def validate(self) -> None:
        """Raise ``ConfigError`` naming the flag; the buffer must hold an n-step window of every game, and a
        mixer needs the team reward."""
        super().validate()
        if self.mixer not in MIXERS:
            raise ConfigError(f"mixer must be one of {MIXERS}, got {self.mixer!r}")
        for name, low in (
            ("batch_size", 1),
            ("gradient_steps", 1),
            ("buffer_size", 1),
            ("learning_starts", 0),
            ("target_update_period", 1),
            ("n_step", 1),
            ("mixer_embed_dim", 1),
            ("hypernet_hidden", 1),
            ("num_steps", 1),
            ("update_epochs", 1),
            ("num_minibatches", 1),
        ):
            check_int_flag(name, getattr(self, name), low)
        check_range_flag("td_lambda", self.td_lambda, 0.0, 1.0)
        check_range_flag("lr", self.lr, 0.0, 1.0, low_inclusive=False)
        for name in ("epsilon_start", "epsilon_end", "epsilon_decay_fraction"):
            check_range_flag(name, getattr(self, name), 0.0, 1.0)
        check_range_flag("max_grad_norm", self.max_grad_norm, 0.0, low_inclusive=False)
        check_range_flag("huber_delta", self.huber_delta, 0.0)
        if self.total_timesteps < self.env_steps_per_update:
            raise ConfigError(
                f"--total-timesteps must be >= {self.env_steps_per_update} (one update: num_envs"
                + (" * num_steps" if self.pqn else "")
                + f"), got {self.total_timesteps}"
            )
        if self.pqn and self.num_envs % self.num_minibatches:
            raise ConfigError(
                f"--num-minibatches must divide --num-envs = {self.num_envs} (minibatches of whole games), "
                f"got {self.num_minibatches}"
            )
        if not self.pqn and self.buffer_size < self.num_envs * self.n_step:
            raise ConfigError(
                f"--buffer-size must be >= num_envs * n_step = {self.num_envs * self.n_step}, got {self.buffer_size}"
            )
        if self.mixer != "none" and not self.team_reward:
            raise ConfigError(
                f"--no-team-reward: {self.learner_kind} learns a team value from the team reward; "
                f"use iql for individual rewards"
            )

    @property
    def env_steps_per_update(self) -> int:
        """Env steps of one seed's update: one period of every game, or --num-steps of them with --pqn."""
        return self.num_envs * (self.num_steps if self.pqn else 1)

    @property
    def buffer_steps(self) -> int:
        """Capacity along the buffer's time axis (vector steps of all games)."""
        return max(self.buffer_size // self.num_envs, self.n_step)


# -------------------------------------------------------------- networks
class QMixer(nn.Module):
    """``Q_tot = w2 . elu(W1 q + b1) + V(s)`` with ``W1, w2 >= 0`` produced from ``s`` by hypernetworks.

    The hypernetworks' hidden units are tanh, so the mixing weights stay bounded however large the
    inventories and backlogs in ``s`` grow (they do under early, random play); with ReLU units the weights
    grow with ``s`` and ``Q_tot`` with its square, which made early QMIX training diverge here.
    """

    embed_dim: int
    hypernet_hidden: int

    @nn.compact
    def __call__(self, agent_q: jax.Array, global_state: jax.Array) -> jax.Array:
        """``agent_q[..., n]``, ``global_state[..., G]`` -> ``Q_tot[..., 1]``."""
        num_agents = agent_q.shape[-1]

        def hypernet(name, features):
            hidden = nn.tanh(nn.Dense(self.hypernet_hidden, name=f"{name}_hidden")(global_state))
            return nn.Dense(features, name=name)(hidden)

        w1 = jnp.abs(hypernet("w1", num_agents * self.embed_dim))
        w1 = w1.reshape(agent_q.shape[:-1] + (num_agents, self.embed_dim))
        hidden = nn.elu(jnp.einsum("...n,...ne->...e", agent_q, w1) + hypernet("b1", self.embed_dim))
        w2 = jnp.abs(hypernet("w2", self.embed_dim))
        # The state-dependent bias V(s) does not touch monotonicity, so it is unconstrained.
        return jnp.sum(hidden * w2, axis=-1, keepdims=True) + hypernet("v", 1)


def mix(
    mixer: str, mixer_module: QMixer | None, mixer_params: Any, chosen_q: jax.Array, global_state: jax.Array | None
) -> jax.Array:
    """Learners' chosen ``Q_i`` ``[..., n]`` -> the regressed values ``[..., M]``
    (``M = n`` for none, 1 for vdn and qmix)."""
    if mixer == "none":
        return chosen_q
    if mixer == "vdn":
        return jnp.sum(chosen_q, axis=-1, keepdims=True)
    return mixer_module.apply(mixer_params, chosen_q, global_state)


# ------------------------------------------------------------ TD targets
def n_step_targets(
    rewards: jax.Array, terminated: jax.Array, truncated: jax.Array, next_values: jax.Array, gamma: float
) -> jax.Array:
    """Target for the first step of windows of ``L`` consecutive steps.

    ``rewards[..., L, M]``; ``terminated``/``truncated[..., L]`` of the step that
    produced each next observation; ``next_values[..., L, M]``: the target value
    of each step's next observation (the pre-reset one where an episode ended).
    The discounted sum runs to the window's end or the first episode end and
    bootstraps from that step's ``next_values``; a termination drops the
    bootstrap, a truncation keeps it.
    """
    length = rewards.shape[-2]
    ended = jnp.logical_or(terminated, truncated)[..., None]
    alive = 1.0 - terminated[..., None].astype(rewards.dtype)
    target = next_values[..., length - 1, :]
    for k in reversed(range(length)):
        if k < length - 1:  # an episode that ended at step k bootstraps there, not from the next one
            target = jnp.where(ended[..., k, :], next_values[..., k, :], target)
        target = rewards[..., k, :] + gamma * alive[..., k, :] * target
    return target


RESCALE_EPSILON = 1e-3


def rescale_value(x: jax.Array) -> jax.Array:
    """h(x) = sign(x)(sqrt(|x|+1) - 1) + eps x: a square-root squash that stays invertible."""
    return jnp.sign(x) * (jnp.sqrt(jnp.abs(x) + 1.0) - 1.0) + RESCALE_EPSILON * x


def unrescale_value(y: jax.Array) -> jax.Array:
    """The inverse of :func:`rescale_value`: ``sign(y)(r^2 - 1)`` with ``r = sqrt(|x|+1)`` the positive root of
    ``eps r^2 + r - (|y| + 1 + eps) = 0``. Written without the textbook form's ``(sqrt(1 + 4 eps c) - 1) / 2 eps``
    and ``r^2 - 1``, whose cancellations cost float32 about 1e-4 of a value near 1."""
    eps = RESCALE_EPSILON
    c = jnp.abs(y) + 1.0 + eps
    s = jnp.sqrt(1.0 + 4.0 * eps * c)
    root = 2.0 * c / (s + 1.0)
    root_minus_one = (2.0 * jnp.abs(y) + 1.0 + 2.0 * eps - s) / (s + 1.0)
    return jnp.sign(y) * root_minus_one * (root + 1.0)


def regression_targets(
    rewards: jax.Array,
    terminated: jax.Array,
    truncated: jax.Array,
    next_values: jax.Array,
    gamma: float,
    value_rescale: bool,
) -> jax.Array:
    """:func:`n_step_targets` in the space the networks regress: with ``value_rescale`` the next values are
    h-values, so they are mapped back, the returns summed, and the sum squashed again."""
    if value_rescale:
        next_values = unrescale_value(next_values)
    targets = n_step_targets(rewards, terminated, truncated, next_values, gamma)
    return rescale_value(targets) if value_rescale else targets


def lambda_returns(
    rewards: jax.Array,
    terminated: jax.Array,
    truncated: jax.Array,
    next_values: jax.Array,
    gamma: float,
    td_lambda: float,
) -> jax.Array:
    """Q(lambda) returns of a time-major rollout: ``G[t] = r[t] + gamma (V[t] + lambda (G[t+1] - V[t]))``.

    ``rewards[T, ..., M]``; ``terminated``/``truncated[T, ...]`` of step ``t``; ``next_values[T, ..., M]``: the
    greedy value of the observation after step ``t`` (the pre-reset one where an episode ended). A truncation
    cuts the sum (``G[t] = r[t] + gamma V[t]``) and a termination drops the bootstrap too; after the rollout's
    last step the return is ``V[T-1]`` alone.
    """
    shape = terminated.shape + (1,) * (rewards.ndim - terminated.ndim)
    alive = 1.0 - terminated.reshape(shape).astype(rewards.dtype)
    carries = 1.0 - jnp.logical_or(terminated, truncated).reshape(shape).astype(rewards.dtype)

    def backward(following, step):
        reward, value, alive_t, carry_t = step
        correction = td_lambda * carry_t * (following - value)
        return_t = reward + gamma * alive_t * (value + correction)
        return return_t, return_t

    last = next_values[-1]  # the return beyond the rollout's end is the bootstrap itself: no correction
    _, returns = jax.lax.scan(backward, last, (rewards, next_values, alive, carries), reverse=True)
    return returns


def epsilon_greedy(key: jax.Array, q_values: jax.Array, epsilon: jax.Array) -> jax.Array:
    """int32 action indices for ``q_values[..., N]``: uniform with probability ``epsilon``, else greedy."""
    explore_key, action_key = jax.random.split(key)
    greedy = jnp.argmax(q_values, axis=-1)
    uniform = jax.random.randint(action_key, greedy.shape, 0, q_values.shape[-1])
    explore = jax.random.uniform(explore_key, greedy.shape) < epsilon
    return jnp.where(explore, uniform, greedy).astype(jnp.int32)


# ------------------------------------------------------------ the learner
class QParams(NamedTuple):
    """The Q-network's parameters and the mixer's (an empty dict without a QMIX mixer)."""

    agent: Any
    mixer: Any


class TrainState(NamedTuple):
    """Everything one seed's training carries from update to update."""

    online: QParams
    target: QParams
    opt_state: Any
    buffer: replay.ReplayBuffer
    env_state: Any  # batched EnvState [E]
    obs: jax.Array  # float32[E, A, F]
    running_cost: jax.Array  # float32[E, A], cost of each game's unfinished episode
    env_steps: jax.Array  # int32[], transitions collected (epsilon schedule, learning start)
    num_gradient_steps: jax.Array  # int32[] (target copies)
    key: jax.Array
    hyperparameters: dict[str, jax.Array]  # float32[] each, by TRACED_SETTINGS name


def make_learner(config: ValueBasedConfig) -> Learner:
    """The update for ``config``: every game takes one epsilon-greedy step into the replay buffer, then, once
    the buffer is warm, ``gradient_steps`` TD steps through the config's mixer."""
    game = make_game(config)
    env, env_params, team = game.env, game.params, game.team
    mixer = config.mixer
    num_agents, num_actions, num_envs = env.num_agents, env.config.num_actions, config.num_envs
    learner_ids = np.asarray(team.learner_indices, np.int32)
    hidden = tuple(int(h) for h in config.hidden_sizes)
    q_head = QHead(hidden, num_actions, config.dueling, config.layer_norm)
    q_network = AgentNetwork(q_head, num_agents, config.share_params)
    mixer_module = QMixer(config.mixer_embed_dim, config.hypernet_hidden) if mixer == "qmix" else None
    num_updates = config.total_timesteps // config.env_steps_per_update
    # Adam steps per update: the lr annealing counts them.
    steps_per_update = config.update_epochs * config.num_minibatches if config.pqn else config.gradient_steps
    defaults = {name: float(getattr(config, name)) for name in TRACED_SETTINGS}

    def optimizer_for(hyper):
        """Adam with the global-norm clip, from the settings a train state carries."""
        learning_rate = (
            optax.linear_schedule(hyper["lr"], 0.0, max(num_updates * steps_per_update, 1))
            if config.anneal_lr
            else hyper["lr"]
        )
        return optax.chain(optax.clip_by_global_norm(hyper["max_grad_norm"]), optax.adam(learning_rate, eps=1e-5))

    decay_steps = max(int(config.epsilon_decay_fraction * config.total_timesteps), 1)
    epsilon_schedule = optax.linear_schedule(config.epsilon_start, config.epsilon_end, decay_steps)
    reward_scale = jnp.float32(game.reward_scale)

    def agent_q(agent_params, obs):
        """obs[..., A, F] -> Q[..., A, N]."""
        return q_network.apply(agent_params, with_agent_id(obs, config.agent_id))

    def global_states(env_state):
        return jax.vmap(env.global_state, in_axes=(0, None))(env_state, env_params)

    def init(key, hyperparameters=None):
        hyper = {name: jnp.float32(value) for name, value in {**defaults, **(hyperparameters or {})}.items()}
        agent_key, mixer_key, reset_key, key = jax.random.split(key, 4)
        obs, env_state = vector_env.reset(env, reset_key, env_params, num_envs)
        mixer_params = {}
        if mixer_module is not None:
            mixer_params = mixer_module.init(
                mixer_key, jnp.zeros((len(learner_ids),)), jnp.zeros((env.global_state_dim,))
            )
        online = QParams(agent=q_network.init(agent_key, with_agent_id(obs[0], config.agent_id)), mixer=mixer_params)
        no_action = jnp.zeros((num_envs, num_agents), jnp.int32)
        example = jax.eval_shape(
            lambda: transition_of(
                obs,
                env_state,
                no_action,
                vector_env.vector_step(env, team, reset_key, env_state, no_action, env_params),
            )
        )
        buffer = None if config.pqn else replay.init(example, config.buffer_steps)
        return TrainState(
            online=online,
            target=jax.tree.map(jnp.copy, online),
            opt_state=optimizer_for(hyper).init(online),
            buffer=buffer,
            env_state=env_state,
            obs=obs,
            running_cost=jnp.zeros((num_envs, num_agents), jnp.float32),
            env_steps=jnp.int32(0),
            num_gradient_steps=jnp.int32(0),
            key=key,
            hyperparameters=hyper,
        )

    def transition_of(obs, env_state, action, step):
        """What the buffer stores for one vector step of all games."""
        if mixer == "none":
            reward = step.reward  # [E, A]: the env's reward (team cost unless --no-team-reward)
        else:
            reward = -jnp.sum(step.cost, axis=-1, keepdims=True) * reward_scale  # [E, 1]
        transition = {
            "obs": obs,
            "action": action,
            "reward": reward,
            "next_obs": step.final_obs,
            "terminated": step.terminated,
            "truncated": step.truncated,
        }
        if mixer == "qmix":
            transition["state"] = global_states(env_state)
            transition["next_state"] = global_states(step.final_state)
        return transition

    # -------------------------------------------------------------- loss
    def chosen(q, action):
        """Learners' Q of the given action indices: q[..., A, N], action[..., A] -> [..., n]."""
        return jnp.take_along_axis(q, action[..., None], axis=-1)[..., 0][..., learner_ids]

    def loss_fn(online, target, batch):
        """``batch`` leaves ``[B, L, ...]``: n-step windows starting at the transition being regressed."""
        first = jax.tree.map(lambda x: x[:, 0], batch)
        predicted = mix(
            mixer,
            mixer_module,
            online.mixer,
            chosen(agent_q(online.agent, first["obs"]), first["action"]),
            first.get("state"),
        )
        next_q = agent_q(target.agent, batch["next_obs"])  # [B, L, A, N]
        selector = agent_q(online.agent, batch["next_obs"]) if config.double_q else next_q
        next_action = jnp.argmax(selector, axis=-1).astype(jnp.int32)
        next_values = mix(
            mixer, mixer_module, target.mixer, chosen(next_q, next_action), batch.get("next_state")
        )  # [B, L, M]
        rewards = batch["reward"][..., learner_ids] if mixer == "none" else batch["reward"]
        targets = jax.lax.stop_gradient(
            regression_targets(
                jnp.broadcast_to(rewards, next_values.shape),
                batch["terminated"],
                batch["truncated"],
                next_values,
                config.gamma,
                config.value_rescale,
            )
        )
        td_error = predicted - targets
        if config.huber_delta > 0:
            loss = jnp.mean(optax.huber_loss(td_error, delta=config.huber_delta))
        else:
            loss = jnp.mean(td_error**2)
        return loss, {"loss": loss, "q_taken": jnp.mean(predicted), "td_abs": jnp.mean(jnp.abs(td_error))}

    def learn(state: TrainState, buffer, key):
        optimizer = optimizer_for(state.hyperparameters)

        def gradient_step(carry, step_key):
            online, target, opt_state, count = carry
            batch = replay.sample(buffer, step_key, config.batch_size, config.n_step)
            grads, stats = jax.grad(loss_fn, has_aux=True)(online, target, batch)
            updates, opt_state = optimizer.update(grads, opt_state, online)
            online = optax.apply_updates(online, updates)
            count = count + 1
            copy = count % config.target_update_period == 0
            target = jax.tree.map(lambda o, t: jnp.where(copy, o, t), online, target)
            return (online, target, opt_state, count), stats

        carry = (state.online, state.target, state.opt_state, state.num_gradient_steps)
        carry, stats = jax.lax.scan(gradient_step, carry, jax.random.split(key, config.gradient_steps))
        return carry, jax.tree.map(jnp.mean, stats)

    def skip(state: TrainState, buffer, key):
        zero = jnp.float32(0)
        return (
            (state.online, state.target, state.opt_state, state.num_gradient_steps),
            {"loss": zero, "q_taken": zero, "td_abs": zero},
        )

    # ------------------------------------------------------------ update
    def update(state: TrainState):
        key, act_key, step_key, learn_key = jax.random.split(state.key, 4)
        epsilon = epsilon_schedule(state.env_steps)
        action = epsilon_greedy(act_key, agent_q(state.online.agent, state.obs), epsilon)
        step = vector_env.vector_step(env, team, step_key, state.env_state, action, env_params)
        buffer = replay.add(state.buffer, transition_of(state.obs, state.env_state, action, step))
        done = jnp.logical_or(step.terminated, step.truncated)
        running_cost, finished = metrics.track_episodes(state.running_cost, step.cost, done)
        env_steps = state.env_steps + num_envs
        ready = jnp.logical_and(env_steps >= config.learning_starts, replay.can_sample(buffer, config.n_step))
        ready = for_every_member(ready)  # the counts advance in lockstep over seeds
        (online, target, opt_state, count), stats = jax.lax.cond(ready, learn, skip, state, buffer, learn_key)
        state = TrainState(
            online=online,
            target=target,
            opt_state=opt_state,
            buffer=buffer,
            env_state=step.state,
            obs=step.obs,
            running_cost=running_cost,
            env_steps=env_steps,
            num_gradient_steps=count,
            key=key,
            hyperparameters=state.hyperparameters,
        )
        return state, {**stats, "epsilon": epsilon, "learning": ready.astype(jnp.float32), **finished}

    # ------------------------------------------------------------ PQN
    def pqn_loss(agent_params, mixer_params, minibatch):
        """Squared error of the taken actions' (mixed) values against the minibatch's Q(lambda) returns."""
        predicted = mix(
            mixer,
            mixer_module,
            mixer_params,
            chosen(agent_q(agent_params, minibatch["obs"]), minibatch["action"]),
            minibatch.get("state"),
        )
        td_error = predicted - minibatch["return"]
        loss = jnp.mean(td_error**2)
        return loss, {"loss": loss, "q_taken": jnp.mean(predicted), "td_abs": jnp.mean(jnp.abs(td_error))}

    def pqn_update(state: TrainState):
        """``num_steps`` periods of every game, their Q(lambda) returns from the online network, then
        ``update_epochs`` passes of ``num_minibatches`` Adam steps."""
        key, rollout_key, epoch_key = jax.random.split(state.key, 3)
        online = state.online

        def period(carry, period_key):
            env_state, obs, running_cost, env_steps = carry
            act_key, step_key = jax.random.split(period_key)
            action = epsilon_greedy(act_key, agent_q(online.agent, obs), epsilon_schedule(env_steps))
            step = vector_env.vector_step(env, team, step_key, env_state, action, env_params)
            done = jnp.logical_or(step.terminated, step.truncated)
            running_cost, finished = metrics.track_episodes(running_cost, step.cost, done)
            carry = (step.state, step.obs, running_cost, env_steps + num_envs)
            return carry, (transition_of(obs, env_state, action, step), finished)

        carry = (state.env_state, state.obs, state.running_cost, state.env_steps)
        (env_state, obs, running_cost, env_steps), (rollout, finished) = jax.lax.scan(
            period, carry, jax.random.split(rollout_key, config.num_steps)
        )
        next_q = agent_q(online.agent, rollout["next_obs"])  # [T, E, A, N]
        greedy_next = jnp.max(next_q, axis=-1)[..., learner_ids]  # [T, E, n]
        next_values = mix(mixer, mixer_module, online.mixer, greedy_next, rollout.get("next_state"))  # [T, E, M]
        if config.value_rescale:
            next_values = unrescale_value(next_values)
        rewards = rollout["reward"][..., learner_ids] if mixer == "none" else rollout["reward"]
        returns = lambda_returns(
            jnp.broadcast_to(rewards, next_values.shape),
            rollout["terminated"],
            rollout["truncated"],
            next_values,
            config.gamma,
            config.td_lambda,
        )
        returns = jax.lax.stop_gradient(rescale_value(returns) if config.value_rescale else returns)
        samples = {"obs": rollout["obs"], "action": rollout["action"], "return": returns}
        if mixer == "qmix":
            samples["state"] = rollout["state"]
        optimizer = optimizer_for(state.hyperparameters)

        def epoch(carry, epoch_key):
            def minibatch_step(carry, minibatch):
                params, opt_state = carry
                grads, stats = jax.grad(lambda p: pqn_loss(p.agent, p.mixer, minibatch), has_aux=True)(params)
                updates, opt_state = optimizer.update(grads, opt_state, params)
                return (optax.apply_updates(params, updates), opt_state), stats

            return jax.lax.scan(
                minibatch_step, carry, minibatches_over_games(epoch_key, samples, config.num_minibatches)
            )

        (online, opt_state), stats = jax.lax.scan(
            epoch, (online, state.opt_state), jax.random.split(epoch_key, config.update_epochs)
        )
        state = state._replace(
            online=online,
            target=online,
            opt_state=opt_state,
            env_state=env_state,
            obs=obs,
            running_cost=running_cost,
            env_steps=env_steps,
            num_gradient_steps=state.num_gradient_steps + steps_per_update,
            key=key,
        )
        epsilon = epsilon_schedule(env_steps)
        return state, {**jax.tree.map(jnp.mean, stats), "epsilon": epsilon, **metrics.sum_over_time(finished)}

    def act(agent_params, obs, key):
        """Greedy action indices of one game: obs[A, F] -> int32[A]."""
        return jnp.argmax(agent_q(agent_params, obs), axis=-1).astype(jnp.int32)

    return Learner(
        game=game,
        init=init,
        update=pqn_update if config.pqn else update,
        act=act,
        policy_params=lambda state: state.online.agent,
        num_updates=num_updates,
        env_steps_per_update=config.env_steps_per_update,
        hyperparameters=defaults,
        games_axes={".env_state": 0, ".obs": 0, ".running_cost": 0, ".buffer.data": 1},
    )


def variant(name: str, mixer: str, doc: str) -> tuple[str, type[ValueBasedConfig], Callable, Callable]:
    """``(NAME, Config, make_train, main)`` of the entry point ``python -m algorithms.<name>``: the core with
    one mixer. ``name`` is also the ``--agents`` kind of its learning echelons; ``doc`` is the module's
    docstring, whose first line becomes the CLI's description."""
    if mixer not in MIXERS:
        raise ValueError(f"mixer must be one of {MIXERS}, got {mixer!r}")
    summary = doc.strip().splitlines()[0]
    namespace = {"learner_kind": name, "mixer": mixer, "__doc__": summary, "__module__": __name__}
    config_cls = type("Config", (ValueBasedConfig,), namespace)
    return (name, config_cls, *entry_points(config_cls, make_learner, name, summary))
