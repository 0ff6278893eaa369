"""Shared by the service benchmarks: start a real server process, make a user, log in.

The server runs in its own process (uvicorn with the app factory) on a free loopback port, with
its own data directory, so a benchmark's client load never shares an interpreter with it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

SECRET = "bench-secret-" + "0123456789abcdef" * 3
PASSWORD = "bench password that is long enough"


@dataclass
class Server:
    base: str
    env: dict[str, str]
    token: str
    pid: int = 0  # the server process (its CPU time is what bench/request_cpu.py reads)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    @property
    def ws_base(self) -> str:
        return "ws" + self.base.removeprefix("http")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def chunkyard_exe() -> str:
    exe = shutil.which("chunkyard", path=os.path.dirname(sys.executable)) or shutil.which(
        "chunkyard"
    )
    if exe is None:
        sys.exit("the chunkyard console script is not installed (pip install -e .)")
    return exe


@contextlib.contextmanager
def running_server(extra_env: dict[str, str] | None = None) -> Iterator[Server]:
    """A server on a fresh data directory with one logged-in user (`bench`)."""
    with tempfile.TemporaryDirectory(prefix="chunkyard-bench-") as data_dir:
        env = {
            **os.environ,
            "CHUNKYARD_DATA_DIR": data_dir,
            "CHUNKYARD_SECRET_KEY": SECRET,
            "HF_HUB_OFFLINE": "1",
            **(extra_env or {}),
        }
        subprocess.run(
            [chunkyard_exe(), "db", "upgrade"], env=env, check=True, capture_output=True
        )
        subprocess.run(
            [chunkyard_exe(), "users", "create", "bench", "--password-stdin"],
            input=PASSWORD, text=True, env=env, check=True, capture_output=True,
        )
        port = free_port()
        log = Path(data_dir) / "server.log"
        with open(log, "wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "uvicorn", "--factory", "chunkyard.api.app:create_app",
                 "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
                env=env, stdout=out, stderr=subprocess.STDOUT,
            )
        base = f"http://127.0.0.1:{port}"
        try:
            _wait_ready(base, process, log)
            token = httpx.post(
                f"{base}/api/v1/auth/login", json={"username": "bench", "password": PASSWORD}
            ).json()["access_token"]
            yield Server(base, env, token, process.pid)
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


def _wait_ready(base: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"the server exited:\n{log.read_text(errors='replace')}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                return
        time.sleep(0.1)
    sys.exit("the server did not become ready within 60 s")


def percentile(values: list[float], share: float) -> float:
    """The nearest-rank percentile (`share` in 0..1) of `values`."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-share * len(ordered) // 1))))
    return ordered[rank - 1]
