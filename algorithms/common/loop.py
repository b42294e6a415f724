"""The learner interface and the host loop over compiled chunks of updates.

An algorithm file builds a ``Learner`` (pure functions, nothing compiled yet)
and calls ``main``. The loop:

1. parses and validates the CLI (exit 2 on a bad flag, before any tracing);
2. vmaps ``init`` and a ``lax.scan`` of ``update`` over seeds, and compiles the
   chunk ahead of time so steps/s exclude compilation;
3. per chunk: runs it, stops on a non-finite loss (the last good checkpoint
   stays), evaluates the greedy policy on fixed episodes against base-stock,
   saves a checkpoint, appends one JSON line to ``log.jsonl`` (and, with
   ``--tensorboard``, its numbers to TensorBoard), moves the bar;
4. at the end: the cost table on fresh episodes (``results.json``) and plots.

``--resume DIR`` restores the state and the chunk counter and runs the same
compiled chunk, so the result equals an uninterrupted run's bit for bit.
"""

from __future__ import annotations

import dataclasses
import datetime
import sys
import time
from pathlib import Path
from typing import Any, Callable, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

import jaxbeer
from algorithms.common import checkpoint, evaluation, rundir, runlog, sharding, tensorboard
from algorithms.common import metrics as metrics_lib
from algorithms.common.config import CommonConfig, ConfigError, exit_with_usage_error, parse_config, read_json_object
from algorithms.common.files import write_atomically, write_json
from algorithms.common.game import Game, check_game
from algorithms.common.runlog import LOG_FILE

CONFIG_FILE = "config.json"
# The name of a chunk's vmapped member axis, for the collective in ``for_every_member``.
MEMBER_AXIS = "member"
RESULTS_FILE = "results.json"
# Time to quality: wall seconds until the chunk evaluation is first within 5% of the base-stock team.
TIME_TO_QUALITY_GAP = 0.05


class Learner(NamedTuple):
    """What an algorithm hands the host loop. Every function is pure and unbatched (one seed)."""

    game: Game
    init: Callable[..., Any]  # (key, hyperparameters=None) -> train_state (a pytree of arrays)
    update: Callable[[Any], tuple[Any, dict]]  # train_state -> (train_state, metrics of one update)
    act: Callable[[Any, jax.Array, jax.Array], jax.Array]  # (policy_params, obs[A, F], key) -> int32[A], greedy
    policy_params: Callable[[Any], Any]  # train_state -> the parameters ``act`` needs
    num_updates: int  # updates per seed over the whole run
    env_steps_per_update: int  # env steps (periods of one game) per update per seed
    # Settings the train state carries as float32 data, so that a sweep over them is a vmap, not a
    # recompile: name -> the config's value. ``init(key, {name: value})`` overrides them.
    hyperparameters: dict[str, float] = {}
    # Where the games are, for sharding: a path prefix of the unbatched train state (``jax.tree_util.keystr``)
    # -> the axis of its games. Leaves under no prefix are replicated over the devices.
    games_axes: dict[str, int] = {}


class Members(NamedTuple):
    """What the vmapped leading axis of a run trains: member ``i`` starts from the training key of seed
    ``seed_index[i]`` and trains with ``hyperparameters[name][i]``. A plain run's members are its seeds;
    a sweep's are its configurations times its seeds."""

    seed_index: tuple[int, ...]
    hyperparameters: dict[str, tuple[float, ...]]
    labels: tuple[str, ...]  # "" for a lone seed, "seed 1", "lr=0.001, seed 1", ...

    def keys(self, seed: int) -> jax.Array:
        """The members' training keys: those of ``seed_keys(seed, ...)`` at ``seed_index``."""
        return seed_keys(seed, max(self.seed_index) + 1)[np.asarray(self.seed_index)]

    def arrays(self) -> dict[str, jax.Array]:
        """The hyperparameters as float32 ``[members]`` arrays, the second argument of a vmapped ``init``."""
        return {name: jnp.asarray(values, jnp.float32) for name, values in self.hyperparameters.items()}

    def to_json(self) -> dict[str, Any]:
        return {
            "seed_index": list(self.seed_index),
            "hyperparameters": {k: list(v) for k, v in self.hyperparameters.items()},
            "labels": list(self.labels),
        }

    @classmethod
    def from_json(cls, values: dict[str, Any]) -> Members:
        return cls(
            seed_index=tuple(int(i) for i in values["seed_index"]),
            hyperparameters={k: tuple(float(x) for x in v) for k, v in values["hyperparameters"].items()},
            labels=tuple(values["labels"]),
        )


def seed_members(learner: Learner, num_seeds: int) -> Members:
    """The members of a plain run: ``num_seeds`` seeds, each with the config's hyperparameters."""
    return Members(
        seed_index=tuple(range(num_seeds)),
        hyperparameters={name: (float(value),) * num_seeds for name, value in learner.hyperparameters.items()},
        labels=evaluation.seed_labels(num_seeds),
    )


def hyperparameter_leaves(members: Members) -> dict[str, np.ndarray]:
    """The train state's hyperparameter leaves by tree path, for checkpoints written before the state
    carried them (``checkpoint.load``'s ``fill``): such runs trained with their config's values."""
    return {f".hyperparameters[{name!r}]": np.asarray(v, np.float32) for name, v in members.hyperparameters.items()}


def make_train(learner: Learner) -> Callable[..., tuple[Any, dict]]:
    """``train(key, hyperparameters=None) -> (final train_state, metrics stacked over updates)``; pure,
    jit- and vmap-able (a vmap over ``hyperparameters`` is a sweep in one program)."""

    def train(key, hyperparameters=None):
        state = learner.init(key, hyperparameters)
        return jax.lax.scan(lambda s, _: learner.update(s), state, None, length=learner.num_updates)

    return train


def chunk_function(
    learner: Learner, updates_per_chunk: int, spmd_axis_name: str | None = None
) -> Callable[[Any], tuple[Any, dict]]:
    """``updates_per_chunk`` updates in one ``lax.scan``, vmapped over a leading seed axis (the mesh axis
    ``spmd_axis_name`` when the chunk is compiled for a mesh).

    A leading axis of one member is dropped instead of vmapped. A vmap turns a learner's ``lax.cond`` on
    a traced flag (a replay learner's "buffer warm yet?") into a select that runs both branches every
    update, and a learning branch inlined beside the buffer write runs slower than inside a conditional
    (docs/performance.md has the figures); a one-seed run, the default, keeps its conditional this way.
    Several members keep theirs where the learner passes the flag through ``for_every_member``.
    """

    def chunk(state):
        return jax.lax.scan(lambda s, _: learner.update(s), state, None, length=updates_per_chunk)

    members = jax.vmap(chunk, axis_name=MEMBER_AXIS, spmd_axis_name=spmd_axis_name)

    def one_or_more(state):
        if jax.tree.leaves(state)[0].shape[0] != 1:
            return members(state)
        return jax.tree.map(lambda x: x[None], chunk(jax.tree.map(lambda x: x[0], state)))

    return one_or_more


def for_every_member(flag: jax.Array) -> jax.Array:
    """``flag`` of every member of the chunk at once (their AND), as one value that is not batched over
    the members, so that a ``lax.cond`` on it stays a conditional under ``chunk_function``'s vmap.

    Only for a flag that every member shares by construction, such as one computed from update counts,
    which advance in lockstep; a flag that depends on a member's data would make every member wait for
    the slowest. Outside the member vmap (one member, a test, the throughput suite) it is ``flag``.
    """
    try:
        return jax.lax.pmin(flag.astype(jnp.int32), MEMBER_AXIS) > 0
    except NameError:  # jax's error for an axis name no vmap has bound: not inside a chunk's member vmap
        return flag


def schedule(learner: Learner, num_chunks: int) -> tuple[int, int]:
    """(chunks, updates per chunk): at most ``num_chunks`` equal chunks covering the updates (rounded down)."""
    num_chunks = max(1, min(num_chunks, learner.num_updates))
    return num_chunks, max(1, learner.num_updates // num_chunks)


def seed_keys(seed: int, num_seeds: int) -> jax.Array:
    """One training key per seed, folded apart from the evaluation keys of ``eval_keys``."""
    return jax.random.split(jax.random.fold_in(jax.random.PRNGKey(seed), 0), num_seeds)


def eval_keys(seed: int) -> tuple[jax.Array, jax.Array]:
    """(key for the chunk-boundary evaluations, key for the final fresh evaluation)."""
    root = jax.random.fold_in(jax.random.PRNGKey(seed), 1)
    return jax.random.fold_in(root, 0), jax.random.fold_in(root, 1)


def main(
    config_cls: type[CommonConfig],
    make_learner: Callable[[Any], Learner],
    algorithm: str,
    argv: Sequence[str] | None = None,
    description: str | None = None,
) -> Path:
    """The CLI of an algorithm: ``python -m algorithms.<algorithm> --flags``.

    Bad input exits with status 2 and one line; Ctrl-C (130) and a failed
    write (1) end with one line saying what is safe and how to go on.
    """
    config = parse_config(config_cls, argv, description, algorithm=algorithm)
    if not config.resume and not config.run_dir:
        config = dataclasses.replace(config, run_dir=str(default_run_dir(config, algorithm)))
    run_dir = Path(config.resume or config.run_dir)
    try:
        if config.distributed or config.coordinator_address:
            sharding.initialize(config.coordinator_address, config.num_processes, config.process_id)
        if config.sweep:
            from algorithms.common import sweep  # only a sweep needs it

            return sweep.run_sweep(config, make_learner, algorithm)
        if config.resume and not checkpoint.saved_checkpoints(config.resume):
            raise ConfigError(f"--resume: {config.resume!r} has no checkpoint to resume from")
        saved = read_json_object(run_dir / CONFIG_FILE) if config.resume else {}
        sharding.resolve(*device_request(config, saved), config.num_seeds, config.num_envs)
        check_game(config)  # the scenario and --agents, before the directory exists
        claim_on_writer(run_dir, fresh=not config.resume, overwrite=config.overwrite)  # before any slow work
        learner = make_learner(config)
        return run(config, learner, algorithm)
    except (ConfigError, checkpoint.CheckpointError) as error:
        exit_with_usage_error(str(error))
    except KeyboardInterrupt:
        print(f"\ninterrupted; {_what_is_safe(run_dir)}", file=sys.stderr)
        raise SystemExit(130) from None
    except OSError as error:
        print(
            f"error: {error.strerror or error} ({error.filename or run_dir}); {_what_is_safe(run_dir)}", file=sys.stderr
        )
        raise SystemExit(1) from None


def device_request(config: CommonConfig, saved: dict[str, Any]) -> tuple[int | None, int]:
    """(--num-devices, --seed-devices) to resolve: the flags, or where a resumed run leaves them at their
    defaults, the layout it was checkpointed on, so that it continues bit for bit."""
    devices = saved.get("devices", {})
    if config.num_devices is not None or devices.get("num_devices", 0) > len(jax.devices()):
        return config.num_devices, config.seed_devices  # told, or fewer devices now: the loop's note says so
    return devices.get("num_devices"), config.seed_devices or devices.get("seed_devices", 0)


def claim_on_writer(run_dir: Path, fresh: bool, overwrite: bool) -> None:
    """``rundir.claim`` on process 0, which alone writes; the others learn whether it passed."""
    error = None
    if sharding.is_writer():
        try:
            rundir.claim(run_dir, fresh=fresh, overwrite=overwrite)
        except ConfigError as failure:
            error = failure
    sharding.agree(error is None, f"claiming {run_dir}")
    if error is not None:
        raise error


def _what_is_safe(run_dir: Path) -> str:
    saved = checkpoint.saved_checkpoints(run_dir)
    if not saved:
        return f"no chunk had finished, so {run_dir} holds no checkpoint yet"
    return f"{saved[0].name} in {run_dir} is intact: continue with --resume {run_dir}"


def entry_points(
    config_cls: type[CommonConfig], make_learner: Callable[[Any], Learner], algorithm: str, description: str
) -> tuple[Callable[[Any], Callable], Callable[..., Path]]:
    """``(make_train, main)`` of an algorithm file: ``make_train(config)`` returns the pure, jittable
    ``train(key)``; ``main(argv=None)`` is ``python -m algorithms.<algorithm>``."""

    def make_train_from_config(config: Any) -> Callable[[jax.Array], tuple[Any, dict]]:
        """``train(key) -> (final train state, per-update metrics)``, pure and jittable."""
        return make_train(make_learner(config))

    def cli(argv: Sequence[str] | None = None) -> Path:
        return main(config_cls, make_learner, algorithm, argv, description)

    return make_train_from_config, cli


def default_run_dir(config: CommonConfig, algorithm: str) -> Path:
    """``runs/<algorithm>-<scenario>-<time>``."""
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"{algorithm}-{config.scenario}-{stamp}"


def run(config: CommonConfig, learner: Learner, algorithm: str, members: Members | None = None) -> Path:
    """The host loop; returns the run directory. Exits with status 1 on a non-finite loss.

    ``members`` (a sweep's) replaces the seeds of ``config`` as the vmapped axis; ``config.num_seeds`` must
    count them. A resumed run reads its members from its ``config.json``."""
    run_dir = Path(config.resume or config.run_dir or default_run_dir(config, algorithm))
    writer = sharding.is_writer()
    claim_on_writer(run_dir, fresh=not config.resume, overwrite=config.overwrite)
    mirror = tensorboard.Mirror(run_dir / tensorboard.DIRECTORY) if config.tensorboard and writer else None
    try:
        return _run(config, learner, algorithm, run_dir, mirror, members)
    finally:  # also on the stop paths and Ctrl-C
        if mirror is not None:
            mirror.close()


def _run(
    config: CommonConfig,
    learner: Learner,
    algorithm: str,
    run_dir: Path,
    mirror: tensorboard.Mirror | None,
    members: Members | None,
) -> Path:
    """``run`` in a claimed ``run_dir``, mirroring each log record to ``mirror`` when there is one."""
    game = learner.game
    writer = sharding.is_writer()
    num_chunks, updates_per_chunk = schedule(learner, config.num_chunks)
    steps_per_chunk = updates_per_chunk * learner.env_steps_per_update  # per seed
    saved = read_json_object(run_dir / CONFIG_FILE) if config.resume else {}
    if "members" in saved:
        members = Members.from_json(saved["members"])
    members = members or seed_members(learner, config.num_seeds)
    if len(members.labels) != config.num_seeds:
        raise ConfigError(f"{len(members.labels)} members to train, but --num-seeds is {config.num_seeds}")

    num_devices, seed_devices = sharding.resolve(*device_request(config, saved), config.num_seeds, config.num_envs)
    mesh = sharding.make_mesh(num_devices, seed_devices)
    devices = {"num_devices": num_devices, "seed_devices": seed_devices}
    if saved.get("devices", devices) != devices:
        print(
            f"note: {run_dir} was checkpointed on {saved['devices']} and resumes on {devices}; the run continues "
            "the same program, equal to an uninterrupted run up to the order of float reductions, not bit for bit",
            file=sys.stderr,
        )
    keys, hyperparameters = members.keys(config.seed), members.arrays()
    state_shape = jax.eval_shape(jax.vmap(learner.init), keys, hyperparameters)
    state_sharding = sharding.state_shardings(mesh, state_shape, learner.games_axes)
    init = jax.jit(jax.vmap(learner.init), out_shardings=state_sharding)
    if config.resume:
        # The newest checkpoint whose chunks all have their log line, so that a damaged log is mended by
        # replaying the chunks whose lines it lost (bit for bit) rather than leaving a gap in the history.
        logged = runlog.logged_chunks(run_dir / LOG_FILE)
        state, host = checkpoint.load(run_dir, state_shape, at_most=logged, fill=hyperparameter_leaves(members))
        state = jax.device_put(state, state_sharding)
        start_chunk = int(host["chunk"])
        if start_chunk > logged and writer:
            print(
                f"warning: {run_dir / LOG_FILE} lacks the lines of chunks {logged + 1}-{start_chunk}, and no "
                "earlier checkpoint is kept to replay them; the log has a gap there",
                file=sys.stderr,
            )
        if writer:
            runlog.truncate(run_dir / LOG_FILE, start_chunk)
    else:
        description = {
            "algorithm": algorithm,
            "learner_kind": config.learner_kind,
            "config": config.to_json(),
            "team": list(game.team.kinds),
            "base_stock": game.reference,
            "reward_scale": game.reward_scale,
            "chunks": num_chunks,
            "updates_per_chunk": updates_per_chunk,
            "env_steps_per_update": learner.env_steps_per_update,
            "members": members.to_json(),
            "devices": devices,
        }
        if writer:
            write_json(run_dir / CONFIG_FILE, description)
            write_atomically(run_dir / LOG_FILE, "")
        state, start_chunk = init(keys, hyperparameters), 0
        host = {"chunk": 0, "train_seconds": 0.0, "wall_seconds": 0.0, "best_eval": None, "best_chunk": None}

    # The run's wall clock: compile, training, chunk evaluations and checkpoints, over every invocation
    # (runs checkpointed before it was recorded resume from 0). Time to quality is read from it.
    invocation_start, wall_before = time.perf_counter(), float(host.get("wall_seconds", 0.0))
    # Finish init before the compile timer starts, so that compile_seconds does not include it.
    state = jax.block_until_ready(state)
    compile_start = time.perf_counter()
    with jax.set_mesh(mesh):  # the learners' sharding constraints name this mesh's axes
        chunk = (
            jax.jit(
                chunk_function(learner, updates_per_chunk, spmd_axis_name=sharding.MEMBERS),
                in_shardings=(state_sharding,),
                out_shardings=(state_sharding, None),
            )
            .lower(state)
            .compile()
        )
    compile_seconds = time.perf_counter() - compile_start
    # What XLA's partitioner inserted, among them the gradients' average over the devices of the games.
    all_reduces = chunk.as_text().count(" all-reduce(") if num_devices > 1 else 0

    chunk_eval_key, final_eval_key = eval_keys(config.seed)
    base_stock_team = evaluation.comparison_teams(game.team)["all base_stock"]
    base_stock_eval = jaxbeer.evaluate(
        game.env, game.params, base_stock_team.heuristics(), chunk_eval_key, config.eval_episodes
    )["team_cost_mean"]

    bar = _progress(config, num_chunks, start_chunk, algorithm) if writer else None
    on_devices = (
        f" on {num_devices} devices ({seed_devices} for the seeds; {all_reduces} all-reduces in the chunk)"
        if num_devices > 1
        else ""
    )
    print(
        f"[{algorithm}] run dir {run_dir}; {num_chunks} chunks x {updates_per_chunk} updates x "
        f"{learner.env_steps_per_update} env steps, {config.num_seeds} seed(s){on_devices}; "
        f"team {','.join(game.team.kinds)}; compile {compile_seconds:.1f}s",
        file=sys.stderr,
    )
    chunks_run = 0
    for chunk_index in range(start_chunk, num_chunks):
        start = time.perf_counter()
        new_state, chunk_metrics = chunk(state)
        jax.block_until_ready(new_state)
        seconds = time.perf_counter() - start
        chunk_metrics = sharding.to_host(chunk_metrics)
        if not metrics_lib.all_finite(chunk_metrics):
            bad = sorted(k for k, v in chunk_metrics.items() if not np.all(np.isfinite(np.asarray(v))))
            if writer:
                runlog.append(run_dir / LOG_FILE, {"chunk": chunk_index + 1, "stopped": f"non-finite {bad}"})
            if bar is not None:
                bar.close()
            if checkpoint.saved_checkpoints(run_dir):
                kept = f"The last good checkpoint (after chunk {chunk_index}) is in {run_dir}."
            else:
                kept = f"No chunk finished, so {run_dir} holds no checkpoint; start again with other settings."
            print(f"error: non-finite {', '.join(bad)} in chunk {chunk_index + 1}; stopped. {kept}", file=sys.stderr)
            raise SystemExit(1)
        state = new_state
        host["train_seconds"] = float(host["train_seconds"]) + seconds
        policy_params = sharding.to_host(jax.vmap(learner.policy_params)(state))
        evals = evaluation.evaluate_learned(
            game, learner.act, policy_params, chunk_eval_key, config.eval_episodes, num_seeds=config.num_seeds
        )
        eval_costs = [e["team_cost_mean"] for e in evals]
        record = {
            "chunk": chunk_index + 1,
            "update": (chunk_index + 1) * updates_per_chunk,
            "env_steps": (chunk_index + 1) * steps_per_chunk,
            "env_steps_all_seeds": (chunk_index + 1) * steps_per_chunk * config.num_seeds,
            "steps_per_s": steps_per_chunk * config.num_seeds / seconds,
            "chunk_seconds": seconds,
            "compile_seconds": compile_seconds,
            "num_devices": num_devices,
            "all_reduces_in_chunk": all_reduces,
            "wall_seconds": wall_before + time.perf_counter() - invocation_start,
            **metrics_lib.reduce_chunk(chunk_metrics),
            "eval_team_cost": float(np.mean(eval_costs)),
            "eval_team_cost_per_seed": eval_costs,
            "eval_agent_cost": np.mean([e["agent_cost_mean"] for e in evals], axis=0).tolist(),
            "base_stock_eval_team_cost": base_stock_eval,
            "eval_gap_vs_base_stock": float(np.mean(eval_costs)) / base_stock_eval - 1.0,
        }
        host.update(chunk=chunk_index + 1, wall_seconds=record["wall_seconds"])
        is_best = host.get("best_eval") is None or record["eval_team_cost"] < host["best_eval"]
        if is_best:
            # Model selection on the fixed chunk-evaluation episodes; reports use fresh ones.
            host.update(best_eval=record["eval_team_cost"], best_chunk=chunk_index + 1)
        host_state = sharding.to_host(state)  # every process takes part in a multi-host gather
        if writer:
            runlog.append(run_dir / LOG_FILE, record)  # before the checkpoint: a resume drops lines past it
            if mirror is not None:
                mirror.write(record)
            if is_best:
                checkpoint.save(run_dir, policy_params, dict(host), checkpoint.BEST_POLICY)
            checkpoint.save(run_dir, host_state, host)
        chunks_run += 1
        if bar is not None:
            bar.set_postfix(
                train=_fmt(record.get("episode_team_cost")),
                greedy=_fmt(record["eval_team_cost"]),
                base_stock=_fmt(base_stock_eval),
                sps=f"{record['steps_per_s']:.3g}",
            )
            bar.update(1)
        if config.stop_after_chunks and chunks_run >= config.stop_after_chunks and chunk_index + 1 < num_chunks:
            if bar is not None:
                bar.close()
            print(
                f"[{algorithm}] stopped after {chunks_run} chunk(s); continue with --resume {run_dir}", file=sys.stderr
            )
            return run_dir
    if bar is not None:
        bar.close()
    state = sharding.to_host(state)
    if writer:
        finish(config, learner, state, run_dir, final_eval_key, members.labels)
    sharding.barrier(f"finished {run_dir}")  # the others read results.json next (a sweep's table)
    return run_dir


def finish(
    config: CommonConfig,
    learner: Learner,
    state: Any,
    run_dir: Path,
    key: jax.Array,
    labels: Sequence[str] | None = None,
) -> None:
    """Cost table on fresh episodes and plots; ``labels`` name the members (default: by seed)."""
    game = learner.game
    policy_params = jax.vmap(learner.policy_params)(state)
    rows = evaluation.cost_table(
        game, learner.act, policy_params, key, config.eval_episodes, num_seeds=config.num_seeds, labels=labels
    )
    rows[config.num_seeds : config.num_seeds] = best_policy_rows(
        run_dir, learner, config, key, config.eval_episodes, labels
    )
    within = runlog.seconds_to_quality(runlog.read(run_dir / LOG_FILE, warn=False), TIME_TO_QUALITY_GAP)
    write_json(
        run_dir / RESULTS_FILE,
        {"eval_episodes": config.eval_episodes, "rows": rows, "seconds_to_within_5_percent": within},
    )
    print(evaluation.format_table(rows))
    if config.plots:
        from algorithms.common import plots  # matplotlib is only needed here

        plots.write_all(run_dir, game, learner.act, jax.tree.map(lambda x: x[0], policy_params), key)


def best_policy_rows(
    run_dir: Path,
    learner: Learner,
    config: CommonConfig,
    key: jax.Array,
    num_episodes: int,
    labels: Sequence[str] | None = None,
) -> list[dict[str, Any]]:
    """Rows for the policy of the chunk with the lowest chunk-evaluation cost, if it is not the last chunk."""
    path = Path(run_dir) / checkpoint.BEST_POLICY
    saved = read_json_object(Path(run_dir) / CONFIG_FILE)
    if not path.is_file() or saved.get("chunks") is None:
        return []
    try:
        policy_params, host = checkpoint.load(run_dir, policy_template(learner, config), checkpoint.BEST_POLICY)
    except checkpoint.CheckpointError as error:  # only a report row depends on it
        print(f"warning: {error}; the best chunk's policy is left out of the table", file=sys.stderr)
        return []
    if host["best_chunk"] == saved["chunks"]:
        return []
    game = learner.game
    labels = evaluation.seed_labels(config.num_seeds) if labels is None else labels
    rows = []
    for seed, summary in enumerate(
        evaluation.evaluate_learned(game, learner.act, policy_params, key, num_episodes, num_seeds=config.num_seeds)
    ):
        label = f"learned (greedy), best chunk {host['best_chunk']}"
        label += f", {labels[seed]}" if labels[seed] else ""
        rows.append(evaluation.row(label, game.team.kinds, summary))
    return rows


def policy_template(learner: Learner, config: CommonConfig) -> Any:
    """Shapes and dtypes of ``policy_params`` with a leading seed axis, as a checkpoint's template."""
    states = jax.eval_shape(jax.vmap(learner.init), seed_keys(config.seed, config.num_seeds))
    return jax.eval_shape(jax.vmap(learner.policy_params), states)


def state_template(learner: Learner, config: CommonConfig) -> Any:
    """Shapes and dtypes of the train state with a leading seed axis, as a checkpoint's template."""
    return jax.eval_shape(jax.vmap(learner.init), seed_keys(config.seed, config.num_seeds))


def _progress(config: CommonConfig, num_chunks: int, start_chunk: int, algorithm: str):
    if not config.progress:
        return None
    from tqdm import tqdm

    return tqdm(total=num_chunks, initial=start_chunk, desc=algorithm, unit="chunk", file=sys.stderr)


def _fmt(value) -> str:
    return "-" if value is None else f"{value:.1f}"
