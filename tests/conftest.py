"""Shared fixtures: the session's caches and the one way tests run a command-line module."""

from __future__ import annotations

import fcntl
import importlib
import importlib.metadata
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Callable

# The suite is bound by XLA compile time (many small programs, each run a few times). Two XLA:CPU flags
# compile faster: LLVM's level-1 optimisation (a tiny IPPO run compiled in 17 s instead of 22 s), and the
# legacy elemental emitters for fusions instead of the MLIR fusion emitters (the whole suite in 309 s
# instead of 358 s; docs/decisions.md). Floats may differ in their last bits from a process without them,
# so every process of the suite uses the same ones: they are set before the first jax computation
# initialises the backend, and subprocesses (run_module, the classroom server) and notebook kernels
# inherit them.
SUITE_XLA_FLAGS = "--xla_backend_optimization_level=1"
# XLA aborts the process on a flag it does not know, so the emitter flag is only given to the jaxlib
# it was measured with; a later one runs the suite with its default emitters.
if importlib.metadata.version("jaxlib").startswith("0.10."):
    SUITE_XLA_FLAGS += " --xla_cpu_use_fusion_emitters=false"
os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {SUITE_XLA_FLAGS}".strip()

import jax  # noqa: E402
import pytest  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
COMPILATION_CACHE_BYTES = 8 * 2**30  # never reached by the suite: the limit is there for the lock
# Only programs that took this long to compile go into the shared cache: writing every one of the
# suite's ~1600 small programs under the lock cost more than compiling them again (suite 309 s -> 257 s).
CACHED_COMPILE_SECONDS = 0.25


def _shared_dir(tmp_path_factory, name: str) -> Path:
    """A directory every pytest-xdist worker of this run shares (its own under plain pytest).

    The base-stock cache is written atomically; the JAX compilation cache reads and
    writes its entries under a file lock once it has a size limit (``learner_env``)."""
    if os.environ.get("PYTEST_XDIST_WORKER") is None:
        return tmp_path_factory.mktemp(name)
    shared = tmp_path_factory.getbasetemp().parent / name
    shared.mkdir(exist_ok=True)
    return shared


@pytest.fixture(scope="session")
def learner_env(tmp_path_factory) -> dict[str, str]:
    """Settings for learner runs, in-process and in subprocesses (pass the returned dict as ``env``):
    a session-wide cache of optimised base-stock levels (the optimiser runs once per scenario) and a
    persistent JAX compilation cache that every worker and subprocess shares (a program one of them
    compiled, the others load). The size limit turns on JAX's file lock around each entry's read and
    write (``jax._src.lru_cache``), so no process reads an entry another is still writing."""
    settings = {
        "PLOOTO_CACHE_DIR": str(_shared_dir(tmp_path_factory, "plooto-cache")),
        "JAX_COMPILATION_CACHE_DIR": str(_shared_dir(tmp_path_factory, "jax-cache")),
        "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": str(CACHED_COMPILE_SECONDS),
        "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0",
        "JAX_COMPILATION_CACHE_MAX_SIZE": str(COMPILATION_CACHE_BYTES),
    }
    previous = {name: os.environ.get(name) for name in settings}
    os.environ.update(settings)
    jax.config.update("jax_compilation_cache_dir", settings["JAX_COMPILATION_CACHE_DIR"])
    jax.config.update("jax_persistent_cache_min_compile_time_secs", CACHED_COMPILE_SECONDS)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    jax.config.update("jax_compilation_cache_max_size", COMPILATION_CACHE_BYTES)
    yield dict(os.environ)
    for name, value in previous.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture(scope="session")
def run_module(learner_env) -> Callable[..., subprocess.CompletedProcess]:
    """``run_module("algorithms.ippo", *flags, check=True)``: ``python -m`` in a subprocess from the
    repository root, as a user runs it, with the session's caches. ``check`` fails the test on a
    non-zero exit and shows the end of stderr."""

    def run(module: str, *flags: str, check: bool = False, timeout: int = 600) -> subprocess.CompletedProcess:
        done = subprocess.run(
            [sys.executable, "-m", module, *flags],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=learner_env,
        )
        if check and done.returncode != 0:
            raise AssertionError(f"{module} exited {done.returncode}:\n{done.stderr[-3000:]}")
        return done

    return run


@pytest.fixture
def cli_exit(capsys) -> Callable[..., tuple[int, str]]:
    """``cli_exit("benchmarks.throughput", *flags) -> (exit status, stderr)``: the module's ``main(argv)`` in
    this process. For refusals that end before anything compiles (bad flags): the same parse and checks as
    ``python -m``, without a new interpreter's imports; ``run_module`` keeps one real subprocess per CLI."""

    def run(module: str, *flags: str) -> tuple[int, str]:
        capsys.readouterr()
        try:
            status = importlib.import_module(module).main(list(flags))
        except SystemExit as stop:
            status = stop.code
        return status, capsys.readouterr().err

    return run


# 2 updates of 8 games x 4 periods, in 2 chunks; tiny evaluations.
TINY_PPO_FLAGS = (
    "--num-envs 8 --num-steps 4 --num-minibatches 2 --total-timesteps 64 --num-chunks 2 "
    "--eval-episodes 8 --base-stock-episodes 4 --hidden-sizes 16 --no-progress"
).split()


@pytest.fixture(scope="session")
def tiny_ppo_flags() -> list[str]:
    """The flags of the smallest PPO run the tests train: 2 updates of 8 games x 4 periods, 2 chunks."""
    return list(TINY_PPO_FLAGS)


@pytest.fixture(scope="session")
def train_once(tmp_path_factory) -> Callable[[str, Callable[[Path], object]], Path]:
    """``train_once(name, train)``: see ``trained_once``."""
    return lambda name, train: trained_once(tmp_path_factory, name, train)


def trained_once(tmp_path_factory, name: str, train: Callable[[Path], object]) -> Path:
    """``name``'s run directory, trained by ``train(run_dir)`` once per test session: under pytest-xdist
    the first worker to get here trains it while the others wait on a lock, then all read it."""
    root = _shared_dir(tmp_path_factory, name)
    run_dir = root / "run"
    with open(root / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not (run_dir / "results.json").is_file():
            if run_dir.exists():  # a worker that failed half-way leaves a partial run; train it again
                shutil.rmtree(run_dir)
            train(run_dir)
    return run_dir


@pytest.fixture(scope="session")
def ippo_run(tmp_path_factory, run_module) -> Path:
    """One tiny IPPO CLI run (every echelon learning), shared by the tests that read or reload a run."""

    def train(run_dir: Path) -> None:
        run_module("algorithms.ippo", *TINY_PPO_FLAGS, "--run-dir", str(run_dir), check=True)

    return trained_once(tmp_path_factory, "ippo-run", train)


@pytest.fixture(scope="session")
def mixed_mappo_run(tmp_path_factory, run_module) -> Path:
    """One tiny MAPPO CLI run of a mixed team (a learned retailer, Sterman co-players), 2 seeds, separate
    networks per echelon."""
    flags = ["--agents", "ppo,sterman,sterman,sterman", "--num-seeds", "2", "--no-share-params"]

    def train(run_dir: Path) -> None:
        run_module("algorithms.mappo", *TINY_PPO_FLAGS, *flags, "--run-dir", str(run_dir), check=True)

    return trained_once(tmp_path_factory, "mappo-run", train)
