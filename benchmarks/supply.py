"""Products, transport modes and lost sales: the step's speed and the reference policies a learner must beat.

    python -m benchmarks.supply                         # both parts, the defaults below
    python -m benchmarks.supply --parts speed --repeats 9

**speed**: env steps/s of ``jit(vmap(step_orders))`` inside ``lax.scan`` under
a base-stock team, ``--num-games`` games, compile excluded. The
single-product ``BeerGame`` and ``SupplyChainGame`` with one product and one
mode play the same game (the tests check it period for period), timed
alternately in this run, so their ratio is fair on a shared machine; then
games with more products, modes and capacity.

**references**: on ``basic`` variants, the best levels of each reference
policy by ``jaxbeer.supply_policies.optimize_levels`` on ``--search-episodes``
episodes, then every policy's team cost on ``--episodes`` fresh episodes
(common random numbers, mean and standard error):

* two products (demand uniform on 0..2 and on 0..4), with no shared
  capacity and with a production capacity of ``--capacity`` units per period
  under each allocation rule: base-stock per echelon and product;
* two modes, a fast one (every lead 1, production 2, ``--fast-cost`` per
  unit) before the regular one (the scenario's leads, free): the best
  single-mode base-stock by each mode, and the best dual index;
* lost sales at ``--lost-sales-cost`` per unit, beside the backlog game.

The JSON (``benchmarks/results/``) records the machine; ``--markdown`` also
writes the tables ``docs/supply.md`` quotes.
"""

from __future__ import annotations

import dataclasses
import functools
import sys
import time
from pathlib import Path
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

import jaxbeer
from algorithms.common.config import ConfigError, check_int_flag, parse_checked_flags
from benchmarks import harness
from jaxbeer import supply_policies
from jaxbeer.rollouts import episode_costs

PARTS = ("speed", "references")


@dataclasses.dataclass
class Args:
    """Flags of ``python -m benchmarks.supply``."""

    parts: tuple[str, ...] = PARTS
    """speed and/or references."""
    num_games: int = 4096
    """Games stepped at once in the speed part."""
    steps: int = 200
    """Periods per timed call."""
    repeats: int = 5
    """Timed calls per game kind (alternating between kinds); the median is reported."""
    search_episodes: int = 100
    """Episodes every candidate is scored on in the searches."""
    episodes: int = 1000
    """Fresh episodes each found policy is evaluated on."""
    capacity: int = 4
    """Production capacity (units per period over both products) of the capacitated rows."""
    fast_cost: float = 1.0
    """Cost per unit shipped by the fast mode."""
    lost_sales_cost: float = 20.0
    """Cost per unit of lost customer demand."""
    max_level: int = 30
    """Largest base-stock level searched (basic's demand is at most 4 a period)."""
    seed: int = 0
    """Root of the search and evaluation keys."""
    out: str = ""
    """JSON path; empty: benchmarks/results/supply-<backend>-<time>.json."""
    markdown: str = ""
    """Also write the tables as markdown to this path (empty: do not)."""

    def validate(self) -> None:
        """Raise ``ConfigError`` naming the flag and what it allows."""
        unknown = [part for part in self.parts if part not in PARTS]
        if unknown or not self.parts:
            raise ConfigError(f"--parts must be among {list(PARTS)}, got {list(self.parts)}")
        for name, low in (
            ("num_games", 1),
            ("steps", 1),
            ("repeats", 1),
            ("search_episodes", 1),
            ("episodes", 2),
            ("capacity", 0),
            ("max_level", 1),
        ):
            check_int_flag(name, getattr(self, name), low)
        for name in ("fast_cost", "lost_sales_cost"):
            value = getattr(self, name)
            if not np.isfinite(value) or value < 0:
                raise ConfigError(f"--{name.replace('_', '-')} must be finite and >= 0, got {value}")


# -------------------------------------------------------------------- speed
def _speed_run(env, params, policy, num_games: int, steps: int):
    """A jitted ``run(key) -> rewards`` of ``steps`` periods of ``num_games`` games under ``policy``."""
    step = jax.vmap(env.step_orders, in_axes=(0, 0, 0, None))
    orders_of = jax.vmap(policy, in_axes=(None, 0, None))

    @jax.jit
    def run(key, state):
        def period(carry, period_key):
            state, total = carry
            orders = orders_of(None, state, params)
            obs, state, reward, _, _, _ = step(jax.random.split(period_key, num_games), state, orders, params)
            return (state, total + reward.sum() + obs.sum()), None

        return jax.lax.scan(period, (state, jnp.float32(0)), jax.random.split(key, steps))[0][1]

    _, state = jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(jax.random.key(1), num_games), params)
    return lambda: run(jax.random.key(2), state)


def speed(args: Args) -> list[dict]:
    """Rows of env steps/s; the first two (BeerGame, SupplyChainGame with P = M = 1) share one game."""
    beer_env, beer_params = jaxbeer.make("basic")
    levels = jaxbeer.literature_levels("basic")
    kinds = {
        "BeerGame (jaxbeer.make)": _speed_run(
            beer_env, beer_params, jaxbeer.policies.base_stock(levels), args.num_games, args.steps
        )
    }
    variants = {
        "SupplyChainGame P=1 M=1": {},
        "P=2": {"products": 2},
        "P=4": {"products": 4},
        "P=1 M=2": {"modes": [{"shipment_lead": [1, 1, 1, 2], "cost": args.fast_cost}, {}]},
        "P=2 M=2, capacity": {
            "products": 2,
            "modes": [{"shipment_lead": [1, 1, 1, 2], "cost": args.fast_cost}, {}],
            "production_capacity": args.capacity,
            "shipping_capacity": 2 * args.capacity,
        },
        "P=1 lost sales": {"lost_sales": True, "lost_sales_cost": args.lost_sales_cost},
    }
    for name, settings in variants.items():
        env, params = jaxbeer.make_supply("basic", **settings)
        shape = (env.config.num_agents, env.config.num_products)
        policy = supply_policies.product_base_stock(env, np.broadcast_to(levels[:, None], shape).astype(np.int32))
        kinds[name] = _speed_run(env, params, policy, args.num_games, args.steps)
    for run in kinds.values():
        jax.block_until_ready(run())  # compile every kind before any is timed
    seconds = {name: [] for name in kinds}
    for _ in range(args.repeats):
        for name, run in kinds.items():
            seconds[name].extend(harness.time_calls(run, 1))
    work = args.num_games * args.steps
    rows = []
    beer = harness.rate_summary(work, seconds["BeerGame (jaxbeer.make)"])["median"]
    for name in kinds:
        rate = harness.rate_summary(work, seconds[name])
        rows.append({"game": name, "env_steps_per_s": rate, "vs_beer_game": rate["median"] / beer})
        print(f"  {name}: {rate['median']:,.0f} env steps/s ({rate['median'] / beer:.2f}x BeerGame)", file=sys.stderr)
    return rows


# --------------------------------------------------------------- references
@functools.partial(jax.jit, static_argnames=("env", "num_episodes"))
def _episode_team_costs(env, params, policy, key, num_episodes):
    """float32[num_episodes]: each episode's team cost."""
    return episode_costs(env, params, policy, key, num_episodes).sum(axis=-1)


def _row(case: str, policy_name: str, env, params, policy, found: dict, search_cost: float, key, args) -> dict:
    costs = np.asarray(_episode_team_costs(env, params, policy, key, args.episodes), np.float64)
    row = {
        "case": case,
        "policy": policy_name,
        "levels": {name: np.asarray(value).tolist() for name, value in found.items()},
        "search_cost": search_cost,
        "cost_mean": float(costs.mean()),
        "cost_se": float(costs.std(ddof=1) / np.sqrt(costs.size)),
    }
    print(f"  {case} / {policy_name}: {row['cost_mean']:.1f} ± {row['cost_se']:.1f}", file=sys.stderr, flush=True)
    return row


def references(args: Args) -> list[dict]:
    """Rows of best reference policies, each evaluated on the same fresh episodes of its game."""
    search_key, eval_key = jax.random.split(jax.random.key(args.seed))
    search = functools.partial(
        supply_policies.optimize_levels, key=search_key, num_episodes=args.search_episodes, max_level=args.max_level
    )
    rows = []
    two_products = {"products": [{"demand_high": 2}, {"demand_high": 4}]}
    independent = None
    for case, settings in (
        ("two products, no shared capacity", {}),
        (f"two products, production capacity {args.capacity}, proportional", {"allocation": "proportional"}),
        (f"two products, production capacity {args.capacity}, priority", {"allocation": "priority"}),
    ):
        if settings:
            settings = {**settings, "production_capacity": args.capacity}
        env, params = jaxbeer.make_supply("basic", **two_products, **settings)
        found, cost = search(env, params, start=independent)
        rows.append(
            _row(
                case,
                "base-stock per echelon and product",
                env,
                params,
                supply_policies.product_base_stock(env, found["levels"]),
                found,
                cost,
                eval_key,
                args,
            )
        )
        if independent is None:
            independent = found
        else:  # what ignoring the capacity costs: the uncapacitated optimum played under it
            policy = supply_policies.product_base_stock(env, independent["levels"])
            rows.append(
                _row(
                    case,
                    "uncapacitated optimum, played here",
                    env,
                    params,
                    policy,
                    independent,
                    float("nan"),
                    eval_key,
                    args,
                )
            )

    modes = [{"shipment_lead": [1, 1, 1, 2], "cost": args.fast_cost}, {}]
    env, params = jaxbeer.make_supply("basic", modes=modes)
    case = f"two modes (fast: leads 1, production 2, {args.fast_cost:g} per unit; regular: basic's, free)"
    by_mode = {}
    for mode, label in ((0, "base-stock, fast mode only"), (1, "base-stock, regular mode only")):
        found, cost = search(env, params, mode=mode)
        by_mode[mode] = found
        rows.append(
            _row(
                case,
                label,
                env,
                params,
                supply_policies.product_base_stock(env, found["levels"], mode),
                found,
                cost,
                eval_key,
                args,
            )
        )
    start = {"fast_levels": np.full_like(by_mode[1]["levels"], -args.max_level), "regular_levels": by_mode[1]["levels"]}
    found, cost = search(env, params, policy="dual_index", start=start)
    rows.append(
        _row(
            case,
            "dual index",
            env,
            params,
            supply_policies.dual_index(env, found["fast_levels"], found["regular_levels"]),
            found,
            cost,
            eval_key,
            args,
        )
    )

    for case, settings in (
        ("backlog (basic)", {}),
        (
            f"lost sales at {args.lost_sales_cost:g} per unit",
            {"lost_sales": True, "lost_sales_cost": args.lost_sales_cost},
        ),
    ):
        env, params = jaxbeer.make_supply("basic", **settings)
        found, cost = search(env, params)
        rows.append(
            _row(
                case,
                "base-stock",
                env,
                params,
                supply_policies.product_base_stock(env, found["levels"]),
                found,
                cost,
                eval_key,
                args,
            )
        )
    return rows


# --------------------------------------------------------------------- main
def markdown(payload: dict) -> str:
    """The tables of ``payload`` as markdown."""
    lines = []
    if payload.get("speed"):
        lines += ["| game | env steps/s (median) | vs BeerGame |", "|---|---:|---:|"]
        for row in payload["speed"]:
            lines.append(f"| {row['game']} | {row['env_steps_per_s']['median']:,.0f} | {row['vs_beer_game']:.2f}x |")
        lines.append("")
    if payload.get("references"):
        lines += ["| game | policy | levels | team cost (mean ± se) |", "|---|---|---|---:|"]
        for row in payload["references"]:
            levels = "; ".join(f"{name}: {np.asarray(value).T.tolist()}" for name, value in row["levels"].items())
            lines.append(
                f"| {row['case']} | {row['policy']} | {levels} | {row['cost_mean']:.1f} ± {row['cost_se']:.1f} |"
            )
        lines.append("")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> dict:
    """Run the chosen parts, print the tables, write the JSON (and markdown); return the payload."""
    args = parse_checked_flags(Args, argv, __doc__.splitlines()[0])
    started = time.perf_counter()
    payload = {"benchmark": "supply", "config": dataclasses.asdict(args), "machine": harness.machine_info()}
    if "speed" in args.parts:
        payload["speed"] = speed(args)
    if "references" in args.parts:
        payload["references"] = references(args)
    payload["wall_s"] = time.perf_counter() - started
    text = markdown(payload)
    print(text)
    harness.write_result(Path(args.out) if args.out else harness.default_output("supply"), payload)
    if args.markdown:
        Path(args.markdown).write_text(text)
    return payload


if __name__ == "__main__":
    main()
