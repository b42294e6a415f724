"""Stable-Baselines3 PPO (PyTorch) on the Gymnasium adapter: a learned retailer beside base-stock co-players.

    pip install torch==2.13.0        # or any CPU build: https://pytorch.org/get-started/locally/
    pip install -e '.[sb3]'
    python examples/sb3_ppo.py --timesteps 20000

It trains SB3's PPO on ``jaxbeer/BeerGame-v0`` (the retailer's seat, every
other echelon base-stock at the scenario's literature levels, team reward),
then plays the greedy retailer and a base-stock retailer on the same seeded
episodes and prints both team costs. With a few thousand steps PPO is far
from base-stock; the point is the plumbing: the adapter is an ordinary
``gymnasium.Env`` that SB3's own ``check_env`` accepts.
"""

from __future__ import annotations

import argparse

import gymnasium
import numpy as np
from stable_baselines3 import PPO
from stable_baselines3.common.env_checker import check_env

import jaxbeer.adapters.gymnasium_env  # noqa: F401 - registers jaxbeer/BeerGame-v0


def team_cost(env: gymnasium.Env, act, seeds: range) -> float:
    """Mean team cost per episode over ``seeds``, the retailer choosing by ``act(obs)``."""
    totals = []
    for seed in seeds:
        obs, _ = env.reset(seed=seed)
        total, done = 0.0, False
        while not done:
            obs, _, terminated, truncated, info = env.step(act(obs))
            total += float(info["cost"].sum())
            done = terminated or truncated
        totals.append(total)
    return float(np.mean(totals))


def main(argv: list[str] | None = None) -> dict[str, float]:
    """Train, evaluate, print; returns the two team costs."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timesteps", type=int, default=20_000, help="PPO training steps (periods)")
    parser.add_argument("--scenario", default="basic", help="jaxbeer scenario")
    parser.add_argument("--horizon", type=int, default=0, help="periods per episode (0: the scenario's)")
    parser.add_argument("--episodes", type=int, default=20, help="evaluation episodes")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.timesteps < 1 or args.episodes < 1:
        parser.error("--timesteps and --episodes must be >= 1")
    overrides = {"horizon": args.horizon} if args.horizon else {}
    env = gymnasium.make("jaxbeer/BeerGame-v0", scenario=args.scenario, seat="retailer", **overrides)
    check_env(env.unwrapped)
    model = PPO("MlpPolicy", env, n_steps=256, batch_size=64, seed=args.seed, verbose=0)
    model.learn(total_timesteps=args.timesteps)

    seeds = range(10_000 + args.seed, 10_000 + args.seed + args.episodes)
    learned = team_cost(env, lambda obs: int(model.predict(obs, deterministic=True)[0]), seeds)
    # The base-stock retailer through the same adapter, in absolute mode so that its order is its action.
    reference = gymnasium.make(
        "jaxbeer/BeerGame-v0", scenario=args.scenario, seat="retailer", action_mode="absolute", **overrides
    ).unwrapped
    base_stock = jaxbeer.policies.base_stock(jaxbeer.literature_levels(args.scenario))

    def base_stock_action(obs):
        return int(base_stock(None, reference.state, reference.game.params)[0])

    base = team_cost(reference, base_stock_action, seeds)
    print(f"SB3 PPO retailer, {args.timesteps} steps: team cost {learned:.1f} per episode")
    print(f"base-stock retailer, same co-players and episodes: {base:.1f}")
    return {"sb3_ppo": learned, "base_stock": base}


if __name__ == "__main__":
    main()
