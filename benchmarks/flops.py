"""FLOPs of a compiled learner update, and the matmul rates to hold them against.

XLA's cost analysis (``compiled.cost_analysis()``: in jax 0.10.2 a dict; some older versions gave a list
of one dict per module) counts a while loop's body once, whatever its trip count: a ``lax.scan`` of 10 dense
layers reports the FLOPs of one layer, plus 2 for the loop counter. A learner update is almost all loops
(IPPO: the rollout's 64 periods, 2 epochs of 16 minibatch steps), so its raw figure is far too small.
``count_flops`` therefore walks the update's jaxpr and asks XLA about each loop body on its own:

* every ``scan`` becomes an opaque stub (a ``pure_callback`` with the scan's inputs and outputs) in the
  program around it; XLA compiles that program and counts it, then each scan body is counted the same
  way, recursively, and multiplied by its ``length``;
* a ``cond`` counts its costliest branch (the value-based learners' "learn" branch, the one taken once
  the replay buffer is warm);
* a ``while`` loop with a trip count known only at run time (none in the learners) is counted once and
  reported in ``loops_counted_once``;
* ``threefry2x32`` (inside every ``jax.random`` draw, below the jaxpr) lowers on CPU to a rolled loop of
  five passes, which XLA would count once; while counting, it is lowered as jax lowers it on GPU, the
  passes written out. It is integer work, but XLA counts it as FLOPs: at IPPO's defaults the sampling's
  threefry is several percent of the update's count.

XLA counts 2 FLOPs per multiply-add of a dot, 1 per element of an elementwise add or multiply, and
``n_in - n_out`` for a reduction; transcendentals (``tanh``, ``exp``, ``log``) go to a separate count,
not to ``flops``. Counting each body in its own compile loses XLA's optimisations across the loop
boundary (hoisting loop-invariant work out of a body), which can only add a little to the figure.
``dot_flops`` beside it is independent of XLA: ``2 * prod(output) * prod(contracted)`` for every
``dot_general`` in the jaxpr, times its loops' trip counts.

``matmul_rate`` and ``dot_rates`` time the references: a large square float32 matmul (the CPU's matmul
peak, as near as XLA gets) and the learner's own dots, each shape alone, as they occur in its update.
"""

from __future__ import annotations

import contextlib
import math
import time
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.extend import core as jex_core

try:  # jax 0.10's lowering tables and threefry, to count draws unrolled (see _threefry_unrolled_on_cpu)
    from jax._src.interpreters import mlir as _mlir
    from jax._src.random import threefry2x32 as _threefry
except ImportError:  # another jax layout: draws are then counted one pass in five
    _mlir = _threefry = None

LOOP_PRIMITIVES = ("scan", "cond", "while")


class DotShape(NamedTuple):
    """A ``dot_general`` as it occurs in a jaxpr: operand shapes, dimension numbers and dtypes."""

    lhs: tuple[int, ...]
    rhs: tuple[int, ...]
    dimension_numbers: Any  # ((lhs_contracting, rhs_contracting), (lhs_batch, rhs_batch))
    lhs_dtype: str
    rhs_dtype: str

    @property
    def flops(self) -> int:
        """Two FLOPs per multiply-add: ``2 * prod(output) * prod(contracted)``."""
        (lhs_contracting, _), (lhs_batch, _) = self.dimension_numbers
        contracted = math.prod(self.lhs[i] for i in lhs_contracting)
        batch = math.prod(self.lhs[i] for i in lhs_batch)
        lhs_free = math.prod(self.lhs) // (contracted * batch)
        rhs_free = math.prod(self.rhs) // (contracted * batch)
        return 2 * batch * lhs_free * rhs_free * contracted

    def describe(self) -> str:
        """``[4,16384,11] x [4,11,64]``-style text, batch dimensions first as in the jaxpr."""
        return f"[{','.join(map(str, self.lhs))}] x [{','.join(map(str, self.rhs))}]"


class FlopCount(NamedTuple):
    """FLOPs of one call of a function, loops counted by their trip counts."""

    xla: float
    """XLA's cost-analysis ``flops``, each loop body counted ``length`` times."""
    dots: float
    """``dot_general`` FLOPs from the jaxpr (2 per multiply-add), each loop body counted ``length`` times."""
    dot_runs: dict[DotShape, int]
    """Every distinct ``dot_general`` and how often one call runs it."""
    loops_counted_once: int
    """``while`` loops of unknown trip count, counted once (0 for every learner here)."""


def xla_flops(compiled: Any) -> float:
    """``flops`` of a compiled computation's cost analysis (a dict, or a list of one dict per module), with
    every custom call counted as 0: XLA reports -1 for each one it cannot see into (the stubs here)."""
    analysis = compiled.cost_analysis()
    entries = analysis if isinstance(analysis, (list, tuple)) else [analysis]
    custom_calls = compiled.as_text().count(" custom-call(")
    return float(sum(entry.get("flops", 0.0) for entry in entries)) + custom_calls


def count_flops(fn: Callable, *args: Any) -> FlopCount:
    """FLOPs of one call ``fn(*args)``: XLA's count with every ``scan`` body times its length (see the module
    docstring) and the jaxpr's dot FLOPs. XLA's raw figure of a compiled program is ``xla_flops(compiled)``."""
    closed = jax.make_jaxpr(fn)(*args)
    tally = _Tally()
    xla = _count_closed(closed, tally, 1)
    return FlopCount(
        xla=xla,
        dots=float(sum(shape.flops * runs for shape, runs in tally.dot_runs.items())),
        dot_runs=dict(tally.dot_runs),
        loops_counted_once=tally.loops_counted_once,
    )


class _Tally:
    """What the walk collects beside XLA's figures: the dots it met and the loops it could not multiply."""

    def __init__(self):
        self.dot_runs: dict[DotShape, int] = {}
        self.loops_counted_once = 0

    def merge(self, other: _Tally) -> None:
        for shape, runs in other.dot_runs.items():
            self.dot_runs[shape] = self.dot_runs.get(shape, 0) + runs
        self.loops_counted_once += other.loops_counted_once


def _count_closed(closed: jex_core.ClosedJaxpr, tally: _Tally, multiplier: int) -> float:
    """XLA FLOPs of ``closed`` with its loops stubbed, plus each stubbed loop's body counted recursively."""
    stubbed: list[jex_core.JaxprEqn] = []

    def around_loops(*flat_args):
        return _evaluate(closed.jaxpr, closed.consts, flat_args, stubbed, tally, multiplier)

    in_avals = [jax.ShapeDtypeStruct(v.aval.shape, v.aval.dtype) for v in closed.jaxpr.invars]
    with _threefry_unrolled_on_cpu():
        lowered = jax.jit(around_loops).lower(*in_avals)
    flops = xla_flops(lowered.compile())
    for eqn in stubbed:
        name = eqn.primitive.name
        if name == "scan":
            length = int(eqn.params["length"])
            flops += length * _count_closed(eqn.params["jaxpr"], tally, multiplier * length)
        elif name == "cond":
            branches = []
            for branch in eqn.params["branches"]:
                branch_tally = _Tally()
                branches.append((_count_closed(branch, branch_tally, multiplier), branch_tally))
            branch_flops, branch_tally = max(branches, key=lambda counted: counted[0])
            flops += branch_flops
            tally.merge(branch_tally)
        else:  # while: trip count unknown before it runs
            tally.loops_counted_once += 1
            flops += _count_closed(eqn.params["body_jaxpr"], tally, multiplier)
            flops += _count_closed(eqn.params["cond_jaxpr"], tally, multiplier)
    return flops


def _evaluate(jaxpr, consts, args, stubbed, tally, multiplier):
    """``jax.core.eval_jaxpr`` that inlines calls, tallies dots and replaces loops by opaque stubs."""
    env: dict = {}

    def read(atom):
        return atom.val if isinstance(atom, jex_core.Literal) else env[atom]

    for var, value in zip(jaxpr.constvars, consts):
        env[var] = value
    for var, value in zip(jaxpr.invars, args):
        env[var] = value
    for eqn in jaxpr.eqns:
        invals = [read(atom) for atom in eqn.invars]
        name = eqn.primitive.name
        inner = _called_jaxpr(eqn)
        if name in LOOP_PRIMITIVES:
            stubbed.append(eqn)
            outvals = _opaque(invals, [v.aval for v in eqn.outvars])
        elif inner is not None:
            inner_jaxpr, inner_consts = inner
            outvals = _evaluate(inner_jaxpr, inner_consts, invals, stubbed, tally, multiplier)
        else:
            if name == "dot_general":
                shape = DotShape(
                    tuple(eqn.invars[0].aval.shape),
                    tuple(eqn.invars[1].aval.shape),
                    _hashable(eqn.params["dimension_numbers"]),
                    str(eqn.invars[0].aval.dtype),
                    str(eqn.invars[1].aval.dtype),
                )
                tally.dot_runs[shape] = tally.dot_runs.get(shape, 0) + multiplier
            with eqn.ctx.manager:
                outvals = eqn.primitive.bind(*invals, **eqn.primitive.get_bind_params(eqn.params))
            if not eqn.primitive.multiple_results:
                outvals = [outvals]
        for var, value in zip(eqn.outvars, outvals):
            env[var] = value
    return [read(atom) for atom in jaxpr.outvars]


@contextlib.contextmanager
def _threefry_unrolled_on_cpu():
    """Lower ``threefry2x32`` (inside every ``jax.random`` draw, below the jaxpr) as jax does on GPU, its
    five passes written out, instead of XLA:CPU's rolled loop of one pass, which XLA would count once."""
    if _mlir is None or _threefry is None:
        yield
        return
    table = _mlir._platform_specific_lowerings["cpu"]
    rolled = table.get(_threefry.threefry2x32_p)
    table[_threefry.threefry2x32_p] = _mlir.LoweringRuleEntry(_threefry._threefry2x32_lowering_rule, True)
    try:
        yield
    finally:
        if rolled is None:
            table.pop(_threefry.threefry2x32_p, None)
        else:
            table[_threefry.threefry2x32_p] = rolled


def _called_jaxpr(eqn) -> tuple[Any, Any] | None:
    """(jaxpr, consts) that a call-like equation (jit, custom_jvp/vjp, remat) evaluates, else None.

    Evaluating a custom-derivative call by its primal jaxpr is exact here: nothing is differentiated
    any more (``jax.grad`` ran while ``fn`` was traced)."""
    if eqn.primitive.name in LOOP_PRIMITIVES:
        return None
    for key in ("jaxpr", "call_jaxpr", "fun_jaxpr"):
        inner = eqn.params.get(key)
        if isinstance(inner, jex_core.ClosedJaxpr):
            return inner.jaxpr, inner.consts
        if isinstance(inner, jex_core.Jaxpr):
            return inner, ()
    return None


def _hashable(value):
    if isinstance(value, (list, tuple)):
        return tuple(_hashable(item) for item in value)
    return value


def _opaque(invals, out_avals):
    """Values shaped like ``out_avals`` that XLA cannot see through, depending on every input (so the
    code that feeds a stubbed loop stays in the program and is counted)."""
    raw_in = [jax.random.key_data(x) if _is_key(x) else x for x in invals]
    raw_out = [
        jax.ShapeDtypeStruct(_key_data_shape(aval), jnp.uint32)
        if _is_key_dtype(aval.dtype)
        else jax.ShapeDtypeStruct(aval.shape, aval.dtype)
        for aval in out_avals
    ]
    outs = jax.pure_callback(_never_called, raw_out, *raw_in, vmap_method="sequential")
    return [
        jax.random.wrap_key_data(out, impl=aval.dtype._impl) if _is_key_dtype(aval.dtype) else out
        for out, aval in zip(outs, out_avals)
    ]


def _is_key_dtype(dtype) -> bool:
    return jnp.issubdtype(dtype, jax.dtypes.prng_key)


def _is_key(value) -> bool:
    return hasattr(value, "dtype") and _is_key_dtype(value.dtype)


def _key_data_shape(aval) -> tuple[int, ...]:
    return tuple(aval.shape) + tuple(aval.dtype._impl.key_shape)


def _never_called(*_):
    raise RuntimeError("benchmarks.flops compiles its stubbed programs only to count them; it never runs them")


# ------------------------------------------------------------- matmul rates
def time_seconds(run: Callable[[], Any], min_seconds: float = 0.2, max_calls: int = 200) -> float:
    """Median seconds per blocked call of ``run`` over enough calls to fill ``min_seconds`` (first call untimed)."""
    jax.block_until_ready(run())
    seconds = []
    while len(seconds) < 3 or (sum(seconds) < min_seconds and len(seconds) < max_calls):
        start = time.perf_counter()
        jax.block_until_ready(run())
        seconds.append(time.perf_counter() - start)
    return float(np.median(seconds))


def matmul_rate(size: int = 2048, min_seconds: float = 1.0) -> dict:
    """FLOP/s of one ``size x size`` float32 matmul, XLA-compiled: the reference peak of this CPU."""
    lhs, rhs = (jnp.asarray(x) for x in _normal_operands((size, size), (size, size), "float32", "float32"))
    compiled = jax.jit(jnp.matmul).lower(lhs, rhs).compile()
    seconds = time_seconds(lambda: compiled(lhs, rhs), min_seconds)
    return {"size": size, "seconds": seconds, "flop_per_s": 2.0 * size**3 / seconds}


def _normal_operands(lhs_shape, rhs_shape, lhs_dtype, rhs_dtype) -> tuple[np.ndarray, np.ndarray]:
    # NumPy, not jax.random: a jax draw compiles a threefry program per shape, seconds each on this CPU.
    generator = np.random.default_rng(0)
    return (
        generator.standard_normal(lhs_shape).astype(lhs_dtype),
        generator.standard_normal(rhs_shape).astype(rhs_dtype),
    )


def dot_rates(dot_runs: dict[DotShape, int], min_seconds: float = 0.05, top: int | None = None) -> dict:
    """Each of a learner's dots timed alone (one compiled ``dot_general`` of its shapes and dimension
    numbers, less the time of a call that only touches its operands), and the rate they reach together
    weighted by how often the update runs each: ``sum(runs * flops) / sum(runs * seconds)``.
    ``top``: only the shapes with the most FLOPs."""
    shapes = sorted(dot_runs, key=lambda s: -s.flops * dot_runs[s])[:top]
    rows, total_flops, total_seconds = [], 0.0, 0.0
    for shape in shapes:
        lhs, rhs = (jnp.asarray(x) for x in _normal_operands(shape.lhs, shape.rhs, shape.lhs_dtype, shape.rhs_dtype))
        compiled = (
            jax.jit(lambda a, b, dims=shape.dimension_numbers: jax.lax.dot_general(a, b, dims))
            .lower(lhs, rhs)
            .compile()
        )
        touch = jax.jit(lambda a, b: a.ravel()[0] + b.ravel()[0]).lower(lhs, rhs).compile()
        # Less one dispatch of a call that only touches the same operands: the update runs its dots
        # inside one program, and at the rollout's and replay's small shapes a dispatch is a large share.
        dispatch = time_seconds(lambda: touch(lhs, rhs), min_seconds / 4)
        raw_seconds = time_seconds(lambda: compiled(lhs, rhs), min_seconds)
        seconds = max(raw_seconds - dispatch, raw_seconds / 10)
        runs = dot_runs[shape]
        total_flops += runs * shape.flops
        total_seconds += runs * seconds
        rows.append(
            {
                "dot": shape.describe(),
                "dimension_numbers": shape.dimension_numbers,
                "runs_per_update": runs,
                "flops": shape.flops,
                "seconds": seconds,
                "seconds_with_dispatch": raw_seconds,
                "flop_per_s": shape.flops / seconds,
            }
        )
    return {
        "dots": rows,
        "flops_per_update": total_flops,
        "seconds_per_update_if_alone": total_seconds,
        "flop_per_s": total_flops / total_seconds if total_seconds else float("nan"),
    }
