"""Real `chunkyard worker` processes for tests: Celery settings with a queue of their own, start
(waiting until the worker consumes), stop, kill, and the queue's keys removed from Redis.

Every worker is a `chunkyard worker` subprocess in a session of its own,
configured only through `CHUNKYARD_*` variables made from a `Settings`, and logging to a file
that a failing test prints.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import redis
from pydantic import SecretStr

import dbsupport
from chunkyard.settings import Settings

READY_TIMEOUT = 60.0


def chunkyard_command() -> list[str]:
    """The `chunkyard` console script of this environment (or the same entry point)."""
    script = Path(sys.executable).with_name("chunkyard")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "import sys; from chunkyard.cli.main import main; "
            "sys.exit(main())"]


def celery_settings(settings: Settings, **overrides: Any) -> Settings:
    """`settings` with the test Redis (skips or fails without it) and a new queue name."""
    queue = f"chunkyard-test-{os.getpid()}-{secrets.token_hex(4)}"
    update = {"redis_url": dbsupport.require_redis(), "queue": queue, **overrides}
    return Settings.model_validate({**settings.model_dump(), **update})


def settings_env(settings: Settings) -> dict[str, str]:
    """This process's environment, with `CHUNKYARD_*` variables spelling out `settings`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHUNKYARD_")}
    for name in Settings.model_fields:
        value = getattr(settings, name)
        if value is None:
            continue
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        env[f"CHUNKYARD_{name.upper()}"] = str(value)
    return env


class Worker:
    """One `chunkyard worker` process (and its pool) for `settings`."""

    def __init__(self, settings: Settings, log_dir: Path, *, concurrency: int = 2,
                 name: str = "worker") -> None:
        self.settings = settings
        self.concurrency = concurrency
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = log_dir / f"{name}-{secrets.token_hex(3)}.log"
        self.cwd = log_dir  # no stray .env file is read
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Worker:
        """Start the worker and wait until it consumes its queue."""
        command = [
            *chunkyard_command(), "worker",
            "--concurrency", str(self.concurrency), "--loglevel", "info",
        ]
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command, env=settings_env(self.settings), cwd=self.cwd, stdout=log,
                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
            )
        deadline = time.monotonic() + READY_TIMEOUT
        while " ready." not in self.log()[offset:]:
            if self.process.poll() is not None:
                raise RuntimeError(f"the worker exited ({self.process.returncode}):\n"
                                   + self.log()[-3000:])
            if time.monotonic() > deadline:
                self.kill()
                raise RuntimeError("the worker did not start:\n" + self.log()[-3000:])
            time.sleep(0.05)
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def kill(self) -> None:
        """SIGKILL the worker and every process of its pool at once."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)
        self.process = None

    def stop(self, timeout: float = 20.0) -> None:
        """A warm shutdown (running jobs finish), or SIGKILL after `timeout` seconds."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=timeout)
        self.kill()


def remove_queue_keys(settings: Settings) -> None:
    """Delete the broker's keys of the settings' queue (all carry the queue as a prefix)."""
    client = redis.Redis.from_url(dbsupport.redis_url())
    try:
        keys = list(client.scan_iter(match=f"{settings.queue}:*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()
