# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # The beer game from PyTorch, through Gymnasium
#
# **This notebook needs PyTorch**, which the project itself does not depend on:
# `pip install torch==2.13.0`, the version it was checked with. Without torch its first code cell stops
# with that instruction.
#
# `jaxbeer.adapters.gymnasium_env` puts one seat of the JAX game behind the Gymnasium API, with the other
# echelons played by co-players, and a vector env that steps many games in one vmapped JAX call. Any
# Gymnasium learner can use them; here a few lines of PyTorch train the retailer with REINFORCE beside
# base-stock co-players, and the result is compared with random play and with the retailer playing
# base-stock itself.
#
# **Budget.** Every notebook in `examples/` reads its budget from environment variables named
# `NOTEBOOK_*`, so a test can run it in seconds while a reader gets meaningful numbers from the defaults.
# This one reads:
#
# | variable | default | what it sets |
# |---|---|---|
# | `NOTEBOOK_EPISODES` | `100` | REINFORCE updates, each on one whole episode of every game |
# | `NOTEBOOK_NUM_ENVS` | `256` | games in the vector env |
# | `NOTEBOOK_OUTPUT_DIR` | `examples/output` | where the figure is written (it is also shown inline) |
#
# With the defaults the training takes under a minute on two CPU cores.

# %%
import os
import time
from pathlib import Path

try:
    import torch
except ImportError as error:
    raise ImportError("this notebook needs PyTorch: pip install torch==2.13.0") from error
import gymnasium
import matplotlib.pyplot as plt
import numpy as np
from gymnasium.utils.env_checker import check_env

import jaxbeer.adapters.gymnasium_env  # noqa: F401  (the import registers "jaxbeer/BeerGame-v0")

EPISODES = int(os.environ.get("NOTEBOOK_EPISODES", "100"))
NUM_ENVS = int(os.environ.get("NOTEBOOK_NUM_ENVS", "256"))
ROOT = next((p for p in (Path.cwd(), *Path.cwd().parents) if (p / "jaxbeer").is_dir()), Path.cwd())
OUTPUT_DIR = Path(os.environ.get("NOTEBOOK_OUTPUT_DIR", ROOT / "examples" / "output"))
OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
print(f"torch {torch.__version__}, gymnasium {gymnasium.__version__}; {EPISODES} updates of {NUM_ENVS} games")

# %% [markdown]
# ## One seat
#
# `seat` is the echelon you play (an index or `retailer` .. `manufacturer`), `co_players` who plays the
# others: a heuristic's name, one name per echelon, or any `jaxbeer.Policy`, such as a trained team from
# `algorithms.load_policy(run).policy`. Other keywords go to `jaxbeer.make`; `action_mode="order_up_to"`
# makes an action the target inventory position (0..16 here), the mode the project's PPO learners use.
# Gymnasium's own `check_env` runs its API checks (it warns that the observation space is unbounded above,
# which it is: backlogs can grow without limit).

# %%
SETTINGS = dict(scenario="basic", seat="retailer", co_players="base_stock", action_mode="order_up_to")
env = gymnasium.make("jaxbeer/BeerGame-v0", **SETTINGS)
print(env)
print(f"observation {env.observation_space}, action {env.action_space}")
check_env(env.unwrapped)

# %% [markdown]
# A random retailer for one episode. The reward is minus the team's cost in that period (times the scenario's
# `reward_scale`, 1 here), and `info` carries the period's per-echelon numbers as NumPy arrays. Episodes end
# by truncation at the horizon.

# %%
obs, info = env.reset(seed=0)
env.action_space.seed(0)
total_reward, team_cost, periods = 0.0, 0.0, 0
while True:
    obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
    total_reward += reward
    team_cost += float(info["cost"].sum())
    periods += 1
    if terminated or truncated:
        break
print(f"{periods} periods, return {total_reward:.1f}, team cost {team_cost:.1f}")
print(f"last period's net inventory {info['net_inventory'].tolist()}, orders {info['orders'].tolist()}")

# %% [markdown]
# ## Many games at once
#
# `make_vec(..., vectorization_mode="vector_entry_point")` builds the adapter's own vector env: all games in
# one jitted JAX step, returning batched NumPy arrays. It resets a game in the same step that ends it (the
# finished episode's last observation is in `info["final_obs"]`); here all games start together, so they all
# end together, after `horizon` steps.

# %%
vec = gymnasium.make_vec("jaxbeer/BeerGame-v0", num_envs=NUM_ENVS, vectorization_mode="vector_entry_point", **SETTINGS)
HORIZON = vec.unwrapped.game.env.config.horizon
NUM_ACTIONS = int(vec.single_action_space.n)
OBS_DIM = vec.single_observation_space.shape[0]
print(vec, vec.single_observation_space, vec.single_action_space, f"horizon {HORIZON}")


def play(choose, seed: int) -> tuple[list, np.ndarray, dict]:
    """One episode of every game from ``reset(seed=seed)``; ``choose(obs) -> (actions, log_probs or None)``.

    Returns the log-probabilities per period, the rewards ``[horizon, games]`` and the last step's ``info``.
    """
    obs, _ = vec.reset(seed=seed)
    log_probs, rewards = [], []
    for _ in range(HORIZON):
        actions, log_prob = choose(obs)
        obs, reward, terminated, truncated, info = vec.step(actions)
        log_probs.append(log_prob)
        rewards.append(reward)
    assert truncated.all() and not terminated.any() and info["_final_obs"].all()
    return log_probs, np.stack(rewards), info


# %% [markdown]
# ## REINFORCE in a few lines of PyTorch
#
# A small network maps the retailer's observation (log-scaled counts) to logits over the 17 targets. Each
# update plays one episode of every game with sampled actions, and raises the log-probability of each action
# in proportion to the return that followed it, measured against the other games' returns from the same
# period (a baseline that removes most of the noise from demand).

# %%
torch.manual_seed(0)
network = torch.nn.Sequential(torch.nn.Linear(OBS_DIM, 32), torch.nn.Tanh(), torch.nn.Linear(32, NUM_ACTIONS))
optimizer = torch.optim.Adam(network.parameters(), lr=0.03)


def logits(obs: np.ndarray) -> torch.Tensor:
    return network(torch.as_tensor(np.log1p(obs), dtype=torch.float32))


def sample(obs):
    distribution = torch.distributions.Categorical(logits=logits(obs))
    actions = distribution.sample()
    return actions.numpy(), distribution.log_prob(actions)


history = []
start = time.perf_counter()
for update in range(EPISODES):
    log_probs, rewards, _ = play(sample, seed=1000 + update)
    returns = np.flip(np.cumsum(np.flip(rewards, 0), 0), 0).copy()  # return from each period on, [T, games]
    advantages = (returns - returns.mean(axis=1, keepdims=True)) / (returns.std(axis=1, keepdims=True) + 1e-8)
    loss = -(torch.stack(log_probs) * torch.as_tensor(advantages, dtype=torch.float32)).mean()
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    history.append(float(-rewards.sum(axis=0).mean()))  # mean team cost of this update's episodes
print(f"{EPISODES} updates in {time.perf_counter() - start:.1f} s; team cost {history[0]:.1f} -> {history[-1]:.1f}")

# %% [markdown]
# ## The greedy retailer against random play and base-stock
#
# All three play the same episodes (the same seed). In `order_up_to` mode a retailer that always picks 8 is
# exactly the base-stock retailer with the scenario's literature level, so "base-stock" below is the whole
# team playing base-stock.

# %%
random_actions = np.random.default_rng(0)
with torch.no_grad():
    candidates = {
        "random": lambda obs: (random_actions.integers(0, NUM_ACTIONS, len(obs)), None),
        "base-stock (target 8)": lambda obs: (np.full(len(obs), 8), None),
        "REINFORCE, greedy": lambda obs: (logits(obs).argmax(-1).numpy(), None),
    }
    costs = {name: float(-play(choose, seed=7)[1].sum(axis=0).mean()) for name, choose in candidates.items()}
for name, cost in costs.items():
    print(f"{name:<24}{cost:8.1f}")

fig, ax = plt.subplots(figsize=(7, 4.2))
ax.plot(np.arange(1, EPISODES + 1), history, marker=".", label="REINFORCE, sampled actions")
for (name, cost), style in zip(costs.items(), ("r:", "k--", "g-.")):
    ax.axhline(cost, color=style[0], ls=style[1:], label=name)
ax.set_xlabel("update (one episode of every game)")
ax.set_ylabel("mean team cost per episode")
ax.set_title(f"basic: a learned retailer, base-stock co-players ({NUM_ENVS} games)")
ax.legend()
fig.tight_layout()
FIGURE = OUTPUT_DIR / "05_reinforce.png"
fig.savefig(FIGURE, dpi=110)
plt.show()

# %% [markdown]
# With the default budget the greedy retailer ends far below random play and at or near the base-stock
# retailer, which it has in effect rediscovered: one fixed target.
#
# ## What this notebook claims, checked

# %%
# The reward is minus the team's cost (reward_scale is 1 in basic), and an episode is `horizon` periods.
assert periods == HORIZON and np.isclose(total_reward, -team_cost, rtol=1e-5)
assert len(history) == EPISODES and np.all(np.isfinite(history)) and all(np.isfinite(list(costs.values())))
if EPISODES >= 100 and NUM_ENVS >= 256:  # what the default budget shows (too few updates prove nothing)
    assert costs["REINFORCE, greedy"] < costs["random"]
    assert costs["REINFORCE, greedy"] <= 1.05 * costs["base-stock (target 8)"]
assert FIGURE.is_file()
print("all checks passed")
