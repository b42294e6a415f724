"""Where one learner update's time goes: each compiled XLA op traced, grouped by the part of the algorithm it is from.

    python -m benchmarks.profile_update                              # IPPO at its defaults on basic
    python -m benchmarks.profile_update --algorithm iql
    XLA_FLAGS=--xla_cpu_multi_thread_eigen=false python -m benchmarks.profile_update --num-envs 1024

One update is compiled ahead of time (after the replay warm-up where the
learner has one), run once untraced, then traced with ``jax.profiler``.
XLA:CPU records one trace event per op it runs, named as in the compiled HLO.
Each op's HLO metadata carries the Python call stack it was traced from
(the ``StackFrames`` table XLA prints before the module), so an op is put in a
part by the functions on that stack: the rollout's ``period`` and inside it
the env, the actor network or the sampling; ``loss_fn`` forward, and its
transpose (the backward pass); optax (the optimiser); ``minibatches.py`` (the
shuffle and gather of the rollout into minibatches); the critic passes and GAE
of ``update``; the replay buffer. An op XLA created or rewrote without a stack
(a layout copy, a one-column dot) takes the part of the fusion holding it or of
the ops it reads, else of the loop it runs in, marked "(loop plumbing)".

The shares are of the summed time of the traced ops; with two or more CPU
threads, XLA may run independent ops at once, so that sum can exceed the
wall time of the traced call (both are reported). The trace also lists every
``dot`` of the module with its shape, whether the per-echelon networks became
one batched dot (``lhs_batch_dims``) and how often each runs per update (the
product of the enclosing loops' known trip counts).

Results go to ``benchmarks/results/profile_update-<algorithm>-<backend>-<time>.json``
with the machine; a table goes to stdout.
"""

from __future__ import annotations

import collections
import dataclasses
import math
import re
from pathlib import Path
from typing import Callable, Sequence

import jax

from algorithms import registry
from algorithms.common.config import ConfigError, check_int_flag, exit_with_usage_error, parse_checked_flags
from benchmarks import harness


@dataclasses.dataclass
class Args:
    """Flags of ``python -m benchmarks.profile_update``."""

    algorithm: str = "ippo"
    """Registered learner to profile (ippo, mappo, iql, vdn, qmix, maddpg), at its own defaults."""
    scenario: str = "basic"
    """jaxbeer scenario trained on."""
    num_envs: int = 0
    """Parallel games; 0 keeps the learner's default (4096 for PPO, 16 for the value-based learners)."""
    updates: int = 1
    """Updates in the traced call (one compiled ``lax.scan``); a value-based update is one period, so more
    smooth its figure."""
    top: int = 12
    """Ops listed in the printed table."""
    out: str = ""
    """JSON path; empty: benchmarks/results/profile_update-<algorithm>-<backend>-<time>.json."""

    def validate(self) -> None:
        """Raise ``ConfigError`` naming the flag and what it allows."""
        registry.get(self.algorithm)
        check_int_flag("num_envs", self.num_envs, 0)
        check_int_flag("updates", self.updates, 1)
        check_int_flag("top", self.top, 1)


# ------------------------------------------------------------- HLO module text
@dataclasses.dataclass
class Instruction:
    """One instruction of the compiled module, as its text line gives it."""

    name: str
    opcode: str
    shape: str
    computation: str
    op_name: str
    stack: tuple[tuple[str, str, int], ...]  # (file path, function, line), innermost first
    called: tuple[str, ...]  # computations it calls (fusion body, while body and condition, ...)
    trip_count: int | None  # a while loop's known trip count
    line: str


_INSTRUCTION = re.compile(r"^\s*(?:ROOT )?%([\w.\-]+) = (.+?) ([a-z][\w\-]*)\(")
_COMPUTATION = re.compile(r"^(?:ENTRY )?%([\w.\-]+) .*\{\s*$")
_CALLED = re.compile(r"(?:calls|body|condition|to_apply)=%([\w.\-]+)")
_BRANCHES = re.compile(r"branch_computations=\{([^}]*)\}")


def parse_module(hlo_text: str) -> dict[str, Instruction]:
    """Every instruction of the compiled module's text, by name (names are unique within a module)."""
    stacks = harness.stack_frames(hlo_text)
    instructions = {}
    computation = ""
    for line in hlo_text.splitlines():
        header = _COMPUTATION.match(line)
        if header and " = " not in line.split("{")[0]:
            computation = header.group(1)
            continue
        match = _INSTRUCTION.match(line)
        if not match:
            continue
        name, shape, opcode = match.groups()
        op_name = re.search(r'op_name="([^"]*)"', line)
        frame = re.search(r"stack_frame_id=(\d+)", line)
        called = _CALLED.findall(line)
        branches = _BRANCHES.search(line)
        if branches:
            called += re.findall(r"%([\w.\-]+)", branches.group(1))
        trips = re.search(r'"known_trip_count":\{"n":"(\d+)"\}', line)
        instructions[name] = Instruction(
            name=name,
            opcode=opcode,
            shape=shape.strip(),
            computation=computation,
            op_name=op_name.group(1) if op_name else "",
            stack=stacks.get(int(frame.group(1)), ()) if frame else (),
            called=tuple(called),
            trip_count=int(trips.group(1)) if trips else None,
            line=line.strip(),
        )
    return instructions


def callers(instructions: dict[str, Instruction]) -> dict[str, Instruction]:
    """Computation name -> the instruction that calls it (a fusion, a while loop, a conditional, ...)."""
    return {called: op for op in instructions.values() for called in op.called}


def enclosing_loops(op: Instruction, caller_of: dict[str, Instruction]) -> list[Instruction]:
    """The while loops ``op`` runs inside, innermost first."""
    loops, computation, seen = [], op.computation, set()
    while computation in caller_of and computation not in seen:
        seen.add(computation)
        parent = caller_of[computation]
        if parent.opcode == "while":
            loops.append(parent)
        computation = parent.computation
    return loops


def runs_per_call(op: Instruction, caller_of: dict[str, Instruction]) -> int:
    """How often ``op`` runs per call of the module: the product of its loops' known trip counts (1 if unknown)."""
    return math.prod(loop.trip_count or 1 for loop in enclosing_loops(op, caller_of))


def dot_summary(instructions: dict[str, Instruction]) -> list[dict]:
    """Every dot of the module: its shape, batch dimensions, runs per call, and the fusion that holds it."""
    caller_of = callers(instructions)
    rows = []
    for op in instructions.values():
        if op.opcode != "dot":
            continue
        holder = caller_of.get(op.computation)
        kind = (
            re.search(r"kind=(\w+)", holder.line).group(1) if holder is not None and holder.opcode == "fusion" else ""
        )
        config = re.search(r'"kind":"(\w+)"', holder.line) if holder is not None else None
        batch = re.search(r"lhs_batch_dims=\{([\d,]*)\}", op.line)
        contracting = re.search(r"lhs_contracting_dims=\{([\d,]*)\}", op.line)
        rows.append(
            {
                "dot": op.name,
                "shape": op.shape.split("{")[0],
                "lhs_batch_dims": batch.group(1) if batch else "",
                "lhs_contracting_dims": contracting.group(1) if contracting else "",
                "runs_per_call": runs_per_call(op, caller_of),
                "fusion": " ".join(filter(None, [kind, config.group(1) if config else ""])) or "unfused",
                "from": op.op_name.split("/")[-2] if op.op_name.count("/") > 1 else op.op_name,
                "source": _innermost_project_frame(op.stack),
            }
        )
    return sorted(rows, key=lambda row: -row["runs_per_call"])


def _innermost_project_frame(stack: Sequence[tuple[str, str, int]]) -> str:
    for path, function, line in stack:
        if "site-packages" not in path:
            return f"{Path(path).parent.name}/{Path(path).name}:{line} ({function})"
    return ""


# ------------------------------------------------------------ parts of an update
def _in(stack, *functions: str) -> bool:
    return any(any(function.endswith(name) for name in functions) for _, function, _ in stack)


def _from(stack, *paths: str) -> bool:
    return any(any(part in path for part in paths) for path, _, _ in stack)


ENV_FILES = ("/jaxbeer/", "algorithms/common/vector_env.py", "algorithms/common/team.py")
NETWORK_FILES = ("algorithms/common/networks.py", "/flax/")


def part_of(op: Instruction) -> str | None:
    """The part of a learner update ``op`` was traced from, by the functions on its stack; None without one."""
    stack = op.stack
    if not stack:
        return None
    backward = "transpose(" in op.op_name
    if _in(stack, "loss_fn", "minibatch_step", "gradient_step"):
        if _from(stack, "/optax/") and not _in(stack, "loss_fn"):
            return "optimiser (clip + Adam + apply)"
        if _from(stack, "algorithms/common/replay.py"):
            return "replay sample"
        if backward:
            return "loss backward"
        if _in(stack, "loss_fn"):
            return "loss forward"
        return "gradient step, other (target copy, counters)"
    if _in(stack, ".epoch"):
        return "minibatch shuffle + gather" if _from(stack, "minibatches.py") else "epoch, other"
    if _in(stack, ".period"):
        if _from(stack, *ENV_FILES):
            return "rollout: env step"
        if _from(stack, "/distrax/"):
            return "rollout: sampling (categorical)"
        if _from(stack, *NETWORK_FILES) or _in(stack, "actor_input"):
            return "rollout: actor forward"
        if _from(stack, "algorithms/common/metrics.py"):
            return "rollout: episode statistics"
        return "rollout: other (critic features, keys, stored transition)"
    if _from(stack, "algorithms/common/gae.py"):
        return "GAE recursion"
    if _from(stack, "algorithms/common/replay.py"):
        return "replay add / sample"
    if _from(stack, *ENV_FILES):
        return "env step"
    if _from(stack, *NETWORK_FILES):
        return "critic passes for GAE" if _in(stack, ".update") and not _in(stack, "agent_q") else "act: Q forward"
    if _in(stack, "epsilon_greedy"):
        return "act: epsilon-greedy"
    return "update, other"


def operands(op: Instruction, instructions: dict[str, Instruction]) -> list[Instruction]:
    """The instructions ``op`` reads, in order."""
    arguments = op.line.split(f" {op.opcode}(", 1)[-1]
    return [instructions[name] for name in re.findall(r"%([\w.\-]+)", arguments) if name in instructions]


def classify(instructions: dict[str, Instruction]) -> dict[str, str]:
    """Op name -> part. XLA drops the stack of some ops it creates or rewrites (a dot with one output
    column, a layout copy); such an op takes the part of the fusion holding it, else of its operands (a
    backward part first: an op fed by the backward pass exists for the gradient), else of its innermost
    loop, marked '(loop plumbing)'."""
    caller_of = callers(instructions)
    direct = {name: part_of(op) for name, op in instructions.items()}
    parts = {}
    for op in instructions.values():
        part = direct[op.name]
        holder = caller_of.get(op.computation)
        if part is None and holder is not None and holder.opcode == "fusion":
            part = direct[holder.name]
        if part is None:
            fed_by = [direct[operand.name] for operand in operands(op, instructions) if direct[operand.name]]
            part = next((p for p in fed_by if p == "loss backward"), fed_by[0] if fed_by else None)
        if part is None:
            loops = [direct[loop.name] for loop in enclosing_loops(op, caller_of)]
            part = next((f"{p} (loop plumbing)" for p in loops if p), "top level (no stack: copies, tuples)")
        parts[op.name] = part
    return parts


FUSION_KINDS = ("copy", "gather", "scatter", "dynamic_update_slice", "reduce", "sort")


def kind_of(op: Instruction) -> str:
    """A coarse kind for the by-kind table, from the opcode or the name XLA gave a fusion (``copy_bitcast_fusion``)."""
    if op.opcode == "dot" or (op.opcode == "fusion" and "__ynn_fusion" in op.line):
        return "dot (matmul)"
    if op.opcode != "fusion":
        return op.opcode
    return next((kind.replace("_", "-") for kind in FUSION_KINDS if kind in op.name), "elementwise loop fusion")


# ------------------------------------------------------------------- tracing


def profile(compiled_text: str, call: Callable[[], object]) -> dict:
    """Shares of the traced op time by part and by kind, the top ops, and the module's dots."""
    instructions = parse_module(compiled_text)
    timed = {name for name, op in instructions.items() if op.opcode not in harness.CONTROL_FLOW_OPS}
    spent, wall_seconds = harness.trace_op_microseconds(call, timed)
    parts, total = classify(instructions), sum(spent.values())
    by_part, by_kind = collections.Counter(), collections.Counter()
    for name, microseconds in spent.items():
        by_part[parts[name]] += microseconds
        by_kind[kind_of(instructions[name])] += microseconds
    caller_of = callers(instructions)
    return {
        "wall_seconds": wall_seconds,
        "traced_op_seconds": total / 1e6,
        "num_ops": len(spent),
        "by_part": {part: us / total for part, us in by_part.most_common()},
        "by_kind": {kind: us / total for kind, us in by_kind.most_common()},
        "ops": [
            {
                "op": name,
                "share": us / total,
                "part": parts[name],
                "runs_per_call": runs_per_call(instructions[name], caller_of),
                "shape": instructions[name].shape.split("{")[0],
                "source": _innermost_project_frame(instructions[name].stack),
            }
            for name, us in spent.most_common()
        ],
        "dots": dot_summary(instructions),
    }


# ---------------------------------------------------------------------- main
def build(args: Args):
    """(learner, config, state after the replay warm-up, compiled call of ``args.updates`` updates)."""
    algorithm = registry.get(args.algorithm)
    overrides = {"scenario": args.scenario, "plots": False, "progress": False}
    if args.num_envs:
        overrides["num_envs"] = args.num_envs
    try:
        config = algorithm.config(**overrides)
        config.validate()
    except ConfigError as error:
        exit_with_usage_error(str(error))
    learner = algorithm.make_learner(config)

    def updates(state, count):
        return jax.lax.scan(lambda s, _: learner.update(s), state, None, length=count)[0]

    state = jax.jit(learner.init)(jax.random.PRNGKey(0))
    learning_starts = getattr(config, "learning_starts", 0)
    if learning_starts:  # profile gradient steps, not the filling of the buffer
        warmup = math.ceil(learning_starts / learner.env_steps_per_update) + 1
        state = jax.jit(updates, static_argnums=1)(state, warmup)
    compiled = jax.jit(updates, static_argnums=1).lower(state, args.updates).compile()
    return learner, config, jax.block_until_ready(state), compiled


def print_report(result: dict, top: int) -> None:
    """The by-part and by-kind shares, the top ops and the dots."""
    prof = result["profile"]
    print(
        f"{result['algorithm']} {result['scenario']} envs={result['num_envs']} updates={result['updates']}: "
        f"traced call {prof['wall_seconds']:.3f}s wall (untraced {result['untraced_seconds']:.3f}s), "
        f"op time summed {prof['traced_op_seconds']:.3f}s over {prof['num_ops']} ops"
    )
    print(f"{'part':<62} {'share':>6}")
    for part, share in prof["by_part"].items():
        print(f"{part:<62} {100 * share:>5.1f}%")
    print(f"\n{'op kind':<62} {'share':>6}")
    for kind, share in prof["by_kind"].items():
        print(f"{kind:<62} {100 * share:>5.1f}%")
    print(f"\n{'top op':<40} {'share':>6} {'runs':>5}  part / shape / source")
    for op in prof["ops"][:top]:
        where = f"{op['part']} / {op['shape']} / {op['source']}"
        print(f"{op['op']:<40} {100 * op['share']:>5.1f}% {op['runs_per_call']:>5}  {where}")
    print(f"\n{'dot shape':<28} {'batch':>5} {'runs':>5}  fusion / from / source")
    for dot in prof["dots"]:
        where = f"{dot['fusion']} / {dot['from']} / {dot['source']}"
        print(f"{dot['shape']:<28} {dot['lhs_batch_dims'] or '-':>5} {dot['runs_per_call']:>5}  {where}")


def main(argv: Sequence[str] | None = None) -> dict:
    """Profile one configuration and write its JSON; exit 2 with one line on a bad flag."""
    args = parse_checked_flags(Args, argv, __doc__.splitlines()[0])
    learner, config, state, compiled = build(args)
    untraced = harness.time_calls(lambda: compiled(state), 1)[0]
    result = {
        "benchmark": "profile_update",
        "algorithm": args.algorithm,
        "scenario": args.scenario,
        "num_envs": config.num_envs,
        "updates": args.updates,
        "env_steps_per_update": learner.env_steps_per_update,
        "untraced_seconds": untraced,
        "profile": profile(compiled.as_text(), lambda: compiled(state)),
        "machine": harness.machine_info(),
    }
    out = Path(args.out) if args.out else harness.default_output(f"profile_update-{args.algorithm}")
    harness.write_json(out, result)
    print_report(result, args.top)
    print(f"-> {out}")
    return result


if __name__ == "__main__":
    main()
