"""Shared fixtures: the session's caches and the one way tests run a command-line module."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Callable

import jax
import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def learner_env(tmp_path_factory) -> dict[str, str]:
    """Settings for learner runs, in-process and in subprocesses (pass the returned dict as ``env``):
    a session-wide cache of optimised base-stock levels (the optimiser runs once per scenario) and a
    persistent JAX compilation cache (identical programs of later runs load instead of compiling)."""
    settings = {
        "PLOOTO_CACHE_DIR": str(tmp_path_factory.mktemp("plooto-cache")),
        "JAX_COMPILATION_CACHE_DIR": str(tmp_path_factory.mktemp("jax-cache")),
        "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
        "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0",
    }
    previous = {name: os.environ.get(name) for name in settings}
    os.environ.update(settings)
    jax.config.update("jax_compilation_cache_dir", settings["JAX_COMPILATION_CACHE_DIR"])
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
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
