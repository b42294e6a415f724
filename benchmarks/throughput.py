"""Throughput suite: jaxbeer beside the NumPy reference, the learners and installed peers, in one run.

    python -m benchmarks.throughput                         # the full suite (a few minutes on 2 CPU cores)
    python -m benchmarks.throughput --learners ippo --no-peers --num-games 64 4096

Env steps per second, compile time excluded, median and spread over
``--repeats`` timed calls:

* jaxbeer: ``jit(vmap(env.step))`` inside ``lax.scan`` with random actions, at
  each ``--num-games`` (the harness of ``benchmarks/env_throughput.py``);
* the NumPy reference (``benchmarks/reference_numpy.py``), one game, random
  actions, demand and leads drawn by NumPy; and the headline ratio, jaxbeer at
  4096 games over the reference, from calls timed in alternation;
* training throughput of each learner in ``--learners`` (IPPO, MAPPO, IQL, VDN,
  QMIX) at its default settings with ``--train-envs`` games: ``--train-updates``
  updates in one compiled scan, after warm-up updates that fill a replay
  buffer up to ``learning_starts`` where the learner has one. A learner that
  is not there yet is skipped with a line saying why;
* peers, where installed (``--peers``): gymnax CartPole-v1 and JaxMARL MPE
  simple-spread env steps at the same game counts, with the same harness
  (per-game keys and action words from one fused threefry stream). A missing
  peer is skipped with a line. Beside them, IPPO training on MPE
  simple-spread at ``--train-envs`` games with IPPO's network size and PPO
  settings (``benchmarks/peer_ippo_mpe.py``, written in the shape of JaxMARL's
  IPPO baseline, which is not part of the ``jaxmarl`` package), against
  ``algorithms.ippo``'s training figure.

Writes one JSON file per run to ``benchmarks/results/`` (with the machine),
prints a table of steps/s and ratios (jaxbeer over the reference and over each
peer at the same game count) and draws a log-log plot of steps/s against the
number of games. The machines we use are shared and noisy: the ratios measured
in one run are the headline, not the absolute numbers.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import math
import sys
import time
from pathlib import Path
from typing import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

import jaxbeer
from algorithms import registry
from algorithms.common.config import ConfigError, check_int_flag, parse_checked_flags
from benchmarks import env_throughput, harness
from benchmarks.reference_numpy import ReferenceBeerGame, ReferenceSettings

LEARNERS = tuple(registry.ALGORITHMS)
PEERS = ("gymnax-cartpole", "jaxmarl-mpe-simple-spread")
PEER_IPPO = "jaxmarl-mpe-ippo"  # IPPO on MPE simple-spread, the peer of our IPPO training figure


@dataclasses.dataclass
class Args:
    """Flags of ``python -m benchmarks.throughput``."""

    num_games: tuple[int, ...] = env_throughput.DEFAULT_NUM_GAMES
    """Game counts for the env figures (jaxbeer and peers)."""
    scenario: str = "seed-default"
    """jaxbeer scenario of the env figures (seed-default: Poisson(8) demand)."""
    steps: int = 1000
    """Periods per timed call of a vectorised env."""
    repeats: int = 5
    """Timed calls per figure; median and spread are reported."""
    reference_steps: int = 20_000
    """Periods per timed call of the NumPy reference."""
    learners: tuple[str, ...] = LEARNERS
    """Learners whose training throughput is measured (empty: none)."""
    train_scenario: str = "basic"
    """jaxbeer scenario of the training figures."""
    train_envs: int = 4096
    """Games per seed of every learner's training figure and of the MPE IPPO peer's."""
    train_updates: int = 3
    """Updates per timed training call (at least enough for 20 periods of every game)."""
    train_repeats: int = 3
    """Timed training calls per learner; median and spread are reported."""
    train_base_stock_episodes: int = 0
    """Episodes for the learners' base-stock reference (0: their default; it is optimised once, then cached)."""
    peers: bool = True
    """Measure gymnax / JaxMARL where installed."""
    seed: int = 0
    """Root of the keys of the jaxbeer, learner and peer measurements."""
    out: str = ""
    """JSON path; empty: benchmarks/results/throughput-<backend>-<time>.json (the plot goes beside it)."""
    plot: bool = True
    """Draw the log-log plot of steps/s against games stepped at once, as a PNG beside the JSON."""

    def validate(self) -> None:
        """Raise ``ConfigError`` naming the flag and what it allows."""
        if not self.num_games:
            raise ConfigError("--num-games needs at least one value")
        for value in self.num_games:
            check_int_flag("num_games", value, 1)
        for name in ("steps", "repeats", "reference_steps", "train_envs", "train_updates", "train_repeats"):
            check_int_flag(name, getattr(self, name), 1)
        check_int_flag("train_base_stock_episodes", self.train_base_stock_episodes, 0)
        for name in ("scenario", "train_scenario"):
            if getattr(self, name) not in jaxbeer.scenario_names():
                raise ConfigError(
                    f"--{name.replace('_', '-')} must be one of {list(jaxbeer.scenario_names())}, "
                    f"got {getattr(self, name)!r}"
                )
        unknown = [name for name in self.learners if name not in LEARNERS]
        if unknown:
            raise ConfigError(f"--learners must be among {list(LEARNERS)}, got {list(self.learners)}")


# ------------------------------------------------------------ generic harness
def measure_vectorised(
    reset: Callable,
    step: Callable,
    num_actions: int,
    num_agents: int,
    num_games: int,
    steps: int,
    repeats: int,
    key: jax.Array,
) -> dict:
    """Steps/s of ``step`` vmapped over ``num_games`` games in a ``lax.scan``, random discrete actions.

    ``reset(key) -> (obs, state)``; ``step(key, state, action int32[num_agents]) -> (obs, state, reward)``
    with auto-reset. Keys and action words come from ``env_throughput.step_words``, drawn one period
    ahead and carried, exactly as for jaxbeer; obs and reward are carried so they are computed.
    """
    action_rows = math.ceil(num_agents / 4)
    vstep = jax.vmap(step, in_axes=(1, 0, 0))

    def period(carry, _):
        root_key, counter, game_keys, words, state, _, _ = carry
        actions = env_throughput.actions_from_words(words.T, num_agents, num_actions, 0)
        obs, state, reward = vstep(game_keys, state, actions)
        counter = counter + 1
        game_keys, words = env_throughput.step_words(root_key, counter, num_games, action_rows)
        return (root_key, counter, game_keys, words, state, obs, reward), None

    @jax.jit
    def run(key, state, obs, reward):
        counter = jnp.uint32(0)
        carry = (key, counter, *env_throughput.step_words(key, counter, num_games, action_rows), state, obs, reward)
        (*_, state, obs, reward), _ = jax.lax.scan(period, carry, None, length=steps)
        return state, obs, reward

    reset_key, run_key = jax.random.split(key)
    obs, state = jax.vmap(reset)(jax.random.split(reset_key, num_games))
    reward_shape = jax.eval_shape(
        lambda: vstep(jnp.zeros((2, num_games), jnp.uint32), state, jnp.zeros((num_games, num_agents), jnp.int32))[2]
    )
    reward = jax.tree.map(lambda leaf: jnp.zeros(leaf.shape, leaf.dtype), reward_shape)
    seconds = harness.time_calls(lambda: run(run_key, state, obs, reward), repeats)
    return harness.rate_summary(num_games * steps, seconds)


# ---------------------------------------------------------------- jaxbeer
def measure_jaxbeer(args: Args, key: jax.Array) -> list[dict]:
    """jaxbeer's env steps/s at each ``--num-games``, random actions, with ``benchmarks.env_throughput``'s harness."""
    env, params = jaxbeer.make(args.scenario)
    rows = []
    for num_games in args.num_games:
        key, sub = jax.random.split(key)
        row = env_throughput.measure(env, params, num_games, args.steps, args.repeats, "random", sub)
        rows.append({"num_games": num_games, "env_steps_per_s": row["env_steps_per_s"]})
        _progress(f"jaxbeer {num_games} games: {row['env_steps_per_s']['median']:,.0f} steps/s")
    return rows


def measure_reference(args: Args) -> dict:
    """The NumPy reference's steps/s on one game, after a warm-up run whose figure is dropped."""
    env, params = jaxbeer.make(args.scenario)
    game = ReferenceBeerGame(ReferenceSettings.from_jaxbeer(env, params))
    game.steps_per_second(min(args.reference_steps, 1000))  # warm-up
    rates = [game.steps_per_second(args.reference_steps, seed=r) for r in range(args.repeats)]
    seconds = [args.reference_steps / rate for rate in rates]
    summary = harness.rate_summary(args.reference_steps, seconds)
    _progress(f"numpy reference: {summary['median']:,.0f} steps/s")
    return {"num_games": 1, "env_steps_per_s": summary}


def measure_paired_ratio(args: Args, key: jax.Array) -> dict:
    """jaxbeer (at the game count closest to 4096) over the reference, timed in alternation.

    Each repeat times one jaxbeer call and then one reference call, so both see
    the same load; the median of the per-pair ratios is the headline figure.
    """
    num_games = min(args.num_games, key=lambda n: abs(math.log(n / 4096)))
    env, params = jaxbeer.make(args.scenario)
    reset_key, run_key = jax.random.split(key)
    obs, state = jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(reset_key, num_games), params)
    run = env_throughput.make_rollout(env, params, num_games, args.steps, "random")
    jax.block_until_ready(run(run_key, state, obs))
    game = ReferenceBeerGame(ReferenceSettings.from_jaxbeer(env, params))
    reference_steps = max(1000, args.reference_steps // 4)
    ratios_per_pair = []
    for repeat in range(args.repeats):
        start = time.perf_counter()
        jax.block_until_ready(run(run_key, state, obs))
        jaxbeer_rate = num_games * args.steps / (time.perf_counter() - start)
        ratios_per_pair.append(jaxbeer_rate / game.steps_per_second(reference_steps, seed=repeat))
    values = np.asarray(ratios_per_pair)
    _progress(f"paired ratio at {num_games} games: {np.median(values):,.0f}x the reference")
    return {
        "num_games": num_games,
        "median": float(np.median(values)),
        "min": float(values.min()),
        "max": float(values.max()),
        "per_pair": values.tolist(),
    }


# --------------------------------------------------------------- learners
def measure_learner(name: str, args: Args, key: jax.Array) -> dict:
    """Training env steps/s of the registered learner ``name`` at its defaults with ``--train-envs`` games."""
    algorithm = registry.get(name)
    try:
        overrides = {"base_stock_episodes": args.train_base_stock_episodes} if args.train_base_stock_episodes else {}
        config = algorithm.config(
            scenario=args.train_scenario, num_envs=args.train_envs, plots=False, progress=False, **overrides
        )
        config.validate()
        learner = algorithm.make_learner(config)
    except (ConfigError, ValueError, TypeError, AttributeError) as error:
        return {"status": "skipped", "reason": f"{type(error).__name__}: {error}"}

    timing = time_updates(
        learner.init,
        learner.update,
        learner.env_steps_per_update,
        getattr(config, "learning_starts", 0),
        config.num_envs,
        args,
        key,
    )
    summary = timing.pop("env_steps_per_s")
    _progress(f"{name} training ({args.train_envs} envs): {summary['median']:,.0f} env steps/s")
    settings = {
        k: v
        for k, v in dataclasses.asdict(config).items()
        if k
        in (
            "num_envs",
            "num_steps",
            "update_epochs",
            "num_minibatches",
            "hidden_sizes",
            "batch_size",
            "gradient_steps",
            "buffer_size",
            "learning_starts",
            "n_step",
            "share_params",
            "action_mode",
        )
    }
    return {
        "status": "ok",
        "num_envs": args.train_envs,
        "scenario": args.train_scenario,
        **timing,
        "settings": settings,
        "env_steps_per_s": summary,
    }


def time_updates(
    init: Callable,
    update: Callable,
    env_steps_per_update: int,
    learning_starts: int,
    num_envs: int,
    args: Args,
    key: jax.Array,
) -> dict:
    """Env steps/s of ``update`` repeated in one compiled scan, compile and buffer warm-up excluded."""

    def updates(state, count):
        return jax.lax.scan(lambda s, _: update(s), state, None, length=count)[0]

    state = jax.jit(init)(key)
    warmup = 0
    if learning_starts:  # time gradient steps, not only the filling of the replay buffer
        warmup = math.ceil(learning_starts / env_steps_per_update) + 1
        state = jax.jit(updates, static_argnums=1)(state, warmup)
    # At least 20 periods of every game per timed call (value-based updates advance one period).
    count = max(args.train_updates, math.ceil(20 * num_envs / env_steps_per_update))
    start = time.perf_counter()
    compiled = jax.jit(updates, static_argnums=1).lower(state, count).compile()
    compile_seconds = time.perf_counter() - start
    seconds = harness.time_calls(lambda: compiled(state), args.train_repeats)
    return {
        "updates_timed": count,
        "warmup_updates": warmup,
        "env_steps_per_update": env_steps_per_update,
        "compile_seconds": compile_seconds,
        "env_steps_per_s": harness.rate_summary(count * env_steps_per_update, seconds),
    }


def measure_peer_ippo(args: Args, key: jax.Array) -> dict:
    """IPPO on JaxMARL MPE simple-spread (``benchmarks/peer_ippo_mpe.py``) at IPPO's defaults."""
    from benchmarks import peer_ippo_mpe

    settings = peer_ippo_mpe.PeerSettings.like_ippo(args.train_envs)
    try:
        learner = peer_ippo_mpe.make_learner(settings)
    except Exception as error:  # noqa: BLE001 - a missing or broken optional peer is reported, never fatal
        return {"status": "skipped", "reason": f"{type(error).__name__}: {error}"}
    timing = time_updates(learner.init, learner.update, learner.env_steps_per_update, 0, settings.num_envs, args, key)
    _progress(f"{PEER_IPPO} training ({args.train_envs} envs): {timing['env_steps_per_s']['median']:,.0f} env steps/s")
    return {
        "status": "ok",
        "num_envs": args.train_envs,
        "env": peer_ippo_mpe.ENV_NAME,
        "num_agents": learner.num_agents,
        "settings": dataclasses.asdict(settings),
        "version": _version("jaxmarl"),
        **timing,
    }


# ------------------------------------------------------------------ peers
def gymnax_cartpole() -> tuple[Callable, Callable, int, int]:
    """``(reset, step, num_actions, num_agents)`` of gymnax CartPole-v1; raises ImportError without gymnax."""
    import gymnax

    env, params = gymnax.make("CartPole-v1")

    def reset(key):
        return env.reset(key, params)

    def step(key, state, action):
        out = env.step(key, state, action[0], params)  # gymnax 1.0: (obs, state, reward, terminated, truncated, info)
        return out[0], out[1], out[2]

    return reset, step, 2, 1


def jaxmarl_simple_spread() -> tuple[Callable, Callable, int, int]:
    """``(reset, step, num_actions, num_agents)`` of JaxMARL's MPE simple-spread; raises ImportError without it."""
    import jaxmarl

    env = jaxmarl.make("MPE_simple_spread_v3")
    agents = list(env.agents)
    num_actions = int(env.action_space(agents[0]).n)

    def reset(key):
        return env.reset(key)

    def step(key, state, action):
        out = env.step(key, state, {a: action[i] for i, a in enumerate(agents)})  # (obs, state, reward, dones, info)
        return out[0], out[1], out[2]

    return reset, step, num_actions, len(agents)


PEER_BUILDERS = {"gymnax-cartpole": gymnax_cartpole, "jaxmarl-mpe-simple-spread": jaxmarl_simple_spread}


def measure_peer(name: str, args: Args, key: jax.Array) -> dict:
    """The peer ``name``'s env steps/s at each game count, or a skip record saying why it could not run."""
    try:
        reset, step, num_actions, num_agents = PEER_BUILDERS[name]()
    except Exception as error:  # noqa: BLE001 - a missing or broken optional peer is reported, never fatal
        return {"status": "skipped", "reason": f"{type(error).__name__}: {error}"}
    rows = []
    for num_games in args.num_games:
        key, probe_key, sub = jax.random.split(key, 3)
        # A slow peer gets fewer periods per timed call (about half a second each, at least 20).
        probe = measure_vectorised(reset, step, num_actions, num_agents, num_games, 20, 1, probe_key)
        steps = int(np.clip(0.5 * probe["median"] / num_games, 20, args.steps))
        summary = measure_vectorised(reset, step, num_actions, num_agents, num_games, steps, args.repeats, sub)
        rows.append({"num_games": num_games, "steps": steps, "env_steps_per_s": summary})
        _progress(f"{name} {num_games} games: {summary['median']:,.0f} steps/s")
    return {"status": "ok", "results": rows, "version": _version(name.split("-")[0])}


def _version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


# ----------------------------------------------------------------- report
def ratios(payload: dict) -> dict:
    """jaxbeer over the reference at each game count, and over each peer at the same count."""
    jaxbeer_rates = {row["num_games"]: row["env_steps_per_s"]["median"] for row in payload["jaxbeer"]}
    reference = payload["reference"]["env_steps_per_s"]["median"]
    out = {"jaxbeer_over_reference": {str(n): rate / reference for n, rate in jaxbeer_rates.items()}}
    for name, peer in payload["peers"].items():
        if peer["status"] == "ok":
            out[f"jaxbeer_over_{name}"] = {
                str(row["num_games"]): jaxbeer_rates[row["num_games"]] / row["env_steps_per_s"]["median"]
                for row in peer["results"]
            }
    ours, theirs = payload["learners"].get("ippo", {}), payload.get("peer_learners", {}).get(PEER_IPPO, {})
    if ours.get("status") == "ok" and theirs.get("status") == "ok":
        out[f"ippo_over_{PEER_IPPO}"] = {
            str(ours["num_envs"]): ours["env_steps_per_s"]["median"] / theirs["env_steps_per_s"]["median"]
        }
    return out


def print_report(payload: dict) -> None:
    """The env figures and ratios as a table, then the reference, the training figures and what was skipped."""
    peers = {name: peer for name, peer in payload["peers"].items() if peer["status"] == "ok"}
    header = f"{'games':>7} {'jaxbeer steps/s':>16} {'spread':>7} {'x reference':>12}"
    for name in peers:
        header += f" {name + ' steps/s':>34} {'jaxbeer x':>10}"
    print(header)
    reference = payload["reference"]["env_steps_per_s"]["median"]
    for row in payload["jaxbeer"]:
        rate = row["env_steps_per_s"]
        line = (
            f"{row['num_games']:>7} {rate['median']:>16,.0f} {rate['spread_pct']:>6.0f}% "
            f"{rate['median'] / reference:>12,.0f}"
        )
        for peer in peers.values():
            match = [r for r in peer["results"] if r["num_games"] == row["num_games"]][0]["env_steps_per_s"]
            line += f" {match['median']:>34,.0f} {rate['median'] / match['median']:>10.1f}"
        print(line)
    ref = payload["reference"]["env_steps_per_s"]
    print(f"numpy reference (1 game): {ref['median']:,.0f} steps/s (spread {ref['spread_pct']:.0f}%)")
    paired = payload["paired_ratio_over_reference"]
    print(
        f"jaxbeer at {paired['num_games']} games over the reference, timed in alternation: "
        f"{paired['median']:,.0f}x (min {paired['min']:,.0f}, max {paired['max']:,.0f})"
    )
    for name, learner in payload["learners"].items():
        if learner["status"] == "ok":
            rate = learner["env_steps_per_s"]
            print(
                f"{name} training, {learner['num_envs']} envs: {rate['median']:,.0f} env steps/s "
                f"(spread {rate['spread_pct']:.0f}%)"
            )
        else:
            print(f"{name} training: skipped ({learner['reason']})")
    for name, peer in payload["peer_learners"].items():
        if peer["status"] == "ok":
            rate = peer["env_steps_per_s"]
            line = (
                f"{name} training, {peer['num_envs']} envs: {rate['median']:,.0f} env steps/s "
                f"(spread {rate['spread_pct']:.0f}%)"
            )
            ratio = payload.get("ratios", {}).get(f"ippo_over_{name}")
            print(line + (f"; ippo {next(iter(ratio.values())):.2f}x" if ratio else ""))
    for name, peer in {**payload["peers"], **payload["peer_learners"]}.items():
        if peer["status"] != "ok":
            print(f"{name}: skipped ({peer['reason']})")


def draw_plot(payload: dict, path: Path) -> None:
    """Log-log steps/s against games stepped at once: jaxbeer, the peers, the reference and the training points."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    games = [row["num_games"] for row in payload["jaxbeer"]]
    ax.loglog(
        games,
        [row["env_steps_per_s"]["median"] for row in payload["jaxbeer"]],
        "o-",
        label=f"jaxbeer ({payload['scenario']})",
    )
    for name, peer in payload["peers"].items():
        if peer["status"] == "ok":
            ax.loglog(
                [r["num_games"] for r in peer["results"]],
                [r["env_steps_per_s"]["median"] for r in peer["results"]],
                "s--",
                label=name,
            )
    ax.axhline(
        payload["reference"]["env_steps_per_s"]["median"], color="gray", linestyle=":", label="NumPy reference, 1 game"
    )
    for name, learner in payload["learners"].items():
        if learner["status"] == "ok":
            ax.loglog([learner["num_envs"]], [learner["env_steps_per_s"]["median"]], "^", label=f"{name} training")
    for name, peer in payload["peer_learners"].items():
        if peer["status"] == "ok":
            ax.loglog([peer["num_envs"]], [peer["env_steps_per_s"]["median"]], "v", label=f"{name} training")
    ax.set_xlabel("games stepped at once")
    ax.set_ylabel("env steps per second")
    machine = payload["machine"]
    ax.set_title(f"{machine['cpu_model']} ({machine['cpu_cores']} cores), jax {machine['jax_version']}", fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _progress(message: str) -> None:
    print(f"  {message}", file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> dict:
    """Run the suite, rewriting the JSON after each part; exit 2 with one line on a bad flag."""
    args = parse_checked_flags(Args, argv, __doc__.splitlines()[0])
    key = jax.random.PRNGKey(args.seed)
    env_key, learner_key, peer_key = jax.random.split(key, 3)
    payload = {
        "benchmark": "throughput",
        "scenario": args.scenario,
        "config": dataclasses.asdict(args),
        "machine": harness.machine_info(),
        "jaxbeer": measure_jaxbeer(args, env_key),
        "reference": measure_reference(args),
        "paired_ratio_over_reference": measure_paired_ratio(args, env_key),
        "learners": {},
        "peers": {},
        "peer_learners": {},
    }
    out = Path(args.out) if args.out else harness.default_output("throughput")
    harness.write_json(out, payload)  # rewritten after each part, so an interrupted run keeps what it measured
    for name in args.learners:
        payload["learners"][name] = measure_learner(name, args, learner_key)
        harness.write_json(out, payload)
    for name in PEERS:
        if args.peers:
            payload["peers"][name] = measure_peer(name, args, peer_key)
        else:
            payload["peers"][name] = {"status": "skipped", "reason": "--no-peers"}
        harness.write_json(out, payload)
    if args.peers:
        payload["peer_learners"][PEER_IPPO] = measure_peer_ippo(args, learner_key)
    else:
        payload["peer_learners"][PEER_IPPO] = {"status": "skipped", "reason": "--no-peers"}
    harness.write_json(out, payload)
    payload["ratios"] = ratios(payload)
    if args.plot:
        plot_path = out.with_suffix(".png")
        draw_plot(payload, plot_path)
        payload["plot"] = str(plot_path)
    print_report(payload)
    harness.write_result(out, payload)
    return payload


if __name__ == "__main__":
    main()
