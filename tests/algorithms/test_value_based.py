"""IQL, VDN and QMIX: the TD target, the mixers, the data path, the CLIs, resume, bad flags.

Tiny shapes throughout: four games, a few hundred updates, 16-unit networks.
"""

from __future__ import annotations

import importlib
import json
import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from algorithms import iql, qmix, registry, value_based, vdn
from algorithms.common import checkpoint
from algorithms.common.config import parse_config
from algorithms.value_based import (
    QMixer,
    epsilon_greedy,
    lambda_returns,
    mix,
    n_step_targets,
    regression_targets,
    rescale_value,
    unrescale_value,
)

TINY = (
    "--num-envs 4 --base-stock-episodes 4 --eval-episodes 8 --batch-size 8 --buffer-size 256 "
    "--learning-starts 32 --hidden-sizes 16 --mixer-embed-dim 8 --hypernet-hidden 8 "
    "--no-progress"
).split()


@pytest.fixture(autouse=True)
def _shared_caches(learner_env):
    """The session's base-stock and compilation caches (tests/conftest.py), in-process and in subprocesses."""
    return learner_env


# ------------------------------------------------------------ TD targets
def test_truncated_transition_bootstraps_from_the_final_observation():
    """Hand-worked: r = -1, the episode is truncated, V(final obs) = -5, gamma = 0.9.

    Truncation is not termination: the target is -1 + 0.9 * -5 = -5.5, not -1."""
    rewards = jnp.array([[-1.0]])  # [L=1, M=1]
    next_values = jnp.array([[-5.0]])
    truncated = n_step_targets(rewards, jnp.array([False]), jnp.array([True]), next_values, 0.9)
    np.testing.assert_allclose(truncated, [-5.5], rtol=1e-6)
    terminated = n_step_targets(rewards, jnp.array([True]), jnp.array([False]), next_values, 0.9)
    np.testing.assert_allclose(terminated, [-1.0], rtol=1e-6)


def test_n_step_window_stops_at_the_truncation_and_bootstraps_there():
    """Three steps, rewards -1, -2, -3, next values -10, -20, -30, gamma 0.9, two agents (M=2)."""
    rewards = jnp.array([[-1.0, -1.0], [-2.0, -2.0], [-3.0, -3.0]])
    next_values = jnp.array([[-10.0, 0.0], [-20.0, 0.0], [-30.0, 0.0]])
    no = jnp.zeros(3, bool)
    # No episode end: -1 + .9 * (-2 + .9 * (-3 + .9 * -30)) = -27.1 ; second column: -1 + .9*(-2 + .9*-3) = -5.23
    np.testing.assert_allclose(n_step_targets(rewards, no, no, next_values, 0.9), [-27.1, -5.23], rtol=1e-5)
    # Truncated after step 1: -1 + .9 * (-2 + .9 * -20) = -19 ; the step after it belongs to a new episode.
    cut = jnp.array([False, True, False])
    np.testing.assert_allclose(n_step_targets(rewards, no, cut, next_values, 0.9), [-19.0, -2.8], rtol=1e-5)
    # Terminated after step 1 instead: no bootstrap, -1 + .9 * -2 = -2.8 for both.
    np.testing.assert_allclose(n_step_targets(rewards, cut, no, next_values, 0.9), [-2.8, -2.8], rtol=1e-5)
    # Truncated at the very first step: only its reward and its own bootstrap.
    first = jnp.array([True, False, False])
    np.testing.assert_allclose(n_step_targets(rewards, no, first, next_values, 0.9), [-10.0, -1.0], rtol=1e-5)


def test_n_step_targets_batch_over_leading_axes():
    key = jax.random.key(0)
    rewards = jax.random.normal(key, (5, 3, 2))
    next_values = jax.random.normal(jax.random.key(1), (5, 3, 2))
    truncated = jnp.array([[False, True, False]] * 5)
    batched = n_step_targets(rewards, jnp.zeros((5, 3), bool), truncated, next_values, 0.97)
    one = jax.vmap(lambda r, t, v: n_step_targets(r, jnp.zeros(3, bool), t, v, 0.97))(rewards, truncated, next_values)
    np.testing.assert_allclose(batched, one, rtol=1e-6)
    assert batched.shape == (5, 2)


def test_lambda_returns_hand_worked_with_truncation():
    """Four periods, rewards -1..-4, next values -10..-40, gamma 0.9, lambda 0.5, truncated after period 1:
    G3 = -4 + 0.9 * -40 = -40 (the rollout ends: the bootstrap alone);
    G2 = -3 + 0.9 * (-30 + 0.5 * (G3 + 30)) = -34.5;
    G1 = -2 + 0.9 * -20 = -20 (truncated: bootstrap from the final observation, nothing carried back);
    G0 = -1 + 0.9 * (-10 + 0.5 * (G1 + 10)) = -14.5.
    A second game terminates after period 1 instead, so G1 = -2 and G0 = -1 + 0.9 * (-10 + 0.5 * 8) = -6.4."""
    rewards = jnp.array([-1.0, -2.0, -3.0, -4.0])[:, None, None] * jnp.ones((1, 2, 1))  # [T, E, M]
    next_values = jnp.array([-10.0, -20.0, -30.0, -40.0])[:, None, None] * jnp.ones((1, 2, 1))
    ended = jnp.array([False, True, False, False])
    terminated = jnp.stack([jnp.zeros(4, bool), ended], axis=1)  # [T, E]
    truncated = jnp.stack([ended, jnp.zeros(4, bool)], axis=1)
    returns = lambda_returns(rewards, terminated, truncated, next_values, 0.9, 0.5)
    np.testing.assert_allclose(returns[:, 0, 0], [-14.5, -20.0, -34.5, -40.0], rtol=1e-6)
    np.testing.assert_allclose(returns[:, 1, 0], [-6.4, -2.0, -34.5, -40.0], rtol=1e-6)
    one_step = lambda_returns(rewards, terminated, truncated, next_values, 0.9, 0.0)
    np.testing.assert_allclose(one_step[:, 0, 0], [-10.0, -20.0, -30.0, -40.0], rtol=1e-6)  # r + gamma V


def test_value_rescaling_is_invertible_in_float32_and_matches_hand_values():
    """h(3) = sqrt(4) - 1 + 0.003; h(-8) = -(3 - 1) - 0.008; the inverse holds from 1e-6 to 1e5."""
    np.testing.assert_allclose(rescale_value(jnp.float32(3.0)), 1.003, rtol=1e-6)
    np.testing.assert_allclose(rescale_value(jnp.float32(-8.0)), -2.008, rtol=1e-6)
    np.testing.assert_allclose(unrescale_value(jnp.float32(1.003)), 3.0, rtol=1e-6)
    magnitudes = jnp.logspace(-6, 5, 45, dtype=jnp.float32)
    x = jnp.concatenate([-magnitudes, jnp.zeros(1), magnitudes, jnp.linspace(-3.0, 3.0, 601, dtype=jnp.float32)])
    # Near 0 the inverse subtracts two numbers near 1, so its error is a few float32 ulps of 1 (1.2e-7) there.
    np.testing.assert_allclose(unrescale_value(rescale_value(x)), x, rtol=2e-6, atol=4e-7)


def test_rescaled_target_sums_returns_in_the_original_space():
    """Hand-worked: r = -1, truncated, the next h-value h(-5), gamma 0.9: target h(-1 + 0.9 * -5) = h(-5.5)
    = -(sqrt(6.5) - 1) - 0.0055 = -1.555010, not -1 + 0.9 * h(-5)."""
    rewards = jnp.array([[-1.0]])
    next_values = rescale_value(jnp.array([[-5.0]]))
    target = regression_targets(rewards, jnp.array([False]), jnp.array([True]), next_values, 0.9, True)
    np.testing.assert_allclose(target, [-(np.sqrt(6.5) - 1.0) - 0.0055], rtol=1e-6)
    plain = regression_targets(rewards, jnp.array([False]), jnp.array([True]), jnp.array([[-5.0]]), 0.9, False)
    np.testing.assert_allclose(plain, [-5.5], rtol=1e-6)


# ------------------------------------------------------------- mixers
@pytest.mark.parametrize("seed", range(4))
def test_qmix_mixer_is_monotonic_in_every_agent_q(seed):
    key = jax.random.key(seed)
    param_key, q_key, state_key = jax.random.split(key, 3)
    num_agents, state_dim = 4, 11
    mixer = QMixer(embed_dim=8, hypernet_hidden=16)
    params = mixer.init(param_key, jnp.zeros((num_agents,)), jnp.zeros((state_dim,)))
    agent_q = 3.0 * jax.random.normal(q_key, (256, num_agents))
    states = 2.0 * jax.random.normal(state_key, (256, state_dim))
    grads = jax.vmap(jax.grad(lambda q, s: mixer.apply(params, q, s)[0]))(agent_q, states)
    assert grads.shape == (256, num_agents)
    assert bool(jnp.all(grads >= 0.0)), float(grads.min())
    assert float(jnp.mean(grads > 0.0)) > 0.5  # not monotonic by being flat


def test_vdn_sums_and_iql_keeps_each_agent():
    q = jnp.array([[1.0, -2.0, 0.5]])
    np.testing.assert_allclose(mix("vdn", None, {}, q, None), [[-0.5]])
    np.testing.assert_allclose(mix("none", None, {}, q, None), q)


def test_epsilon_greedy_extremes():
    q = jnp.tile(jnp.array([0.0, 3.0, 1.0, -1.0]), (2000, 1))
    greedy = epsilon_greedy(jax.random.key(0), q, jnp.float32(0.0))
    assert bool(jnp.all(greedy == 1)) and greedy.dtype == jnp.int32
    uniform = epsilon_greedy(jax.random.key(1), q, jnp.float32(1.0))
    counts = np.bincount(np.asarray(uniform), minlength=4)
    assert np.all(np.abs(counts - 500) < 100), counts


# ------------------------------------------------------------- data path
def _config(cls, *flags):
    return parse_config(cls, TINY + list(flags))


def test_buffer_stores_the_pre_reset_observation_and_state_at_truncation():
    """Collect one whole episode without learning and look at its last transition."""
    config = _config(qmix.Config, "--learning-starts", "100000", "--total-timesteps", "400", "--buffer-size", "512")
    learner = qmix.make_learner(config)
    horizon = learner.game.env.config.horizon
    state = learner.init(jax.random.PRNGKey(0))
    state, _ = jax.jit(lambda s: jax.lax.scan(lambda c, _: learner.update(c), s, None, length=horizon))(state)
    data = jax.device_get(state.buffer.data)
    assert data["truncated"][:horizon].sum() == 4 and bool(np.all(data["truncated"][horizon - 1]))
    elapsed = data["next_obs"][horizon - 1][..., 6]  # period / horizon of the final observation
    np.testing.assert_allclose(elapsed, 1.0)  # the last period, not the next episode's first
    np.testing.assert_allclose(np.asarray(state.obs)[..., 6], 0.0)  # the games themselves did reset
    env = learner.game.env
    obs_dim = env.obs_dim
    next_state_obs = data["next_state"][horizon - 1][:, : 4 * obs_dim].reshape(4, 4, obs_dim)
    np.testing.assert_allclose(next_state_obs, data["next_obs"][horizon - 1], rtol=1e-6)
    # The team reward stored for VDN/QMIX is the scaled team cost of that period.
    assert data["reward"].shape[-1] == 1 and np.all(data["reward"][:horizon] <= 0)
    assert np.asarray(state.running_cost).sum() == 0.0  # every game's episode was closed


def test_train_is_pure_and_vmaps_over_seeds():
    config = _config(vdn.Config, "--total-timesteps", "800")
    train = jax.jit(jax.vmap(vdn.make_train(config)))
    state, metrics = train(jax.random.split(jax.random.PRNGKey(3), 2))
    assert metrics["loss"].shape == (2, 200)
    assert bool(jnp.all(jnp.isfinite(metrics["loss"])))
    assert int(metrics["learning"][0].sum()) == 200 - 7  # learning starts once 32 transitions are stored
    assert np.asarray(state.num_gradient_steps).tolist() == [193, 193]
    assert not np.allclose(metrics["loss"][0], metrics["loss"][1])  # the seeds differ
    again, _ = train(jax.random.split(jax.random.PRNGKey(3), 2))
    assert all(np.array_equal(a, b) for a, b in zip(jax.tree.leaves(state), jax.tree.leaves(again)))


def test_pqn_update_rolls_out_then_takes_epochs_times_minibatches_steps_without_a_buffer():
    config = _config(vdn.Config, "--pqn", "--num-steps", "5", "--num-minibatches", "2", "--total-timesteps", "400")
    learner = vdn.make_learner(config)
    assert learner.num_updates == 20 and learner.env_steps_per_update == 4 * 5
    state, metrics = jax.jit(vdn.make_train(config))(jax.random.PRNGKey(0))
    assert state.buffer is None
    assert int(state.num_gradient_steps) == 20 * 2 * 2 and int(state.env_steps) == 400
    assert metrics["loss"].shape == (20,) and bool(jnp.all(jnp.isfinite(metrics["loss"])))
    assert float(metrics["epsilon"][-1]) < float(metrics["epsilon"][0])


def _same(tree_a, tree_b):
    return all(np.array_equal(a, b) for a, b in zip(jax.tree.leaves(tree_a), jax.tree.leaves(tree_b)))


def test_mixed_team_individual_rewards_and_target_copies():
    """A learned retailer beside base-stock co-players, on its own cost; target copied every 40 gradient steps."""
    config = _config(
        iql.Config,
        "--agents",
        "iql,base_stock,base_stock,base_stock",
        "--total-timesteps",
        "400",
        "--no-team-reward",
        "--n-step",
        "1",
        "--learning-starts",
        "0",
        "--target-update-period",
        "40",
        "--gradient-steps",
        "2",
    )
    learner = iql.make_learner(config)
    assert learner.game.team.num_learners == 1
    state = learner.init(jax.random.PRNGKey(1))
    run = jax.jit(lambda s: jax.lax.scan(lambda c, _: learner.update(c), s, None, length=20))
    before = state
    state, metrics = run(state)  # 20 updates x 2 = 40 gradient steps: the target was just refreshed
    assert bool(jnp.all(jnp.isfinite(metrics["loss"]))) and float(metrics["loss"][-1]) > 0
    assert int(state.num_gradient_steps) == 40
    assert _same(state.online, state.target) and not _same(state.online, before.online)
    # Individual rewards: one per echelon, each minus its own scaled cost.
    data = jax.device_get(state.buffer.data)
    assert data["reward"].shape[-1] == 4
    assert np.all(data["reward"][:20] <= 0) and not np.allclose(data["reward"][:20, :, 0], data["reward"][:20, :, 1])
    state, _ = run(state)
    assert int(state.num_gradient_steps) == 80 and _same(state.online, state.target)


# ------------------------------------------------------------- CLIs
SMOKE = TINY + ["--total-timesteps", "480", "--num-chunks", "2", "--num-seeds", "2"]


@pytest.fixture(scope="module")
def qmix_run(train_once, run_module):
    """One small QMIX run (2 seeds, 2 chunks) shared by the smoke, evaluate and resume tests (trained once
    per session, however many workers run them); its exit status and output are kept beside it."""
    flags = SMOKE + ["--no-plots", "--huber-delta", "1.0", "--n-step", "2"]

    def train(run_dir):
        done = run_module("algorithms.qmix", *flags + ["--run-dir", str(run_dir)])
        record = {"returncode": done.returncode, "stdout": done.stdout, "stderr": done.stderr}
        (run_dir.parent / "qmix-cli.json").write_text(json.dumps(record))

    run_dir = train_once("qmix-run", train)
    result = types.SimpleNamespace(**json.loads((run_dir.parent / "qmix-cli.json").read_text()))
    return run_dir, flags, result


def _check_run(run_dir, result, plots):
    assert result.returncode == 0, result.stderr[-2000:]
    lines = [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines()]
    assert [line["chunk"] for line in lines] == [1, 2]
    assert all(np.isfinite(line["loss"]) and np.isfinite(line["eval_team_cost"]) for line in lines)
    # 120 updates of 4 games: the first episodes (100 periods) end in chunk 2, never averaged before.
    assert lines[0]["episodes"] == 0 and lines[1]["episodes"] == 2 * 4 and lines[1]["episode_team_cost"] > 0
    assert len(lines[-1]["eval_team_cost_per_seed"]) == 2
    assert checkpoint.saved_checkpoints(run_dir) and (run_dir / "results.json").is_file()
    assert "all base_stock" in result.stdout
    assert (run_dir / "learning_curve.png").is_file() == plots


@pytest.mark.parametrize(
    "module, flags",
    [
        ("iql", ["--agents", "iql,base_stock,base_stock,base_stock", "--no-team-reward"]),
        ("vdn", ["--no-share-params", "--no-plots", "--n-step", "1", "--dueling", "--value-rescale"]),
        ("vdn", ["--pqn", "--layer-norm", "--num-steps", "4", "--num-minibatches", "2", "--no-plots"]),
    ],
)
def test_cli_smoke(module, flags, tmp_path, learner_env, capsys):
    """IQL and VDN through their ``main`` in this process; QMIX's smoke (the fixture) is the subprocess."""
    run_dir = tmp_path / module
    result = _main_in_process(module, [*SMOKE, *flags, "--run-dir", str(run_dir)], capsys)
    _check_run(run_dir, result, plots="--no-plots" not in flags)


def _main_in_process(module: str, argv: list[str], capsys) -> types.SimpleNamespace:
    """``python -m algorithms.<module> argv`` as ``main(argv)``: exit status and output, as ``run_module`` gives."""
    capsys.readouterr()
    try:
        importlib.import_module(f"algorithms.{module}").main(argv)
        status = 0
    except SystemExit as stop:
        status = stop.code
    out = capsys.readouterr()
    return types.SimpleNamespace(returncode=status, stdout=out.out, stderr=out.err)


def test_cli_smoke_qmix(qmix_run):
    run_dir, _, result = qmix_run
    _check_run(run_dir, result, plots=False)


def test_evaluate_cli_reloads_a_value_based_run(qmix_run):
    from algorithms import evaluate

    run_dir, _, _ = qmix_run
    rows = evaluate.main(["--run", str(run_dir), "--episodes", "8"])
    assert [row["label"] for row in rows[:2]] == ["learned (greedy), seed 0", "learned (greedy), seed 1"]
    assert all(np.isfinite(row["team_cost_mean"]) for row in rows)


def test_resume_equals_an_uninterrupted_run(qmix_run, tmp_path, learner_env, capsys):
    """Stop after chunk 1, resume, and land bit for bit on the uninterrupted run's state and log (the
    uninterrupted run is the fixture's subprocess; the two parts run in this process)."""
    whole, flags, _ = qmix_run
    parts = tmp_path / "parts"
    first = _main_in_process("qmix", flags + ["--run-dir", str(parts), "--stop-after-chunks", "1"], capsys)
    assert first.returncode == 0, first.stderr[-2000:]
    assert len((parts / "log.jsonl").read_text().splitlines()) == 1
    second = _main_in_process("qmix", ["--resume", str(parts), "--no-progress"], capsys)
    assert second.returncode == 0, second.stderr[-2000:]
    _, _, _, state_whole = registry.load_run(whole)
    _, _, _, state_parts = registry.load_run(parts)
    assert len(jax.tree.leaves(state_whole)) == len(jax.tree.leaves(state_parts))
    assert _same(state_whole, state_parts)
    assert int(np.asarray(state_parts.buffer.size)[0]) > 0 and int(np.asarray(state_parts.env_steps)[0]) == 480

    def logged(run_dir, key):
        return [json.loads(line)[key] for line in (run_dir / "log.jsonl").read_text().splitlines()]

    for key in ("loss", "q_taken", "eval_team_cost", "episode_team_cost"):
        assert logged(whole, key) == logged(parts, key)


# ------------------------------------------------------------- bad flags
@pytest.mark.parametrize(
    "module, flags, message",
    [
        (qmix, ["--n-step", "0"], "--n-step must be an integer >= 1"),
        (vdn, ["--no-team-reward"], "--no-team-reward"),
        (iql, ["--lr", "0"], "--lr must be in (0.0, 1.0]"),
        (iql, ["--epsilon-end", "1.5"], "--epsilon-end must be in [0.0, 1.0]"),
        (qmix, ["--buffer-size", "4", "--num-envs", "8"], "--buffer-size must be >= num_envs * n_step"),
        (iql, ["--agents", "ppo,iql,iql,iql"], "--agents"),
        (vdn, ["--agents", "base_stock,base_stock,base_stock,base_stock"], "--agents"),
        (vdn, ["--pqn", "--num-envs", "4", "--num-minibatches", "3"], "--num-minibatches must divide --num-envs = 4"),
        (iql, ["--pqn", "--td-lambda", "2"], "--td-lambda must be in [0.0, 1.0]"),
    ],
)
def test_bad_flags_exit_2_with_one_line(module, flags, message, capsys):
    with pytest.raises(SystemExit) as stop:
        module.main(flags)
    assert stop.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "\n" not in err and message in err, err


@pytest.mark.parametrize(
    "flags, line",
    [
        (["--target-update-period", "0"], "error: --target-update-period must be an integer >= 1, got 0"),
        (["--batch-size", "many"], "error: Error parsing --batch-size: invalid literal for int() with base 10: 'many'"),
    ],
)
def test_bad_flag_from_the_command_line_exits_2(flags, line, cli_exit):
    status, stderr = cli_exit("algorithms.qmix", *flags)
    assert status == 2
    assert stderr.strip().splitlines() == [line]


def test_value_based_core_is_shared():
    """The three entry points differ only in their mixer and learner kind."""
    kinds = {(m.Config.learner_kind, m.Config.mixer) for m in (iql, vdn, qmix)}
    assert kinds == {("iql", "none"), ("vdn", "vdn"), ("qmix", "qmix")}
    assert iql.make_learner is vdn.make_learner is qmix.make_learner is value_based.make_learner
