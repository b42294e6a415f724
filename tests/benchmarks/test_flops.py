"""benchmarks.flops against hand counts, and benchmarks.train_throughput end to end at a tiny size."""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import pytest

from benchmarks import flops, profile_update, train_throughput

BATCH, INPUTS, OUTPUTS = 8, 16, 32


def dense(weight, bias, x):
    return x @ weight + bias


@pytest.fixture
def layer():
    """(weight [I, O], bias [O], x [B, I], target [B, O]); no constant operand XLA could fold away."""
    keys = jax.random.split(jax.random.PRNGKey(0), 4)
    return (
        jax.random.normal(keys[0], (INPUTS, OUTPUTS)),
        jax.random.normal(keys[1], (OUTPUTS,)),
        jax.random.normal(keys[2], (BATCH, INPUTS)),
        jax.random.normal(keys[3], (BATCH, OUTPUTS)),
    )


def test_dense_forward_is_two_flops_per_multiply_add_plus_one_per_bias_add(layer):
    weight, bias, x, _ = layer
    count = flops.count_flops(dense, weight, bias, x)
    multiply_adds = BATCH * INPUTS * OUTPUTS
    assert count.dots == 2 * multiply_adds
    assert count.xla == 2 * multiply_adds + BATCH * OUTPUTS
    assert count.dot_runs == {
        flops.DotShape((BATCH, INPUTS), (INPUTS, OUTPUTS), (((1,), (0,)), ((), ())), "float32", "float32"): 1
    }


def test_dense_forward_and_backward_hand_count(layer):
    """loss = sum(target * (x @ W + b)); value and gradients in W and b.

    XLA's count: forward dot 2BIO, bias add BO, multiply by the target BO, sum to a scalar BO - 1 (a
    reduction is n_in - n_out); backward: the output's cotangent is the target itself (XLA folds the
    multiply by 1), dW = x^T target is 2BIO, db sums the target over the batch, (B - 1) O."""
    weight, bias, x, target = layer

    def value_and_grads(weight, bias, x, target):
        return jax.value_and_grad(lambda w, b: jnp.sum(dense(w, b, x) * target), argnums=(0, 1))(weight, bias)

    count = flops.count_flops(value_and_grads, weight, bias, x, target)
    multiply_adds, outputs = BATCH * INPUTS * OUTPUTS, BATCH * OUTPUTS
    assert count.dots == 4 * multiply_adds
    assert count.xla == 4 * multiply_adds + outputs + outputs + (outputs - 1) + (BATCH - 1) * OUTPUTS


def layer_steps(length):
    """``length`` tanh layers in a ``lax.scan``, each carry the first ``INPUTS`` outputs of the last."""

    def run(weight, bias, x):
        def body(carry, _):
            return jnp.tanh(dense(weight, bias, carry))[:, :INPUTS], None

        return jax.lax.scan(body, x, None, length=length)[0]

    return run


@pytest.mark.parametrize("length", [2, 7])
def test_a_scan_counts_its_body_length_times_where_xla_counts_it_once(layer, length):
    weight, bias, x, _ = layer
    one = flops.count_flops(layer_steps(1), weight, bias, x)
    many = flops.count_flops(layer_steps(length), weight, bias, x)
    assert many.xla == length * one.xla
    assert many.dots == length * one.dots
    assert many.dot_runs == {shape: length for shape in one.dot_runs}
    raw = flops.xla_flops(jax.jit(layer_steps(length)).lower(weight, bias, x).compile())
    assert raw < 1.01 * one.xla  # the body once, plus the loop counter: why count_flops exists


def test_nested_scans_multiply_their_lengths(layer):
    weight, bias, x, _ = layer
    inner = layer_steps(3)

    def nested(weight, bias, x):
        return jax.lax.scan(lambda carry, _: (inner(weight, bias, carry), None), x, None, length=5)[0]

    assert flops.count_flops(nested, weight, bias, x).xla == 15 * flops.count_flops(layer_steps(1), weight, bias, x).xla


def test_a_cond_counts_its_costliest_branch_and_only_its_dots(layer):
    weight, bias, x, _ = layer

    def learn_or_skip(ready, weight, bias, x):
        return jax.lax.cond(ready, lambda: jnp.sum(dense(weight, bias, x)), lambda: jnp.sum(x))

    count = flops.count_flops(learn_or_skip, True, weight, bias, x)
    learn = flops.count_flops(lambda w, b, x: jnp.sum(dense(w, b, x)), weight, bias, x)
    assert count.xla == learn.xla + 1  # + converting the predicate to a branch index
    assert count.dot_runs == learn.dot_runs


def test_a_while_loop_of_unknown_trip_count_is_counted_once_and_reported(layer):
    weight, bias, x, _ = layer

    def until_large(weight, bias, x):
        return jax.lax.while_loop(lambda c: c[0, 0] < 100.0, lambda c: jnp.tanh(dense(weight, bias, c))[:, :INPUTS], x)

    count = flops.count_flops(until_large, weight, bias, x)
    assert count.loops_counted_once == 1
    assert count.dots == 2 * BATCH * INPUTS * OUTPUTS


@pytest.mark.parametrize("make_key", [jax.random.PRNGKey, jax.random.key], ids=["raw", "typed"])
def test_a_scan_over_keys_counts_with_raw_and_typed_keys(make_key):
    def noisy(key, x):
        return jax.lax.scan(lambda c, k: (c + jax.random.normal(k, c.shape), None), x, jax.random.split(key, 4))[0]

    count = flops.count_flops(noisy, make_key(0), jnp.zeros((BATCH, INPUTS)))
    body = flops.count_flops(lambda k, c: c + jax.random.normal(k, c.shape), make_key(0), jnp.zeros((BATCH, INPUTS)))
    split = flops.count_flops(lambda k: jax.random.split(k, 4), make_key(0))
    assert count.xla == pytest.approx(4 * body.xla + split.xla, rel=0.01)


def test_dot_rates_weight_each_shape_by_its_runs():
    small = flops.DotShape((4, 64, 11), (4, 11, 8), (((2,), (1,)), ((0,), (0,))), "float32", "float32")
    large = flops.DotShape((64, 128), (128, 32), (((1,), (0,)), ((), ())), "float32", "float32")
    assert 3 * small.flops < large.flops
    rates = flops.dot_rates({small: 3, large: 1}, min_seconds=0.01)
    assert rates["flops_per_update"] == 3 * small.flops + large.flops
    assert rates["flop_per_s"] == pytest.approx(rates["flops_per_update"] / rates["seconds_per_update_if_alone"])
    assert [row["runs_per_update"] for row in rates["dots"]] == [1, 3]  # most FLOPs per update first
    assert all(0 < row["seconds"] <= row["seconds_with_dispatch"] for row in rates["dots"])
    peak = flops.matmul_rate(64, min_seconds=0.01)
    assert peak["flop_per_s"] == pytest.approx(2 * 64**3 / peak["seconds"])


def test_train_throughput_reports_flops_and_peak_fractions(tmp_path, learner_env, capsys, assert_machine):
    out = tmp_path / "train.json"
    tiny = "--num-envs 8 --num-steps 2 --num-minibatches 2 --update-epochs 1 --hidden-sizes 8 --updates 1"
    payload = train_throughput.main(
        [*tiny.split(), "--repeats", "1", "--peak-size", "128", "--base-stock-episodes", "4", "--out", str(out)]
    )
    assert json.loads(out.read_text()) == json.loads(json.dumps(payload))
    assert_machine(payload["machine"])
    (row,) = payload["rows"]
    assert row["algorithm"] == "ippo" and row["settings"]["num_envs"] == 8
    assert row["env_steps_per_update"] == 16 and row["env_steps_per_s"] == pytest.approx(16 / row["train_seconds"])
    assert 0 < row["dot_flops_per_update"] < row["flops_per_update"]
    # The timed program's raw XLA figure counts the rollout's two periods once: less than the corrected one.
    assert row["xla_flops_timed_program_loops_once"] < row["flops_per_update"]
    assert row["flop_per_s"] == pytest.approx(row["flops_per_update"] * row["updates_per_s"])
    assert row["fraction_of_peak"] == pytest.approx(row["flop_per_s"] / row["peak"]["flop_per_s"])
    assert row["own_dots"]["dots"] and row["own_dots"]["flop_per_s"] > 0
    assert any(line.startswith("ippo ") for line in capsys.readouterr().out.splitlines())


@pytest.mark.parametrize(
    "main, flags",
    [
        (train_throughput.main, ["--algorithm", "sarsa"]),
        (train_throughput.main, ["--num-envs", "-1"]),
        (train_throughput.main, ["--algorithm", "iql", "--num-steps", "3"]),
        (train_throughput.main, ["--no-such-flag"]),
        (profile_update.main, ["--algorithm", "sarsa"]),
        (profile_update.main, ["--updates", "0"]),
    ],
)
def test_bad_flags_exit_2_with_one_line_before_any_compile(capsys, main, flags):
    with pytest.raises(SystemExit) as stopped:
        main(flags)
    assert stopped.value.code == 2, flags
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), lines
