"""A real `chunkyard serve` in a subprocess, on a free loopback port, for tests that need the
server as it runs (its own process, event loop and pools), not the app in a test client."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import httpx
import pytest

from chunkyard.settings import Settings

BIN = Path(sys.executable).parent / "chunkyard"
EXE = str(BIN) if BIN.exists() else (shutil.which("chunkyard") or "chunkyard")
START_TIMEOUT = 60.0
STOP_TIMEOUT = 20.0


def free_port() -> int:
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def serve_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment without any CHUNKYARD_* of the caller's, plus `data_dir` and `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHUNKYARD_")}
    env["CHUNKYARD_DATA_DIR"] = str(data_dir)
    env.update(extra)
    return env


def settings_env(settings: Settings, secret: str, **extra: str) -> dict[str, str]:
    """The environment that makes a process run on `settings`' database (and Redis)."""
    env = serve_env(settings.data_dir, CHUNKYARD_SECRET_KEY=secret)
    if settings.database_url:
        env["CHUNKYARD_DATABASE_URL"] = settings.database_url
    if settings.redis_url:
        env["CHUNKYARD_REDIS_URL"] = settings.redis_url
        env["CHUNKYARD_QUEUE"] = settings.queue
    env.update(extra)
    return env


class Server:
    """A running `chunkyard serve`; its stderr (logs and the first password) goes to a file."""

    def __init__(self, proc: subprocess.Popen[bytes], port: int, log: Path) -> None:
        self.proc = proc
        self.url = f"http://127.0.0.1:{port}"
        self.log = log

    def stderr(self) -> str:
        return self.log.read_text(encoding="utf-8")

    def wait_healthy(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"serve exited with {self.proc.returncode}:\n{self.stderr()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        pytest.fail(f"serve did not answer /healthz in {START_TIMEOUT:.0f}s:\n{self.stderr()}")

    def stop(self) -> int:
        """SIGTERM, as a service manager stops it; the exit code."""
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=STOP_TIMEOUT)


@contextmanager
def serving(cwd: Path, env: dict[str, str], name: str) -> Iterator[Server]:
    """`chunkyard serve` on a free port, run from `cwd` (its `name`.stderr and .stdout go
    there) with exactly `env`, once it answers /healthz; stopped after (SIGTERM, then killed
    if it does not end)."""
    port = free_port()
    log = cwd / f"{name}.stderr"
    with log.open("wb") as err, (cwd / f"{name}.stdout").open("wb") as out:
        proc = subprocess.Popen([EXE, "serve", "--port", str(port)], stdout=out, stderr=err,
                                cwd=cwd, env=env)
    server = Server(proc, port, log)
    try:
        server.wait_healthy()
        yield server
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=STOP_TIMEOUT)
