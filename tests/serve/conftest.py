"""The classroom server as users start it (``python -m jaxbeer.serve`` in a subprocess), one per pytest
worker, and a headless Debian chromium driven by Playwright.

Without chromium the browser tests skip, except where ``PLOOTO_REQUIRE_BROWSER=1`` (``.ci/run`` sets it
and installs chromium with apt-get), so CI can never pass by skipping them.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]
ADDRESS = re.compile(r"http://(\S+?):(\d+)/")


class Server:
    """One ``python -m jaxbeer.serve`` process on a SQLite file; ``restart`` kills it (SIGKILL: nothing is
    flushed on the way out) and starts a new one on the same file and port."""

    def __init__(self, db: Path, runs: list[Path], env: dict[str, str]):
        self.db, self.runs, self.env = db, runs, env
        self.port = 0
        self.process: subprocess.Popen | None = None
        self.output: list[str] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        flags = ["--port", str(self.port), "--db", str(self.db), "--runs", *map(str, self.runs)]
        self.process = subprocess.Popen(
            [sys.executable, "-m", "jaxbeer.serve", *flags],
            cwd=REPO,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            first = self._first_line(timeout=120)
            match = ADDRESS.search(first)
            assert match, f"no address in the server's first line: {first!r}"
            self.port = int(match.group(2))
            # Keep draining the pipe so the server never blocks on a full one.
            threading.Thread(target=lambda: self.output.extend(self.process.stdout), daemon=True).start()
            with httpx.Client(base_url=self.url, timeout=30) as client:
                assert client.get("/").status_code == 200
        except BaseException:
            self.stop()  # no server is left behind without an owner
            raise

    def _first_line(self, timeout: float) -> str:
        line: list[str] = []
        reader = threading.Thread(target=lambda: line.append(self.process.stdout.readline()), daemon=True)
        reader.start()
        reader.join(timeout)
        if not line or not line[0]:
            self.process.kill()
            raise AssertionError(f"the server did not start: {self.process.stdout.read()[-3000:]}")
        return line[0]

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=30)

    def restart(self) -> None:
        self.stop()
        self.start()


@pytest.fixture(scope="session")
def server(tmp_path_factory, learner_env, ippo_run) -> Server:
    """The classroom server of this worker, offering the session's tiny IPPO run (trained on ``basic``)
    as ``run:run``."""
    live = Server(tmp_path_factory.mktemp("classroom") / "classroom.sqlite", [ippo_run], dict(learner_env))
    live.start()
    yield live
    live.stop()


@pytest.fixture(scope="session")
def trained_co_player(ippo_run) -> str:
    """The co-player value of the tiny IPPO run in the setup forms."""
    return f"run:{ippo_run.name}"


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        if os.environ.get("PLOOTO_REQUIRE_BROWSER") == "1":
            raise AssertionError("PLOOTO_REQUIRE_BROWSER=1 but there is no chromium on PATH (apt-get install chromium)")
        pytest.skip("no chromium on PATH (apt-get install chromium); .ci/run installs it")
    return path


@pytest.fixture(scope="session")
def browser(chromium_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=chromium_path, args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
        )
        yield launched
        launched.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    yield context.new_page()
    context.close()
