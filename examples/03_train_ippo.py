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
# # Training IPPO from Python, and reloading a run
#
# Every learner in `algorithms/` is a pure function: `ippo.make_train(config)` returns `train(key)`, which
# runs the whole training as one compiled program, so training several seeds at once is a `jax.vmap`. This
# notebook trains two seeds of IPPO on `basic`, draws their learning curves, scores the greedy team against
# base-stock, then does the same through the command line (`python -m algorithms.ippo`, run in-process) and
# reloads that run with `algorithms.load_policy`.
#
# To keep the default run to a few minutes on two CPU cores, only the retailer learns, beside base-stock
# co-players (`agents="ppo,base_stock,base_stock,base_stock"`). With every echelon learning
# (`agents=""`, the CLI's default) the team needs tens of millions of steps; the README's results table has
# that run.
#
# **Budget.** Every notebook in `examples/` reads its budget from environment variables named
# `NOTEBOOK_*`, so a test can run it in seconds while a reader gets meaningful numbers from the defaults.
# This one reads:
#
# | variable | default | what it sets |
# |---|---|---|
# | `NOTEBOOK_TIMESTEPS` | `1048576` | env steps (periods of one game) per seed, for each of the two trainings |
# | `NOTEBOOK_NUM_ENVS` | `512` | games played in parallel per seed |
# | `NOTEBOOK_EPISODES` | `1000` | evaluation episodes (the base-stock search uses at most 100) |
# | `NOTEBOOK_OUTPUT_DIR` | `examples/output` | where the figures and the CLI's run directory go |
#
# The notebook works from the repository root (it changes into it), so the optimised base-stock levels are
# cached in `runs/.cache`, where the command-line runs keep theirs.

# %%
import json
import os
import time
from pathlib import Path

import jax
import matplotlib.pyplot as plt
import numpy as np

import algorithms
import jaxbeer
from algorithms import ippo
from algorithms.common import evaluation
from algorithms.common.loop import eval_keys
from algorithms.common.team import team_policy

TIMESTEPS = int(os.environ.get("NOTEBOOK_TIMESTEPS", "1048576"))
NUM_ENVS = int(os.environ.get("NOTEBOOK_NUM_ENVS", "512"))
EPISODES = int(os.environ.get("NOTEBOOK_EPISODES", "1000"))
ROOT = next((p for p in (Path.cwd(), *Path.cwd().parents) if (p / "jaxbeer").is_dir()), Path.cwd())
os.chdir(ROOT)
OUTPUT_DIR = Path(os.environ.get("NOTEBOOK_OUTPUT_DIR", ROOT / "examples" / "output")).resolve()
OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
print(f"{TIMESTEPS} env steps per seed, {NUM_ENVS} games, {EPISODES} evaluation episodes; output in {OUTPUT_DIR}")

# %% [markdown]
# ## A config
#
# `ippo.Config` holds every flag of the CLI as a dataclass field (the CLI is generated from it), with the
# defaults the module docstring explains. The command line validates its flags; from Python call
# `validate()` yourself, which raises a `ConfigError` naming the flag.

# %%
AGENTS = "ppo,base_stock,base_stock,base_stock"
SETTINGS = dict(
    scenario="basic",
    agents=AGENTS,
    num_envs=NUM_ENVS,
    num_steps=64,
    num_minibatches=4,
    total_timesteps=TIMESTEPS,
    eval_episodes=EPISODES,
    base_stock_episodes=min(EPISODES, 100),
)
config = ippo.Config(**SETTINGS)
config.validate()
print(
    f"{config.total_timesteps // (config.num_envs * config.num_steps)} updates of "
    f"{config.num_envs} games x {config.num_steps} periods, action mode {config.action_mode}"
)

# %% [markdown]
# ## Two seeds in one program
#
# `make_train(config)` builds the game first: the env, the team and the optimised base-stock levels the
# co-players play (`jaxbeer.optimize_base_stock`, run once per scenario and cached). `train(key)` returns the
# final training state and the per-update metrics, stacked along a leading seed axis by the `vmap`.

# %%
train = jax.jit(jax.vmap(ippo.make_train(config)))
seed_keys = jax.random.split(jax.random.key(0), 2)
start = time.perf_counter()
final_state, metrics = jax.block_until_ready(train(seed_keys))
print(f"trained 2 seeds in {time.perf_counter() - start:.1f} s (compilation included)")
print({name: value.shape for name, value in metrics.items()})

# %% [markdown]
# Metrics whose name starts with `episode_` are sums over the training episodes that finished during an
# update (`episodes` counts them), so the mean team cost of those episodes is their ratio. Games start at
# staggered periods and partial first episodes do not count, so the earliest updates may have none.
# The costs are those of the *sampled* actions the learner explores with.

# %%
learner = ippo.make_learner(config)  # the same game (its base-stock levels now come from the cache)
game = learner.game
episodes = np.asarray(metrics["episodes"])
cost_sums = np.asarray(metrics["episode_agent_cost_sum"]).sum(axis=-1)
with np.errstate(invalid="ignore", divide="ignore"):
    training_cost = np.where(episodes > 0, cost_sums / episodes, np.nan)  # [seeds, updates]
env_steps = (np.arange(episodes.shape[1]) + 1) * config.num_envs * config.num_steps

base_stock_team = game.team.replace_learners("base_stock").heuristics()  # every seat base-stock
base_stock = jaxbeer.evaluate(game.env, game.params, base_stock_team, jax.random.PRNGKey(1), EPISODES)

fig, ax = plt.subplots(figsize=(7, 4.2))
for seed, costs in enumerate(training_cost):
    ax.plot(env_steps, costs, marker=".", label=f"seed {seed}, training episodes")
ax.axhline(base_stock["team_cost_mean"], color="k", ls="--", label="all base-stock")
ax.set_xlabel("env steps per seed")
ax.set_ylabel("team cost per episode")
ax.set_yscale("log")
ax.set_title(f"IPPO on basic, team {AGENTS}")
ax.grid(True, alpha=0.3)
ax.legend()
fig.tight_layout()
CURVE_FIGURE = OUTPUT_DIR / "03_learning_curve.png"
fig.savefig(CURVE_FIGURE, dpi=110)
plt.show()

# %% [markdown]
# ## The greedy team against base-stock
#
# `team_policy` wraps the learner's greedy `act` and the team's heuristic seats into one `jaxbeer.Policy`,
# whose parameters are the actor's weights, so `jaxbeer.evaluate`, the one evaluation path, scores it like
# any heuristic. Both seeds and base-stock play the same episodes (the same key).

# %%
actor_params = jax.vmap(learner.policy_params)(final_state)  # leaves with a leading seed axis
greedy = []
for seed in range(2):
    weights = jax.tree.map(lambda leaf, seed=seed: leaf[seed], actor_params)
    policy = team_policy(game.env, game.team, learner.act, weights)
    greedy.append(jaxbeer.evaluate(game.env, game.params, policy, jax.random.PRNGKey(1), EPISODES))
print(f"base-stock levels {list(game.team.base_stock_levels)}")
print(f"all base-stock     {base_stock['team_cost_mean']:8.1f} ± {base_stock['team_cost_se']:.1f}")
for seed, result in enumerate(greedy):
    gap = result["team_cost_mean"] / base_stock["team_cost_mean"] - 1
    print(f"greedy, seed {seed}   {result['team_cost_mean']:8.1f} ± {result['team_cost_se']:.1f}  ({gap:+.1%})")

# %% [markdown]
# In `order_up_to` mode the retailer's action is its target inventory position, so a retailer that always
# picks the same target *is* a base-stock retailer; with the default budget the greedy retailers end at or
# within a few percent of the base-stock team. The training episodes above cost more because their actions
# are sampled, exploration included. How close one seed gets varies from seed to seed (the CLI run below is
# another seed).
#
# ## The same through the command line, and back
#
# `ippo.main(argv)` is `python -m algorithms.ippo`: it trains in chunks, evaluating and checkpointing after
# each, and writes `config.json`, `log.jsonl`, checkpoints and `results.json` (the cost table on fresh
# episodes) to its run directory. `--no-plots` leaves out its PNGs; this notebook draws its own.

# %%
RUN_DIR = OUTPUT_DIR / "03_ippo_run"
flags = {**SETTINGS, "num_chunks": 4}  # the Python config's settings, as flags; one seed (the default)
argv = [part for name, value in flags.items() for part in (f"--{name.replace('_', '-')}", str(value))]
argv += ["--no-progress", "--no-plots", "--overwrite", "--run-dir", str(RUN_DIR)]
print("python -m algorithms.ippo " + " ".join(argv))
run_dir = ippo.main(argv)  # the run directory

# %% [markdown]
# `log.jsonl` has one record per chunk: training metrics and the greedy team's cost on fixed evaluation
# episodes, beside base-stock's on the same ones.

# %%
log = [json.loads(line) for line in (RUN_DIR / "log.jsonl").read_text().splitlines()]
fig, ax = plt.subplots(figsize=(7, 4.2))
ax.plot([r["env_steps"] for r in log], [r["eval_team_cost"] for r in log], marker="s", label="greedy, per chunk")
ax.axhline(log[-1]["base_stock_eval_team_cost"], color="k", ls="--", label="all base-stock")
ax.set_xlabel("env steps")
ax.set_ylabel("team cost per evaluation episode")
ax.set_yscale("log")
ax.set_title("the CLI run's chunk evaluations")
ax.grid(True, alpha=0.3)
ax.legend()
fig.tight_layout()
RUN_CURVE_FIGURE = OUTPUT_DIR / "03_run_chunk_evaluations.png"
fig.savefig(RUN_CURVE_FIGURE, dpi=110)
plt.show()

# %% [markdown]
# `algorithms.load_policy(run_dir)` turns the run directory back into a `jaxbeer` policy with the env it
# trained on (`which="best"` takes the chunk with the lowest evaluation cost instead of the last;
# `seed=` picks one of `--num-seeds`). Evaluated with the run's own final key
# (`eval_keys(config.seed)[1]`) on `config.eval_episodes` episodes it reproduces the `learned (greedy)` row
# of `results.json` exactly. The same `loaded.policy` can sit as the co-players of a Gymnasium seat.

# %%
loaded = algorithms.load_policy(RUN_DIR)
print(f"{loaded.algorithm}, team {loaded.kinds}, after chunk {loaded.chunk}")
final_key = eval_keys(loaded.config.seed)[1]
reloaded = jaxbeer.evaluate(loaded.env, loaded.params, loaded.policy, final_key, loaded.config.eval_episodes)
rows = json.loads((RUN_DIR / "results.json").read_text())["rows"]
print(evaluation.format_table(rows))
row = next(r for r in rows if r["label"] == "learned (greedy)")
print(f"\nreloaded {reloaded['team_cost_mean']:.3f}, results.json {row['team_cost_mean']:.3f}")

# %% [markdown]
# ## What this notebook claims, checked

# %%
# Two seeds, one metric row per update; every training number and every evaluation is finite.
assert all(np.asarray(value).shape[:2] == (2, episodes.shape[1]) for value in metrics.values())
assert all(np.all(np.isfinite(np.asarray(value))) for value in metrics.values())
assert all(np.isfinite(r["team_cost_mean"]) and r["team_cost_mean"] > 0 for r in (*greedy, base_stock))
# The vmap trained two independent seeds: their final weights differ.
first_leaf = np.asarray(jax.tree.leaves(actor_params)[0])
assert not np.array_equal(first_leaf[0], first_leaf[1])
# The reloaded policy reproduces the run's own results row exactly.
assert run_dir == RUN_DIR and loaded.kinds == tuple(AGENTS.split(",")) and loaded.chunk == len(log)
assert reloaded["team_cost_mean"] == row["team_cost_mean"]
np.testing.assert_allclose(reloaded["agent_cost_mean"], row["agent_cost_mean"], rtol=0, atol=1e-3)
assert CURVE_FIGURE.is_file() and RUN_CURVE_FIGURE.is_file()
print("all checks passed")
