"""benchmarks.profile_update's reading of compiled HLO and of the trace, on a toy per-agent network in a scan."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import pytest

from benchmarks import profile_update

AGENTS, BATCH, INPUTS, HIDDEN, STEPS = 4, 32, 11, 16, 10


def per_agent_layer(weights, x):
    """One dense layer per agent, as ``AgentNetwork`` applies it: vmapped over a leading agent axis."""
    return jax.vmap(lambda w, xs: jnp.tanh(xs @ w))(weights, x)


def rollout_like(weights, x):
    def period(carry, _):
        hidden = per_agent_layer(weights, carry)
        return carry + jnp.sum(hidden) * 1e-3, None

    return jax.lax.scan(period, x, None, length=STEPS)[0]


@pytest.fixture(scope="module")
def compiled():
    weights = jnp.ones((AGENTS, INPUTS, HIDDEN))
    x = jnp.ones((AGENTS, BATCH, INPUTS))
    program = jax.jit(rollout_like).lower(weights, x).compile()
    return program, (weights, x)


def test_the_vmapped_layer_is_one_batched_dot_run_once_per_period(compiled):
    program, _ = compiled
    dots = profile_update.dot_summary(profile_update.parse_module(program.as_text()))
    assert len(dots) == 1
    (dot,) = dots
    assert dot["shape"].startswith(f"f32[{AGENTS},{BATCH},{HIDDEN}]")
    assert dot["lhs_batch_dims"] == "0"  # the agent axis is a batch dimension of one dot, not four dots
    assert dot["runs_per_call"] == STEPS


def test_stack_frames_follow_parents_out_to_the_calling_functions(compiled):
    program, _ = compiled
    instructions = profile_update.parse_module(program.as_text())
    (dot,) = [op for op in instructions.values() if op.opcode == "dot"]
    functions = [function for _, function, _ in dot.stack]
    assert functions[0].endswith("per_agent_layer.<locals>.<lambda>")
    assert any(name.endswith("rollout_like.<locals>.period") for name in functions)
    assert functions.index("per_agent_layer") < functions.index("rollout_like.<locals>.period")


def test_parts_follow_the_stack():
    def op(stack, op_name=""):
        frames = tuple((path, function, 1) for path, function in stack)
        return profile_update.Instruction("x", "fusion", "f32[1]", "c", op_name, frames, (), None, "")

    period = ("/repo/algorithms/ippo.py", "make_learner.<locals>.rollout.<locals>.period")
    loss = ("/repo/algorithms/ippo.py", "make_learner.<locals>.loss_fn")
    step = ("/repo/algorithms/ippo.py", "make_learner.<locals>.update.<locals>.epoch.<locals>.minibatch_step")
    assert profile_update.part_of(op([("/repo/jaxbeer/env.py", "BeerGame._step"), period])) == "rollout: env step"
    network = ("/repo/algorithms/common/networks.py", "AgentNetwork.apply")
    assert profile_update.part_of(op([network, period])) == "rollout: actor forward"
    assert profile_update.part_of(op([network, loss, step], "jvp(vmap(PolicyHead))")) == "loss forward"
    assert profile_update.part_of(op([network, loss, step], "transpose(jvp(vmap(PolicyHead)))")) == "loss backward"
    adam = ("/site-packages/optax/_src/transform.py", "scale_by_adam")
    assert profile_update.part_of(op([adam, step])).startswith("optimiser")
    assert profile_update.part_of(op([])) is None


def test_profile_shares_cover_the_traced_ops(compiled):
    program, args = compiled
    result = profile_update.profile(program.as_text(), lambda: program(*args))
    assert result["num_ops"] >= 1 and result["traced_op_seconds"] > 0
    assert sum(result["by_part"].values()) == pytest.approx(1.0)
    assert sum(result["by_kind"].values()) == pytest.approx(1.0)
    assert [dot["runs_per_call"] for dot in result["dots"]] == [STEPS]
