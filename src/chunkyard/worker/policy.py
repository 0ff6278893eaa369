"""What a job's error means, decided once for both execution modes: requeue, retry or fail.

The Celery tasks (`tasks.py`) and the embedded runner (`jobs.run_operation`) both ask
`decide`; only how they wait differs (a Celery retry or countdown, an asyncio sleep):

- `PartBusy` (another live job holds the part's lease): requeue, to run once that lease
  could have expired; it costs no retry;
- a transient error (`transient.is_transient`: the database, Redis or the broker
  unreachable, SQLite locked): retry with exponential backoff and jitter, up to
  `job_max_retries` times, then fail the operation saying it gave up;
- anything else (bad input, a bug): fail the operation with the error's message.

What goes into an `error` field is one line for a user (`describe`): the error's type and
the first line of its message, a database error by its driver's error, never SQL or a
traceback. An error inside one document's extract-chunk-store that is not transient fails
that document alone (`document_error` is its sentence), never the operation.

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

from sqlalchemy.exc import SQLAlchemyError

from chunkyard.core.types import ChunkingError
from chunkyard.kit.errors import ServiceError
from chunkyard.kit.transient import is_transient
from chunkyard.operations.lease import PartBusy
from chunkyard.operations.parts import MAX_ERROR_CHARS
from chunkyard.settings import Settings

# Retry delays: 1, 2, 4, ... seconds, at most two minutes, each scaled by a random 0.5-1.0.
RETRY_BACKOFF = 1.0
RETRY_BACKOFF_MAX = 120.0
MAX_REASON_CHARS = 400


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
    reason = describe(exc)
    if not is_transient(exc):
        return Verdict("fail", 0.0, reason)
    if retries >= settings.job_max_retries:
        return Verdict("fail", 0.0, f"gave up after {retries} retries: {reason}")
    return Verdict("retry", backoff(retries), reason)


def _line(text: str) -> str:
    """The first line of `text`, whitespace collapsed, at most `MAX_REASON_CHARS`."""
    first = text.strip().split("\n", 1)[0]
    return " ".join(first.split())[:MAX_REASON_CHARS]


def _database_cause(exc: BaseException) -> BaseException:
    """The driver's error under SQLAlchemy's wrappers (whose text carries the SQL)."""
    seen = 0
    while isinstance(exc, SQLAlchemyError) or type(exc).__module__.startswith("sqlalchemy"):
        inner = getattr(exc, "orig", None) or exc.__cause__
        if inner is None or seen > 5:
            break
        exc, seen = inner, seen + 1
    return exc


def describe(exc: BaseException) -> str:
    """`exc` as one line for an `error` field: its type and the first line of its message;
    a database error as its driver's error; never SQL or a traceback."""
    if isinstance(exc, ServiceError):
        return _line(exc.detail)
    exc = _database_cause(exc)
    if isinstance(exc, SQLAlchemyError):
        return type(exc).__name__  # no driver error under it: its text is SQLAlchemy's
    message = _line(str(exc))
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def is_database_error(exc: BaseException) -> bool:
    return isinstance(exc, SQLAlchemyError)


def document_error(exc: BaseException, *, storing: bool = False) -> str:
    """The sentence a document that failed alone carries in its `error`."""
    if isinstance(exc, ServiceError):  # load_document's: names the document and the cause
        return exc.detail[:MAX_ERROR_CHARS]
    if isinstance(exc, ChunkingError):
        return (str(exc) or type(exc).__name__)[:MAX_ERROR_CHARS]
    if storing or is_database_error(exc):
        return f"the database refused to store this document's chunks ({describe(exc)})"
    return f"this document could not be chunked ({describe(exc)})"
