"""What a job's error means, decided once for both execution modes: requeue, retry or fail.

The Celery tasks (`tasks.py`) and the embedded runner (`jobs.run_operation`) both ask
`decide`; only how they wait differs (a Celery retry or countdown, an asyncio sleep):

- `PartBusy` (another live job holds the part's lease): requeue, to run once that lease
  could have expired; it costs no retry;
- a transient error (`transient.is_transient`: the database, Redis or the broker
  unreachable, SQLite locked): retry with exponential backoff and jitter, up to
  `job_max_retries` times, then fail the operation saying it gave up;
- anything else (bad input, a bug): fail the operation with the error's message.

A Celery retry is Celery's own `task.retry` (with `max_retries` declared on the task), but
not its `autoretry_for`/`retry_backoff` options: those retry by exception class, while a
transient error is told by its cause (a driver error wrapping a refused connection), and
their full jitter may retry a locked SQLite after 0 s; and retries spent must fail the
operation with a message, which autoretry leaves to a failure handler. So the delays are
computed here, the same for both modes.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Literal

from chunkyard.operations.lease import PartBusy
from chunkyard.settings import Settings
from chunkyard.worker.transient import is_transient

# Retry delays: 1, 2, 4, ... seconds, at most two minutes, each scaled by a random 0.5-1.0.
RETRY_BACKOFF = 1.0
RETRY_BACKOFF_MAX = 120.0


@dataclass(frozen=True, slots=True)
class Verdict:
    """`action` after an error; wait `delay` seconds first; `message` says why."""

    action: Literal["requeue", "retry", "fail"]
    delay: float = 0.0
    message: str = ""


def backoff(retries: int) -> float:
    """Seconds before retry number `retries + 1`."""
    return min(RETRY_BACKOFF_MAX, RETRY_BACKOFF * 2.0**retries) * random.uniform(0.5, 1.0)


def decide(exc: BaseException, retries: int, settings: Settings) -> Verdict:
    """What to do after `exc`, the job's error once `retries` retries were spent."""
    if isinstance(exc, PartBusy):
        return Verdict("requeue", exc.retry_after, str(exc))
    reason = f"{type(exc).__name__}: {exc}"
    if not is_transient(exc):
        return Verdict("fail", 0.0, reason)
    if retries >= settings.job_max_retries:
        return Verdict("fail", 0.0, f"gave up after {retries} retries: {reason}")
    return Verdict("retry", backoff(retries), reason)
