"""Nothing lost, nothing silently wrong: the run directory, damaged files, NaN stops, resume flags, the
env's input domain, and a kill at a random moment (issue 15).

The learner runs here are tiny IPPO runs (8 games, 4 periods, 16-unit networks) that share one compiled
program through the session's compilation cache.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import jaxbeer
from algorithms import evaluate, ippo, registry
from algorithms.common import checkpoint, rundir, runlog
from algorithms.common.loop import state_template
from jaxbeer import policies

TINY = (
    "--num-envs 8 --num-steps 4 --num-minibatches 2 --eval-episodes 8 --base-stock-episodes 4 --hidden-sizes 16 "
    "--no-progress --no-plots"
).split()


def _tiny(run_dir, chunks: int = 2, *extra: str) -> list[str]:
    return [*TINY, "--total-timesteps", str(32 * chunks), "--num-chunks", str(chunks), "--run-dir", str(run_dir),
            *extra]  # fmt: skip


def _one_line_exit_2(capsys, call) -> str:
    capsys.readouterr()  # drop what earlier runs of the test printed
    with pytest.raises(SystemExit) as stop:
        call()
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    return err


# ------------------------------------------------------ 1. one run per directory
def test_a_finished_run_directory_is_refused_without_overwrite(tmp_path, learner_env, capsys):
    run_dir = tmp_path / "run"
    ippo.main(_tiny(run_dir))
    results = (run_dir / "results.json").read_text()
    err = _one_line_exit_2(capsys, lambda: ippo.main(_tiny(run_dir)))
    assert "already holds a run" in err and "--resume" in err and "--overwrite" in err
    assert (run_dir / "results.json").read_text() == results, "a refused run must not touch the old one"
    ippo.main(_tiny(run_dir, 2, "--overwrite", "--seed", "1"))
    assert json.loads((run_dir / "config.json").read_text())["config"]["seed"] == 1
    assert (run_dir / "results.json").read_text() != results


def test_overwrite_replaces_the_tensorboard_folder_and_keeps_other_files(tmp_path):
    run_dir = tmp_path / "run"
    (run_dir / "tensorboard").mkdir(parents=True)
    (run_dir / "tensorboard" / "events.out.tfevents.1").write_bytes(b"old")
    (run_dir / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match=r"already holds a run \(tensorboard\)"):
        rundir.claim(run_dir, fresh=True)
    rundir.claim(run_dir, fresh=True, overwrite=True)
    rundir.release(run_dir)
    assert not (run_dir / "tensorboard").exists() and (run_dir / "notes.txt").read_text() == "mine"


def test_run_dir_naming_a_file_is_one_line(tmp_path, learner_env, capsys):
    target = tmp_path / "a-file"
    target.write_text("not a directory")
    err = _one_line_exit_2(capsys, lambda: ippo.main(_tiny(target)))
    assert "is a file, not a directory" in err


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--agents", "ppo,base_stock"], "--agents must name exactly 4 kinds"),
        (["--agents", "base_stock,base_stock,base_stock,base_stock"], "at least one 'ppo'"),
        (["--horizon", "-3"], "horizon"),
    ],
)
def test_a_refused_game_leaves_no_run_directory(tmp_path, extra, message, capsys):
    """The scenario and --agents are checked before the run directory is claimed (nothing half-written)."""
    run_dir = tmp_path / "never"
    err = _one_line_exit_2(capsys, lambda: ippo.main(_tiny(run_dir, 2, *extra)))
    assert message in err and not run_dir.exists(), err


def test_a_second_process_cannot_take_a_locked_run_directory(tmp_path, learner_env, run_module):
    run_dir = tmp_path / "shared"
    rundir.claim(run_dir, fresh=True)  # this test process holds it, as a running trainer would
    try:
        done = run_module("algorithms.ippo", *_tiny(run_dir))
        assert done.returncode == 2, done.stderr[-2000:]
        assert done.stderr.strip().splitlines() == [
            f"error: {run_dir} is in use by another run (pid {os.getpid()}); wait for it to finish, "
            "or choose another --run-dir"
        ]
        resumed = run_module("algorithms.ippo", "--resume", str(run_dir))
        assert resumed.returncode == 2
    finally:
        rundir.release(run_dir)
    assert not rundir.run_files(run_dir), "the refused processes wrote nothing"


def test_the_lock_dies_with_its_process(tmp_path):
    run_dir = tmp_path / "run"
    script = (
        f"import time; from algorithms.common import rundir; rundir.claim({str(run_dir)!r}, fresh=True); "
        "print('held', flush=True); time.sleep(60)"
    )
    holder = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    with pytest.raises(ValueError, match="is in use by another run"):
        rundir.claim(run_dir, fresh=False)
    holder.kill()
    holder.wait()
    assert rundir.claim(run_dir, fresh=False) == run_dir  # the operating system dropped the dead holder's lock
    rundir.release(run_dir)


# ------------------------------------------------------ 2. no single damaged file costs a run
def test_a_torn_or_garbage_log_line_is_dropped_with_a_warning_and_resume_goes_on(tmp_path, learner_env, capsys):
    run_dir = tmp_path / "run"
    ippo.main(_tiny(run_dir, 3, "--stop-after-chunks", "2"))
    log = run_dir / runlog.LOG_FILE
    lines = log.read_text().splitlines()
    log.write_text(lines[0] + "\n" + "#garbage#\n" + lines[1][: len(lines[1]) // 2])  # cut mid-line
    ippo.main(["--resume", str(run_dir)])
    err = capsys.readouterr().err
    assert "line 2 is damaged" in err and "line 3 is damaged" in err
    assert [r["chunk"] for r in runlog.read(log)] == [1, 2, 3]  # chunk 2 was replayed from its checkpoint


def test_appending_after_a_torn_line_starts_a_new_line(tmp_path):
    log = tmp_path / "log.jsonl"
    log.write_text('{"chunk": 1}\n{"chunk": 2, "tor')
    runlog.append(log, {"chunk": 3})
    assert [r["chunk"] for r in runlog.read(log, warn=False)] == [1, 3]


def test_a_damaged_best_policy_snapshot_does_not_stop_a_report(tmp_path, learner_env, capsys):
    run_dir = tmp_path / "run"
    ippo.main(_tiny(run_dir))
    (run_dir / checkpoint.BEST_POLICY).write_bytes(b"\x00garbage")
    from algorithms import evaluate

    rows = evaluate.main(["--run", str(run_dir), "--episodes", "4"])
    assert rows[0]["label"] == "learned (greedy)"
    err = capsys.readouterr().err
    assert "best_policy.msgpack is damaged" in err and "left out of the table" in err


def test_a_flipped_byte_in_the_weights_falls_back_to_the_previous_checkpoint(tmp_path, learner_env, capsys):
    run_dir = tmp_path / "run"
    ippo.main(_tiny(run_dir, 3, "--stop-after-chunks", "2"))
    latest = checkpoint.path_for(run_dir, 2)
    _, config, learner, state = registry.load_run(run_dir)
    template = state_template(learner, config)
    kernel = max(jax.tree.leaves(state.params.actor), key=lambda leaf: leaf.size)  # the largest weight array
    data = bytearray(latest.read_bytes())
    at = bytes(data).find(np.asarray(kernel).tobytes())
    assert at >= 0
    data[at + 7] ^= 0x10
    latest.write_bytes(bytes(data))
    capsys.readouterr()
    _, host = checkpoint.load(run_dir, template)
    assert host["chunk"] == 1
    assert "checksum of .params.actor" in capsys.readouterr().err


@pytest.mark.parametrize(
    "content, message",
    [
        ('{"algorithm": "ippo", "config": {"num_envs": 8', "cannot be read as JSON"),
        ("42", "must hold a JSON object, got int"),
        ('{"algorithm": "ippo", "config": {"num_envs": 8}}', "missing fields"),
    ],
)
def test_a_damaged_config_json_is_one_line_for_resume_and_evaluate(tmp_path, learner_env, capsys, content, message):
    run_dir = tmp_path / "run"
    ippo.main(_tiny(run_dir))
    (run_dir / "config.json").write_text(content)
    for call in (lambda: ippo.main(["--resume", str(run_dir)]), lambda: evaluate.main(["--run", str(run_dir)])):
        err = _one_line_exit_2(capsys, call)
        assert message in err and str(run_dir / "config.json") in err, err


# ------------------------------------------------------ 3. non-finite training and resume tell the truth
def test_resume_refuses_flags_that_would_be_ignored(tmp_path, learner_env, capsys):
    run_dir = tmp_path / "run"
    ippo.main(_tiny(run_dir, 3, "--stop-after-chunks", "1"))
    err = _one_line_exit_2(capsys, lambda: ippo.main(["--resume", str(run_dir), "--lr", "1e-4"]))
    assert "--lr (saved 0.001, given 0.0001)" in err
    err = _one_line_exit_2(capsys, lambda: ippo.main(["--resume", str(run_dir), "--overwrite"]))
    assert "cannot be combined with --resume" in err
    ippo.main(["--resume", str(run_dir), "--num-envs", "8", "--stop-after-chunks", "1"])  # same value: fine


def test_resuming_another_algorithms_run_names_it(tmp_path, learner_env, capsys):
    run_dir = tmp_path / "run"
    (run_dir).mkdir()
    (run_dir / "config.json").write_text(json.dumps({"algorithm": "iql", "config": {"num_envs": 16}}))
    err = _one_line_exit_2(capsys, lambda: ippo.main(["--resume", str(run_dir)]))
    assert "is a 'iql' run, not 'ippo'; resume it with python -m algorithms.iql" in err


def test_ctrl_c_ends_with_one_line_and_the_resume_hint(tmp_path, learner_env, capsys, monkeypatch):
    from algorithms.common import loop

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(loop, "finish", interrupted)
    run_dir = tmp_path / "run"
    with pytest.raises(SystemExit) as stop:
        ippo.main(_tiny(run_dir))
    assert stop.value.code == 130
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == f"interrupted; checkpoint-0002.msgpack in {run_dir} is intact: continue with --resume {run_dir}"


def test_a_full_disk_ends_with_one_line(tmp_path, learner_env, capsys, monkeypatch):
    import errno

    from algorithms.common import loop

    def disk_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "run" / "results.json"))

    monkeypatch.setattr(loop, "finish", disk_full)
    with pytest.raises(SystemExit) as stop:
        ippo.main(_tiny(tmp_path / "run"))
    assert stop.value.code == 1
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line.startswith("error: No space left on device") and "--resume" in line


def test_a_nan_in_the_first_chunk_says_no_checkpoint_exists(tmp_path, learner_env, capsys):
    run_dir = tmp_path / "run"
    with pytest.raises(SystemExit) as stop:
        ippo.main(_tiny(run_dir, 2, "--lr", "1e30"))
    err = capsys.readouterr().err
    if stop.value.code == 1:  # a huge step size poisons the first chunk
        assert "holds no checkpoint" in err and "last good checkpoint" not in err
        assert not checkpoint.saved_checkpoints(run_dir)
    else:
        pytest.fail(f"expected the NaN stop, got exit {stop.value.code}: {err[-500:]}")


# ------------------------------------------------------ 4. the env refuses what it cannot represent
@pytest.mark.parametrize(
    "overrides, message",
    [
        (dict(shipment_lead=[2, 2, 2]), r"shipment_lead_min must be a scalar or have length 4"),
        (dict(holding_cost=[1.0, 1.0]), r"holding_cost must be a scalar or have length 4"),
        (dict(initial_inventory=12.7), r"initial_inventory must be a whole number"),
        (dict(demand="uniform", demand_low=0.5, demand_high=2.9), r"demand_low must be a whole number"),
        (dict(x_low=-2.5), r"x_low must be a whole number"),
        (dict(max_order=2**31), r"max_order must fit a 32-bit count"),
        (dict(horizon=2**31), r"horizon must fit a 32-bit count"),
        (dict(horizon=2**30, max_order=16), r"could overflow the int32 counts"),
        (dict(demand="poisson", demand_rate=1e7), r"demand_rate=10000000.0 needs a demand table of"),
        (dict(demand="seasonal", seasonal_amplitude=float("inf")), r"seasonal_amplitude must be finite"),
        (dict(demand="normal", demand_std=float("nan")), r"demand_std must be finite"),
    ],
)
def test_make_refuses_what_the_env_cannot_represent(overrides, message):
    with pytest.raises(ValueError, match=message):
        jaxbeer.make("classic", **overrides)


def test_integral_floats_are_accepted_as_integers():
    env, params = jaxbeer.make("classic", max_order=40.0, initial_inventory=12.0, horizon=52.0)
    assert env.config.max_order == 40 and env.config.horizon == 52 and params.initial_inventory.tolist() == [12] * 4


def test_huge_host_actions_saturate_instead_of_wrapping():
    env, params = jaxbeer.make("basic")
    _, state = env.reset(jax.random.key(0), params)
    orders = env.action_to_orders(state, np.array([2**33, -(2**33), 3, 2**31], np.int64), params)
    np.testing.assert_array_equal(orders, [env.config.max_order, 0, 3, env.config.max_order])
    with pytest.raises(TypeError, match="action must be an integer array"):
        env.step(jax.random.key(0), state, np.array([0.5, 1, 1, 1]), params)
    with pytest.raises(TypeError, match="action must be an integer array"):
        env.step(jax.random.key(0), state, jnp.array([jnp.nan, 1, 1, 1]), params)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    demand=st.sampled_from(["uniform", "poisson", "normal", "seasonal", "classic"]),
    scale=st.integers(0, 12),
    horizon=st.integers(1, 40),
    max_order=st.integers(1, 2**20),
    initial=st.integers(0, 2**16),
    seed=st.integers(0, 2**31 - 1),
)
def test_valid_inputs_never_overflow_or_produce_nan(demand, scale, horizon, max_order, initial, seed):
    """Anything ``make`` accepts plays a whole episode of extreme orders within int32, with finite costs;
    what it refuses, it refuses with a ValueError naming a field."""
    size = 2**scale
    settings_ = dict(demand=demand, horizon=horizon, max_order=max_order, initial_inventory=initial,
                     initial_order=initial, initial_shipment=initial, demand_low=0, demand_high=size,
                     demand_rate=float(size), demand_mean=float(size), demand_std=1.0 + size / 4,
                     seasonal_mean=float(size), seasonal_amplitude=float(size / 2), classic_high=size)  # fmt: skip
    try:
        env, params = jaxbeer.make("classic", **settings_)
    except ValueError as error:
        assert any(name in str(error) for name in (*settings_, "max_order", "horizon")), error
        return
    rng = np.random.default_rng(seed)
    policy = policies.constant(int(rng.integers(0, max_order + 1)))
    infos = jaxbeer.rollout(env, params, policy, jax.random.key(seed), 1)
    for name in ("net_inventory", "orders", "shipped", "arriving_order", "demand"):
        values = np.asarray(infos[name], np.int64)
        assert np.all(np.abs(values) < 2**31 - 1), name
    assert np.all(np.isfinite(np.asarray(infos["cost"]))) and np.all(np.asarray(infos["cost"]) >= 0)
    # The retailer's inventory moves only by what it receives and what customers take: no wrap-around.
    net = np.asarray(infos["net_inventory"][0, :, 0], np.int64)
    start = int(params.initial_inventory[0])
    assert np.all(np.diff(np.concatenate([[start], net])) <= max_order + initial)


INVALID = [(field, bad) for field in ("initial_inventory", "shipment_lead", "order_lead", "max_order", "horizon",
                                     "demand_low", "classic_high", "x_low")
           for bad in (1.5, float("nan"), [1, 2, 3, 4, 5], "many", 2**40, float("inf"))] + [
    (field, bad) for field in ("holding_cost", "backlog_cost", "reward_scale", "seasonal_amplitude", "demand_std")
    for bad in (-1.0, float("nan"), float("inf"), "many", [1, 2, 3, 4, 5])
    if not (field == "seasonal_amplitude" and bad == -1.0)] + [  # a negative amplitude only shifts the phase
    (field, -1) for field in ("initial_inventory", "shipment_lead", "order_lead", "max_order", "horizon",
                              "demand_low", "classic_high")]  # fmt: skip


@settings(max_examples=40, deadline=None)
@given(case=st.sampled_from(INVALID))
def test_invalid_inputs_always_raise_naming_the_field(case):
    field, bad = case
    overrides = {field: bad}
    if field in ("demand_low", "demand_std", "seasonal_amplitude"):
        overrides["demand"] = {"demand_low": "uniform", "demand_std": "normal", "seasonal_amplitude": "seasonal"}[field]
    with pytest.raises((ValueError, TypeError)) as error:
        jaxbeer.make("classic", **overrides)
    assert field in str(error.value), error.value


# ------------------------------------------------------ crash safety keeps holding
def test_a_kill_at_a_random_moment_resumes_to_the_same_result(tmp_path, learner_env):
    """SIGKILL a real run at a random moment (mid-chunk, mid-write, ...), resume it until it finishes,
    and compare with an uninterrupted run bit for bit."""
    flags = _tiny(tmp_path / "unused", 6)[:-2]
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    started = time.perf_counter()
    ippo.main([*flags, "--run-dir", str(whole)])
    run_seconds = time.perf_counter() - started
    command = [sys.executable, "-m", "algorithms.ippo", *flags, "--run-dir", str(killed)]
    rng = random.Random(int(os.environ.get("PLOOTO_KILL_SEED", time.time_ns())))
    process = subprocess.Popen(command, env=learner_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(rng.uniform(0.0, 1.5 * run_seconds))  # anywhere from start-up to past the end
    process.send_signal(signal.SIGKILL)
    process.wait()
    for _ in range(3):  # resume (or start again, if the kill came before the first checkpoint)
        if (killed / "results.json").is_file():
            break
        again = ["--resume", str(killed)] if checkpoint.saved_checkpoints(killed) else [*command[3:], "--overwrite"]
        done = subprocess.run([sys.executable, "-m", "algorithms.ippo", *again], env=learner_env,
                              capture_output=True, text=True, timeout=600)  # fmt: skip
        assert done.returncode == 0, done.stderr[-2000:]
    _, _, _, state_whole = registry.load_run(whole)
    _, _, _, state_killed = registry.load_run(killed)
    for a, b in zip(jax.tree.leaves(state_whole), jax.tree.leaves(state_killed)):
        np.testing.assert_array_equal(a, b)
    assert [r["chunk"] for r in runlog.read(killed / "log.jsonl")] == list(range(1, 7))
    assert (
        runlog.read(killed / "log.jsonl")[-1]["eval_team_cost"]
        == runlog.read(whole / "log.jsonl")[-1]["eval_team_cost"]
    )
